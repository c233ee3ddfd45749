"""Writes and decisions of the rules app. It reads a plain fact dict and never imports orders.services."""

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from config.history import history_reason
from orders.models import NotificationChannel
from rules import actions, engine
from rules.models import Rule, RuleDayHits
from rules.selectors import (
    Decision,
    FactsForAction,
    RuleFailure,
    rules_active,
    rules_evaluate,
)
from rules.selectors import rule_dry_run as rule_dry_run  # the sandbox is a read: kept importable from here
from rules.selectors import rule_sentence as rule_sentence
from warehouse.models import Sku, Warehouse


def known_codes() -> actions.Known:
    return actions.Known(
        skus=frozenset(Sku.objects.filter(is_active=True).values_list("code", flat=True)),
        groups=frozenset(Group.objects.values_list("name", flat=True)),
        warehouses=frozenset(Warehouse.objects.filter(is_active=True).values_list("code", flat=True)),
        users=frozenset(get_user_model().objects.filter(is_active=True).values_list("username", flat=True)),
        channels=frozenset(NotificationChannel.objects.values_list("name", flat=True)),
    )


def rule_check(*, kind: str, condition, action, valid_from: datetime | None, valid_to: datetime | None) -> dict:
    """Every reason this rule cannot be saved, as field errors (ValidationError); else the cleaned action."""
    errors: dict[str, list[str]] = {}
    try:
        engine.validate(condition)
    except engine.ConditionError as exc:
        errors["condition"] = [f"{path}: {msg}" for path, msg in exc.errors]
    cleaned_action = {}
    try:
        cleaned_action = actions.validate_action(kind, action, known_codes())
    except actions.ActionError as exc:
        errors["action"] = [f"{path}: {msg}" for path, msg in exc.errors]
    if valid_from and valid_to and valid_to <= valid_from:
        errors["valid_to"] = ["valid_to must be after valid_from"]
    if errors:
        raise ValidationError(errors)
    return cleaned_action


def rules_decide(
    *,
    kinds: tuple[str, ...],
    facts: dict | Callable[[], dict],
    at: datetime | None = None,
    facts_for_action: FactsForAction | None = None,
) -> tuple[list, list]:
    """Evaluate the enabled, currently valid rules of these kinds and record hits and errors on them.
    `facts` may be a function: it is called only when there are rules to evaluate (facts cost queries)."""
    now = at or timezone.now()
    rules = rules_active(kinds=kinds, at=now)
    if not rules:
        return [], []
    decisions, failures = rules_evaluate(
        rules=rules, facts=facts() if callable(facts) else facts, facts_for_action=facts_for_action
    )
    rules_record(decisions=decisions, failures=failures, at=now)
    return decisions, failures


def rules_record(*, decisions: list[Decision], failures: list[RuleFailure], at: datetime) -> None:
    """Count hits and note run-time errors on the rules (for callers that act on only some decisions): one
    statement per rule concerned, however many orders a sweep's batch decided on, and one for the day rows of all
    of them (rules_day_hits: hits per local day)."""
    now = at
    hits = Counter(decision.rule_id for decision in decisions)
    last_error = {failure.rule_id: failure.message for failure in failures}  # the latest one per rule
    with transaction.atomic():
        for rule_id, n in sorted(hits.items()):
            Rule.objects.filter(pk=rule_id).update(hit_count=F("hit_count") + n, last_hit_at=now)
        _day_hits_add(hits=hits, day=timezone.localdate(now))
        for rule_id, message in sorted(last_error.items()):  # counters and error notes are not edits: no history
            Rule.objects.filter(pk=rule_id).update(last_error=message, last_error_at=now)


def _day_hits_add(*, hits: Counter, day) -> None:
    """Add the batch's hits to the rules' rows of this local day: one INSERT … ON CONFLICT for the whole batch
    (PostgreSQL and SQLite both have it), however many rules and orders it holds."""
    if not hits:
        return
    table = connection.ops.quote_name(RuleDayHits._meta.db_table)
    rows = sorted(hits.items())
    values = ", ".join(["(%s, %s, %s)"] * len(rows))
    params = [value for rule_id, n in rows for value in (rule_id, day, n)]
    sql = (
        f"INSERT INTO {table} (rule_id, day, hits) VALUES {values} "  # noqa: S608 - our table name, bound values
        f"ON CONFLICT (rule_id, day) DO UPDATE SET hits = {table}.hits + excluded.hits"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def rule_save(*, rule: Rule, actor, reason: str = "") -> Rule:
    """Save a checked rule; every change after the first is a new version (the timeline names versions)."""
    rule.action = rule_check(
        kind=rule.kind, condition=rule.condition, action=rule.action, valid_from=rule.valid_from, valid_to=rule.valid_to
    )
    with transaction.atomic():
        if rule.pk is not None:
            current = Rule.objects.select_for_update().only("version").get(pk=rule.pk)
            rule.version = current.version + 1
        rule._history_user = actor
        rule._change_reason = history_reason(reason)
        rule.save()
    return rule
