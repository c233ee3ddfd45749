"""REST API of orders: thin views that validate shape, call a service or selector, and render."""

from decimal import Decimal

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import DefaultPagination, error_response
from logistics.models import TrackingLookupCount
from logistics.services import tracking_lookup_count
from orders import selectors
from orders.drafts import Address, OrderDraft
from orders.models import Customer, Order, Source, Status
from orders.phones import cn_mobile_validator, normalize_phone, receiver_phone_validator
from orders.services.intake import order_create
from orders.services.payment import order_confirm_payment
from orders.services.transitions import order_transition, transitions_available


class PhoneField(serializers.CharField):
    """A phone in any usual spelling (full-width digits, +86, spaces, dashes), stored as orders.phones cleans it,
    checked by the model's own validator (its message, translated: Chinese unless the caller asks for English)."""

    def __init__(self, *, validator=cn_mobile_validator, **kwargs):
        kwargs.setdefault("help_text", "Mainland mobile; +86 / 0086, spaces, dashes and full-width digits are dropped.")
        super().__init__(max_length=32, **kwargs)
        self.validators.append(validator)  # its pattern also goes into the OpenAPI schema

    def to_internal_value(self, data):
        return normalize_phone(super().to_internal_value(data))


MONEY = {"max_digits": 12, "decimal_places": 2, "min_value": 0}


class HasModelPerm(BasePermission):
    """GET needs orders.view_order; POST needs the view's `post_perm`."""

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return request.user.has_perm("orders.view_order")
        return request.user.has_perm(getattr(view, "post_perm", "orders.view_order"))


# --- input ---
class CustomerIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    phone = PhoneField()
    member_level = serializers.ChoiceField(choices=Customer.MemberLevel.choices, required=False)


class AddressIn(serializers.Serializer):
    receiver = serializers.CharField(max_length=100)
    phone = PhoneField(
        validator=receiver_phone_validator, help_text="A mobile number, or as the platform masked it (138****5678)."
    )
    province = serializers.CharField(max_length=32)
    city = serializers.CharField(max_length=32)
    district = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    detail = serializers.CharField(max_length=255)
    platform_receiver_id = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        default="",
        help_text="Taobao OAID / Douyin encrypted receiver id of a platform-masked receiver: the waybill is ordered "
        "by it instead of the address.",
    )


class LineIn(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=100000)
    unit_price = serializers.DecimalField(**MONEY)


class OrderIn(serializers.Serializer):
    channel = serializers.CharField(max_length=32)
    channel_order_no = serializers.CharField(max_length=64)
    buyer_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    ordered_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="With paid_amount: the payment is recorded and checked against the subtotal (presale: the "
        "deposit, then the total); a match moves the order on to 'paid', a mismatch holds it with 金额不符.",
    )
    payment_reference = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="The platform's trade number of the payment; defaults to channel_order_no.",
    )
    customer = CustomerIn()
    shipping_address = AddressIn()
    lines = LineIn(many=True, allow_empty=False)
    paid_amount = serializers.DecimalField(
        **MONEY, required=False, default=0, help_text="Total the buyer has paid for the order so far."
    )
    is_presale = serializers.BooleanField(required=False, default=False)
    deposit_amount = serializers.DecimalField(**MONEY, required=False, allow_null=True)
    # No defaults: a replay that leaves a field out says nothing about it.
    promo_code = serializers.CharField(max_length=64, required=False, allow_blank=True)
    invoice_title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=32), required=False, max_length=20)
    priority = serializers.ChoiceField(choices=Order.Priority.choices, required=False)
    promised_ship_by = serializers.DateTimeField(required=False, allow_null=True, help_text="The seller's promise.")
    platform_ship_by = serializers.DateTimeField(
        required=False, allow_null=True, help_text="The platform's ship-by deadline."
    )


class ListQueryIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    channel = serializers.CharField(max_length=32, required=False)
    q = serializers.CharField(max_length=64, required=False)


class LookupQueryIn(serializers.Serializer):
    q = serializers.CharField(
        max_length=64,
        help_text="Order no., channel order no. or tracking no.; phone (full, last 4 or first 7+ digits); "
        "customer or receiver name (prefix)",
    )


class PaymentIn(serializers.Serializer):
    paid_amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text="Total the buyer has paid for the order so far (presale: the deposit, later deposit + balance).",
    )
    paid_at = serializers.DateTimeField(help_text="When the (last) payment was made.")
    payment_reference = serializers.CharField(
        max_length=64, help_text="The platform's trade number or the bank slip number."
    )


class TransitionIn(serializers.Serializer):
    transition = serializers.CharField(max_length=32)
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    warehouse = serializers.CharField(max_length=32, required=False, help_text="Warehouse code (for allocate).")
    carrier = serializers.CharField(max_length=32, required=False, help_text="Carrier code (for print_label).")
    tracking_number = serializers.CharField(max_length=32, required=False, help_text="For print_label.")
    hold_kind = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        default="",
        help_text="For hold: '' (other) or 'customer' (waiting for the customer's answer).",
    )


# --- output ---
class LineOut(serializers.Serializer):
    sku = serializers.CharField(source="sku.code")
    name = serializers.CharField(source="sku.name")
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    is_gift = serializers.BooleanField()


class OrderSummaryOut(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    status_display = serializers.CharField(source="get_status_display")
    channel = serializers.CharField(source="channel.code")
    channel_order_no = serializers.CharField()
    customer_name = serializers.CharField(source="customer.name")
    receiver_phone = serializers.CharField()
    ordered_at = serializers.DateTimeField()
    paid_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    priority = serializers.IntegerField()
    state_deadline = serializers.DateTimeField()
    promise_light = serializers.SerializerMethodField(
        help_text='Ship-by promise light: "green", "yellow", "red", or "" (no promise, or cancelled / returned).'
    )

    def get_promise_light(self, order: Order) -> str:
        light = getattr(order, "promise_light", None)  # lists and the detail read it in SQL
        return selectors.promise_light_of(order) if light is None else light


class OrderOut(OrderSummaryOut):
    buyer_id = serializers.CharField()
    status_reason = serializers.CharField()
    hold_kind = serializers.CharField(
        help_text="While on hold: '' (other), 'customer' (waiting for the customer), 'approval', 'stock', 'refund', "
        "'duplicate'."
    )
    payment_status = serializers.CharField()
    is_presale = serializers.BooleanField()
    deposit_amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    paid_at = serializers.DateTimeField()
    payment_reference = serializers.CharField()
    customer = inline_serializer(
        "OrderCustomer",
        fields={
            "name": serializers.CharField(),
            "phone": serializers.CharField(),
            "member_level": serializers.CharField(),
        },
    )
    shipping_address = serializers.SerializerMethodField()
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    promo_code = serializers.CharField()
    invoice_title = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    promised_ship_by = serializers.DateTimeField()
    platform_ship_by = serializers.DateTimeField()
    warehouse = serializers.CharField(source="warehouse.code", default=None)
    carrier = serializers.CharField(source="carrier.code", default=None)
    tracking_number = serializers.CharField()
    state_entered_at = serializers.DateTimeField()
    is_legacy = serializers.BooleanField()
    lines = LineOut(many=True, source="lines.all")
    available_transitions = serializers.SerializerMethodField()

    def get_shipping_address(self, order: Order) -> dict:
        return Address.of(order).payload()

    def get_available_transitions(self, order: Order) -> list[dict]:
        user = self.context["request"].user
        return [
            {"name": s.name, "label": str(s.label), "reason_required": s.reason_required}
            for s in transitions_available(order=order, actor=user, source=Source.API)
        ]


class DifferenceOut(serializers.Serializer):
    field = serializers.CharField(help_text="Payload path, e.g. lines[0].quantity or shipping_address.detail.")
    old = serializers.CharField(help_text="What the hub held.")
    new = serializers.CharField(help_text="What the channel sent.")


class IntakeOut(OrderOut):
    duplicate = serializers.BooleanField(help_text="True: a replay of an order the hub already has (200).")
    differences = DifferenceOut(many=True, help_text="How a replay differs from the order; empty when identical.")
    updated = serializers.ListField(
        child=serializers.CharField(), help_text="Fields a replay updated (the order was not yet allocated)."
    )
    held = serializers.BooleanField(help_text="The order is on hold for review of the differences.")
    flagged = serializers.BooleanField(
        help_text="The differences could not be applied nor the order held (e.g. shipped): an alert asks a person."
    )
    payment_recorded = serializers.BooleanField(help_text="A replay's payment was recorded (see status).")


class EventOut(serializers.Serializer):
    at = serializers.DateTimeField(source="created_at")
    kind = serializers.CharField()
    transition = serializers.CharField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    actor = serializers.CharField(source="actor_label")
    source = serializers.CharField()
    reason = serializers.CharField()
    data = serializers.DictField()


ERRORS = {
    400: error_response("Invalid input; `message` names the field."),
    403: error_response("Not permitted."),
    404: error_response("No such order."),
    409: error_response("Not allowed now; `message` says why."),
}


def _detail(request, order: Order, **extra) -> dict:
    data = OrderOut(order, context={"request": request}).data
    data.update(extra)
    return data


# The read serializer's own field types, unbound: the plain answer below formats times and money exactly as it.
_TIME = serializers.DateTimeField()
_MONEY = serializers.DecimalField(max_digits=12, decimal_places=2)


def _time(value):
    return None if value is None else _TIME.to_representation(value)


def _money(value):
    return None if value is None else _MONEY.to_representation(value)


def _created_detail(request, order: Order, **extra) -> dict:
    """OrderOut's answer for an order intake just created (lines, channel, customer and SKUs at hand), built as a
    plain dict: re-serializing through DRF cost ~1.2 ms per POST (deep copies of ~40 fields). Same keys, same
    order, same values: tests/orders/test_api_create.py compares it with OrderOut for the same order."""
    customer = order.customer
    data = {
        "number": order.number,
        "status": order.status,
        "status_display": str(order.get_status_display()),
        "channel": order.channel.code,
        "channel_order_no": order.channel_order_no,
        "customer_name": customer.name,
        "receiver_phone": order.receiver_phone,
        "ordered_at": _time(order.ordered_at),
        "paid_amount": _money(order.paid_amount),
        "priority": int(order.priority),
        "state_deadline": _time(order.state_deadline),
        "promise_light": selectors.promise_light_of(order),
        "buyer_id": order.buyer_id,
        "status_reason": order.status_reason,
        "hold_kind": order.hold_kind,
        "payment_status": order.payment_status,
        "is_presale": bool(order.is_presale),
        "deposit_amount": _money(order.deposit_amount),
        "paid_at": _time(order.paid_at),
        "payment_reference": order.payment_reference,
        "customer": {"name": customer.name, "phone": customer.phone, "member_level": customer.member_level},
        "shipping_address": Address.of(order).payload(),
        "subtotal": _money(order.subtotal),
        "promo_code": order.promo_code,
        "invoice_title": order.invoice_title,
        "tags": [str(tag) for tag in order.tags],
        "promised_ship_by": _time(order.promised_ship_by),
        "platform_ship_by": _time(order.platform_ship_by),
        "warehouse": None,  # a new order is in no warehouse yet
        "carrier": None,  # ... and has no carrier
        "tracking_number": order.tracking_number,
        "state_entered_at": _time(order.state_entered_at),
        "is_legacy": bool(order.is_legacy),
        "lines": [
            {
                "sku": line.sku.code,
                "name": line.sku.name,
                "quantity": int(line.quantity),
                "unit_price": _money(line.unit_price),
                "is_gift": bool(line.is_gift),
            }
            for line in order.lines.all()
        ],
        "available_transitions": [
            {"name": s.name, "label": str(s.label), "reason_required": s.reason_required}
            for s in transitions_available(order=order, actor=request.user, source=Source.API)
        ],
    }
    data.update(extra)
    return data


class OrderListCreateApi(APIView):
    permission_classes = [HasModelPerm]
    post_perm = "orders.add_order"

    @extend_schema(
        parameters=[ListQueryIn],
        responses={200: OrderSummaryOut(many=True), 403: ERRORS[403]},
    )
    def get(self, request):
        status_filter = request.query_params.get("status", "")
        if status_filter and status_filter not in Status.values:
            raise serializers.ValidationError({"status": [_("Unknown status '%(s)s'.") % {"s": status_filter}]})
        qs = selectors.order_list(
            status=status_filter, channel=request.query_params.get("channel", ""), q=request.query_params.get("q", "")
        )
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(OrderSummaryOut(page, many=True).data)

    @extend_schema(
        request=OrderIn,
        responses={201: IntakeOut, 200: IntakeOut, **ERRORS},
        description="Idempotent on the fingerprint. A replay answers 200 with `duplicate: true`; when its "
        "content differs, before allocation the order is updated (`updated`), from allocation on it is held for "
        "review (`held`), and where it cannot be held an alert is raised (`flagged`). Nothing is dropped.",
    )
    def post(self, request):
        payload = OrderIn(data=request.data)
        payload.is_valid(raise_exception=True)
        result = order_create(draft=OrderDraft.from_api(payload.validated_data), actor=request.user, source=Source.API)
        # A plain new order comes back with its lines loaded; anything else is read afresh.
        fresh = result.created and "lines" in getattr(result.order, "_prefetched_objects_cache", {})
        order = result.order if fresh else selectors.order_get(number=result.order.number)
        render = _created_detail if fresh and order.warehouse_id is None and order.carrier_id is None else _detail
        return Response(
            render(
                request,
                order,
                duplicate=not result.created,
                differences=result.differences,
                updated=result.updated,
                held=result.held,
                flagged=result.flagged,
                payment_recorded=result.payment_recorded,
            ),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class OrderDetailApi(APIView):
    permission_classes = [HasModelPerm]

    @extend_schema(responses={200: OrderOut, 404: ERRORS[404]})
    def get(self, request, number: str):
        return Response(_detail(request, selectors.order_get(number=number)))


class OrderLookupApi(APIView):
    permission_classes = [HasModelPerm]

    @extend_schema(parameters=[LookupQueryIn], responses={200: OrderSummaryOut(many=True), 400: ERRORS[400]})
    def get(self, request):
        params = LookupQueryIn(data=request.query_params)
        outcome = TrackingLookupCount.Outcome
        if not params.is_valid():  # counted (客户自助查单 in reports), then refused as before
            tracking_lookup_count(door=TrackingLookupCount.Door.API, outcome=outcome.INVALID)
            params.is_valid(raise_exception=True)
        found = selectors.order_lookup(q=params.validated_data["q"])
        tracking_lookup_count(door=TrackingLookupCount.Door.API, outcome=outcome.FOUND if found else outcome.NOT_FOUND)
        return Response(OrderSummaryOut(found, many=True).data)


class OrderTraceApi(APIView):
    permission_classes = [HasModelPerm]

    @extend_schema(
        responses={
            200: inline_serializer(
                "Trace",
                fields={
                    "number": serializers.CharField(),
                    "status": serializers.CharField(),
                    "events": EventOut(many=True),
                },
            ),
            404: ERRORS[404],
        }
    )
    def get(self, request, number: str):
        order = selectors.order_get_brief(number=number)
        events = selectors.order_timeline(order=order)
        return Response(
            {
                "number": order.number,
                "status": order.status,
                "status_display": order.get_status_display(),
                "events": EventOut(events, many=True).data,
            }
        )


class OrderTransitionApi(APIView):
    permission_classes = [HasModelPerm]  # the transition's own permission is checked by the service

    @extend_schema(request=TransitionIn, responses={200: OrderOut, **ERRORS})
    def post(self, request, number: str):
        payload = TransitionIn(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        order = selectors.order_get(number=number)
        order_transition(
            order=order,
            transition=data["transition"],
            actor=request.user,
            source=Source.API,
            reason=data["reason"],
            changes={k: data[k] for k in ("warehouse", "carrier", "tracking_number") if k in data},
            hold_kind=data["hold_kind"],
        )
        return Response(_detail(request, selectors.order_get(number=number)))


class OrderPaymentApi(APIView):
    permission_classes = [HasModelPerm]
    post_perm = "orders.pay_order"

    @extend_schema(
        request=PaymentIn,
        responses={200: OrderOut, **ERRORS},
        description="Record a payment (amount, time, reference) on an unpaid or deposit-paid order. A matching "
        "amount moves the order on (presale: deposit, then paid); a mismatch holds it with 金额不符 and the "
        "figures. 409 when the order cannot take a payment now (e.g. cancelled or already paid).",
    )
    def post(self, request, number: str):
        payload = PaymentIn(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        order_confirm_payment(
            order=selectors.order_get_brief(number=number),
            paid_amount=data["paid_amount"],
            paid_at=data["paid_at"],
            payment_reference=data["payment_reference"],
            actor=request.user,
            source=Source.API,
        )
        return Response(_detail(request, selectors.order_get(number=number)))
