"""Reads of the logistics app: the parcel registry's answer to "what is this order's tracking number" (the one
selector every reader goes through), and the customer's public tracking page (finding the order, what it shows)."""

import hmac
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from logistics.models import Shipment, TrackingEvent
from orders.models import Order, OrderEvent, Status, StatusNode
from orders.phones import is_encrypted_value

TRACK_SALT = "orderhub.track"
# Signed SMS links stay valid this long after they were made (they grant a masked view only).
TRACK_LINK_MAX_AGE = timedelta(days=90)
# The customer's path, in order. Any other status is a side exit shown as a notice.
CUSTOMER_PATH = [
    Status.PLACED,
    Status.PAID,
    Status.ALLOCATING,
    Status.ALLOCATED,
    Status.PRINTED,
    Status.PICKED_UP,
    Status.IN_TRANSIT,
    Status.DELIVERED,
]
EVENTS_PER_PARCEL = 20
_NUMBER_MAX = 64
_DUMMY_LAST4 = b"\xff\xff\xff\xff"  # never equals 4 typed digits
_SPACES = re.compile(r"\s+")


# --- the order's tracking number: its primary parcel in the registry ------------------------------------------
def _primary_first() -> QuerySet[Shipment]:
    """The order's parcels that count, the primary one first: the lowest parcel index, then the newest.
    A waybill reserved before the carrier answered has no number yet: not a parcel of the order."""
    numbered = Shipment.objects.filter(is_active=True).exclude(tracking_number="")
    return numbered.order_by("parcel_index", "-created_at", "-id")


def primary_parcel(*, order: Order) -> Shipment | None:
    """The order's primary parcel (active, not cancelled), or None. Also loads `order.tracking_number`."""
    parcel = _primary_first().filter(order_id=order.pk).select_related("carrier").first()
    order.tracking_number = parcel.tracking_number if parcel is not None else ""
    return parcel


def tracking_number_of(order: Order) -> str:
    """`order.tracking_number`, read from the registry once per loaded order (lists annotate it instead)."""
    if "tracking_number" not in order.__dict__:
        primary_parcel(order=order)
    return order.tracking_number


def orders_with_tracking_number(qs: QuerySet[Order]) -> QuerySet[Order]:
    """Lists: each order's primary tracking number as `tracking_number`, in the same query (a subquery)."""
    number = _primary_first().filter(order_id=OuterRef("pk")).values("tracking_number")[:1]
    return qs.annotate(tracking_number=Coalesce(Subquery(number), Value("")))


def primary_parcels_of(*, order_ids) -> dict[int, Shipment]:
    """Each order's primary parcel (as primary_parcel), for many orders in one query: {order id: parcel}."""
    found: dict[int, Shipment] = {}
    for parcel in _primary_first().filter(order_id__in=list(order_ids)).select_related("carrier"):
        found.setdefault(parcel.order_id, parcel)  # the first of each order is its primary one
    return found


def active_parcel_order_ids(*, numbers) -> QuerySet[Shipment]:
    """Ids of the orders whose active parcel carries one of `numbers` (the scan station's lookup)."""
    return Shipment.objects.filter(tracking_number__in=numbers, is_active=True).order_by().values("order_id")


def tracking_link_token(order: Order) -> str:
    """The token of the no-login SMS link /track/o/<token>/: URL-safe, signed, carries only the order number."""
    return signing.dumps({"n": order.number}, salt=TRACK_SALT)


def tracking_order_from_token(*, token: str) -> Order | None:
    """The order a signed link points to, or None when the token is tampered, malformed or too old."""
    try:
        data = signing.loads(token, salt=TRACK_SALT, max_age=TRACK_LINK_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        return None
    number = data.get("n") if isinstance(data, dict) else None
    if not isinstance(number, str) or not number:
        return None
    return Order.objects.select_related("carrier").filter(number=number).order_by().first()


def tracking_order_find(*, number: str, last4: str) -> Order | None:
    """The order whose number (or a parcel's tracking number) is `number` and whose receiver phone ends in `last4`.

    A wrong number and a wrong phone cost the same: the same two indexed queries run whatever the input,
    and at least one constant-time comparison is made (against a dummy when nothing matched).
    """
    number = number.strip()[:_NUMBER_MAX]
    order_key = number.upper()
    tracking_key = _SPACES.sub("", number).upper()
    shipment_order_ids = list(
        Shipment.objects.filter(tracking_number=tracking_key).order_by().values_list("order_id", flat=True)[:10]
    )
    by_number = Q(number=order_key)
    if tracking_key:
        by_number |= Q(pk__in=shipment_order_ids)
    candidates = list(Order.objects.select_related("carrier").filter(by_number).order_by("-ordered_at")[:10])
    candidates.sort(key=lambda o: o.number != order_key)  # an order-number match wins over a tracking match

    typed = last4.encode()
    found = None
    for order in candidates or [None]:
        # An encrypted receiver (PDD / Douyin ciphertext) has no phone the hub can read: its last characters are
        # ciphertext, never 4 typed digits, so it is compared against the dummy and never found this way.
        known = order is not None and not order.receiver_encrypted
        expected = order.receiver_phone[-4:].encode() if known else _DUMMY_LAST4
        if hmac.compare_digest(typed, expected) and known and found is None:
            found = order
    return found


@dataclass
class Step:
    status: str
    label: str
    state: str  # "done", "current" or "todo"


@dataclass
class ParcelEvent:
    time: datetime
    description: str
    location: str


@dataclass
class Parcel:
    carrier: str
    tracking_number: str
    stalled: bool
    events: list[ParcelEvent] = field(default_factory=list)
    expected_delivery: date | None = None  # while on its way: first carrier event (or registration) + usual days


@dataclass
class TrackingView:
    number: str
    status_label: str
    status_message: str
    side_exit: bool
    steps: list[Step]
    receiver_name: str
    receiver_phone: str
    receiver_area: str
    parcels: list[Parcel]
    support_contact: str
    certificate_token: str = ""  # set for delivered orders: the signed token of the certificate PDF link


def mask_name(name: str) -> str:
    name = name.strip()
    if is_encrypted_value(name):  # ciphertext (PDD, Douyin): nothing readable to show
        return ""
    return f"{name[0]}*" if name else ""


def mask_phone(phone: str) -> str:
    phone = phone.strip()
    if is_encrypted_value(phone):  # nothing of it is readable: show nothing rather than ciphertext
        return ""
    if len(phone) < 7:
        return "*" * len(phone)
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"


def receiver_area(order: Order) -> str:
    """Province, city and district only: the street address is never shown outside the back office."""
    return "".join(part for part in (order.province, order.city, order.district) if part)


def tracking_view(order: Order) -> TrackingView:
    """Everything the customer's page shows, already masked: no street, no full phone, no database ids."""
    nodes = {row["status"]: row for row in StatusNode.objects.values("status", "customer_label", "customer_message")}

    def label_of(status: str) -> str:
        node = nodes.get(status)
        return node["customer_label"] if node and node["customer_label"] else str(Status(status).label)

    current = order.status
    side_exit = current not in CUSTOMER_PATH
    if side_exit:
        # How far along the path it got before leaving it: on hold remembers where it resumes, others ask the timeline.
        if current == Status.ON_HOLD and order.resume_status in CUSTOMER_PATH:
            reached = {order.resume_status}
        else:
            reached = set(
                OrderEvent.objects.filter(order=order, to_status__in=CUSTOMER_PATH)
                .order_by()
                .values_list("to_status", flat=True)
                .distinct()
            )
        furthest = max((CUSTOMER_PATH.index(s) for s in reached), default=-1)
        steps = [Step(s, label_of(s), "done" if i <= furthest else "todo") for i, s in enumerate(CUSTOMER_PATH)]
    else:
        at = CUSTOMER_PATH.index(current)
        steps = [
            Step(s, label_of(s), "done" if i < at else "current" if i == at else "todo")
            for i, s in enumerate(CUSTOMER_PATH)
        ]

    node = nodes.get(current)
    steps = _merge_same_labels(steps)
    return TrackingView(
        number=order.number,
        status_label=label_of(current),
        status_message=node["customer_message"] if node else "",
        side_exit=side_exit,
        steps=steps,
        receiver_name=mask_name(order.receiver_name),
        receiver_phone=mask_phone(order.receiver_phone),
        receiver_area=receiver_area(order),
        parcels=order_parcels(order),
        support_contact=settings.ORDERHUB_SUPPORT_CONTACT,
        certificate_token=tracking_link_token(order) if current == Status.DELIVERED else "",
    )


_STATE_RANK = {"todo": 0, "done": 1, "current": 2}


def _merge_same_labels(steps: list[Step]) -> list[Step]:
    """Neighbouring nodes the customer sees under one label (e.g. 备货中 twice) are one step on the page."""
    merged: list[Step] = []
    for step in steps:
        if merged and merged[-1].label == step.label:
            if _STATE_RANK[step.state] > _STATE_RANK[merged[-1].state]:
                merged[-1].state = step.state
            continue
        merged.append(step)
    return merged


def _expected_delivery(shipment: Shipment) -> date | None:
    if shipment.is_finished:
        return None
    started = min((e.occurred_at for e in shipment.latest_events), default=shipment.created_at)
    return timezone.localtime(started).date() + timedelta(days=shipment.carrier.transit_days)


def order_parcels(order: Order) -> list[Parcel]:
    """The order's parcels with their latest carrier events (tracking page and the order page in the admin)."""
    latest_events = TrackingEvent.objects.order_by("-occurred_at", "-id")[:EVENTS_PER_PARCEL]
    shipments = list(
        Shipment.objects.filter(order=order, is_active=True)  # a retired parcel is not the customer's
        .select_related("carrier")
        .prefetch_related(Prefetch("events", queryset=latest_events, to_attr="latest_events"))
        .order_by("created_at", "id")
    )
    parcels = [
        Parcel(
            carrier=s.carrier.name,
            tracking_number=s.tracking_number,
            stalled=s.is_stalled,
            events=[ParcelEvent(e.occurred_at, e.description, e.location) for e in s.latest_events],
            expected_delivery=_expected_delivery(s),
        )
        for s in shipments
    ]
    return parcels
