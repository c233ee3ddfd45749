"""Status-node deadlines: what `Order.state_deadline` is on entering a node, on pausing and on resuming.

The lifecycle core calls `deadline_enter` on every transition (the one place deadlines are set). A node counts
clock time or working time (orders/calendar.py: the node's calendar, else the order's warehouse's, else the
default one). A node's pause tokens (StatusNode.pause_states) stop its clock: leaving the node for a pausing
status, or for a hold of a pausing kind ("hold:customer", "hold:approval"), keeps the time left in
`deadline_basis["paused"]` with its cause (moving on to another pausing state keeps it too), and coming back
resumes it on the basis the order entered with — a timeout changed meanwhile applies to orders that enter after
the change. "presale_balance" stops the clock where the order stays: the deposit's self-transition
(placed → placed, inside the payment service's locked run) calls `deadline_pause`; the order has no deadline
until the balance is paid (then 'placed' is done) — `deadline_resume` starts a clock stopped in place again.

Node settings are read once per transaction (bound to the connection's on-commit list, as before: a paid POST
enters three statuses); calendars are built once per process and rebuilt after CALENDAR_TTL seconds or at once
when a calendar is saved through orders.services.calendars (`calendars_forget`).

Ladder levels "at % of the allowed time" get their moments here too, counted like the deadline in the node's own
clock: entering a node keeps them in `deadline_basis["marks"]` ({level id: {"at", "percent"}}) and the earliest in
the order's OrderLadder row (one statement, only for a node with such levels), which the overdue sweep finds due
orders by and advances. A resumed stay continues each mark from the time left; a mark passed before the pause
does not fire again. The percent levels per status are read once per process (rebuilt after CALENDAR_TTL seconds,
or at once when the node admin saves them: `ladder_levels_forget`); a level change applies to stays that start
after it, as a timeout change does.

Below the lifecycle core: imports only models and the pure calendar arithmetic."""

import time as monotonic_time
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from orders.calendar import WorkCalendar, span_of
from orders.models import (
    PAUSE_HOLD_PREFIX,
    PAUSE_PRESALE_BALANCE,
    CalendarDay,
    EscalationLevel,
    NodeClock,
    Order,
    OrderLadder,
    Status,
    StatusNode,
    WorkingHours,
)
from orders.models import WorkCalendar as WorkCalendarRow

CALENDAR_TTL = 60.0  # seconds a process keeps the calendars it built (other processes' edits show after this)


class NodeSetting(NamedTuple):
    minutes: int | None
    clock: str = NodeClock.CLOCK
    calendar_id: int | None = None
    pauses: frozenset = frozenset()
    owner_group_id: int | None = None


NO_NODE = NodeSetting(None)


def node_setting(minutes, clock=None, calendar_id=None, pauses=None, owner_group_id=None) -> NodeSetting:
    return NodeSetting(minutes, clock or NodeClock.CLOCK, calendar_id, frozenset(pauses or ()), owner_group_id)


# --- node settings: read once per transaction ----------------------------------------------------------------
_NODE_CACHE_ATTR = "_orderhub_status_timeouts"
NODE_COLUMNS = ("status", "timeout_minutes", "clock", "calendar_id", "pause_states", "owner_group_id")


def node_settings(status: str) -> dict[str, NodeSetting]:
    """Settings per status, read once per transaction, unless a lock read brought those of the statuses its run
    may enter (status_timeouts_known) and `status` is one of them.

    The cache is bound to the connection's list of on-commit callbacks, which Django replaces on commit,
    rollback and savepoint rollback; outside a transaction nothing is cached."""
    hooks = connection.run_on_commit if connection.in_atomic_block else None
    cached = getattr(connection, _NODE_CACHE_ATTR, None)
    if hooks is not None and cached is not None and cached[0] is hooks and (cached[2] or status in cached[1]):
        return cached[1]
    settings = {row[0]: node_setting(*row[1:]) for row in StatusNode.objects.values_list(*NODE_COLUMNS)}
    _node_settings_cache(hooks, settings, complete=True)
    return settings


def _node_settings_cache(hooks, settings: dict[str, NodeSetting], *, complete: bool) -> None:
    if hooks is not None:
        transaction.on_commit(lambda: None)  # keeps the list non-empty, so commit replaces it
        setattr(connection, _NODE_CACHE_ATTR, (connection.run_on_commit, settings, complete))


def node_settings_forget() -> None:
    """A node's settings were saved: the rest of this transaction reads them afresh."""
    if hasattr(connection, _NODE_CACHE_ATTR):
        delattr(connection, _NODE_CACHE_ATTR)


def status_timeouts_known(settings: dict[str, NodeSetting]) -> None:
    """Some statuses' settings, read by the caller in this transaction with its lock (the allocation job's one
    read): deadlines use them instead of reading every node; any other status is read as usual."""
    if connection.in_atomic_block and getattr(connection, _NODE_CACHE_ATTR, (None,))[0] is not connection.run_on_commit:
        _node_settings_cache(connection.run_on_commit, dict(settings), complete=False)


# --- calendars: built once per process -----------------------------------------------------------------------
_calendars: dict = {}


def calendars_forget() -> None:
    """Drop this process's calendars (a calendar, its hours or overrides changed)."""
    _calendars.clear()


def _calendars_load() -> dict:
    if _calendars and monotonic_time.monotonic() - _calendars["at"] < CALENDAR_TTL:
        return _calendars
    weekly: dict[int, dict[int, list]] = {}
    for cal_id, weekday, start, end in WorkingHours.objects.values_list("calendar_id", "weekday", "start", "end"):
        weekly.setdefault(cal_id, {}).setdefault(weekday, []).append(span_of(start, end))
    overrides: dict[int, dict] = {}
    for cal_id, day, working, start, end in CalendarDay.objects.values_list(
        "calendar_id", "date", "is_working", "start", "end"
    ):
        days = overrides.setdefault(cal_id, {})
        if not working:
            days.setdefault(day, [])
        elif start is None:
            days[day] = None if not days.get(day) else days[day]
        else:
            spans = days.get(day) or []
            days[day] = [*spans, span_of(start, end)]
    by_id, by_warehouse, by_group, default = {}, {}, {}, None
    for cal_id, name, is_default, warehouse_id, group_id, china in WorkCalendarRow.objects.values_list(
        "pk", "name", "is_default", "warehouse_id", "group_id", "use_china_holidays"
    ):
        by_id[cal_id] = WorkCalendar(
            weekly=weekly.get(cal_id, {}), overrides=overrides.get(cal_id, {}), china=china, name=name
        )
        if warehouse_id is not None:
            by_warehouse[warehouse_id] = cal_id
        if group_id is not None:
            by_group.setdefault(group_id, cal_id)
        if is_default:
            default = cal_id
    _calendars.clear()
    _calendars.update(
        at=monotonic_time.monotonic(), by_id=by_id, by_warehouse=by_warehouse, by_group=by_group, default=default
    )
    return _calendars


def calendar_get(calendar_id: int) -> WorkCalendar | None:
    return _calendars_load()["by_id"].get(calendar_id)


def calendar_choose(*, node: NodeSetting, warehouse_id: int | None) -> int | None:
    """The calendar a working-time node counts on for an order: the node's, the order's warehouse's, the node
    owner team's (a calendar bound to its group), else the default."""
    loaded = _calendars_load()
    candidates = (
        node.calendar_id,
        loaded["by_warehouse"].get(warehouse_id),
        loaded["by_group"].get(node.owner_group_id),
        loaded["default"],
    )
    for candidate in candidates:
        if candidate is not None and candidate in loaded["by_id"]:
            return candidate
    return None


# --- ladder levels by percentage: read once per process ---------------------------------------------------------
_percent_levels: dict = {}


def ladder_levels_forget() -> None:
    """Drop this process's percent levels (a node's ladder was saved): now, and again when the transaction commits
    (a read meanwhile would cache what the other transactions see)."""
    _percent_levels.clear()
    if connection.in_atomic_block:
        transaction.on_commit(_percent_levels.clear)


def percent_levels(status: str) -> tuple[tuple[int, int], ...]:
    """(level id, percent) of the status's levels "at % of the allowed time"."""
    if not _percent_levels or monotonic_time.monotonic() - _percent_levels["at"] >= CALENDAR_TTL:
        by_status: dict[str, list] = {}
        for node_status, level_id, percent in EscalationLevel.objects.filter(after_percent__isnull=False).values_list(
            "node__status", "pk", "after_percent"
        ):
            by_status.setdefault(node_status, []).append((level_id, percent))
        _percent_levels.clear()
        _percent_levels.update(at=monotonic_time.monotonic(), by_status={k: tuple(v) for k, v in by_status.items()})
    return _percent_levels["by_status"].get(status, ())


def _marks_start(basis: dict, now: datetime) -> None:
    """A fresh stay: each percent level's moment, that share of the allowed time after `now` in the basis's
    clock, kept in the basis."""
    levels = percent_levels(basis["status"]) if basis else ()
    _marks_keep(basis, now, {str(pk): (percent, 0.0) for pk, percent in levels})


def _marks_resume(basis: dict, now: datetime, remaining: float) -> None:
    """A resumed stay: the marks still ahead when the clock paused continue from the time left; those passed
    before the pause are dropped (they belonged to the stay before it and do not fire again)."""
    used = basis["minutes"] * 60 - remaining
    _marks_keep(basis, now, {key: (m["percent"], used) for key, m in (basis.get("marks") or {}).items()})


def _marks_keep(basis: dict, now: datetime, marks: dict[str, tuple[int, float]]) -> None:
    kept = {}
    for key, (percent, used) in marks.items():
        ahead = basis["minutes"] * 60 * percent / 100 - used
        if ahead > 0:
            kept[key] = _after(basis, now, ahead)
    basis.pop("marks", None)
    if kept:
        basis["marks"] = {key: {"at": at.isoformat(), "percent": marks[key][0]} for key, at in kept.items()}


def ladder_marks_save(order: Order) -> None:
    """Write the order's ladder row (its stay and earliest mark) when the stay has marks: one statement, none for
    a node without levels at %. A row left from an earlier stay is dropped by the sweep when it comes due."""
    marks = (order.deadline_basis or {}).get("marks")
    if not marks or order.pk is None:
        return
    row = OrderLadder(
        order_id=order.pk,
        stay_entered_at=order.state_entered_at,
        next_at=min(parse_datetime(m["at"]) for m in marks.values()),
    )
    OrderLadder.objects.bulk_create(
        [row], update_conflicts=True, unique_fields=["order"], update_fields=["stay_entered_at", "next_at"]
    )


# --- deadlines ----------------------------------------------------------------------------------------------
def _basis_start(*, status: str, node: NodeSetting, warehouse_id: int | None) -> dict:
    if not node.minutes:
        return {}
    basis = {"status": status, "minutes": node.minutes, "clock": NodeClock.CLOCK, "paused_seconds": 0}
    if node.clock == NodeClock.WORKING:
        calendar_id = calendar_choose(node=node, warehouse_id=warehouse_id)
        if calendar_id is not None:  # no calendar at all: clock time
            basis.update(clock=NodeClock.WORKING, calendar=calendar_id, calendar_name=calendar_get(calendar_id).name)
    return basis


def _after(basis: dict, start: datetime, seconds: float) -> datetime:
    """`seconds` of the basis's time after start (a negative remainder — overdue when paused — in clock time)."""
    calendar = calendar_get(basis["calendar"]) if basis.get("clock") == NodeClock.WORKING else None
    if calendar is None or seconds <= 0:
        return start + timedelta(seconds=seconds)
    return calendar.add_seconds(start, seconds) or start + timedelta(seconds=seconds)


def _left(basis: dict, deadline: datetime, now: datetime) -> float:
    calendar = calendar_get(basis["calendar"]) if basis.get("clock") == NodeClock.WORKING else None
    if calendar is None or deadline <= now:
        return (deadline - now).total_seconds()
    return calendar.seconds_between(now, deadline)


def status_deadline(*, status: str, entered_at: datetime, warehouse_id: int | None = None) -> datetime | None:
    """The deadline of an order entering `status` at `entered_at` afresh (no pause to resume)."""
    return deadline_fields(status=status, now=entered_at, warehouse_id=warehouse_id)["state_deadline"]


def deadline_fields(*, status: str, now: datetime, warehouse_id: int | None = None) -> dict:
    """state_deadline and deadline_basis of an order that begins in `status` at `now` (intake)."""
    basis = _basis_start(
        status=status, node=node_settings(status).get(status, NodeSetting(None)), warehouse_id=warehouse_id
    )
    deadline = _after(basis, now, basis["minutes"] * 60) if basis else None
    _marks_start(basis, now)
    return {"state_deadline": deadline, "deadline_basis": basis}


def deadline_enter(*, order: Order, from_status: str, now: datetime) -> Order:
    """Set state_deadline and deadline_basis of an order that has just moved from `from_status` to order.status
    at `now` (the lifecycle core calls this on every transition)."""
    to_status = order.status
    settings = node_settings(to_status)
    node = settings.get(to_status, NodeSetting(None))
    if from_status == to_status and presale_waits(node=node, order=order):
        return deadline_pause(order=order, cause=PAUSE_PRESALE_BALANCE, now=now)  # the deposit is in: stop here
    old = order.deadline_basis or {}
    paused = old.get("paused")
    leaving = settings.get(from_status, NodeSetting(None))
    if not old and order.state_deadline is not None and leaving.minutes:
        old = {"status": from_status, "minutes": leaving.minutes, "clock": NodeClock.CLOCK, "paused_seconds": 0}
    cause = pause_cause(node=leaving, order=order, to_status=to_status) if from_status != to_status else None
    if old.get("status") == from_status and cause and order.state_deadline is not None:
        # Pause: the node's time left is kept; the pausing state may have a deadline of its own.
        paused = _paused(basis=old, deadline=order.state_deadline, now=now, cause=cause)
    elif paused and to_status == paused["node"]:
        if presale_waits(node=node, order=order):  # back, but the balance is still not in: it stays stopped
            order.deadline_basis, order.state_deadline = {"paused": paused}, None
            return order
        order.deadline_basis = {"paused": paused}
        return deadline_resume(order=order, now=now)  # the time left continues on the basis it entered with
    elif paused and not pause_cause(node=settings.get(paused["node"], NO_NODE), order=order, to_status=to_status):
        paused = None  # gone elsewhere: the paused node's clock is dropped
    basis = _basis_start(status=to_status, node=node, warehouse_id=order.warehouse_id)
    order.state_deadline = _after(basis, now, basis["minutes"] * 60) if basis else None
    _marks_start(basis, now)
    if paused:
        basis = {**basis, "paused": paused}
    order.deadline_basis = basis
    ladder_marks_save(order)
    if not paused and presale_waits(node=node, order=order):
        deadline_pause(order=order, cause=PAUSE_PRESALE_BALANCE, now=now)  # entered while the balance is awaited
    return order


# --- pauses: what stops a node's clock, and stopping / starting it where the order stays ----------------------
def pause_cause(*, node: NodeSetting, order: Order, to_status: str) -> str | None:
    """The node's pause token that moving to `to_status` matches (the status itself, or a hold of the order's
    kind: the mover has set hold_kind by now), else None: the clock of the node is not paused by it."""
    if to_status in node.pauses:
        return to_status
    if to_status == Status.ON_HOLD and order.hold_kind and PAUSE_HOLD_PREFIX + order.hold_kind in node.pauses:
        return PAUSE_HOLD_PREFIX + order.hold_kind
    return None


def presale_waits(*, node: NodeSetting, order: Order) -> bool:
    """A presale whose deposit is paid and balance not yet, in a node whose clock that stops."""
    return (
        PAUSE_PRESALE_BALANCE in node.pauses
        and order.is_presale
        and order.payment_status == Order.PaymentStatus.DEPOSIT_PAID
    )


def _paused(*, basis: dict, deadline: datetime, now: datetime, cause: str) -> dict:
    return {
        "node": basis["status"],
        "remaining": _left(basis, deadline, now),
        "since": now.isoformat(),
        "basis": basis,
        "cause": cause,
    }


def deadline_pause(*, order: Order, cause: str, now: datetime) -> Order:
    """Stop the running clock of the node the order stays in (`cause`, a pause token): the time left is kept in
    deadline_basis["paused"] as a pausing transition keeps it, and the order has no deadline until resumed.
    Nothing to stop (no timeout, already stopped): unchanged. The caller saves the order."""
    basis = order.deadline_basis or {}
    if basis.get("paused") or not basis.get("minutes") or order.state_deadline is None:
        return order
    order.deadline_basis = {"paused": _paused(basis=basis, deadline=order.state_deadline, now=now, cause=cause)}
    order.state_deadline = None
    return order


def deadline_resume(*, order: Order, now: datetime) -> Order:
    """Start the stopped clock of the order's node again with the time it had left; the time it stood still is
    added to the basis's paused_seconds once. Not stopped in this node: unchanged. The caller saves the order."""
    paused = (order.deadline_basis or {}).get("paused")
    if not paused or paused["node"] != order.status:
        return order
    basis = dict(paused["basis"])
    since = parse_datetime(paused["since"])
    basis["paused_seconds"] = int(basis.get("paused_seconds", 0) + (now - since).total_seconds())
    order.deadline_basis = basis
    order.state_deadline = _after(basis, now, paused["remaining"])
    _marks_resume(basis, now, paused["remaining"])
    ladder_marks_save(order)
    return order


def deadline_basis_text(order: Order, *, now: datetime | None = None) -> str:
    """What the order page says about its running deadline: "按 X 分钟（工作时间, 日历 Y）计时，已暂停 Z"."""
    basis = order.deadline_basis or {}
    paused = basis.get("paused")
    parts = []
    if basis.get("minutes"):
        parts.append(_basis_sentence(basis))
    if paused:
        now = now or timezone.now()
        since = parse_datetime(paused["since"])
        held = _duration(basis=paused["basis"], extra=(now - since).total_seconds())
        values = {
            "node": Status(paused["node"]).label,
            "left": _minutes_text(max(paused["remaining"], 0)),
            "held": held,
            "cause": pause_cause_text(paused.get("cause", "")),
        }
        if values["cause"]:
            text = _("The clock of '%(node)s' is paused (%(cause)s), %(left)s left; paused %(held)s so far.")
        else:  # paused before pauses said why
            text = _("The clock of '%(node)s' is paused, %(left)s left; paused %(held)s so far.")
        parts.append(text % values)
    return " ".join(parts)


def deadline_paused_text(order: Order) -> str:
    """Short words for the order list when a node's clock is paused: "已暂停：<why>"; "" when it runs."""
    paused = (order.deadline_basis or {}).get("paused")
    if not paused:
        return ""
    return _("Paused: %(cause)s") % {"cause": pause_cause_text(paused.get("cause", "")) or Status(paused["node"]).label}


def pause_cause_text(cause: str) -> str:
    """Why a clock is paused, in words: the pausing state, the kind of hold, or the presale's missing balance."""
    if cause == PAUSE_PRESALE_BALANCE:
        return _("presale: waiting for the balance")
    if cause.startswith(PAUSE_HOLD_PREFIX) and cause[len(PAUSE_HOLD_PREFIX) :] in Order.HoldKind.values:
        return _("on hold: %(kind)s") % {"kind": Order.HoldKind(cause[len(PAUSE_HOLD_PREFIX) :]).label}
    if cause in Status.values:
        return str(Status(cause).label)
    return ""


def _basis_sentence(basis: dict) -> str:
    paused = _duration(basis=basis, extra=0)
    if basis.get("clock") == NodeClock.WORKING:
        return _("Timed on %(minutes)d minutes (working time, calendar %(calendar)s), paused %(paused)s.") % {
            "minutes": basis["minutes"],
            "calendar": basis.get("calendar_name", ""),
            "paused": paused,
        }
    return _("Timed on %(minutes)d minutes (clock time), paused %(paused)s.") % {
        "minutes": basis["minutes"],
        "paused": paused,
    }


def _duration(*, basis: dict, extra: float) -> str:
    return _minutes_text(basis.get("paused_seconds", 0) + extra)


def _minutes_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes >= 60:
        return _("%(h)d h %(m)d min") % {"h": minutes // 60, "m": minutes % 60}
    return _("%(m)d min") % {"m": minutes}
