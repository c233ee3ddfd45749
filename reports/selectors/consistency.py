"""The figures of the daily consistency report (跨系统订单一致性日报). Queries only; one query per table.

Per channel, of one Asia/Shanghai day [start, end):
- deliveries: raw deliveries the channel sent or the hub pulled (InboxDelivery, by received_at);
- received: orders the channel reported: the intake log's lines of first processing (IntakeRecord run 0, by
  processed_at, as the daily rows count their rejected) plus the webhook deliveries refused at the door
  (WebhookRefusal). Orders entered by the API, an Excel import or the admin have no intake line;
- created, duplicates, rejected: the daily rows (DailyChannelFigures, reports.services.daily): orders created,
  of them held as suspected duplicates, reported orders refused (intake log and refused deliveries);
- timeouts: deliveries of the day whose processing failed or that are still not processed when the report is
  built, plus the channel's pull-failure episodes open during the day (the "channel pull failing" alert,
  raised after several failed or timed-out pulls in a row, one per episode);
- net: created − duplicates.
ERP: the outbox messages to ERP endpoints created before the day's end and still not delivered (an ERP that
answered success is a delivered message), grouped per order and endpoint, oldest first.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import CharField, Count, IntegerField, Max, Min, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils.translation import gettext_lazy as _

from config.xlsx import xlsx_bytes
from orders.models import Alert, Channel, InboxDelivery, IntakeRecord, OutboxMessage, WebhookRefusal
from reports.models import ConsistencyReport, DailyChannelFigures

# The dedupe key orders.services.channel_pulls gives its "channel pull failing" alert: "channel_pull_failing:<id>".
PULL_ALERT_KEY_PREFIX = "channel_pull_failing:"
CHANNEL_FIGURES = ("deliveries", "received", "created", "duplicates", "rejected", "timeouts", "net")
ERP_ROWS_KEPT = 500
REPORT_TZ = ZoneInfo("Asia/Shanghai")


def _count(queryset, field: str = "channel"):
    """COUNT(*) of `queryset` grouped by `field`, as a subquery for the channel row (0 when none)."""
    counted = queryset.order_by().values(field).annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def consistency_channel_rows(*, day: date, start: datetime, end: datetime) -> list[dict]:
    """One row per channel (every channel, in code order; one with nothing that day is a row of zeros)."""
    channel = OuterRef("pk")
    daily = DailyChannelFigures.objects.filter(day=day, channel=channel)
    open_in_day = Q(resolved_at__isnull=True) | Q(resolved_at__gte=start)
    pull_alerts = Alert.objects.filter(open_in_day, kind=Alert.Kind.CHANNEL_PULL_FAILING, created_at__lt=end).filter(
        dedupe_key=Concat(Value(PULL_ALERT_KEY_PREFIX), Cast(channel, CharField()))
    )
    pull_alerts = pull_alerts.annotate(one=Value(1)).order_by().values("one").annotate(n=Count("*")).values("n")
    rows = Channel.objects.order_by("code").annotate(
        n_deliveries=_count(InboxDelivery.objects.filter(channel=channel, received_at__gte=start, received_at__lt=end)),
        n_records=_count(
            IntakeRecord.objects.filter(channel=channel, run=0, processed_at__gte=start, processed_at__lt=end)
        ),
        n_refusals=_count(WebhookRefusal.objects.filter(channel=channel, created_at__gte=start, created_at__lt=end)),
        n_created=Coalesce(Subquery(daily.values("created")[:1]), Value(0)),
        n_duplicates=Coalesce(Subquery(daily.values("duplicates")[:1]), Value(0)),
        n_rejected=Coalesce(Subquery(daily.values("rejected")[:1]), Value(0)),
        n_stuck=_count(
            InboxDelivery.objects.filter(
                channel=channel,
                received_at__gte=start,
                received_at__lt=end,
                state__in=[InboxDelivery.State.FAILED, InboxDelivery.State.RECEIVED],
            )
        ),
        n_pull_alerts=Coalesce(Subquery(pull_alerts, output_field=IntegerField()), Value(0)),
    )
    return [
        {
            "channel": row.name,
            "code": row.code,
            "deliveries": row.n_deliveries,
            "received": row.n_records + row.n_refusals,
            "created": row.n_created,
            "duplicates": row.n_duplicates,
            "rejected": row.n_rejected,
            "timeouts": row.n_stuck + row.n_pull_alerts,
            "net": row.n_created - row.n_duplicates,
        }
        for row in rows
    ]


def consistency_totals(rows: list[dict]) -> dict[str, int]:
    return {key: sum(row[key] for row in rows) for key in CHANNEL_FIGURES}


def erp_unacknowledged(*, before: datetime, now: datetime, limit: int = ERP_ROWS_KEPT) -> tuple[list[dict], int]:
    """Orders whose push to an ERP endpoint, created before `before`, is not delivered: (the oldest `limit` of
    them, how many in all). One row per order and endpoint: its oldest waiting message and how long it waits."""
    waiting = (
        OutboxMessage.objects.filter(endpoint__isnull=False, created_at__lt=before)
        .exclude(state=OutboxMessage.State.DELIVERED)
        .order_by()
        .values("order_id", "endpoint_id")
        .annotate(
            order_number=Max("order__number"),
            channel=Max("order__channel__name"),
            endpoint=Max("endpoint__name"),
            since=Min("created_at"),
            messages=Count("id"),
            dead=Count("id", filter=Q(state=OutboxMessage.State.DEAD)),
            attempts=Max("attempts"),
            error=Max("last_error"),
        )
    )
    total = waiting.count()
    rows = [
        {
            "order": row["order_number"],
            "channel": row["channel"],
            "endpoint": row["endpoint"],
            "since": row["since"].isoformat(),
            "waited_minutes": max(0, int((now - row["since"]).total_seconds() // 60)),
            "messages": row["messages"],
            "dead": row["dead"],
            "attempts": row["attempts"],
            "error": row["error"] or "",
        }
        for row in waiting.order_by("since", "order_id", "endpoint_id")[:limit]
    ]
    return rows, total


# --- the stored report as tables: the same header and cells on the page, in the email and in the xlsx -------------
CHANNEL_COLUMNS = [
    ("channel", _("Channel")),
    ("deliveries", _("Deliveries")),
    ("received", _("Orders reported")),
    ("created", _("Orders created")),
    ("duplicates", _("Suspected duplicates")),
    ("rejected", _("Rejected")),
    ("timeouts", _("Timeouts / failures")),
    ("net", _("Net orders")),
]
ERP_COLUMNS = [
    ("order", _("Order")),
    ("channel", _("Channel")),
    ("endpoint", _("ERP endpoint")),
    ("since", _("Waiting since")),
    ("waited_hours", _("Waiting (hours)")),
    ("messages", _("Messages")),
    ("dead", _("Dead-lettered")),
    ("attempts", _("Attempts")),
    ("error", _("Last error")),
]


@dataclass(frozen=True)
class ConsistencyTables:
    channel_header: list[str]
    channel_rows: list[list]
    total_row: list
    erp_header: list[str]
    erp_rows: list[list]
    erp_total: int

    @property
    def erp_cut(self) -> bool:
        """More orders wait than the report lists."""
        return self.erp_total > len(self.erp_rows)


def consistency_tables(report: ConsistencyReport) -> ConsistencyTables:
    figures = report.figures or {}
    channels = figures.get("channels", [])
    totals = figures.get("totals", {})
    erp = []
    for row in figures.get("erp", []):
        cells = dict(row)
        cells["since"] = datetime.fromisoformat(row["since"]).astimezone(REPORT_TZ).replace(tzinfo=None)
        cells["waited_hours"] = (Decimal(row["waited_minutes"]) / 60).quantize(Decimal("0.1"))
        erp.append([cells[key] for key, _label in ERP_COLUMNS])
    return ConsistencyTables(
        channel_header=[str(label) for _key, label in CHANNEL_COLUMNS],
        channel_rows=[[row[key] for key, _label in CHANNEL_COLUMNS] for row in channels],
        total_row=[str(_("Total"))] + [totals.get(key, 0) for key, _label in CHANNEL_COLUMNS[1:]],
        erp_header=[str(label) for _key, label in ERP_COLUMNS],
        erp_rows=erp,
        erp_total=figures.get("erp_total", 0),
    )


def consistency_xlsx(report: ConsistencyReport) -> bytes:
    """The report as a workbook: the channel table (with its total) and the orders the ERP has not acknowledged."""
    tables = consistency_tables(report)
    return xlsx_bytes(
        {
            str(_("Channels")): (tables.channel_header, [*tables.channel_rows, tables.total_row]),
            str(_("ERP not acknowledged")): (tables.erp_header, tables.erp_rows),
        }
    )


def consistency_xlsx_filename(report: ConsistencyReport) -> str:
    return f"{_('Daily consistency report')}_{report.day:%Y-%m-%d}.xlsx"
