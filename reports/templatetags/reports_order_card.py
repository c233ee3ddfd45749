"""The per-order health card (订单健康卡), loaded by the order page (templates/admin/orders/order/change_form.html):
`{% load reports_order_card %}{% order_health_card original %}`. The reads are reports.selectors.order_card's."""

from django import template

from reports.selectors.order_card import order_card

register = template.Library()


@register.inclusion_tag("admin/reports/order_card.html")
def order_health_card(order) -> dict:
    return {"card": order_card(order=order)}
