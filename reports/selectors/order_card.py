"""The per-order health card (订单健康卡) on the order page: where this one order broke its flow (steps over their
node timeout by more than the grace of ReportSettings), what people did to it by hand, where its parcels went quiet,
and what was sent about it. Reads only: seven statements per order whatever its history (timeline, the order's history
rows, node settings, report settings, parcels, their carrier events with the gap before each, notifications).

Breakpoints. The stays come from the order's timeline: the first from creation to the first status change (in that
change's from-status), each later one from a status change to the next (a self-transition such as the presale
deposit, placed → placed, continues the stay). A stay is measured against the deadline it had: the order's history
row saved during the stay (Order.state_deadline as the deadline service set it from the node's timeout, clock or
working time, and the time left of a resumed stay; none: no deadline), and the current stay against the order's
own state_deadline. A stay that saved no history row of its own (passed through inside one run, or history from
before the history table) falls back to its node's timeout in clock minutes (StatusNode.timeout_minutes, as now
set; a working-time node is then not measured, as DailyNodeFigures.over_timeout), continuing the time used before
one of its pause states (StatusNode.pause_states: a status, or a hold of a pausing kind, read from the hold's
history row) as the deadline service does.

Manual interventions. A person's hold, release, address change or edit (priority, tags, invoice title, promised
ship-by) in the admin, with who and when; the system's (rules, sweeps, the payment check) and a channel's reports
through its API account are not counted.

Carrier gaps. Two carrier events of one parcel more than CARRIER_GAP_HOURS apart (the parcel was with the carrier
between them), or an unfinished, active parcel whose last event is that old; parcels the stall sweep marked
(Shipment.stalled_since, after the carrier's stall_hours) are listed as stall marks.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F, Window
from django.db.models.functions import Lag
from django.utils import timezone
from django.utils.translation import gettext as _

from logistics.models import Shipment, TrackingEvent
from orders.models import (
    FINAL_STATES,
    PAUSE_HOLD_PREFIX,
    NodeClock,
    Notification,
    Order,
    OrderEvent,
    Source,
    Status,
    StatusNode,
)
from reports.services.settings import report_settings

# A day without a carrier scan while the parcel is on its way is worth a look, before the stall mark (36 h by
# default, Carrier.stall_hours) raises an alert.
CARRIER_GAP_HOURS = 24

# The keys orders.services.timeline.order_edited_event writes (its EDITABLE_FIELDS; tests keep the two equal):
# a person changed priority, tags, invoice title or the promised ship-by time.
EDIT_KEYS = ("priority", "tags", "invoice_title", "promised_ship_by")


@dataclass(frozen=True)
class Breakpoint:
    status: str
    label: str
    entered_at: datetime
    left_at: datetime | None  # None: the order is still there
    allowed_minutes: int | None  # None: measured against the deadline it entered with
    deadline: datetime | None
    over_minutes: int  # beyond the deadline (rounded down)


@dataclass(frozen=True)
class Intervention:
    kind: str  # hold, release, address, edit
    label: str
    actor: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class CarrierGap:
    tracking_number: str
    carrier: str
    since: datetime
    until: datetime | None  # None: still no event
    hours: int


@dataclass(frozen=True)
class StallMark:
    tracking_number: str
    carrier: str
    since: datetime


@dataclass(frozen=True)
class NotificationSent:
    at: datetime
    channel: str
    channel_kind: str
    recipient: str
    title: str
    state: str
    state_label: str


@dataclass
class OrderCard:
    grace_minutes: int
    gap_hours: int
    breakpoints: list[Breakpoint] = field(default_factory=list)
    interventions: list[Intervention] = field(default_factory=list)
    gaps: list[CarrierGap] = field(default_factory=list)
    stalls: list[StallMark] = field(default_factory=list)
    notifications: list[NotificationSent] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        """No breakpoint, no hand work, no carrier gap or stall (notifications are not a problem)."""
        return not (self.breakpoints or self.interventions or self.gaps or self.stalls)


def _pauses(node, target: str, hold_kind: str) -> bool:
    """Whether leaving `node` for `target` keeps its clock (a pause state of the node)."""
    if node is None:
        return False
    tokens = node["pause_states"] or []
    if target in tokens:
        return True
    return target == Status.ON_HOLD and f"{PAUSE_HOLD_PREFIX}{hold_kind}" in tokens


# The order's history row of a status change is saved in the same transaction as its timeline line, a moment before
# it (the lines of a run are inserted together at its end): a row this much before a stay's first line is its own.
HISTORY_SLACK = timedelta(seconds=2)


def _saved(history: list[dict], status: str, entered: datetime, left: datetime) -> dict | None:
    """The order as last saved during a stay (its deadline and hold kind), or None when the stay saved no row of its
    own (a status passed through inside one run, which saves the order once)."""
    rows = [h for h in history if h["status"] == status and entered - HISTORY_SLACK <= h["history_date"] < left]
    return rows[-1] if rows else None


def _breakpoints(
    *, order: Order, events: list[dict], history: list[dict], nodes: dict, grace: int, now: datetime
) -> list[Breakpoint]:
    labels = dict(Status.choices)
    moves = [e for e in events if e["kind"] == OrderEvent.Kind.TRANSITION and e["from_status"] != e["to_status"]]
    created = next((e["created_at"] for e in events if e["kind"] == OrderEvent.Kind.CREATED), order.created_at)
    stays = []  # (status, entered, left or None: still there)
    if not moves:
        stays.append((order.status, created, None))
    else:
        stays.append((moves[0]["from_status"], created, moves[0]["created_at"]))
        for move, following in zip(moves, [*moves[1:], None], strict=True):
            left = following["created_at"] if following else None
            stays.append((move["to_status"], move["created_at"], left))
    saved = [_saved(history, status, entered, left or now) if left else None for status, entered, left in stays]
    hold_kinds = [row["hold_kind"] if row else order.hold_kind for row in saved]
    found = []
    paused: tuple[str, float] | None = None  # (node, seconds used before its pause)
    for index, (status, entered, left) in enumerate(stays):
        node = nodes.get(status)
        used = 0.0
        if paused is not None:
            if paused[0] == status:
                used, paused = paused[1], None
            elif not _pauses(nodes.get(paused[0]), status, hold_kinds[index]):
                paused = None
        if left is None:  # the current stay: against the deadline it entered with
            if status in FINAL_STATES or order.state_deadline is None:
                continue
            over = (now - order.state_deadline).total_seconds() / 60
            if over > grace:
                found.append(
                    Breakpoint(status, labels.get(status, status), entered, None, None, order.state_deadline, int(over))
                )
            continue
        spent = (left - entered).total_seconds()
        if index + 1 < len(stays) and _pauses(node, stays[index + 1][0], hold_kinds[index + 1]):
            paused = (status, used + spent)
            continue  # measured when it comes back
        row = saved[index]
        if row is not None:  # the deadline the stay had (any clock; a resumed stay's time left): None, no deadline
            if row["state_deadline"] is None:
                continue
            deadline, allowed_minutes = row["state_deadline"], None
        elif node is None or node["timeout_minutes"] is None or node["clock"] != NodeClock.CLOCK:
            continue
        else:
            deadline = entered + timedelta(seconds=node["timeout_minutes"] * 60 - used)
            allowed_minutes = node["timeout_minutes"]
        over = (left - deadline).total_seconds() / 60
        if over > grace:
            found.append(
                Breakpoint(status, labels.get(status, status), entered, left, allowed_minutes, deadline, int(over))
            )
    return found


def _interventions(events: list[dict]) -> list[Intervention]:
    found = []
    for e in events:
        if e["actor_id"] is None or e["source"] != Source.ADMIN:
            continue  # the system's (rules, sweeps, the payment check) or a channel's report through its API account
        data = e["data"] or {}
        if e["transition"] == "hold":
            kind, label = "hold", _("Hold")
        elif e["transition"] == "release":
            kind, label = "release", _("Release")
        elif e["kind"] == OrderEvent.Kind.NOTE and "old_address" in data:
            kind, label = "address", _("Address change")
        elif e["kind"] == OrderEvent.Kind.NOTE and any(key in data for key in EDIT_KEYS):
            kind, label = "edit", _("Edit")
        else:
            continue
        found.append(Intervention(kind, str(label), e["actor_label"], e["created_at"], e["reason"]))
    return found


def order_card(*, order: Order, now: datetime | None = None) -> OrderCard:
    """The health card of one order: seven statements, whatever the order's history."""
    now = now or timezone.now()
    events = list(
        OrderEvent.objects.filter(order_id=order.pk)
        .order_by("created_at", "id")
        .values(
            "created_at",
            "kind",
            "transition",
            "from_status",
            "to_status",
            "actor_id",
            "actor_label",
            "source",
            "reason",
            "data",
        )
    )
    nodes = {n["status"]: n for n in StatusNode.objects.values("status", "timeout_minutes", "clock", "pause_states")}
    grace = report_settings().breakpoint_grace_minutes
    card = OrderCard(grace_minutes=grace, gap_hours=CARRIER_GAP_HOURS)
    history = list(
        Order.history.filter(id=order.pk)
        .order_by("history_date", "history_id")
        .values("history_date", "status", "hold_kind", "state_deadline")
    )
    card.breakpoints = _breakpoints(order=order, events=events, history=history, nodes=nodes, grace=grace, now=now)
    card.interventions = _interventions(events)

    gap = timedelta(hours=CARRIER_GAP_HOURS)
    parcels = list(
        Shipment.objects.filter(order_id=order.pk)
        .order_by("parcel_index", "id")
        .values("id", "tracking_number", "carrier__name", "stalled_since", "is_finished", "is_active", "last_event_at")
    )
    scans = (
        TrackingEvent.objects.filter(shipment__order_id=order.pk)
        .annotate(previous=Window(Lag("occurred_at"), partition_by=[F("shipment_id")], order_by=F("occurred_at").asc()))
        .values("shipment_id", "occurred_at", "previous")
        .order_by("shipment_id", "occurred_at")
    )
    by_id = {p["id"]: p for p in parcels}
    for scan in scans:
        if scan["previous"] is not None and scan["occurred_at"] - scan["previous"] > gap:
            parcel = by_id[scan["shipment_id"]]
            hours = int((scan["occurred_at"] - scan["previous"]).total_seconds() // 3600)
            card.gaps.append(
                CarrierGap(
                    parcel["tracking_number"], parcel["carrier__name"], scan["previous"], scan["occurred_at"], hours
                )
            )
    for parcel in parcels:
        last = parcel["last_event_at"]
        if parcel["is_active"] and not parcel["is_finished"] and last is not None and now - last > gap:
            hours = int((now - last).total_seconds() // 3600)
            card.gaps.append(CarrierGap(parcel["tracking_number"], parcel["carrier__name"], last, None, hours))
        if parcel["stalled_since"] is not None:
            card.stalls.append(StallMark(parcel["tracking_number"], parcel["carrier__name"], parcel["stalled_since"]))

    states = dict(Notification.State.choices)
    card.notifications = [
        NotificationSent(
            n["created_at"],
            n["channel__name"] or "",
            n["channel__kind"] or "",
            n["recipient"],
            n["title"],
            n["state"],
            str(states.get(n["state"], n["state"])),
        )
        for n in Notification.objects.filter(order_id=order.pk)
        .order_by("created_at", "id")
        .values("created_at", "channel__name", "channel__kind", "recipient", "title", "state")
    ]
    return card
