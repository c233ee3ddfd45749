from django import template

from orders import selectors

register = template.Library()


@register.simple_tag
def open_alerts(limit: int = 20):
    return selectors.alerts_open(limit=limit)


@register.simple_tag
def open_alerts_count() -> int:
    return selectors.alerts_open_count()
