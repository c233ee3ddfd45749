from django import template

from orders import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def open_alerts_summary(context) -> selectors.AlertsSummary:
    return selectors.alerts_open_summary(user=context["request"].user)


@register.simple_tag
def approval_overdue_count() -> int:
    """Orders showing 审批滞留 (approvals escalated to the approver's superior), for the admin home."""
    return selectors.orders_approval_overdue_count()
