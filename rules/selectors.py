"""Reads of the rules app: which rules are active, which match a fact dict, a rule in words, the try-out sandbox.
No writes (hits and errors are recorded by rules.services.rules_record); other apps' reports may call these."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rules import actions, engine
from rules.models import Rule


def rule_sentence(*, rule: Rule, lang: str = "zh") -> str:
    """The rule as one readable sentence: condition → action."""
    try:
        when = engine.render(engine.validate(rule.condition), lang)
        then = actions.render_action(rule.kind, actions.validate_action(rule.kind, rule.action, _ANY), lang)
    except (engine.ConditionError, actions.ActionError):
        return "—"
    return f"{when} → {then}"


class _AnyCodes(frozenset):
    """For rendering only: every code counts as known."""

    def __contains__(self, item) -> bool:
        return True


_ANY = actions.Known(
    skus=_AnyCodes(), groups=_AnyCodes(), warehouses=_AnyCodes(), users=_AnyCodes(), channels=_AnyCodes()
)


@dataclass(frozen=True)
class Decision:
    rule_id: int
    rule_name: str
    version: int
    kind: str
    action: dict


@dataclass(frozen=True)
class RuleFailure:
    rule_id: int
    rule_name: str
    version: int
    message: str


def rules_active(*, kinds: tuple[str, ...], at: datetime) -> list[Rule]:
    """Enabled rules of these kinds valid at `at`, in evaluation order."""
    qs = Rule.objects.filter(kind__in=kinds, enabled=True).order_by("kind", "position", "id")
    return [r for r in qs if (r.valid_from is None or r.valid_from <= at) and (r.valid_to is None or at < r.valid_to)]


_COMPILED: dict[tuple[int, int], object] = {}  # (rule id, version) -> predicate; a saved change is a new key


def _predicate(rule: Rule):
    if rule.pk is None:  # an unsaved rule (a try-out): nothing to cache it under
        return engine.compile_condition(engine.validate(rule.condition))
    key = (rule.pk, rule.version)
    predicate = _COMPILED.get(key)
    if predicate is None:
        predicate = _COMPILED[key] = engine.compile_condition(engine.validate(rule.condition))
    return predicate


FactsForAction = Callable[[dict], dict]


def rules_evaluate(
    *, rules: list[Rule], facts: dict, facts_for_action: FactsForAction | None = None
) -> tuple[list[Decision], list[RuleFailure]]:
    """Which rules match these facts, in order, honouring stop-after-match per kind. Changes nothing.

    facts_for_action adds facts that depend on what the rule would do (e.g. the remaining capacity of the
    warehouse a routing rule names).
    """
    decisions, failures, stopped = [], [], set()
    for rule in rules:
        if rule.kind in stopped:
            continue
        try:
            rule_facts = {**facts, **facts_for_action(rule.action)} if facts_for_action else facts
            matched = _predicate(rule)(rule_facts)
        except engine.MissingFact as exc:
            failures.append(RuleFailure(rule.pk, rule.name, rule.version, f"fact '{exc.fact}' is missing"))
            continue
        except (engine.ConditionError, TypeError) as exc:
            failures.append(RuleFailure(rule.pk, rule.name, rule.version, str(exc)[:300]))
            continue
        if matched:
            decisions.append(Decision(rule.pk, rule.name, rule.version, rule.kind, rule.action))
            if rule.stop_after_match:
                stopped.add(rule.kind)
    return decisions, failures


@dataclass(frozen=True)
class TryResult:
    label: str  # e.g. the order number
    matched: bool
    outcome: str  # what the order would get, in words; empty when it does not match
    error: str


def rule_dry_run(*, rule: Rule, facts_by_label: dict[str, dict], lang: str = "zh") -> list[TryResult]:
    """Try one rule (enabled or not, saved or not) on some orders' facts. Changes nothing, counts no hits."""
    try:
        predicate = engine.compile_condition(engine.validate(rule.condition))
        outcome = actions.render_action(rule.kind, actions.validate_action(rule.kind, rule.action, _ANY), lang)
    except (engine.ConditionError, actions.ActionError) as exc:
        return [TryResult(label, False, "", str(exc)) for label in facts_by_label]
    results = []
    for label, facts in facts_by_label.items():
        try:
            matched = predicate(facts)
        except engine.MissingFact as exc:
            results.append(TryResult(label, False, "", f"fact '{exc.fact}' is missing"))
            continue
        results.append(TryResult(label, matched, outcome if matched else "", ""))
    return results


def condition_predicate(condition) -> Callable[[dict], bool]:
    """A predicate over a fact dict for a condition (raises engine.ConditionError when it is not valid)."""
    return engine.compile_condition(engine.validate(condition))
