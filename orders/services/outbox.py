"""The outbox, writing side: what the hub owes the outside becomes a row in the transaction of the change.

- every accepted order (intake's create path calls `order_accepted_push` once, when the order is in place) and
  each status an active ERP endpoint subscribes to (the lifecycle's `erp_push` effect) → one row per endpoint;
- the ship confirmation (发货回传) to the order's channel when it enters printed or picked_up, as the channel's
  ShipConfirmSettings say (the lifecycle's `channel_push` effect): carrier and tracking number from the parcel
  registry, the platform's ship-by deadline.

Nothing subscribes → no row and no query (the active endpoints are kept per process, see
`selectors.erp_endpoints_active`). Each transaction that wrote a row asks for the delivery job once, on commit;
the cron sweep finds anything a lost enqueue left behind (orders/services/outbox_delivery.py delivers)."""

import contextlib
import contextvars
from collections.abc import Iterator

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from config.queue import job_enqueue_on_commit
from logistics.selectors import primary_parcel
from orders.exceptions import InvalidInput, OrderErrorCode
from orders.models import Alert, ErpEndpoint, Order, OrderLine, OutboxMessage, ShipConfirmSettings, Status
from orders.selectors import erp_endpoints_active, erp_endpoints_forget
from orders.services.alerts import alert_raise
from orders.services.core import Move, Run
from orders.services.timeline import history_attribute, history_bulk_insert

DELIVER_JOB = "orders.jobs.deliver_outbox"
# What each kind of endpoint needs filled in, and the statuses it has a message for (None: any).
ERP_REQUIRED = {
    ErpEndpoint.Kind.QIMEN: ("app_key", "secret", "qimen_customer_id", "qimen_warehouse_code", "qimen_owner_code"),
    ErpEndpoint.Kind.JUSHUITAN: ("app_key", "secret", "jst_access_token", "jst_shop_id"),
    ErpEndpoint.Kind.WEBHOOK: ("secret",),
}
ERP_STATUSES = {ErpEndpoint.Kind.QIMEN: (Status.CANCELLED,)}
SHIP_CONFIRM_STATUSES = (Status.PRINTED, Status.PICKED_UP)
_ENQUEUED_ATTR = "_orderhub_outbox_enqueued"
# Orders being created in this context: their status changes within the creation are in the accepted snapshot.
_accepting: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar("outbox_accepting", default=frozenset())


def erp_target(endpoint: ErpEndpoint) -> str:
    return f"erp:{endpoint.pk}"


def ship_target(channel_id: int) -> str:
    return f"ship:{channel_id}"


def _iso(value) -> str | None:
    return timezone.localtime(value).isoformat() if value is not None else None


def order_snapshot(*, order: Order) -> dict:
    """The order as the outside is told it: plain JSON values (money as strings, local times in ISO 8601)."""
    # Read afresh: rules on payment may have added gift lines to the run's order after its lines were loaded.
    lines: list[OrderLine] = list(OrderLine.objects.filter(order_id=order.pk).select_related("sku").order_by("pk"))
    return {
        "number": order.number,
        "channel": order.channel.code,
        "channel_kind": order.channel.kind,
        "channel_order_no": order.channel_order_no,
        "buyer_id": order.buyer_id,
        "status": order.status,
        "payment_status": order.payment_status,
        "ordered_at": _iso(order.ordered_at),
        "paid_at": _iso(order.paid_at),
        "receiver": {
            "name": order.receiver_name,
            "phone": order.receiver_phone,
            "province": order.province,
            "city": order.city,
            "district": order.district,
            "detail": order.address_detail,
        },
        "subtotal": str(order.subtotal),
        "paid_amount": str(order.paid_amount),
        "promo_code": order.promo_code,
        "invoice_title": order.invoice_title,
        "tags": list(order.tags),
        "platform_ship_by": _iso(order.platform_ship_by),
        "promised_ship_by": _iso(order.promised_ship_by),
        "lines": [
            {
                "sku": line.sku.code,
                "name": line.sku.name,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
                "is_gift": line.is_gift,
            }
            for line in lines
        ],
    }


def _next_sequence(*, target: str, order: Order) -> int:
    last = OutboxMessage.objects.filter(target=target, order=order).aggregate(last=Max("sequence"))["last"]
    return (last or 0) + 1


def _delivery_ask() -> None:
    """The delivery job, once per transaction (the list of on-commit callbacks is new after each commit)."""
    if getattr(connection, _ENQUEUED_ATTR, None) is connection.run_on_commit and connection.in_atomic_block:
        return
    job_enqueue_on_commit(job=DELIVER_JOB)
    setattr(connection, _ENQUEUED_ATTR, connection.run_on_commit)


def _write(messages: list[OutboxMessage]) -> list[OutboxMessage]:
    if not messages:
        return []
    now = timezone.now()
    for message in messages:
        message.next_attempt_at = now
    history_bulk_insert(messages)  # the rows and their '+' history rows: two INSERTs
    _delivery_ask()
    return messages


@contextlib.contextmanager
def order_accepting(order: Order) -> Iterator[None]:
    """Around intake's creation of `order`: the moves made while it is created (payment, admission) are told in
    its accepted snapshot, written by `order_accepted_push` at the end, not as status changes of their own."""
    token = _accepting.set(_accepting.get() | {order.pk})
    try:
        yield
    finally:
        _accepting.reset(token)


def order_accepted_push(*, order: Order) -> list[OutboxMessage]:
    """A new order from any door: one row per active ERP endpoint (sequence 1, key = the order number)."""
    endpoints = erp_endpoints_active()
    if not endpoints:
        return []
    payload = {"event": OutboxMessage.Kind.ORDER_ACCEPTED, "order": order_snapshot(order=order)}
    return _write(
        [
            OutboxMessage(
                target=erp_target(endpoint),
                endpoint=endpoint,
                kind=OutboxMessage.Kind.ORDER_ACCEPTED,
                order=order,
                sequence=1,
                idempotency_key=order.number,
                payload=payload,
            )
            for endpoint in endpoints
        ]
    )


def erp_push(*, run: Run, move: Move) -> None:
    """Effect of entering any status: one row per active endpoint that subscribes to the entered status."""
    endpoints = [e for e in erp_endpoints_active() if move.to_status in (e.subscribed_statuses or ())]
    order = run.order
    if not endpoints or order.pk in _accepting.get():
        return
    snapshot = order_snapshot(order=order)
    event = {
        "transition": move.transition,
        "from_status": move.from_status,
        "to_status": move.to_status,
        "at": _iso(order.state_entered_at),
        "reason": move.reason,
        "source": move.source,
    }
    messages = []
    for endpoint in endpoints:
        target = erp_target(endpoint)
        sequence = _next_sequence(target=target, order=order)
        messages.append(
            OutboxMessage(
                target=target,
                endpoint=endpoint,
                kind=OutboxMessage.Kind.STATUS_CHANGED,
                order=order,
                sequence=sequence,
                idempotency_key=f"{order.number}-{move.to_status}-{sequence}",
                payload={"event": OutboxMessage.Kind.STATUS_CHANGED, "change": event, "order": snapshot},
            )
        )
    _write(messages)


def channel_push(*, run: Run, move: Move) -> None:
    """Effect of entering any status: the ship confirmation to the order's channel, on entering the status its
    settings name (printed or picked_up); at pickup also when none was written at print (e.g. switched on
    since). The carrier and tracking number are the primary parcel's in the registry."""
    if move.to_status not in SHIP_CONFIRM_STATUSES:
        return
    order = run.order
    confirm = ShipConfirmSettings.objects.filter(channel_id=order.channel_id, is_active=True).first()
    if confirm is None:
        return
    target = ship_target(order.channel_id)
    written = OutboxMessage.objects.filter(target=target, order=order, kind=OutboxMessage.Kind.SHIP_CONFIRM)
    if move.to_status != confirm.confirm_at and (move.to_status != Status.PICKED_UP or written.exists()):
        return
    parcel = primary_parcel(order=order)
    if parcel is None:  # a guard asks for a tracking number on the way to printed; kept for a parcel retired since
        alert_raise(
            kind=Alert.Kind.SHIP_CONFIRM_FAILED,
            order=order,
            message=_("Order %(number)s has no parcel to confirm to %(channel)s; ship-by deadline %(deadline)s.")
            % {"number": order.number, "channel": order.channel, "deadline": deadline_text(order.platform_ship_by)},
            dedupe_key=f"ship_confirm_parcel:{order.pk}",
        )
        return
    sequence = _next_sequence(target=target, order=order)
    payload = {
        "event": OutboxMessage.Kind.SHIP_CONFIRM,
        "order": order.number,
        "channel": order.channel.code,
        "channel_order_no": order.channel_order_no,
        "carrier": parcel.carrier.code,
        "carrier_provider_code": parcel.carrier.provider_code,
        "carrier_name": parcel.carrier.name,
        "tracking_number": parcel.tracking_number,
        "shipped_at": _iso(order.state_entered_at),
        "confirmed_at_status": move.to_status,
        "platform_ship_by": _iso(order.platform_ship_by),
    }
    _write(
        [
            OutboxMessage(
                target=target,
                channel_id=order.channel_id,
                kind=OutboxMessage.Kind.SHIP_CONFIRM,
                order=order,
                sequence=sequence,
                idempotency_key=f"{order.number}-ship-{sequence}",
                payload=payload,
            )
        ]
    )


def deadline_text(deadline) -> str:
    return f"{timezone.localtime(deadline):%Y-%m-%d %H:%M}" if deadline is not None else _("none given")


def erp_endpoint_problems(endpoint: ErpEndpoint) -> dict[str, str]:
    """What is wrong with an endpoint as configured: {field: message} (empty when it can be saved)."""
    problems = {}
    for name in ERP_REQUIRED.get(endpoint.kind, ()):
        if not getattr(endpoint, name):
            label = ErpEndpoint._meta.get_field(name).verbose_name
            problems[name] = _("%(kind)s needs %(field)s.") % {"kind": endpoint.get_kind_display(), "field": label}
    statuses = endpoint.subscribed_statuses or []
    unknown = [s for s in statuses if s not in Status.values]
    allowed = ERP_STATUSES.get(endpoint.kind)
    unsupported = [s for s in statuses if allowed is not None and s not in allowed and s not in unknown]
    if unknown:
        problems["subscribed_statuses"] = _("Unknown status: %(s)s.") % {"s": ", ".join(map(str, unknown))}
    elif unsupported:
        problems["subscribed_statuses"] = _("%(kind)s has no message for: %(s)s (only: %(allowed)s).") % {
            "kind": endpoint.get_kind_display(),
            "s": ", ".join(str(Status(s).label) for s in unsupported),
            "allowed": ", ".join(str(Status(s).label) for s in allowed),
        }
    return problems


def erp_endpoint_save(*, endpoint: ErpEndpoint, actor: AbstractBaseUser | None) -> ErpEndpoint:
    """Save an ERP endpoint (refused, naming the field, when it cannot push as configured); this process sees
    the change on its next order, the others within ERP_ENDPOINTS_CACHE_SECONDS."""
    problems = erp_endpoint_problems(endpoint)
    if problems:
        name, message = next(iter(problems.items()))
        raise InvalidInput(message, code=OrderErrorCode.INVALID_FIELD, extra={"field": name, "problems": problems})
    history_attribute(endpoint, actor=actor, reason="ERP endpoint saved")  # secrets are not recorded
    endpoint.save()
    transaction.on_commit(erp_endpoints_forget)
    erp_endpoints_forget()
    return endpoint
