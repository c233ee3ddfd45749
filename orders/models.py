"""The hub's rows: channels, customers, orders and lines, the status machine, timeline, node settings, alerts."""

from datetime import time

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Right
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from orders.notify_texts import template_check
from orders.phones import PLATFORM_PHONE_MAX, cn_mobile_validator, is_encrypted_value, platform_phone_validator

PATTERN_OPS = "varchar_pattern_ops"  # PostgreSQL; other databases ignore index opclasses


class Status(models.TextChoices):
    PLACED = "placed", _("Placed")
    PAID = "paid", _("Payment verified")
    ON_HOLD = "on_hold", _("On hold for review")
    ALLOCATING = "allocating", _("Awaiting warehouse")
    ALLOCATED = "allocated", _("Warehouse order created")
    PRINTED = "printed", _("Label printed")
    PICKED_UP = "picked_up", _("Collected by carrier")
    IN_TRANSIT = "in_transit", _("In transit")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", _("Cancelled")
    RETURNED = "returned", _("Returned")
    EXCEPTION = "exception", _("Exception")


# States an order can be put on hold from and resumed into.
HOLDABLE = [Status.PLACED, Status.PAID, Status.ALLOCATING, Status.ALLOCATED]
CANCELLABLE = [Status.PLACED, Status.PAID, Status.ON_HOLD, Status.ALLOCATING, Status.ALLOCATED, Status.PRINTED]
IN_CARRIER_HANDS = [Status.PICKED_UP, Status.IN_TRANSIT]
EXCEPTION_FROM = [Status.ALLOCATED, Status.PRINTED, Status.PICKED_UP, Status.IN_TRANSIT]
FINAL_STATES = {Status.DELIVERED, Status.CANCELLED, Status.RETURNED}

# Pause tokens of a status node (StatusNode.pause_states) beyond a plain status: a hold of one kind only, and a
# presale order whose deposit is paid and balance not yet (it stays 'placed', so its clock stops in place).
PAUSE_HOLD_PREFIX = "hold:"
PAUSE_PRESALE_BALANCE = "presale_balance"


class Source(models.TextChoices):
    API = "api", _("API")
    WEBHOOK = "webhook", _("Channel webhook")
    PULL = "pull", _("Channel pull")
    ADMIN = "admin", _("Admin")
    SCAN = "scan", _("Scan station")
    RULE = "rule", _("Rule")
    CARRIER = "carrier", _("Carrier")
    CUSTOMER = "customer", _("Customer")
    IMPORT = "import", _("Import")
    SWEEP = "sweep", _("Timeout sweep")
    SYSTEM = "system", _("System")


CHANNEL_SECRET_FIELDS = ("webhook_secret", "webhook_secret_previous")


class Channel(models.Model):
    class Kind(models.TextChoices):
        TAOBAO = "taobao", _("Taobao / Tmall")
        PDD = "pdd", _("Pinduoduo")
        DOUYIN = "douyin", _("Douyin shop")
        WECHAT = "wechat", _("WeChat mini-program")
        POS = "pos", _("Store POS")
        B2B = "b2b", _("B2B / distributor")
        OTHER = "other", _("Other")

    class Arrival(models.TextChoices):
        API = "api", _("REST API only")
        WEBHOOK = "webhook", _("Signed webhook")
        PULL = "pull", _("Scheduled pull")
        BOTH = "both", _("Webhook and pull")

    code = models.SlugField(_("channel code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.OTHER)
    is_active = models.BooleanField(_("active"), default=True)
    shop_name = models.CharField(_("shop name"), max_length=100, blank=True)
    shop_id = models.CharField(_("shop id"), max_length=64, blank=True)
    arrival = models.CharField(_("how orders arrive"), max_length=8, choices=Arrival.choices, default=Arrival.API)
    # Standard Webhooks secrets (whsec_<base64>): the current one, and the previous one while the sender rotates.
    webhook_secret = models.CharField(_("webhook signing secret"), max_length=128, blank=True)
    webhook_secret_previous = models.CharField(_("previous webhook signing secret"), max_length=128, blank=True)
    # Their dotted path -> our field, amounts, times, status codes: see orders.channels.mapping.
    field_mapping = models.JSONField(_("field mapping"), default=dict, blank=True)
    history = HistoricalRecords(excluded_fields=list(CHANNEL_SECRET_FIELDS))

    class Meta:
        verbose_name = _("sales channel")
        verbose_name_plural = _("sales channels")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    @property
    def takes_webhooks(self) -> bool:
        return self.arrival in (self.Arrival.WEBHOOK, self.Arrival.BOTH)

    @property
    def webhook_secrets(self) -> list[str]:
        return [secret for secret in (self.webhook_secret, self.webhook_secret_previous) if secret]


class Customer(models.Model):
    class MemberLevel(models.TextChoices):
        NORMAL = "normal", _("Regular")
        SILVER = "silver", _("Silver")
        GOLD = "gold", _("Gold")
        DIAMOND = "diamond", _("Diamond")
        VIP = "vip", _("VIP")

    name = models.CharField(_("name"), max_length=100)
    # A customer's identity is their real mobile number. A platform that masks the buyer's phone (138****5678, or
    # none at all) gives no identity: many buyers share a mask. Such a buyer is a row of its own, keyed by
    # platform_buyer (channel code + the platform's buyer id), and keeps the phone as the platform gave it: masked,
    # or encrypted (PDD / Douyin ciphertext, hence the width; clean() still wants a real number for the hub's own).
    phone = models.CharField(
        _("mobile phone"), max_length=PLATFORM_PHONE_MAX, blank=True, validators=[platform_phone_validator]
    )
    platform_buyer = models.CharField(
        _("platform buyer"),
        max_length=140,
        blank=True,
        default="",
        db_default="",  # rows written by raw SQL (bench/dataset.py) are customers of their phone
        editable=False,
        help_text=_("Channel and platform buyer id of a buyer whose phone the platform masked; set by intake."),
    )
    member_level = models.CharField(
        _("member level"), max_length=16, choices=MemberLevel.choices, default=MemberLevel.NORMAL
    )
    tags = models.JSONField(_("tags"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        # Order search: the phone's last 4 digits and a name prefix (the unique phone already has a LIKE index).
        indexes = [
            models.Index(Right("phone", 4), name="customer_phone_last4"),
            models.Index(fields=["name"], name="customer_name_like", opclasses=[PATTERN_OPS]),
            models.Index(fields=["phone"], name="orders_customer_phone_like", opclasses=[PATTERN_OPS]),
        ]
        constraints = [
            # One row per real phone; masked buyers are one row per platform buyer.
            models.UniqueConstraint(fields=["phone"], condition=Q(platform_buyer=""), name="customer_unique_phone"),
            models.UniqueConstraint(
                fields=["platform_buyer"], condition=~Q(platform_buyer=""), name="customer_unique_platform_buyer"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.phone}"

    def clean(self) -> None:
        super().clean()
        if not self.platform_buyer:  # a customer of the hub's own (not a masked platform buyer): a real number
            try:
                cn_mobile_validator(self.phone)
            except ValidationError as error:
                raise ValidationError({"phone": error.messages}) from error


class RegistryNumber:
    """`Order.tracking_number`: the order's primary parcel number, loaded from the parcel registry by
    logistics.selectors. The model does no I/O: reading it before it was loaded is a bug, and says so."""

    short_description = _("tracking number")

    def __set_name__(self, owner, name) -> None:
        self.name = name

    def __get__(self, order, owner=None):
        if order is None:
            return self
        raise AttributeError(
            f"{self.name} of order {order.pk} is not loaded: read it through logistics.selectors "
            "(orders_with_tracking_number, primary_parcel or tracking_number_of)"
        )


class Order(FSMModelMixin, models.Model):
    class PaymentStatus(models.TextChoices):
        UNPAID = "unpaid", _("Unpaid")
        DEPOSIT_PAID = "deposit_paid", _("Deposit paid")
        PAID = "paid", _("Paid in full")

    class Priority(models.IntegerChoices):
        NORMAL = 0, _("Normal")
        HIGH = 1, _("High")
        URGENT = 2, _("Urgent")

    class HoldKind(models.TextChoices):
        # Only the allocation queue's own shortfall hold is released by the system once stock arrives.
        OTHER = "", _("Other hold")
        STOCK = "stock", _("Held for stock")
        REFUND = "refund", _("Refund review")  # the channel reported a refund request: a person decides
        DUPLICATE = "duplicate", _("Suspected duplicate")  # same buyer and items on another channel: see duplicate_of
        APPROVAL = "approval", _("Awaiting approval")  # an approval rule held it on payment: the approver releases it
        CUSTOMER = "customer", _("Waiting for the customer")  # 客服 asked the buyer and waits for the answer

    number = models.CharField(_("order number"), max_length=24, unique=True, editable=False)
    channel = models.ForeignKey(Channel, models.PROTECT, verbose_name=_("channel"), related_name="orders")
    channel_order_no = models.CharField(_("channel order number"), max_length=64, db_index=True)
    buyer_id = models.CharField(_("buyer id"), max_length=64, blank=True)
    customer = models.ForeignKey(Customer, models.PROTECT, verbose_name=_("customer"), related_name="orders")
    # Not editable by hand: only the transition services below move it.
    status = FSMField(_("status"), max_length=16, choices=Status.choices, default=Status.PLACED, editable=False)
    status_reason = models.CharField(_("status reason"), max_length=255, blank=True, editable=False)
    resume_status = models.CharField(_("resume to"), max_length=16, choices=Status.choices, blank=True, editable=False)
    hold_kind = models.CharField(
        _("hold kind"), max_length=16, choices=HoldKind.choices, blank=True, default="", editable=False
    )
    state_entered_at = models.DateTimeField(_("entered status at"), editable=False)
    state_deadline = models.DateTimeField(_("status deadline"), null=True, blank=True, editable=False)
    # What the running state_deadline was computed from (orders.services.deadlines writes it on every
    # transition): {"status", "minutes", "clock", "calendar", "calendar_name", "paused_seconds"}, and while the
    # clock of a node is paused by a pausing state, "paused": {"node", "remaining", "since", "basis", "cause"} (the
    # pause token; a clock stopped in place — a presale waiting for its balance — has only "paused", no deadline).
    deadline_basis = models.JSONField(_("deadline basis"), default=dict, blank=True, editable=False)

    payment_status = models.CharField(
        _("payment"), max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.UNPAID
    )
    is_presale = models.BooleanField(_("presale"), default=False)
    deposit_amount = models.DecimalField(
        _("deposit"), max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    ordered_at = models.DateTimeField(_("ordered at"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    # The platform's trade / transaction number (or a bank slip number), set only by the payment service.
    payment_reference = models.CharField(_("payment reference"), max_length=64, blank=True, editable=False)

    # Name, phone and address as the channel gave them: a platform may send them masked (138****5678) or encrypted
    # (PDD ~AgAAAA…~, Douyin $…$ / #…#: long ciphertext, hence the widths). receiver_encrypted says which.
    receiver_name = models.CharField(_("receiver"), max_length=255)
    receiver_phone = models.CharField(
        _("receiver phone"), max_length=PLATFORM_PHONE_MAX, validators=[platform_phone_validator]
    )
    province = models.CharField(_("province"), max_length=32)
    city = models.CharField(_("city"), max_length=32)
    district = models.CharField(_("district"), max_length=32, blank=True)
    address_detail = models.CharField(_("address"), max_length=512)
    # Taobao OAID / Douyin encrypted receiver id: a waybill for this order is ordered by it, not by the (masked)
    # address above. Set by intake only.
    receiver_platform_id = models.CharField(
        _("platform receiver id"),
        max_length=128,
        blank=True,
        help_text=_("Taobao OAID / Douyin encrypted receiver id: the waybill is ordered by it, not by the address."),
    )

    subtotal = models.DecimalField(_("subtotal"), max_digits=12, decimal_places=2, default=0)
    paid_amount = models.DecimalField(_("paid amount"), max_digits=12, decimal_places=2, default=0)
    promo_code = models.CharField(_("promo code"), max_length=64, blank=True)
    invoice_title = models.CharField(_("invoice title"), max_length=200, blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices, default=Priority.NORMAL)
    promised_ship_by = models.DateTimeField(_("promised ship-by"), null=True, blank=True)
    # The platform's own ship-by deadline (e.g. Taobao's 48 h); the seller's promise may be earlier.
    platform_ship_by = models.DateTimeField(_("platform ship-by deadline"), null=True, blank=True)

    warehouse = models.ForeignKey(
        "warehouse.Warehouse", models.PROTECT, null=True, blank=True, verbose_name=_("warehouse"), related_name="+"
    )
    carrier = models.ForeignKey(
        "logistics.Carrier", models.PROTECT, null=True, blank=True, verbose_name=_("carrier"), related_name="+"
    )
    # Not a column: the primary parcel's number in the registry (logistics.Shipment), loaded by
    # logistics.selectors (orders_with_tracking_number on lists, primary_parcel / tracking_number_of on one order).
    tracking_number = RegistryNumber()

    fingerprint = models.CharField(_("fingerprint"), max_length=64, unique=True, editable=False)
    # The channel's modification time of the last report applied: an older report changes nothing. Set by intake.
    channel_modified_at = models.DateTimeField(_("channel modified at"), null=True, blank=True, editable=False)
    # The SKU codes the channel sold (gifts from rules not counted), as one digest: the cross-channel duplicate
    # check compares it. Set by intake.
    sku_set = models.CharField(_("SKU set"), max_length=64, blank=True, default="", db_default="", editable=False)
    # The open order on another channel this one looks like (疑似重复), set by intake when it held it.
    duplicate_of = models.ForeignKey(
        "self",
        models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("suspected duplicate of"),
    )
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.API, editable=False)
    is_legacy = models.BooleanField(_("legacy (imported, read-only)"), default=False, editable=False)
    # The import that created a legacy order (its provenance; the order list filters by it). PROTECT: a job with
    # orders is their record of which file they came from, so it cannot be deleted away under them.
    import_job = models.ForeignKey(
        "ImportJob",
        models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        db_index=True,
        related_name="orders",
        verbose_name=_("imported by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-ordered_at"]
        indexes = [
            # Order search: pattern_ops serves both = and LIKE 'prefix%' whatever the database's collation.
            models.Index(fields=["receiver_phone"], name="order_receiver_phone_like", opclasses=[PATTERN_OPS]),
            models.Index(Right("receiver_phone", 4), name="order_receiver_phone_last4"),
            models.Index(fields=["receiver_name"], name="order_receiver_name_like", opclasses=[PATTERN_OPS]),
            models.Index(fields=["status", "state_deadline"]),
            # The overdue sweep's due query: open orders by deadline.
            models.Index(
                fields=["state_deadline"],
                condition=Q(state_deadline__isnull=False, is_legacy=False) & ~Q(status__in=sorted(FINAL_STATES)),
                name="order_open_deadline_idx",
            ),
            models.Index(fields=["channel", "-ordered_at"]),
            models.Index(fields=["-ordered_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "channel_order_no"],
                condition=Q(is_legacy=False),
                name="order_unique_channel_order_no",
            ),
            models.CheckConstraint(condition=Q(paid_amount__gte=0), name="order_paid_amount_not_negative"),
            models.CheckConstraint(condition=Q(subtotal__gte=0), name="order_subtotal_not_negative"),
        ]
        permissions = [
            ("pay_order", _("Can verify payment of orders")),
            ("hold_order", _("Can put orders on hold")),
            ("release_order", _("Can release held orders")),
            ("cancel_order", _("Can cancel orders")),
            ("fulfil_order", _("Can move orders through warehouse steps")),
            ("track_order", _("Can record carrier progress")),
            ("return_order", _("Can record returns")),
            ("flag_exception", _("Can flag and resolve order exceptions")),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def receiver_encrypted(self) -> bool:
        """The platform sent the receiver encrypted (PDD, Douyin): the hub cannot read the phone, so no typed phone
        or last 4 digits match it, and the waybill is ordered with the platform's ciphertext and order number."""
        return is_encrypted_value(self.receiver_phone)

    # --- guards: read the order's own fields only ---
    def is_not_legacy(self) -> bool:
        return not self.is_legacy

    def is_payment_complete(self) -> bool:
        # A presale order is paid only once the balance came in on top of the deposit.
        if self.is_presale:
            return self.deposit_amount is not None and self.paid_amount > self.deposit_amount
        return self.paid_amount > 0

    def is_presale_awaiting_deposit(self) -> bool:
        return self.is_presale and self.payment_status == self.PaymentStatus.UNPAID

    def has_warehouse(self) -> bool:
        return self.warehouse_id is not None

    def has_tracking_number(self) -> bool:
        # The registry's answer (an active, not cancelled parcel), loaded onto the order before the guard is asked.
        return bool(self.tracking_number)

    def resume_target(self) -> str:
        return self.resume_status

    # --- transitions: change only the order's own status fields; services do the rest ---
    # custom: label (button text), sources allowed (None = any), reason_required.
    @transition(
        status,
        source=Status.PLACED,
        target=Status.PLACED,
        conditions=[is_not_legacy, is_presale_awaiting_deposit],
        permission="orders.pay_order",
        custom={"label": _("Record presale deposit"), "reason_required": False, "sources": None},
    )
    def record_deposit(self) -> None:
        self.payment_status = self.PaymentStatus.DEPOSIT_PAID

    @transition(
        status,
        source=Status.PLACED,
        target=Status.PAID,
        conditions=[is_not_legacy, is_payment_complete],
        permission="orders.pay_order",
        custom={"label": _("Verify payment"), "reason_required": False, "sources": None},
    )
    def pay(self) -> None:
        self.payment_status = self.PaymentStatus.PAID

    @transition(
        status,
        source=HOLDABLE,
        target=Status.ON_HOLD,
        conditions=[is_not_legacy],
        permission="orders.hold_order",
        custom={"label": _("Hold for review"), "reason_required": True, "sources": None},
    )
    def hold(self) -> None:
        self.resume_status = self.status
        self.hold_kind = self.HoldKind.OTHER  # the shortfall hold marks itself after this step

    @transition(
        status,
        source=Status.ON_HOLD,
        target=RETURN_VALUE(*HOLDABLE),
        conditions=[is_not_legacy],
        permission="orders.release_order",
        custom={"label": _("Release hold"), "reason_required": False, "sources": None},
    )
    def release(self) -> str:
        self.hold_kind = self.HoldKind.OTHER
        return self.resume_target()

    @transition(
        status,
        source=Status.PAID,
        target=Status.ALLOCATING,
        conditions=[is_not_legacy],
        permission="orders.fulfil_order",
        custom={"label": _("Send to warehouse routing"), "reason_required": False, "sources": None},
    )
    def start_allocation(self) -> None:
        pass

    @transition(
        status,
        source=Status.ALLOCATING,
        target=Status.ALLOCATED,
        conditions=[is_not_legacy, has_warehouse],
        permission="orders.fulfil_order",
        custom={"label": _("Create warehouse order"), "reason_required": False, "sources": None},
    )
    def allocate(self) -> None:
        pass

    @transition(
        status,
        source=Status.ALLOCATED,
        target=Status.PRINTED,
        conditions=[is_not_legacy, has_tracking_number],
        permission="orders.fulfil_order",
        custom={"label": _("Mark label printed"), "reason_required": False, "sources": None},
    )
    def print_label(self) -> None:
        pass

    @transition(
        status,
        source=Status.PRINTED,
        target=Status.PICKED_UP,
        conditions=[is_not_legacy, has_tracking_number],
        permission="orders.fulfil_order",
        # Packing alone is not shipping: only a carrier event or a hand-over scan proves pickup.
        custom={"label": _("Handed to carrier"), "reason_required": False, "sources": ("carrier", "scan")},
    )
    def pick_up(self) -> None:
        pass

    @transition(
        status,
        source=Status.PICKED_UP,
        target=Status.IN_TRANSIT,
        conditions=[is_not_legacy],
        permission="orders.track_order",
        custom={"label": _("In transit"), "reason_required": False, "sources": ("carrier",)},
    )
    def transit(self) -> None:
        pass

    @transition(
        status,
        source=IN_CARRIER_HANDS,
        target=Status.DELIVERED,
        conditions=[is_not_legacy],
        permission="orders.track_order",
        custom={"label": _("Confirm delivery"), "reason_required": False, "sources": ("carrier", "customer", "admin")},
    )
    def deliver(self) -> None:
        pass

    @transition(
        status,
        source=CANCELLABLE,
        target=Status.CANCELLED,
        conditions=[is_not_legacy],
        permission="orders.cancel_order",
        custom={"label": _("Cancel order"), "reason_required": True, "sources": None},
    )
    def cancel(self) -> None:
        pass

    @transition(
        status,
        source=[*IN_CARRIER_HANDS, Status.DELIVERED, Status.EXCEPTION],
        target=Status.RETURNED,
        conditions=[is_not_legacy],
        permission="orders.return_order",
        custom={"label": _("Record return"), "reason_required": True, "sources": None},
    )
    def mark_returned(self) -> None:
        pass

    @transition(
        status,
        source=EXCEPTION_FROM,
        target=Status.EXCEPTION,
        conditions=[is_not_legacy],
        permission="orders.flag_exception",
        custom={"label": _("Flag exception"), "reason_required": True, "sources": None},
    )
    def flag_exception(self) -> None:
        self.resume_status = self.status

    @transition(
        status,
        source=Status.EXCEPTION,
        target=RETURN_VALUE(*EXCEPTION_FROM),
        conditions=[is_not_legacy],
        permission="orders.flag_exception",
        custom={"label": _("Resolve exception"), "reason_required": True, "sources": None},
    )
    def resolve_exception(self) -> str:
        return self.resume_target()


class OrderLadder(models.Model):
    """Where an order's ladder levels "at % of the allowed time" stand: the stay they belong to (its entry into
    the node) and the next moment one of its marks (deadline_basis["marks"], counted in the node's own clock) or
    their repeats is due. Written by orders.services.deadlines when the order enters a node with such levels,
    advanced (or removed, nothing left) by the overdue sweep, which finds due orders by it. Kept apart from the
    order row: the sweep moves it at every mark, and the order row carries many indexes."""

    order = models.OneToOneField(Order, models.CASCADE, primary_key=True, related_name="+")
    stay_entered_at = models.DateTimeField()
    next_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["next_at"], name="order_ladder_next_at_idx")]

    def __str__(self) -> str:
        return f"{self.order_id} @ {self.next_at:%Y-%m-%d %H:%M}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, models.CASCADE, related_name="lines", verbose_name=_("order"))
    sku = models.ForeignKey("warehouse.Sku", models.PROTECT, related_name="+", verbose_name=_("SKU"))
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2)
    is_gift = models.BooleanField(_("gift"), default=False)
    note = models.CharField(_("note"), max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="order_line_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.sku.code} × {self.quantity}{' (赠品 gift)' if self.is_gift else ''}"

    @property
    def amount(self):
        return self.unit_price * self.quantity


class OrderEvent(models.Model):
    """One line of an order's timeline. Append-only: events are never edited or deleted."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        TRANSITION = "transition", _("Status change")
        NOTE = "note", _("Note")
        RULE = "rule", _("Rule fired")
        ALERT = "alert", _("Alert")

    # No index of its own: (order, created_at) below serves every lookup by order, and each timeline line (tens of
    # thousands a minute from the overdue sweep at peak) would write both. No database foreign key either: its check
    # locks the order row of every line inserted (0.4 s of a sweep over 1M orders, bench/sweep.py); lines are only
    # written by the services with the id of an order they just read, orders are never deleted (no service or admin
    # page deletes one), and Django still applies CASCADE.
    order = models.ForeignKey(
        Order,
        models.CASCADE,
        related_name="events",
        verbose_name=_("order"),
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    transition = models.CharField(_("transition"), max_length=32, blank=True)
    from_status = models.CharField(_("from"), max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=16, choices=Status.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("actor")
    )
    actor_label = models.CharField(_("actor"), max_length=100, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("timeline event")
        verbose_name_plural = _("timeline events")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["order", "created_at"]),
            # Today's allocations per warehouse (remaining capacity, read at every routing).
            models.Index(fields=["created_at"], condition=Q(transition="allocate"), name="orderevent_allocate_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} {self.to_status}"


class NodeClock(models.TextChoices):
    CLOCK = "clock", _("Clock time")
    WORKING = "working", _("Working time")


class WorkCalendar(models.Model):
    """A working calendar: weekly working hours, day overrides, China's holidays and 调休 days (chinese_calendar).
    Status nodes that count working time use the node's calendar, else the order's warehouse's, else the one bound
    to the node owner's group (team), else the default."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    is_default = models.BooleanField(_("default calendar"), default=False)
    warehouse = models.OneToOneField(
        "warehouse.Warehouse",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("warehouse"),
    )
    group = models.ForeignKey(
        Group, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("team (group)")
    )
    use_china_holidays = models.BooleanField(_("China's public holidays and 调休 apply"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("working calendar")
        verbose_name_plural = _("working calendars")
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_calendar")
        ]

    def __str__(self) -> str:
        return self.name


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class WorkingHours(models.Model):
    """One working span of a weekday (a day may have several, e.g. 09:00–12:00 and 13:00–18:00)."""

    calendar = models.ForeignKey(WorkCalendar, models.CASCADE, related_name="hours", verbose_name=_("calendar"))
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(_("from"))
    end = models.TimeField(_("to"), help_text=_("00:00 means midnight at the end of the day."))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        ordering = ["calendar", "weekday", "start"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"

    def clean(self) -> None:
        if self.start is not None and self.end is not None and self.end != time() and self.end <= self.start:
            raise ValidationError({"end": _("The end must be after the start.")})


class CalendarDay(models.Model):
    """A day override: wins over China's holidays and 调休 days and over the weekly hours."""

    calendar = models.ForeignKey(WorkCalendar, models.CASCADE, related_name="days", verbose_name=_("calendar"))
    date = models.DateField(_("date"))
    is_working = models.BooleanField(_("working day"), default=False)
    start = models.TimeField(_("from"), null=True, blank=True)
    end = models.TimeField(
        _("to"), null=True, blank=True, help_text=_("Empty hours on a working day: the standard workday hours.")
    )
    note = models.CharField(_("note"), max_length=100, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("calendar override")
        verbose_name_plural = _("calendar overrides")
        ordering = ["calendar", "date", "start"]

    def __str__(self) -> str:
        return f"{self.date} {self.note}".strip()

    def clean(self) -> None:
        if (self.start is None) != (self.end is None):
            raise ValidationError(_("Give both hours or neither."))
        if self.start is not None and not self.is_working:
            raise ValidationError({"is_working": _("A day with hours is a working day.")})
        if self.start is not None and self.end != time() and self.end <= self.start:
            raise ValidationError({"end": _("The end must be after the start.")})


class PromiseSettings(models.Model):
    """One row: when an order's ship-by promise turns yellow and red (promise lights)."""

    yellow_hours = models.PositiveIntegerField(
        _("yellow below (hours left, not picked up)"), default=6, validators=[MinValueValidator(1)]
    )
    red_hours = models.PositiveIntegerField(
        _("red below (hours left, label not printed)"), default=2, validators=[MinValueValidator(1)]
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("promise light settings")
        verbose_name_plural = _("promise light settings")

    def __str__(self) -> str:
        return str(_("Promise light settings"))

    def clean(self) -> None:
        if self.red_hours is not None and self.yellow_hours is not None and self.red_hours > self.yellow_hours:
            raise ValidationError({"red_hours": _("Red must not be above yellow.")})


class StatusNode(models.Model):
    """Settings of one status node, edited by managers: owner, timeout, customer-facing text."""

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, unique=True)
    owner_group = models.ForeignKey(
        Group, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("owner group")
    )
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner user"),
    )
    timeout_minutes = models.PositiveIntegerField(
        _("timeout (minutes)"), null=True, blank=True, help_text=_("Empty means the node has no deadline.")
    )
    customer_label = models.CharField(_("customer-facing label"), max_length=50)
    customer_message = models.CharField(_("customer-facing message"), max_length=300, blank=True)
    notify_customer = models.BooleanField(_("notify customer on entry"), default=False)
    clock = models.CharField(
        _("timeout counts"), max_length=8, choices=NodeClock.choices, default=NodeClock.CLOCK, db_default="clock"
    )
    calendar = models.ForeignKey(
        "WorkCalendar",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("working calendar"),
        help_text=_("Empty: the calendar of the order's warehouse, else the owner group's, else the default one."),
    )
    # What pauses this node's clock (pause tokens, see pause_token_choices): a status, or "hold:<kind>" (leaving
    # for it keeps the time left, coming back resumes it), or "presale_balance" (stops it while the order stays).
    pause_states = models.JSONField(_("states that pause the clock"), default=list, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("status node setting")
        verbose_name_plural = _("status node settings")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.get_status_display()

    def clean(self) -> None:
        problem = pause_tokens_problem(self.status, self.pause_states)
        if problem:
            raise ValidationError({"pause_states": problem})


class EscalationLevel(models.Model):
    """One rung of a node's escalation ladder: it fires N minutes after the deadline, or when a share of the
    node's allowed time is gone (before it is late), notifies a group, a person and/or a channel, repeats every M
    minutes until the order moves (0 = once), and starts again with the order's next stay in the node."""

    node = models.ForeignKey(StatusNode, models.CASCADE, related_name="escalations", verbose_name=_("status node"))
    level = models.PositiveSmallIntegerField(_("level"), validators=[MinValueValidator(1)])
    after_minutes = models.PositiveIntegerField(
        _("after (minutes overdue)"),
        null=True,
        blank=True,
        help_text=_("Fires this many minutes after the deadline (0 = at the deadline). Fill this or the percentage."),
    )
    after_percent = models.PositiveSmallIntegerField(
        _("at % of the allowed time"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_(
            "Fires once this share of the node's allowed time is gone, e.g. 50 = half, before it is late, counted in "
            "the node's clock (working time when it counts working time). A change applies to orders that enter "
            "the node after it."
        ),
    )
    repeat_minutes = models.PositiveIntegerField(
        _("repeat every (minutes)"),
        default=0,
        help_text=_("Fires again at this interval until the order leaves the node; 0 = only once."),
    )
    notify_group = models.ForeignKey(
        Group, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("notify group")
    )
    notify_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("notify user"),
    )
    notify_channel = models.ForeignKey(
        "NotificationChannel",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("notify channel"),
        help_text=_("A robot or channel (e.g. the boss's DingTalk robot) the level's alerts also go to."),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("escalation level")
        verbose_name_plural = _("escalation levels")
        ordering = ["node", "level"]
        constraints = [
            models.UniqueConstraint(fields=["node", "level"], name="escalation_level_unique_per_node"),
            models.CheckConstraint(
                condition=Q(notify_group__isnull=False)
                | Q(notify_user__isnull=False)
                | Q(notify_channel__isnull=False),
                name="escalation_level_has_recipient",
            ),
            models.CheckConstraint(
                condition=Q(after_minutes__isnull=True, after_percent__isnull=False)
                | Q(after_minutes__isnull=False, after_percent__isnull=True),
                name="escalation_level_minutes_or_percent",
            ),
        ]

    def __str__(self) -> str:
        if self.after_percent is not None:
            return f"L{self.level} @{self.after_percent}%"
        return f"L{self.level} +{self.after_minutes}min"


class StaffProfile(models.Model):
    """Who a member of staff reports to (an approval that waits too long goes to the approver's superior) and
    which group they lead (the fallback when someone has no superior set)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="staff_profile", verbose_name=_("user")
    )
    superior = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("superior"),
        help_text=_("Approvals this person leaves waiting escalate to the superior."),
    )
    leads_group = models.ForeignKey(
        Group,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("leads group"),
        help_text=_("This person is the lead of the group: escalations to the group's lead reach them."),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")
        ordering = ["user"]
        constraints = [
            models.CheckConstraint(condition=~Q(superior=models.F("user")), name="staff_profile_not_own_superior")
        ]

    def __str__(self) -> str:
        return str(self.user)


# Alert kinds the overdue sweep writes (see orders.services.sweeps): their dedupe keys are unique forever.
SWEEP_ALERT_KINDS = ("node_overdue", "approval_overdue")


class Alert(models.Model):
    """Anything that needs a person is a row first; delivery channels read these rows."""

    class Kind(models.TextChoices):
        STOCK_SHORTFALL = "stock_shortfall", _("Stock shortfall")
        BREAKER_TRIPPED = "breaker_tripped", _("Allocation breaker tripped")
        PARCEL_STALLED = "parcel_stalled", _("Parcel stalled")
        NODE_OVERDUE = "node_overdue", _("Status node overdue")
        APPROVAL_WAITING = "approval_waiting", _("Approval waiting")
        APPROVAL_OVERDUE = "approval_overdue", _("Approval overdue")  # 审批滞留: escalated to the superior
        RULE_ERROR = "rule_error", _("Rule error")
        WAYBILL_CANCEL_FAILED = "waybill_cancel_failed", _("Waybill cancel failed")
        WAYBILL_FAILED = "waybill_failed", _("Waybill failed")
        ERP_PUSH_DEAD = "erp_push_dead", _("ERP push dead-lettered")
        SHIP_CONFIRM_FAILED = "ship_confirm_failed", _("Ship confirmation to the channel failed")
        CHANNEL_PULL_FAILING = "channel_pull_failing", _("Channel pull failing")
        CALENDAR_YEAR_UNKNOWN = "calendar_year_unknown", _("Holidays of a year unknown")
        NOTIFICATION_DEAD = "notification_dead", _("Notification delivery failed")
        OTHER = "other", _("Other")

    class Severity(models.TextChoices):
        INFO = "info", _("Info")
        WARNING = "warning", _("Warning")
        CRITICAL = "critical", _("Critical")

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices, default=Severity.WARNING)
    # No database foreign key, as OrderEvent.order: the sweep inserts tens of thousands of alerts a minute at peak
    # and the check would lock each one's order row; alerts are written by the services only, Django applies CASCADE.
    order = models.ForeignKey(
        Order,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="alerts",
        verbose_name=_("order"),
        db_constraint=False,
    )
    message = models.CharField(_("message"), max_length=500)
    owner_group = models.ForeignKey(
        Group, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("owner group")
    )
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner user"),
    )
    dedupe_key = models.CharField(_("dedupe key"), max_length=100, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acknowledged by"),
        editable=False,
        db_index=False,  # never searched by; the sweep writes tens of thousands of alerts a minute at peak
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True, editable=False)
    # Set only by the system, when the alert's cause is gone (stock allocated, breaker reset, parcel moving …).
    resolved_at = models.DateTimeField(_("resolved by the system at"), null=True, blank=True, editable=False)
    resolution = models.CharField(_("resolution"), max_length=255, blank=True, editable=False)
    # A channel (e.g. a DingTalk robot of an escalation level) this alert goes to besides its owners.
    notify_channel = models.ForeignKey(
        "NotificationChannel",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("notify channel"),
        db_index=False,  # read with its alert only (planning goes by alert id), so no index to keep per insert
    )
    # The audit rows are read by alert id only (the admin's history page); the overdue sweep writes one per alert,
    # tens of thousands a minute at peak, so they carry no index per foreign key or date besides that.
    history = HistoricalRecords(
        no_db_index=["order", "owner_group", "owner_user", "acknowledged_by", "notify_channel", "created_at"]
    )

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["acknowledged_at", "-created_at"]),
            # The admin home counts open alerts per owner and kind on every visit.
            models.Index(
                fields=["owner_group", "kind"],
                condition=Q(acknowledged_at__isnull=True, resolved_at__isnull=True),
                name="alert_open_owner_kind_idx",
            ),
        ]
        constraints = [
            # At most one open alert per dedupe key, so repeated sweeps do not pile up copies.
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(acknowledged_at__isnull=True, resolved_at__isnull=True) & ~Q(dedupe_key=""),
                name="alert_one_open_per_key",
            ),
            # The sweep's alerts (overdue, each ladder level and repeat, approval escalations) fire once per key
            # ever, acknowledged or not: the sweep inserts them with ON CONFLICT DO NOTHING.
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(kind__in=SWEEP_ALERT_KINDS) & ~Q(dedupe_key=""),
                name="alert_sweep_key_once",
            ),
        ]

    def __str__(self) -> str:
        return f"[{self.get_severity_display()}] {self.message}"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None and self.resolved_at is None


class AlertRoute(models.Model):
    """Who owns each kind of alert, and how severe it is: one row per kind, seeded by a migration, edited by
    managers in the admin. An alert about a status node (overdue, stalled parcel) goes to the node's owner
    first, and an approval to the group its rule names; this row answers when they name nobody."""

    kind = models.CharField(_("kind"), max_length=32, choices=Alert.Kind.choices, unique=True)
    owner_group = models.ForeignKey(
        Group, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("owner group")
    )
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner user"),
    )
    severity = models.CharField(
        _("severity"), max_length=16, choices=Alert.Severity.choices, default=Alert.Severity.WARNING
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("alert route")
        verbose_name_plural = _("alert routes")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.get_kind_display()


class AddressChange(models.Model):
    """A request to change where an order goes. Before the label is printed it is applied at once (the old
    address stays in the order's history); after, it is an intercept request to the carrier and the order
    waits in 'exception' until staff record the carrier's answer."""

    class State(models.TextChoices):
        APPLIED = "applied", _("Applied")
        INTERCEPT = "intercept", _("Intercept requested")
        INTERCEPTED = "intercepted", _("Intercepted, applied")
        FAILED = "failed", _("Intercept failed")

    order = models.ForeignKey(Order, models.CASCADE, related_name="address_changes", verbose_name=_("order"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices)
    old_address = models.JSONField(_("old address"))
    new_address = models.JSONField(_("new address"))
    reason = models.CharField(_("reason"), max_length=255)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+", verbose_name=_("requested by")
    )
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("address change")
        verbose_name_plural = _("address changes")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.state}"


def duplicate_match_default() -> list[str]:
    return ["buyer_phone", "sku_set"]  # the same buyer phone with the same SKUs


class DuplicateSettings(models.Model):
    """One row: when a new order counts as a suspected duplicate (疑似重复) of an open order on another channel,
    and is held for a person next to its twin. Edited by 运营主管 in the admin."""

    class Match(models.TextChoices):
        BUYER_PHONE = "buyer_phone", _("Buyer phone")
        RECEIVER_PHONE = "receiver_phone", _("Receiver phone")
        RECEIVER_ADDRESS = "receiver_address", _("Receiver address")
        SKU_SET = "sku_set", _("Same SKUs")

    # A phone is among the match fields: the check's query starts from its index (the customer, the receiver phone).
    PHONES = (Match.BUYER_PHONE, Match.RECEIVER_PHONE)

    enabled = models.BooleanField(_("check for cross-channel duplicates"), default=True)
    window_hours = models.PositiveIntegerField(
        _("window (hours)"),
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 30)],
        help_text=_("Orders placed at most this many hours apart count as a pair."),
    )
    match_fields = models.JSONField(
        _("match fields"),
        default=duplicate_match_default,
        help_text=_("What must be equal (at least one phone). A masked phone (138****5678) never counts as equal."),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("duplicate check settings")
        verbose_name_plural = _("duplicate check settings")

    def __str__(self) -> str:
        return str(_("duplicate check settings"))

    def clean(self) -> None:
        super().clean()
        fields = list(self.match_fields or [])
        unknown = sorted(set(fields) - set(self.Match.values))
        if unknown:
            raise ValidationError({"match_fields": _("Unknown match fields: %(f)s.") % {"f": ", ".join(unknown)}})
        if not set(fields) & set(self.PHONES):
            raise ValidationError(
                {"match_fields": _("选择至少一个电话 Choose at least one phone (buyer or receiver) to match on.")}
            )


# --- the outbox: what the hub tells the outside (ERP pushes, ship confirmations to the channel) ----------------
ERP_SECRET_FIELDS = ("secret", "jst_access_token")
SHIP_CONFIRM_SECRET_FIELDS = ("secret",)


class ErpEndpoint(models.Model):
    """An ERP / WMS the hub pushes orders to: every accepted order, and each status change it subscribes to."""

    class Kind(models.TextChoices):
        QIMEN = "qimen", _("QiMen deliveryorder.create (XML)")
        JUSHUITAN = "jushuitan", _("Jushuitan order upload")
        WEBHOOK = "webhook", _("Generic signed JSON webhook")

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    url = models.URLField(_("URL"), max_length=500)
    app_key = models.CharField(_("app key"), max_length=128, blank=True)
    secret = models.CharField(_("secret"), max_length=256, blank=True)
    qimen_customer_id = models.CharField(_("QiMen customerId"), max_length=64, blank=True)
    qimen_warehouse_code = models.CharField(_("QiMen warehouseCode"), max_length=64, blank=True)
    qimen_owner_code = models.CharField(_("QiMen ownerCode"), max_length=64, blank=True)
    jst_access_token = models.CharField(_("Jushuitan access token"), max_length=256, blank=True)
    jst_shop_id = models.CharField(_("Jushuitan shop id"), max_length=64, blank=True)
    subscribed_statuses = models.JSONField(
        _("status changes pushed"),
        default=list,
        blank=True,
        help_text=_("Besides every accepted order: the statuses whose entry is pushed too."),
    )
    max_attempts = models.PositiveSmallIntegerField(_("max attempts"), default=8, validators=[MinValueValidator(1)])
    timeout_seconds = models.PositiveSmallIntegerField(
        _("timeout (seconds)"), default=10, validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(excluded_fields=list(ERP_SECRET_FIELDS))

    class Meta:
        verbose_name = _("ERP endpoint")
        verbose_name_plural = _("ERP endpoints")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ShipConfirmSettings(models.Model):
    """How a channel is told that its order shipped (发货回传): the connector's URL and secret, and when."""

    class ConfirmAt(models.TextChoices):
        PRINTED = "printed", _("When the waybill is printed")
        PICKED_UP = "picked_up", _("When the carrier picks it up")

    channel = models.OneToOneField(
        Channel, models.CASCADE, related_name="ship_confirm", verbose_name=_("sales channel")
    )
    url = models.URLField(_("connector URL"), max_length=500)
    secret = models.CharField(_("secret"), max_length=256, blank=True)
    confirm_at = models.CharField(_("confirm at"), max_length=16, choices=ConfirmAt.choices, default=ConfirmAt.PRINTED)
    max_attempts = models.PositiveSmallIntegerField(_("max attempts"), default=8, validators=[MinValueValidator(1)])
    timeout_seconds = models.PositiveSmallIntegerField(
        _("timeout (seconds)"), default=10, validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("on"), default=True)
    history = HistoricalRecords(excluded_fields=list(SHIP_CONFIRM_SECRET_FIELDS))

    class Meta:
        verbose_name = _("ship confirmation settings")
        verbose_name_plural = _("ship confirmation settings")

    def __str__(self) -> str:
        return f"{self.channel}: {self.get_confirm_at_display()}"


class OutboxMessage(models.Model):
    """One message the hub owes the outside, written in the same transaction as the change it tells, delivered
    by a job (at least once; the receiver dedupes by idempotency key) in order per order and target."""

    class Kind(models.TextChoices):
        ORDER_ACCEPTED = "order_accepted", _("Order accepted")
        STATUS_CHANGED = "status_changed", _("Status changed")
        SHIP_CONFIRM = "ship_confirm", _("Ship confirmation")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        DEAD = "dead", _("Dead letter")

    # "erp:<endpoint id>" or "ship:<channel id>": ordering and idempotency are per target.
    target = models.CharField(_("target"), max_length=32, editable=False)
    endpoint = models.ForeignKey(
        ErpEndpoint, models.PROTECT, null=True, blank=True, related_name="messages", verbose_name=_("ERP endpoint")
    )
    channel = models.ForeignKey(
        Channel, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("sales channel")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    order = models.ForeignKey(Order, models.CASCADE, related_name="outbox_messages", verbose_name=_("order"))
    sequence = models.PositiveIntegerField(_("sequence in the order"))
    idempotency_key = models.CharField(_("idempotency key"), max_length=80)
    payload = models.JSONField(_("payload snapshot"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_answer = models.TextField(_("last answer"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        ordering = ["-id"]
        permissions = [("retry_outboxmessage", _("Can push a dead-lettered outbox message again"))]
        constraints = [
            models.UniqueConstraint(fields=["target", "idempotency_key"], name="outbox_one_key_per_target"),
            models.UniqueConstraint(fields=["target", "order", "sequence"], name="outbox_one_sequence_per_order"),
        ]
        indexes = [
            # The claim: due pending rows, oldest first.
            models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="outbox_due_idx"),
            # Per-order ordering: an earlier undelivered row of the same order and target.
            models.Index(
                fields=["order", "target", "sequence"], condition=~Q(state="delivered"), name="outbox_undelivered_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.idempotency_key


class Via(models.TextChoices):
    """How a reported order reached the hub."""

    WEBHOOK = "webhook", _("Webhook")
    PULL = "pull", _("Pull")
    BACKFILL = "backfill", _("Backfill")
    REPLAY = "replay", _("Replay")


class InboxDelivery(models.Model):
    """One raw delivery from a channel (a webhook POST, a pull page), committed before the sender is told yes,
    then turned into orders by a job (orders.services.channel_inbox). A log row: written once by the door,
    then only its processing state moves (no history)."""

    class State(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        FAILED = "failed", _("Failed")

    channel = models.ForeignKey(Channel, models.PROTECT, related_name="inbox_deliveries", verbose_name=_("channel"))
    via = models.CharField(_("arrived via"), max_length=8, choices=Via.choices, default=Via.WEBHOOK)
    delivery_id = models.CharField(_("delivery id"), max_length=128)
    body = models.TextField(_("raw body"))
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.RECEIVED)
    received_at = models.DateTimeField(_("received at"))
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("processing attempts"), default=0)
    replays = models.PositiveSmallIntegerField(_("replays"), default=0)
    orders_count = models.PositiveIntegerField(_("orders"), default=0)
    taken_count = models.PositiveIntegerField(_("taken"), default=0)
    rejected_count = models.PositiveIntegerField(_("rejected"), default=0)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("inbox delivery")
        verbose_name_plural = _("inbox deliveries")
        permissions = [("replay_inboxdelivery", _("Can replay channel deliveries"))]
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "delivery_id"], name="inbox_delivery_unique_per_channel")
        ]
        indexes = [
            # The sweep: received but not processed yet.
            models.Index(fields=["received_at"], condition=Q(state="received"), name="inbox_delivery_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.delivery_id}"


class IntakeRecord(models.Model):
    """The intake log: one line per reported order of a delivery (and per replay of it), with its outcome."""

    class Outcome(models.TextChoices):
        CREATED = "created", _("Created")
        UPDATED = "updated", _("Updated")
        UNCHANGED = "unchanged", _("Unchanged (replay)")
        STALE = "stale", _("Stale (older report)")
        DUPLICATE = "duplicate", _("Suspected duplicate")
        REJECTED = "rejected", _("Rejected")

    channel = models.ForeignKey(Channel, models.PROTECT, related_name="intake_records", verbose_name=_("channel"))
    delivery = models.ForeignKey(
        InboxDelivery, models.CASCADE, null=True, blank=True, related_name="records", verbose_name=_("delivery")
    )
    index = models.PositiveIntegerField(_("position in delivery"), default=0)
    run = models.PositiveSmallIntegerField(_("run"), default=0, help_text=_("0: first processing; n: n-th replay"))
    via = models.CharField(_("arrived via"), max_length=8, choices=Via.choices)
    channel_order_no = models.CharField(_("channel order no."), max_length=64, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    code = models.CharField(_("error code"), max_length=64, blank=True)
    field = models.CharField(_("field"), max_length=64, blank=True)
    order = models.ForeignKey(
        Order, models.SET_NULL, null=True, blank=True, related_name="intake_records", verbose_name=_("order")
    )
    received_at = models.DateTimeField(_("received at"))
    processed_at = models.DateTimeField(_("processed at"))
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)

    class Meta:
        verbose_name = _("intake record")
        verbose_name_plural = _("intake log")
        ordering = ["-processed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "run", "index"],
                condition=Q(delivery__isnull=False),
                name="intake_record_unique_per_delivery_run",
            )
        ]
        indexes = [
            models.Index(fields=["channel", "processed_at"]),
            models.Index(fields=["channel_order_no"]),
        ]

    def __str__(self) -> str:
        return f"{self.channel_order_no or '?'} {self.outcome}"


class WebhookRefusal(models.Model):
    """A delivery the webhook door refused (bad signature, stale, malformed …): counted in the intake log. The
    body is not kept (it could not be trusted); only what the refusal was, when and from where."""

    channel = models.ForeignKey(
        Channel, models.CASCADE, null=True, blank=True, related_name="webhook_refusals", verbose_name=_("channel")
    )
    channel_code = models.CharField(_("channel code"), max_length=64)
    delivery_id = models.CharField(_("delivery id"), max_length=128, blank=True)
    code = models.CharField(_("error code"), max_length=64)
    message = models.CharField(_("reason"), max_length=500)
    remote_addr = models.CharField(_("sender address"), max_length=64, blank=True)
    body_size = models.PositiveIntegerField(_("body size (bytes)"), default=0)
    created_at = models.DateTimeField(_("refused at"), auto_now_add=True)

    class Meta:
        verbose_name = _("refused webhook delivery")
        verbose_name_plural = _("refused webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["channel", "created_at"])]

    def __str__(self) -> str:
        return f"{self.channel_code} {self.code}"


CHANNEL_PULL_SECRET_FIELDS = ("app_secret", "access_token")
# What a person sets on a channel's pull (the admin inline); the rest of ChannelPull is the pull's own state,
# written only by orders.services.channel_pulls, so a save from either side never overwrites the other's fields.
CHANNEL_PULL_SETTINGS_FIELDS = (
    "enabled",
    "base_url",
    "app_key",
    *CHANNEL_PULL_SECRET_FIELDS,
    "interval_minutes",
    "window_minutes",
    "page_size",
    "clock_margin_seconds",
)
CHANNEL_PULL_STATE_FIELDS = (
    "cursor",
    "last_run_at",
    "last_success_at",
    "last_error",
    "consecutive_failures",
    "next_attempt_at",
)


class ChannelPull(models.Model):
    """How and from where the hub pulls a channel's orders ("modified since" windows), and how far it got.

    `cursor`: every order modified before it is committed in the hub; it moves to a window's end only after that
    window's pages are stored and processed. Window, page size and clock margin left empty take the platform's
    defaults; larger values than the platform allows are cut to its limits (orders.channels.<kind>)."""

    channel = models.OneToOneField(Channel, models.CASCADE, related_name="pull", verbose_name=_("channel"))
    enabled = models.BooleanField(_("pull on"), default=False)
    base_url = models.URLField(_("pull API base URL"), blank=True, help_text=_("Empty: the platform's own address."))
    app_key = models.CharField(_("app key"), max_length=128, blank=True)
    app_secret = models.CharField(_("app secret"), max_length=256, blank=True)
    access_token = models.CharField(
        _("session / access token"),
        max_length=512,
        blank=True,
        help_text=_("Taobao session, PDD / Douyin access token"),
    )
    interval_minutes = models.PositiveIntegerField(
        _("pull every (minutes)"), default=5, validators=[MinValueValidator(1)]
    )
    window_minutes = models.PositiveIntegerField(
        _("window (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: the platform's recommended window; never more than the platform allows."),
    )
    page_size = models.PositiveIntegerField(
        _("page size"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: the platform's page size; never more than the platform allows."),
    )
    clock_margin_seconds = models.PositiveIntegerField(
        _("clock margin (seconds)"),
        null=True,
        blank=True,
        help_text=_("How far behind now a window ends. Empty: the platform's; never less than the platform demands."),
    )
    cursor = models.DateTimeField(_("pulled up to"), null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True, editable=False)
    last_error = models.CharField(_("last error"), max_length=500, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0, editable=False)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True, editable=False, db_index=True)
    history = HistoricalRecords(excluded_fields=list(CHANNEL_PULL_SECRET_FIELDS))

    class Meta:
        verbose_name = _("channel pull")
        verbose_name_plural = _("channel pulls")

    def __str__(self) -> str:
        return f"{self.channel} pull"


class ChannelBackfill(models.Model):
    """Orders of a past date range pulled again, window by window, with its own progress (`cursor`), so a
    killed run goes on where it stopped. Started from the channel's admin by a manager."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed (will retry)")

    channel = models.ForeignKey(Channel, models.CASCADE, related_name="backfills", verbose_name=_("channel"))
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("to"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    cursor = models.DateTimeField(_("done up to"), null=True, blank=True)
    windows_done = models.PositiveIntegerField(_("windows done"), default=0)
    pages = models.PositiveIntegerField(_("pages"), default=0)
    orders_seen = models.PositiveIntegerField(_("orders received"), default=0)
    counts = models.JSONField(_("outcomes"), default=dict, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+", verbose_name=_("started by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("channel backfill")
        verbose_name_plural = _("channel backfills")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.channel} {self.start:%Y-%m-%d %H:%M}–{self.end:%Y-%m-%d %H:%M}"


# --- notifications: who is told about alerts and customer notices, by which channel, and what happened ----------
NOTIFICATION_SECRET_FIELDS = ("secret", "access_key_secret")


class NotificationChannel(models.Model):
    """A way to reach people: Django mail, a WeCom or DingTalk group robot, an SMS gateway. Configured by the
    ops manager; its secrets are typed in and never shown back."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("Email")
        WECOM = "wecom", _("WeCom group robot")
        DINGTALK = "dingtalk", _("DingTalk group robot (signed)")
        SMS = "sms", _("SMS gateway")

    class SmsAdapter(models.TextChoices):
        GENERIC = "generic", _("Generic JSON gateway")
        ALIYUN = "aliyun", _("Aliyun-style (signed SendSms)")

    ROBOTS = (Kind.WECOM, Kind.DINGTALK)

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    url = models.URLField(_("webhook / gateway URL"), max_length=500, blank=True)
    # DingTalk: the robot's signing secret (SEC…); SMS: the gateway's access key secret.
    secret = models.CharField(_("signing secret"), max_length=256, blank=True)
    access_key_id = models.CharField(_("access key id"), max_length=128, blank=True)
    access_key_secret = models.CharField(_("access key secret"), max_length=256, blank=True)
    sms_adapter = models.CharField(
        _("SMS adapter"), max_length=16, choices=SmsAdapter.choices, default=SmsAdapter.GENERIC, blank=True
    )
    sms_sign_name = models.CharField(_("SMS sign name"), max_length=64, blank=True)
    rate_per_minute = models.PositiveSmallIntegerField(
        _("messages per minute"), default=18, validators=[MinValueValidator(1)]
    )
    max_attempts = models.PositiveSmallIntegerField(_("max attempts"), default=6, validators=[MinValueValidator(1)])
    timeout_seconds = models.PositiveSmallIntegerField(
        _("timeout (seconds)"), default=5, validators=[MinValueValidator(1)]
    )
    # SMS gateways refuse past these per number and day (Asia/Shanghai day): the sender skips before that.
    sms_daily_per_number = models.PositiveSmallIntegerField(
        _("SMS per number per day"), default=40, validators=[MinValueValidator(1)]
    )
    sms_daily_per_template = models.PositiveSmallIntegerField(
        _("SMS per number per template per day"), default=50, validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("on"), default=True)
    # Set by the sender when the robot says "too many" (DingTalk 130101, WeCom 45009): nothing is sent before.
    blocked_until = models.DateTimeField(_("blocked until"), null=True, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=list(NOTIFICATION_SECRET_FIELDS))

    class Meta:
        verbose_name = _("notification channel")
        verbose_name_plural = _("notification channels")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_robot(self) -> bool:
        return self.kind in self.ROBOTS

    def clean(self) -> None:
        if self.kind != self.Kind.EMAIL and not self.url:
            raise ValidationError({"url": _("需要 URL。 A robot or SMS gateway needs its URL.")})


class NotificationSettings(models.Model):
    """One person's notification settings: by which channels, where, when (quiet hours) and for what."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="notification_settings", verbose_name=_("user")
    )
    channels = models.ManyToManyField(NotificationChannel, blank=True, related_name="+", verbose_name=_("channels"))
    email = models.EmailField(_("email address"), blank=True)
    mobile = models.CharField(_("mobile for SMS"), max_length=11, blank=True, validators=[cn_mobile_validator])
    quiet_from = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_until = models.TimeField(_("quiet hours until"), null=True, blank=True)
    notify_info = models.BooleanField(_("info alerts"), default=False)
    notify_warning = models.BooleanField(_("warning alerts"), default=True)
    notify_critical = models.BooleanField(_("critical alerts"), default=True)
    is_active = models.BooleanField(_("on"), default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("notification settings")
        verbose_name_plural = _("notification settings")
        ordering = ["user"]

    def __str__(self) -> str:
        return str(self.user)


class NotificationGroupRoute(models.Model):
    """An alert owned by a group goes to this robot channel and/or to the group's members (their settings)."""

    group = models.ForeignKey(Group, models.CASCADE, related_name="+", verbose_name=_("group"))
    channel = models.ForeignKey(
        NotificationChannel,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="group_routes",
        verbose_name=_("robot channel"),
    )
    notify_members = models.BooleanField(_("notify the members too"), default=False)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("group notification route")
        verbose_name_plural = _("group notification routes")
        ordering = ["group", "id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "channel"], name="notify_group_route_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.group} → {self.channel or _('members')}"


class NoticeKind(models.TextChoices):
    """Customer notices besides a status node's own ("status:<status>")."""

    ALLOCATION_SLOW = "allocation_slow", _("Allocation over 30 minutes")
    PARCEL_STALLED = "parcel_stalled", _("Parcel stalled")


def message_template_keys() -> list[tuple[str, str]]:
    keys = [("alert:*", _("Any alert (default)"))]
    keys += [(f"alert:{value}", label) for value, label in Alert.Kind.choices]
    keys += [(f"status:{value}", label) for value, label in Status.choices]
    keys += [(f"notice:{value}", label) for value, label in NoticeKind.choices]
    return keys


class MessageTemplate(models.Model):
    """The text of a kind of message, with placeholders such as {order_number} {status} {message} {deadline}
    {customer_label}. Checked on save (orders.services.notify_texts)."""

    key = models.CharField(_("message kind"), max_length=48, unique=True, choices=message_template_keys)
    title = models.CharField(_("title"), max_length=100, blank=True)
    body = models.TextField(_("text"))
    # SMS gateways send pre-approved templates: the template code at the gateway (its params are the placeholders).
    sms_template_code = models.CharField(_("SMS template code"), max_length=64, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["key"]

    def __str__(self) -> str:
        return self.get_key_display()

    def save(self, *args, **kwargs) -> None:
        template_check(key=self.key, body=self.body)  # refused on every save, not only in the admin's form
        super().save(*args, **kwargs)

    def clean(self) -> None:
        template_check(key=self.key, body=self.body)


class Notification(models.Model):
    """The delivery log: one row per message to one recipient by one channel, planned once per dedupe key and
    written only by the notification services (no history: a system log, like the intake log)."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed, will retry")
        DEAD = "dead", _("Dead")
        SKIPPED = "skipped", _("Skipped")

    channel = models.ForeignKey(
        NotificationChannel,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("channel"),
    )
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("user")
    )
    alert = models.ForeignKey(
        Alert, models.SET_NULL, null=True, blank=True, related_name="notifications", verbose_name=_("alert")
    )
    order = models.ForeignKey(
        Order, models.CASCADE, null=True, blank=True, related_name="notifications", verbose_name=_("order")
    )
    notice_kind = models.CharField(_("customer notice kind"), max_length=32, blank=True)
    # The message template's key ("alert:<kind>", "status:<status>", "notice:<kind>"): SMS limits count per template.
    template_key = models.CharField(_("message kind"), max_length=48, blank=True)
    severity = models.CharField(_("severity"), max_length=16, choices=Alert.Severity.choices, blank=True)
    title = models.CharField(_("title"), max_length=200, blank=True)
    body = models.TextField(_("text"), blank=True)
    params = models.JSONField(_("template params"), default=dict, blank=True)
    state = models.CharField(_("status"), max_length=16, choices=State.choices, default=State.QUEUED)
    errcode = models.CharField(_("errcode"), max_length=32, blank=True)
    errmsg = models.CharField(_("errmsg"), max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # Folded into a digest message (a burst to one robot): the digest row that carried it.
    digest = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="folded", verbose_name=_("sent in digest")
    )
    is_digest = models.BooleanField(_("digest"), default=False)
    dedupe_key = models.CharField(_("dedupe key"), max_length=120, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notification log")
        ordering = ["-id"]
        permissions = [("retry_notification", _("Can send a dead notification again"))]
        constraints = [
            # A customer notice at most once per order per kind.
            models.UniqueConstraint(
                fields=["order", "notice_kind"], condition=~Q(notice_kind=""), name="notification_notice_once"
            ),
        ]
        indexes = [
            models.Index(
                fields=["channel", "next_attempt_at"],
                condition=Q(state__in=["queued", "failed"]),
                name="notification_due_idx",
            ),
            models.Index(fields=["channel", "sent_at"], condition=Q(digest__isnull=True), name="notification_sent_idx"),
            # The SMS daily limits: what each number was sent today, counted once per batch.
            models.Index(
                fields=["channel", "recipient", "sent_at"],
                condition=Q(state="sent"),
                name="notification_sms_day_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.dedupe_key


class NotificationSweep(models.Model):
    """The planning sweep's high-water mark (one row): the last alert id it planned."""

    last_alert_id = models.BigIntegerField(_("last alert planned"), default=0)
    swept_at = models.DateTimeField(_("swept at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification sweep")
        verbose_name_plural = _("notification sweep")

    def __str__(self) -> str:
        return f"#{self.last_alert_id}"


def pause_token_choices() -> list[tuple[str, str]]:
    """What may pause a node's clock, in words for the node admin: any status (on hold = any hold), a hold of
    one kind only, or a presale waiting for its balance."""
    choices = [(s.value, _("On hold (any kind)") if s == Status.ON_HOLD else s.label) for s in Status]
    choices += [
        (PAUSE_HOLD_PREFIX + kind.value, _("On hold only as: %(kind)s") % {"kind": kind.label})
        for kind in Order.HoldKind
        if kind.value
    ]
    choices.append((PAUSE_PRESALE_BALANCE, _("Presale: deposit paid, balance not yet")))
    return choices


def pause_tokens_problem(status: str, tokens) -> str:
    """Why a node's pause tokens cannot be saved ("" when they can): an unknown token, the node pausing itself,
    or the presale pause on a node other than 'placed' (a presale waits for its balance there)."""
    if not isinstance(tokens, list):
        return str(_("The pausing states must be a list."))
    known = {value for value, _label in pause_token_choices()}
    for token in tokens:
        if token not in known:
            return str(_("Unknown pausing state '%(token)s'.") % {"token": token})
        if token == status or (status == Status.ON_HOLD and str(token).startswith(PAUSE_HOLD_PREFIX)):
            return str(_("A node cannot pause itself ('%(token)s').") % {"token": token})
        if token == PAUSE_PRESALE_BALANCE and status != Status.PLACED:
            return str(
                _("'%(token)s' pauses only the node '%(placed)s': a presale waits for its balance there.")
                % {"token": token, "placed": Status.PLACED.label}
            )
    return ""


# --- Excel history import: legacy status codes, remembered templates, import jobs and their problems -------------
class LegacyStatusMapping(models.Model):
    """An old system's status code (A01, B02 …) and the hub state its imported orders get, with the old label."""

    code = models.CharField(_("legacy status code"), max_length=64, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    label = models.CharField(_("label"), max_length=100, blank=True, help_text=_("What the old system called it."))
    note = models.CharField(_("note"), max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("legacy status mapping")
        verbose_name_plural = _("legacy status mappings")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} → {self.get_status_display()}"


class ImportTemplate(models.Model):
    """A remembered column layout: a file whose normalized header list (header_key) matches gets this mapping."""

    name = models.CharField(_("name"), max_length=100)
    header_key = models.CharField(_("header key"), max_length=64, unique=True, editable=False)
    headers = models.JSONField(_("headers"), default=list)
    sheet_name = models.CharField(_("sheet"), max_length=100, blank=True)
    header_row = models.PositiveIntegerField(_("header row"), default=1)
    # {field key: column index (0-based)}
    mapping = models.JSONField(_("column mapping"), default=dict)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("import template")
        verbose_name_plural = _("import templates")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportJob(models.Model):
    """One uploaded legacy file and what became of it. The file's bytes are stored here before the upload
    answers; the dry run and the commit are jobs that read them back."""

    class FileKind(models.TextChoices):
        XLSX = "xlsx", _("Excel workbook (.xlsx)")
        XLS = "xls", _("Excel 97–2003 workbook (.xls)")
        CSV = "csv", _("CSV text")

    class State(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        CHECKING = "checking", _("Dry run running")
        CHECKED = "checked", _("Dry run done")
        COMMITTING = "committing", _("Importing")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Failed")

    file_name = models.CharField(_("file name"), max_length=255)
    file_kind = models.CharField(_("file kind"), max_length=8, choices=FileKind.choices)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    content = models.BinaryField(_("file content"))
    encoding = models.CharField(_("text encoding"), max_length=16, blank=True)
    sheets = models.JSONField(_("sheets"), default=list, blank=True)
    sheet_name = models.CharField(_("sheet"), max_length=100, blank=True)
    header_row = models.PositiveIntegerField(_("header row"), null=True, blank=True)  # Excel's row number
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)  # {field key: column index}
    template = models.ForeignKey(
        ImportTemplate, models.SET_NULL, null=True, blank=True, related_name="jobs", verbose_name=_("template")
    )
    channel = models.ForeignKey(Channel, models.PROTECT, related_name="import_jobs", verbose_name=_("channel"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.UPLOADED)
    # The dry run's counts: rows, orders, lines, will_create, already_in_hub, problems {code: n}, status_codes …
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows done"), default=0)
    orders_created = models.PositiveIntegerField(_("orders created"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    progress_at = models.DateTimeField(_("progress at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["content"])

    class Meta:
        verbose_name = _("order import")
        verbose_name_plural = _("order imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.file_name}"


class ImportProblem(models.Model):
    """One problem the dry run found, at its Excel row (a system log of the job: no history)."""

    job = models.ForeignKey(ImportJob, models.CASCADE, related_name="problems", verbose_name=_("import"))
    row_number = models.PositiveIntegerField(_("row"))  # as Excel numbers it (0: the file as a whole)
    column = models.CharField(_("column"), max_length=100, blank=True)
    code = models.CharField(_("problem"), max_length=32)
    message = models.CharField(_("reason"), max_length=500)
    value = models.CharField(_("value"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("import problem")
        verbose_name_plural = _("import problems")
        ordering = ["job", "row_number", "id"]
        indexes = [models.Index(fields=["job", "code"])]

    def __str__(self) -> str:
        return f"{self.row_number}: {self.message}"
