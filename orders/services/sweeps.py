"""Periodic checks over orders. Each is idempotent: running it twice raises nothing twice."""

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from orders import selectors
from orders.models import FINAL_STATES, Alert, Order, Status, StatusNode
from orders.services.alerts import alert_raise, alert_resolve
from rules import actions
from rules.services import rules_active, rules_evaluate, rules_record


def _overdue_message(order: Order) -> str:
    return _("Order %(number)s is overdue in '%(status)s' (deadline %(deadline)s).") % {
        "number": order.number,
        "status": order.get_status_display(),
        "deadline": timezone.localtime(order.state_deadline).strftime("%Y-%m-%d %H:%M"),
    }


def alerts_resolve_stale() -> int:
    """Close the order alerts whose cause is gone: an overdue (or escalation) alert once its order has entered
    another status since it was raised; a shortfall alert once its order no longer waits for stock (cancelled,
    or moved on by hand). Shortfalls that get allocated close at once, in the allocation itself."""
    resolved = alert_resolve(
        alerts=Alert.objects.filter(kind=Alert.Kind.NODE_OVERDUE, order__state_entered_at__gt=F("created_at")),
        resolution=_("the order left the overdue status"),
    )
    resolved += alert_resolve(
        alerts=Alert.objects.filter(kind=Alert.Kind.STOCK_SHORTFALL, order__isnull=False).exclude(
            order__status__in=(Status.ON_HOLD, Status.ALLOCATING)
        ),
        resolution=_("the order no longer waits for stock"),
    )
    return resolved


def overdue_alerts_raise(*, batch: int = 500) -> int:
    """For each order past its node deadline: one alert to the node's owner, then one per escalation level
    (node settings) and per matching escalation rule once the order is that many minutes overdue."""
    now = timezone.now()
    nodes = {
        n.status: n
        for n in StatusNode.objects.select_related("owner_group", "owner_user").prefetch_related(
            "escalations__notify_group", "escalations__notify_user"
        )
    }
    escalation_rules = rules_active(kinds=(actions.ESCALATION,), at=now)
    overdue = (
        Order.objects.filter(state_deadline__lt=now, is_legacy=False)
        .exclude(status__in=FINAL_STATES)
        .select_related("channel", "customer")
        .order_by("state_deadline")[:batch]
    )
    raised = 0
    for order in overdue:
        stay = f"{order.pk}:{order.status}:{order.state_entered_at:%Y%m%d%H%M%S}"
        minutes_over = (now - order.state_deadline).total_seconds() / 60
        node = nodes.get(order.status)
        # (dedupe key, message, severity, what the alert is about: owner_for picks its owner from it)
        wanted = [(f"overdue:{stay}", _overdue_message(order), None, {"node": node})]
        for level in node.escalations.all() if node else []:
            if minutes_over >= level.after_minutes:
                wanted.append(
                    (
                        f"escalate:{stay}:L{level.level}",
                        _("Escalation L%(level)s: %(msg)s") % {"level": level.level, "msg": _overdue_message(order)},
                        Alert.Severity.CRITICAL,
                        {"escalation": level},
                    )
                )
        if escalation_rules:
            decisions, failures = rules_evaluate(rules=escalation_rules, facts=selectors.order_facts(order=order))
            fired = []
            for d in decisions:
                key = f"escalate:{stay}:rule{d.rule_id}"
                if minutes_over >= d.action["after_minutes"] and not Alert.objects.filter(dedupe_key=key).exists():
                    wanted.append(
                        (
                            key,
                            _("Escalation by rule %(name)s: %(msg)s")
                            % {"name": d.rule_name, "msg": _overdue_message(order)},
                            Alert.Severity.CRITICAL,
                            {"rule_group": d.action["group"]},
                        )
                    )
                    fired.append(d)
            rules_record(decisions=fired, failures=failures, at=now)
        for key, message, severity, about in wanted:
            if Alert.objects.filter(dedupe_key=key).exists():
                continue
            alert_raise(
                kind=Alert.Kind.NODE_OVERDUE, severity=severity, message=message, order=order, dedupe_key=key, **about
            )
            raised += 1
    return raised
