"""The workbench (我的工作台) on the admin home: per role the user has, its figures, each linking to the filtered
admin list behind it. The counts come from reports.selectors; this only adds labels and links."""

from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.translation import gettext as _

from orders.models import Alert, Status
from reports.selectors import workbench as selectors

register = template.Library()


@dataclass(frozen=True)
class Figure:
    key: str  # the test and the page's CSS hook: data-figure="…"
    label: str
    count: int | str
    url: str


@dataclass
class Block:
    role: str
    title: str
    figures: list[Figure] = field(default_factory=list)


def _url(name: str, **query) -> str:
    url = reverse(name)
    return f"{url}?{urlencode(query)}" if query else url


def _day_range(field_name: str, start, end) -> dict[str, str]:
    """The parameters Django's date list filter uses for a range of local days."""
    return {f"{field_name}__gte": str(start), f"{field_name}__lt": str(end)}


def _customer_service(user) -> Block:
    figures = selectors.workbench_customer_service(user=user)
    orders, today = "admin:orders_order_changelist", selectors.local_day_start()
    holds = {"status__exact": Status.ON_HOLD, "hold_kind__in": ",".join(selectors.CS_HOLD_KINDS)}
    changes = _day_range("created_at", today, today + timedelta(days=1))
    return Block(
        "客服",
        _("Customer service"),
        [
            Figure(
                "late_orders",
                _("Late orders in my nodes"),
                figures.late_orders,
                _url(orders, overdue="yes", node_owner="mine"),
            ),
            Figure(
                "open_alerts",
                _("Open alerts for me and my groups"),
                figures.open_alerts,
                _url("admin:orders_alert_changelist", state="open", owner="mine"),
            ),
            Figure("holds", _("Holds waiting for customer service"), figures.holds, _url(orders, **holds)),
            Figure(
                "address_changes",
                _("Address changes today"),
                figures.address_changes_today,
                _url("admin:orders_addresschange_changelist", **changes),
            ),
        ],
    )


def _pick_wave(wave: selectors.PickWave) -> Figure:
    """One warehouse's pick list: its allocated orders, linking to the pick list page of that warehouse."""
    name = f"{wave.warehouse_name} ({wave.warehouse_code})" if wave.warehouse_code else _("no warehouse")
    if wave.waves > 1:
        label = _("To pick at %(warehouse)s: %(waves)d waves of up to %(size)d") % {
            "warehouse": name,
            "waves": wave.waves,
            "size": selectors.PICKLIST_MAX_ORDERS,
        }
    else:
        label = _("To pick at %(warehouse)s") % {"warehouse": name}
    query = {"warehouse": wave.warehouse_code} if wave.warehouse_code else {}
    url = _url("warehouse:picklist", **query)
    return Figure(f"pick_wave:{wave.warehouse_code}", label, wave.orders, url)


def _warehouse(user) -> Block:
    figures = selectors.workbench_warehouse()
    orders = "admin:orders_order_changelist"
    breaker = _("Tripped: paid orders wait") if figures.breaker_tripped else _("Closed: orders flow")
    # The pick list page is for those who may move orders through the warehouse (warehouse.views.warehouse_page).
    waves = [_pick_wave(w) for w in figures.pick_waves] if user.has_perm(selectors.PICK_PERMISSION) else []
    block = Block(
        "仓库",
        _("Warehouse"),
        [
            Figure("queue", _("Allocation queue"), figures.queue, _url(orders, status__exact=Status.ALLOCATING)),
            Figure("breaker", _("breaker state"), breaker, _url("admin:warehouse_allocationsettings_changelist")),
            Figure(
                "to_print", _("To print (allocated)"), figures.to_print, _url(orders, status__exact=Status.ALLOCATED)
            ),
            Figure(
                "to_hand_over",
                _("To hand over (printed)"),
                figures.to_hand_over,
                _url(orders, status__exact=Status.PRINTED),
            ),
            Figure(
                "stalled_parcels",
                _("Stalled parcels"),
                figures.stalled_parcels,
                _url(
                    "admin:logistics_shipment_changelist",
                    stalled_since__isempty="0",
                    is_finished__exact="0",
                    is_active__exact="1",
                ),
            ),
        ],
    )
    block.figures[3:3] = waves  # after "to print": the same orders, per warehouse's pick list
    return block


def _ops() -> Block:
    figures = selectors.workbench_ops()
    today = selectors.local_day_start()
    headline = selectors.workbench_ops_headline(day=today.date())
    dashboard = _url("admin:reports_dashboard_changelist", start=str(headline.day), end=str(headline.day))
    alerts = "admin:orders_alert_changelist"
    errors = _day_range("last_error_at", today - timedelta(days=selectors.RULE_ERROR_DAYS), today + timedelta(days=1))
    return Block(
        "运营主管",
        _("Operations"),
        [
            Figure("orders_today", _("Orders placed today"), headline.orders, dashboard),
            Figure("gmv_today", _("GMV today"), f"¥{headline.gmv:,.2f}", dashboard),
            Figure("consistency_today", headline.consistency.label, headline.consistency.display, dashboard),
            Figure("breakpoints_today", headline.breakpoints.label, headline.breakpoints.display, dashboard),
            Figure(
                "rules_with_errors",
                _("Rules with errors in the past 7 days"),
                figures.rules_with_errors,
                _url("admin:rules_rule_changelist", **errors),
            ),
            Figure(
                "rule_error_alerts",
                _("Open rule error alerts"),
                figures.rule_error_alerts,
                _url(alerts, state="open", kind__exact=Alert.Kind.RULE_ERROR),
            ),
            Figure(
                "approval_overdue",
                _("Approval overdue (审批滞留)"),
                figures.approval_overdue,
                _url("admin:orders_order_changelist", approval_overdue="yes"),
            ),
            Figure(
                "channel_pull_failures",
                _("Channel pulls failing"),
                figures.channel_pull_failures,
                _url(alerts, state="open", kind__exact=Alert.Kind.CHANNEL_PULL_FAILING),
            ),
        ],
    )


def _finance() -> Block:
    figures = selectors.workbench_finance()
    orders = "admin:orders_order_changelist"
    return Block(
        "财务",
        _("Finance"),
        [
            Figure("to_confirm", _("Payments to confirm"), figures.to_confirm, _url(orders, payment_to_confirm="yes")),
            Figure(
                "mismatches",
                _("Amount mismatches (金额不符)"),
                figures.mismatches,
                _url(orders, payment_mismatch="yes"),
            ),
        ],
    )


@register.simple_tag(takes_context=True)
def workbench(context) -> list[Block]:
    """The blocks of the roles the user has (by group), each read only when the user has that role."""
    user = context["request"].user
    builders = {
        "客服": lambda: _customer_service(user),
        "仓库": lambda: _warehouse(user),
        "运营主管": _ops,
        "财务": _finance,
    }
    return [builders[role]() for role in selectors.workbench_roles(user=user)]
