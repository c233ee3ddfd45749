"""Periodic checks over orders. Each is idempotent: running it twice raises nothing twice."""

from django.utils import timezone
from django.utils.translation import gettext as _

from orders.models import FINAL_STATES, Alert, Order, StatusNode
from orders.services.alerts import alert_raise


def overdue_alerts_raise(*, batch: int = 500) -> int:
    """Raise one alert per order that sits past its node deadline, addressed to the node's owner."""
    nodes = {n.status: n for n in StatusNode.objects.select_related("owner_group", "owner_user")}
    overdue = (
        Order.objects.filter(state_deadline__lt=timezone.now(), is_legacy=False)
        .exclude(status__in=FINAL_STATES)
        .order_by("state_deadline")[:batch]
    )
    raised = 0
    for order in overdue:
        key = f"overdue:{order.pk}:{order.status}:{order.state_entered_at:%Y%m%d%H%M%S}"
        if Alert.objects.filter(dedupe_key=key).exists():
            continue
        node = nodes.get(order.status)
        alert_raise(
            kind=Alert.Kind.NODE_OVERDUE,
            message=_("Order %(number)s is overdue in '%(status)s' (deadline %(deadline)s).")
            % {
                "number": order.number,
                "status": order.get_status_display(),
                "deadline": timezone.localtime(order.state_deadline).strftime("%Y-%m-%d %H:%M"),
            },
            order=order,
            owner_group=node.owner_group if node else None,
            owner_user=node.owner_user if node else None,
            dedupe_key=key,
        )
        raised += 1
    return raised
