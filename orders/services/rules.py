"""Where business rules act on an order: the orders side of rules.services.rules_decide. Effect providers below
the lifecycle: they work on the order row the lifecycle run has locked, and a hold they make goes through the
core on that same row."""

import hashlib

from django.utils.translation import gettext as _

from orders import selectors
from orders.models import Alert, Order, OrderLine, Source, Status
from orders.services.alerts import alert_raise
from orders.services.core import Move, Run, transition_apply
from orders.services.timeline import history_attribute, rule_fired_event
from orders.transitions import TRANSITIONS
from rules import actions
from rules.services import rules_decide
from warehouse.models import Sku, Warehouse

# Which kinds run when the order reaches each moment of its lifecycle.
KINDS_ON_PAID = (actions.GIFT, actions.TAG, actions.PRIORITY, actions.APPROVAL)


def order_apply_rules_on_paid(*, run: Run, move: Move) -> None:
    """Effect of pay: gift lines, tags, priority, then approval holds, on the run's locked order.

    A rule that fails (e.g. a fact missing on an old order) never stops the order: it is held with the
    reason, and the error is recorded on the rule and raised as an alert.
    """
    order = run.order
    decisions, failures = rules_decide(kinds=KINDS_ON_PAID, facts=lambda: selectors.order_facts(order=order))
    changed = False
    holds = []
    for decision in decisions:
        params = decision.action
        if decision.kind == actions.GIFT:
            sku = Sku.objects.get(code=params["sku"])
            line = OrderLine(
                order=order,
                sku=sku,
                quantity=params["quantity"],
                unit_price=0,
                is_gift=True,
                note=params.get("note", ""),
            )
            history_attribute(line, actor=None, reason=f"rule {decision.rule_id} v{decision.version}")
            line.save()
            getattr(order, "_prefetched_objects_cache", {}).pop("lines", None)  # readers load them afresh
        elif decision.kind == actions.TAG and params["tag"] not in order.tags:
            order.tags = [*order.tags, params["tag"]]
            changed = True
        elif decision.kind == actions.PRIORITY and params["level"] > order.priority:
            order.priority = params["level"]
            changed = True
        elif decision.kind == actions.APPROVAL:
            holds.append(decision)
        rule_fired_event(order=order, decision=decision, text=actions.render_action(decision.kind, params))
    if changed:
        run.note("rules on paid")  # saved with the run's one save
    _alert_failures(order, failures)
    reasons = [
        _("Awaiting approval by %(group)s (rule %(name)s v%(v)s)")
        % {"group": d.action["group"], "name": d.rule_name, "v": d.version}
        for d in holds
    ]
    reasons += [
        _("Rule %(name)s v%(v)s failed: %(why)s") % {"name": f.rule_name, "v": f.version, "why": f.message}
        for f in failures
    ]
    if reasons and order.status == Status.PAID:
        transition_apply(
            run=run,
            spec=TRANSITIONS["hold"],
            actor=None,
            source=Source.RULE,
            actor_label=_("rules"),
            reason="; ".join(reasons),
            also_set={"hold_kind": Order.HoldKind.APPROVAL} if holds else None,  # 待审批: the approver releases it
        )
        for d in holds:
            alert_raise(
                kind=Alert.Kind.APPROVAL_WAITING,
                order=order,
                rule_group=d.action["group"],
                message=_("Order %(number)s waits for approval (rule %(name)s).")
                % {"number": order.number, "name": d.rule_name},
                dedupe_key=f"approval:{order.pk}:{d.rule_id}",
            )


def _record_decision(order: Order, decision, text: str) -> None:
    rule_fired_event(order=order, decision=decision, text=text)


def _alert_failures(order: Order, failures) -> None:
    for failure in failures:
        alert_raise(
            kind=Alert.Kind.RULE_ERROR,
            order=order,
            message=_("Rule '%(name)s' v%(v)s failed on order %(number)s: %(why)s")
            % {"name": failure.rule_name, "v": failure.version, "number": order.number, "why": failure.message},
            dedupe_key=f"rule-error:{failure.rule_id}:{order.pk}",
        )


def order_route_by_rules(*, order: Order) -> str | None:
    """Apply the first matching routing rule. A rule naming a warehouse sets it ("fixed"); a ranking rule
    returns how to rank the warehouses with stock ("nearest", "capacity"). None when no rule matches.
    Facts include the remaining capacity today of the warehouse a rule names (the most of any, for rankings)."""
    capacity: dict[str, int] = {}

    def capacity_fact(action: dict) -> dict:
        if not capacity:  # read once, and only when a routing rule is evaluated
            capacity.update(selectors.warehouse_remaining_capacity())
        named = action.get("warehouse")
        return {"warehouse_remaining_capacity": capacity.get(named, 0) if named else max(capacity.values(), default=0)}

    decisions, failures = rules_decide(
        kinds=(actions.ROUTE,), facts=lambda: selectors.order_facts(order=order), facts_for_action=capacity_fact
    )
    _alert_failures(order, failures)
    if not decisions:
        return None
    decision = decisions[0]
    ranking = decision.action.get("ranking") or "fixed"
    if ranking == "fixed":
        order.warehouse = Warehouse.objects.get(code=decision.action["warehouse"])
    _record_decision(order, decision, actions.render_action(decision.kind, decision.action))
    return ranking


def order_merge_by_rules(*, run: Run, move: Move) -> None:
    """Effect of print_label: when a merge rule matches, tag the open same-address orders to ship together
    (the printed order itself on the run's locked row, so no copy of it drifts)."""
    order = run.order
    decisions, failures = rules_decide(kinds=(actions.MERGE,), facts=lambda: selectors.order_facts(order=order))
    _alert_failures(order, failures)
    for decision in decisions[:1]:
        params = decision.action
        group = selectors.orders_same_address_open(order=order, hours=params["window_hours"])
        if len(group) < params["min_orders"]:
            continue
        key = hashlib.sha256(f"{order.receiver_phone}|{order.city}|{order.address_detail}".encode()).hexdigest()[:6]
        tags = [f"合并发货-{key}", *(["免运费"] if params.get("waive_shipping") else [])]
        for member in group:
            member = order if member.pk == order.pk else member
            new_tags = [t for t in tags if t not in member.tags]
            if new_tags:
                member.tags = [*member.tags, *new_tags]
                why = f"merge rule {decision.rule_id} v{decision.version}"
                if member is order:
                    run.note(why)  # the locked row: saved with the run's one save
                else:
                    history_attribute(member, actor=None, reason=why)
                    member.save(update_fields=["tags", "updated_at"])
            _record_decision(
                member, decision, _("ship together with %(n)d orders (%(tag)s)") % {"n": len(group), "tag": tags[0]}
            )
