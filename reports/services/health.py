# ruff: noqa: S608 - every SQL text here is built from the models' table names and fixed fragments; values are bound
"""The sellers' health figures (经营看板 → 健康度): one day's rows per (channel, warehouse), recomputed from the other
apps' rows by set-based SQL — numerators and denominators, never a ratio. Called by reports.services.daily's
refresh, inside its transaction and its per-day lock, so running it twice gives the same rows.

What each pair counts (the day D is an Asia/Shanghai day; an order's channel and its warehouse now):
- steps_checked / steps_consistent: status changes into printed, picked_up or in_transit made in D; consistent when
  the physical step exists: printed ⇒ the order has a registered parcel (waybill / label number), picked up or in
  transit ⇒ a carrier scan of one of its parcels.
- paid / picked_up_on_time: orders paid in D (not legacy; not those cancelled without ever being picked up); on time
  when picked up within ReportSettings.pickup_within_hours of their payment.
- changes / changes_traced: changes made in D — status changes, and edits by people (timeline notes of the admin or
  the API: address changes, priority, tags …); traced when a history row of the order was written within a minute of
  it and it names its actor (a change from the admin, the API or a scan without a user is missing; rules, carriers,
  sweeps, channels and the system are their own actor).
- orders_moved / orders_breakpoint: orders that left a step in D; of them, those where a step of a node with a
  clock-time timeout lasted longer than the timeout plus ReportSettings.breakpoint_grace_minutes.
- orders_created / interventions: orders the hub created in D (not legacy); status changes and edits made in D by
  people in the admin (holds, releases, cancels, address changes, edits).
- parcels_in_transit / parcels_stalled: active parcels in carrier hands in D (first carrier scan before the end of D,
  not finished before D started); of them, those stalled since before the end of D and still stalled.
DailyExceptionCauses: holds (by hold kind) and exceptions (carrier or staff) entered in D.
"""

from datetime import date, datetime

from django.db import connection

from logistics.models import Shipment, TrackingEvent
from orders.models import NodeClock, Order, OrderEvent, Source, Status, StatusNode
from reports.models import DailyExceptionCauses, DailyHealthFigures
from reports.services.settings import report_settings

HEALTH_COLUMNS = (
    "steps_checked",
    "steps_consistent",
    "paid",
    "picked_up_on_time",
    "changes",
    "changes_traced",
    "orders_moved",
    "orders_breakpoint",
    "orders_created",
    "interventions",
    "parcels_in_transit",
    "parcels_stalled",
)
# Who acts for a change made through these doors must be a signed-in user; the others are their own actor.
PERSON_SOURCES = (Source.ADMIN, Source.SCAN, Source.API)
CHECKED_STEPS = (Status.PRINTED, Status.PICKED_UP, Status.IN_TRANSIT)
HISTORY_WINDOW_SECONDS = 60


def _dt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _minutes(earlier: str, later: str) -> str:
    """SQL: the minutes from one timestamp column to another."""
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 60)"
    return f"((julianday({later}) - julianday({earlier})) * 1440)"  # SQLite (the demo)


def _branch(columns: dict[str, str], body: str) -> str:
    """One SELECT of the UNION: channel_id, warehouse_id, then every figure (0 where this branch has none)."""
    values = ", ".join(f"{columns.get(name, '0')} AS {name}" for name in HEALTH_COLUMNS)
    return f"SELECT o.channel_id, o.warehouse_id, {values} {body} GROUP BY o.channel_id, o.warehouse_id"


def health_figures_refresh(*, day: date, start: datetime, end: datetime, now: datetime) -> dict[str, int]:
    """Replace the day's health rows. Call inside a transaction holding the day's refresh lock
    (reports.services.daily.daily_figures_refresh does)."""
    DailyHealthFigures.objects.filter(day=day).delete()
    DailyExceptionCauses.objects.filter(day=day).delete()
    settings = report_settings()
    return {
        "health_rows": _health_insert(day=day, start=start, end=end, now=now, settings=settings),
        "cause_rows": _causes_insert(day=day, start=start, end=end, now=now),
    }


def _health_insert(*, day: date, start: datetime, end: datetime, now: datetime, settings) -> int:
    orders = Order._meta.db_table
    events = OrderEvent._meta.db_table
    shipments = Shipment._meta.db_table
    scans = TrackingEvent._meta.db_table
    history = Order.history.model._meta.db_table
    nodes = StatusNode._meta.db_table
    s, e = _dt(start), _dt(end)
    transition, note = OrderEvent.Kind.TRANSITION, OrderEvent.Kind.NOTE
    branches: list[tuple[str, list]] = []

    # Status consistency: each step entered in D against its physical evidence.
    steps = ", ".join(["%s"] * len(CHECKED_STEPS))
    branches.append(
        (
            _branch(
                {
                    "steps_checked": "COUNT(*)",
                    "steps_consistent": f"""SUM(CASE WHEN (ev.to_status = %s AND EXISTS (
                            SELECT 1 FROM {shipments} sh WHERE sh.order_id = ev.order_id))
                        OR (ev.to_status <> %s AND EXISTS (
                            SELECT 1 FROM {scans} sc JOIN {shipments} sh ON sh.id = sc.shipment_id
                            WHERE sh.order_id = ev.order_id)) THEN 1 ELSE 0 END)""",
                },
                f"""FROM {events} ev JOIN {orders} o ON o.id = ev.order_id
                    WHERE ev.kind = %s AND ev.to_status IN ({steps}) AND ev.to_status <> ev.from_status
                      AND ev.source <> %s AND ev.created_at >= %s AND ev.created_at < %s""",
            ),
            [Status.PRINTED, Status.PRINTED, transition, *CHECKED_STEPS, Source.IMPORT, s, e],
        )
    )

    # Pickup on time: orders paid in D, picked up within the threshold of their payment.
    picked = f"SELECT 1 FROM {events} pe WHERE pe.order_id = o.id AND pe.kind = %s AND pe.to_status = %s"
    branches.append(
        (
            _branch(
                {
                    "paid": "COUNT(*)",
                    "picked_up_on_time": f"""SUM(CASE WHEN EXISTS ({picked}
                        AND {_minutes("o.paid_at", "pe.created_at")} <= %s) THEN 1 ELSE 0 END)""",
                },
                f"""FROM {orders} o WHERE o.paid_at >= %s AND o.paid_at < %s AND NOT o.is_legacy
                    AND NOT (o.status = %s AND NOT EXISTS ({picked}))""",
            ),
            [
                *(transition, Status.PICKED_UP, settings.pickup_within_hours * 60),
                *(s, e, Status.CANCELLED, transition, Status.PICKED_UP),
            ],
        )
    )

    # Audit trail: status changes and people's edits, each with a history row close to it and its actor.
    people = ", ".join(["%s"] * len(PERSON_SOURCES))
    window = HISTORY_WINDOW_SECONDS / 60
    branches.append(
        (
            _branch(
                {
                    "changes": "COUNT(*)",
                    "changes_traced": f"""SUM(CASE WHEN (ev.actor_id IS NOT NULL OR ev.source NOT IN ({people}))
                        AND EXISTS (SELECT 1 FROM {history} h WHERE h.id = ev.order_id
                            AND ABS({_minutes("ev.created_at", "h.history_date")}) <= %s)
                        THEN 1 ELSE 0 END)""",
                    "interventions": "SUM(CASE WHEN ev.source = %s THEN 1 ELSE 0 END)",
                },
                f"""FROM {events} ev JOIN {orders} o ON o.id = ev.order_id
                    WHERE ev.created_at >= %s AND ev.created_at < %s AND ev.source <> %s
                      AND ((ev.kind = %s AND ev.to_status <> '') OR (ev.kind = %s AND ev.source IN (%s, %s)))""",
            ),
            [*PERSON_SOURCES, window, Source.ADMIN, s, e, Source.IMPORT, transition, note, Source.ADMIN, Source.API],
        )
    )

    # Breakpoints: the stays that ended in D (each status entry up to the order's next one), over the node's
    # clock-time timeout by more than the grace.
    stays = f"""
        SELECT order_id, status, {_minutes("entered_at", "left_at")} AS minutes FROM (
            SELECT order_id, to_status AS status, created_at AS entered_at,
                   LEAD(created_at) OVER (PARTITION BY order_id ORDER BY created_at, id) AS left_at
            FROM {events}
            WHERE kind IN (%s, %s) AND to_status <> '' AND to_status <> from_status AND source <> %s
              AND order_id IN (
                  SELECT order_id FROM {events} WHERE kind = %s AND created_at >= %s AND created_at < %s
              )
        ) stays
        WHERE left_at >= %s AND left_at < %s
    """
    branches.append(
        (
            _branch(
                {"orders_moved": "COUNT(*)", "orders_breakpoint": "SUM(moved.breaks)"},
                f"""FROM (
                        SELECT st.order_id, MAX(CASE WHEN n.timeout_minutes IS NOT NULL
                            AND st.minutes > n.timeout_minutes + %s THEN 1 ELSE 0 END) AS breaks
                        FROM ({stays}) st LEFT JOIN {nodes} n ON n.status = st.status AND n.clock = %s
                        GROUP BY st.order_id
                    ) moved JOIN {orders} o ON o.id = moved.order_id""",
            ),
            [
                settings.breakpoint_grace_minutes,
                *(OrderEvent.Kind.CREATED, transition, Source.IMPORT, transition, s, e, s, e),
                NodeClock.CLOCK,
            ],
        )
    )

    # Manual interventions per 1,000 orders: the orders created in D.
    branches.append(
        (
            _branch(
                {"orders_created": "COUNT(*)"},
                f"FROM {orders} o WHERE o.created_at >= %s AND o.created_at < %s AND NOT o.is_legacy",
            ),
            [s, e],
        )
    )

    # Stalls: active parcels in carrier hands in D.
    first_scan = f"SELECT 1 FROM {scans} sc WHERE sc.shipment_id = sh.id AND sc.occurred_at < %s"
    branches.append(
        (
            _branch(
                {
                    "parcels_in_transit": "COUNT(*)",
                    "parcels_stalled": "SUM(CASE WHEN sh.stalled_since < %s THEN 1 ELSE 0 END)",
                },
                f"""FROM {shipments} sh JOIN {orders} o ON o.id = sh.order_id
                    WHERE sh.is_active AND EXISTS ({first_scan})
                      AND (NOT sh.is_finished OR sh.last_event_at >= %s)""",
            ),
            [e, e, s],
        )
    )

    sums = ", ".join(f"SUM({name})" for name in HEALTH_COLUMNS)
    union = " UNION ALL ".join(sql for sql, _ in branches)
    sql = f"""
        INSERT INTO {DailyHealthFigures._meta.db_table}
            (day, channel_id, warehouse_id, {", ".join(HEALTH_COLUMNS)}, refreshed_at)
        SELECT %s, channel_id, warehouse_id, {sums}, %s
        FROM ({union}) figures
        GROUP BY channel_id, warehouse_id
    """
    params = [connection.ops.adapt_datefield_value(day), _dt(now)]
    for _, branch_params in branches:
        params += branch_params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _causes_insert(*, day: date, start: datetime, end: datetime, now: datetime) -> int:
    orders = Order._meta.db_table
    events = OrderEvent._meta.db_table
    history = Order.history.model._meta.db_table
    # A hold's kind is set with the hold, in the order's history row written right after its timeline line.
    hold_kind = f"""COALESCE((SELECT h.hold_kind FROM {history} h
        WHERE h.id = ev.order_id AND h.history_date >= ev.created_at
        ORDER BY h.history_date, h.history_id LIMIT 1), '')"""
    sql = f"""
        INSERT INTO {DailyExceptionCauses._meta.db_table} (day, channel_id, warehouse_id, cause, count, refreshed_at)
        SELECT %s, o.channel_id, o.warehouse_id, entered.cause, COUNT(*), %s
        FROM (
            SELECT ev.order_id, CASE
                WHEN ev.to_status = %s THEN 'hold:' || {hold_kind}
                WHEN ev.source = %s THEN 'exception:carrier'
                ELSE 'exception:manual' END AS cause
            FROM {events} ev
            WHERE ev.kind = %s AND ev.to_status IN (%s, %s) AND ev.to_status <> ev.from_status
              AND ev.source <> %s AND ev.created_at >= %s AND ev.created_at < %s
        ) entered JOIN {orders} o ON o.id = entered.order_id
        GROUP BY o.channel_id, o.warehouse_id, entered.cause
    """
    params = [connection.ops.adapt_datefield_value(day), _dt(now), Status.ON_HOLD, Source.CARRIER]
    params += [OrderEvent.Kind.TRANSITION, Status.ON_HOLD, Status.EXCEPTION, Source.IMPORT, _dt(start), _dt(end)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
