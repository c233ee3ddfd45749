from django import template

from orders import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def open_alerts_summary(context) -> selectors.AlertsSummary:
    return selectors.alerts_open_summary(user=context["request"].user)
