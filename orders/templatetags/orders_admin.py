from django import template

from orders import selectors
from orders.services.calendars import calendar_warnings

register = template.Library()


@register.simple_tag(takes_context=True)
def open_alerts_summary(context) -> selectors.AlertsSummary:
    return selectors.alerts_open_summary(user=context["request"].user)


@register.simple_tag
def approval_overdue_count() -> int:
    """Orders showing 审批滞留 (approvals escalated to the approver's superior), for the admin home."""
    return selectors.orders_approval_overdue_count()


@register.simple_tag
def promise_light_counts() -> dict[str, int]:
    """Unshipped orders per promise light (one aggregate statement), for the admin home's counters."""
    return selectors.promise_light_counts()


@register.simple_tag
def working_calendar_warnings() -> list[str]:
    """A year whose public holidays chinese_calendar does not know yet (the calendars use the weekly hours)."""
    return calendar_warnings()
