"""The per-order health card (订单健康卡) on the order page: where this one order broke its flow (steps over their
node timeout by more than the grace of ReportSettings), what people did to it by hand, where its parcels went quiet,
and what was sent about it. Reads only: six statements per order whatever its history (timeline, node settings,
report settings, parcels, their carrier events with the gap before each, notifications).

Breakpoints. The stays come from the order's timeline: the first from creation to the first status change (in that
change's from-status), each later one from a status change to the next (a self-transition such as the presale
deposit, placed → placed, continues the stay). The allowed time of a past stay is its node's timeout in clock
minutes (StatusNode.timeout_minutes, as now set); a stay that comes back to a node after one of its pause states
(StatusNode.pause_states: a status, or a hold of a pausing kind — the timeline does not keep a past hold's kind, so
the order's hold kind now stands for it) continues the time used before the pause, as the deadline service does.
A working-time node's past stays depend on the calendar of that time and are not measured here (as
DailyNodeFigures.over_timeout); the current stay of any node is measured against the deadline the order
entered it with (Order.state_deadline, from its deadline basis).

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


def _breakpoints(*, order: Order, events: list[dict], nodes: dict, grace: int, now: datetime) -> list[Breakpoint]:
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
    found = []
    paused: tuple[str, float] | None = None  # (node, seconds used before its pause)
    for index, (status, entered, left) in enumerate(stays):
        node = nodes.get(status)
        used = 0.0
        if paused is not None:
            if paused[0] == status:
                used, paused = paused[1], None
            elif not _pauses(nodes.get(paused[0]), status, order.hold_kind):
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
        following = stays[index + 1][0] if index + 1 < len(stays) else ""
        if _pauses(node, following, order.hold_kind):
            paused = (status, used + spent)
            continue  # measured when it comes back
        if node is None or node["timeout_minutes"] is None or node["clock"] != NodeClock.CLOCK:
            continue
        allowed = node["timeout_minutes"] * 60 - used
        over = (spent - allowed) / 60
        if over > grace:
            deadline = entered + timedelta(seconds=allowed)
            found.append(
                Breakpoint(
                    status, labels.get(status, status), entered, left, node["timeout_minutes"], deadline, int(over)
                )
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
    """The health card of one order: six statements, whatever the order's history."""
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
    card.breakpoints = _breakpoints(order=order, events=events, nodes=nodes, grace=grace, now=now)
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
