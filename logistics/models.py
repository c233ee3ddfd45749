"""Carriers with their adapters and keys, the one registry of tracking numbers (shipments), the carriers'
raw events, and the mapping from carrier states to order transitions (data, edited in the admin)."""

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class LabelPaper(models.TextChoices):
    """Thermal label sizes in use, width x height in mm."""

    P76X130 = "76x130", _("76 × 130 mm (one part)")
    P100X150 = "100x150", _("100 × 150 mm")
    P100X180 = "100x180", _("100 × 180 mm (two / three parts)")


# Typed in, never shown back, never in history.
CARRIER_SECRET_FIELDS = (
    "api_key",
    "callback_secret",
    "waybill_secret",
    "waybill_partner_key",
    "waybill_partner_secret",
)


class Carrier(models.Model):
    class Adapter(models.TextChoices):
        KUAIDI100 = "kuaidi100", _("Kuaidi100 (poll + push)")
        GENERIC = "generic", _("Generic signed JSON callback")
        MANUAL = "manual", _("Manual (no tracking feed)")

    code = models.CharField(_("carrier code"), max_length=32, unique=True, help_text=_("e.g. shunfeng, zhongtong"))
    name = models.CharField(_("name"), max_length=100)
    adapter = models.CharField(_("adapter"), max_length=16, choices=Adapter.choices, default=Adapter.MANUAL)
    provider_code = models.CharField(
        _("provider's carrier code"), max_length=32, blank=True, help_text=_("Kuaidi100 'com', e.g. shunfeng")
    )
    api_base_url = models.URLField(_("API base URL"), blank=True, help_text=_("e.g. https://poll.kuaidi100.com"))
    api_customer = models.CharField(_("API customer id"), max_length=64, blank=True)
    api_key = models.CharField(_("API key"), max_length=128, blank=True)
    callback_secret = models.CharField(
        _("callback secret"), max_length=128, blank=True, help_text=_("Salt / HMAC key that signs pushes to us.")
    )
    stall_hours = models.PositiveIntegerField(
        _("stalled after (hours without events)"), default=36, validators=[MinValueValidator(1)]
    )
    transit_days = models.PositiveSmallIntegerField(
        _("usual days from pickup to delivery"),
        default=3,
        help_text=_("Shown to customers as the expected delivery date."),
    )
    poll_minutes = models.PositiveIntegerField(
        _("poll every (minutes)"), default=120, validators=[MinValueValidator(5)]
    )
    # The seller's electronic waybill (电子面单) account: which of these a carrier needs is carrier-specific.
    waybill_api_url = models.URLField(
        _("waybill API URL"), blank=True, help_text=_("e.g. https://api.kuaidi100.com/label/order")
    )
    waybill_secret = models.CharField(
        _("waybill signing secret"),
        max_length=128,
        blank=True,
        help_text=_("Kuaidi100 secret; the key is the API key."),
    )
    waybill_partner_id = models.CharField(_("waybill account id (partnerId)"), max_length=64, blank=True)
    waybill_partner_key = models.CharField(_("waybill account key (partnerKey)"), max_length=128, blank=True)
    waybill_partner_secret = models.CharField(_("waybill account secret (partnerSecret)"), max_length=128, blank=True)
    waybill_partner_name = models.CharField(_("waybill account name (partnerName)"), max_length=64, blank=True)
    waybill_net = models.CharField(_("waybill network (net, 网点)"), max_length=64, blank=True)
    waybill_code = models.CharField(_("waybill code (code)"), max_length=64, blank=True)
    waybill_template_id = models.CharField(_("label template (tempId)"), max_length=64, blank=True)
    waybill_pay_type = models.CharField(
        _("pay type (payType)"), max_length=16, blank=True, default="SHIPPER", help_text=_("e.g. SHIPPER")
    )
    waybill_express_type = models.CharField(
        _("express type (expType)"), max_length=32, blank=True, default="标准快递", help_text=_("e.g. 标准快递")
    )
    label_paper = models.CharField(
        _("label paper"), max_length=8, choices=LabelPaper.choices, default=LabelPaper.P76X130
    )
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(excluded_fields=list(CARRIER_SECRET_FIELDS))

    class Meta:
        verbose_name = _("carrier")
        verbose_name_plural = _("carriers")
        ordering = ["code"]
        constraints = [
            # Backstop: an unsigned push would otherwise be accepted from anyone.
            models.CheckConstraint(
                condition=models.Q(adapter="manual") | ~models.Q(callback_secret=""),
                name="carrier_push_adapter_has_secret",
                violation_error_message=_("A carrier with a push adapter needs a callback secret."),
            )
        ]

    def __str__(self) -> str:
        return self.name


class CarrierStateMapping(models.Model):
    """What a carrier state means for the order. A row without a carrier applies to every carrier."""

    class Effect(models.TextChoices):
        NONE = "", _("Record only")
        PICK_UP = "pick_up", _("Collected → picked up")
        TRANSIT = "transit", _("Moving → in transit")
        DELIVER = "deliver", _("Signed → delivered")
        EXCEPTION = "flag_exception", _("Problem → exception")

    carrier = models.ForeignKey(
        Carrier, models.CASCADE, null=True, blank=True, related_name="state_mappings", verbose_name=_("carrier")
    )
    carrier_state = models.CharField(_("carrier state"), max_length=32, help_text=_("e.g. Kuaidi100 state 1, 3, 14"))
    label = models.CharField(_("meaning"), max_length=50)
    effect = models.CharField(_("order effect"), max_length=16, choices=Effect.choices, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("carrier state mapping")
        verbose_name_plural = _("carrier state mappings")
        ordering = ["carrier__code", "carrier_state"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "carrier_state"], name="state_mapping_one_per_carrier"),
            models.UniqueConstraint(
                fields=["carrier_state"], condition=models.Q(carrier__isnull=True), name="state_mapping_one_default"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier_state} {self.label}"


class Shipment(models.Model):
    """One parcel: a tracking number registered once against its order, channel and carrier — the one record of
    an order's tracking numbers (the order has no number of its own). Its carrier events are the audit trail of
    its tracking fields. A number from a waybill request carries its waybill fields; a typed or channel-given
    number leaves them blank. A retired parcel (re-routed, cancelled, replaced) stays, marked not active."""

    class WaybillState(models.TextChoices):
        NONE = "", _("Not a waybill")
        ORDERED = "ordered", _("Waybill ordered")
        PRINTED = "printed", _("Waybill printed")
        CANCEL_PENDING = "cancel_pending", _("Waybill to cancel")
        CANCELLED = "cancelled", _("Waybill cancelled")
        CANCEL_FAILED = "cancel_failed", _("Waybill cancel failed")

    class Source(models.TextChoices):
        WAREHOUSE = "warehouse", _("Warehouse")
        CHANNEL = "channel", _("Sales channel")
        MANUAL = "manual", _("Manual entry")
        IMPORT = "import", _("Import")
        API = "api", _("API")

    order = models.ForeignKey("orders.Order", models.PROTECT, related_name="shipments", verbose_name=_("order"))
    channel = models.ForeignKey("orders.Channel", models.PROTECT, related_name="+", verbose_name=_("channel"))
    carrier = models.ForeignKey(Carrier, models.PROTECT, related_name="shipments", verbose_name=_("carrier"))
    tracking_number = models.CharField(_("tracking number"), max_length=32)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.WAREHOUSE)
    carrier_state = models.CharField(_("carrier state"), max_length=32, blank=True)
    carrier_state_label = models.CharField(_("carrier status"), max_length=50, blank=True)
    is_finished = models.BooleanField(_("tracking finished"), default=False)
    last_event_at = models.DateTimeField(_("last carrier event"), null=True, blank=True)
    stalled_since = models.DateTimeField(_("stalled since"), null=True, blank=True)
    next_poll_at = models.DateTimeField(_("next poll"), null=True, blank=True)
    poll_failures = models.PositiveIntegerField(_("poll failures in a row"), default=0)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    subscribed_at = models.DateTimeField(_("push subscribed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("registered at"), auto_now_add=True)
    # The registry's own facts: which parcel of the order this is, and whether it still counts.
    parcel_index = models.PositiveSmallIntegerField(
        _("parcel index"), default=1, validators=[MinValueValidator(1)], help_text=_("1 = the order's primary parcel")
    )
    is_active = models.BooleanField(_("active"), default=True, help_text=_("Off once re-routed, cancelled or replaced"))
    # Waybill (电子面单): blank for numbers that did not come from a waybill request.
    waybill_key = models.CharField(
        _("waybill request key"), max_length=40, blank=True, help_text=_("Our idempotency key: order no.-parcel index")
    )
    waybill_state = models.CharField(
        _("waybill state"), max_length=16, choices=WaybillState.choices, blank=True, default=WaybillState.NONE
    )
    routing_text = models.CharField(_("routing text (大头笔)"), max_length=100, blank=True)
    sorting_code = models.CharField(_("sorting code"), max_length=64, blank=True)
    label_url = models.URLField(_("label link"), max_length=500, blank=True)
    waybill_raw = models.JSONField(_("carrier's waybill answer"), default=dict, blank=True)
    ordered_at = models.DateTimeField(_("waybill ordered at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("retired at"), null=True, blank=True)

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["-created_at"]
        permissions = [("retry_waybill_cancel", _("Can retry a failed waybill cancel"))]
        constraints = [
            # A waybill reserved before the carrier answered has no number yet (blank): it collides with nothing.
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"],
                condition=~models.Q(tracking_number=""),
                name="shipment_one_per_carrier_number",
            ),
            # One waybill request per order parcel, however often it is retried.
            models.UniqueConstraint(
                fields=["waybill_key"], condition=~models.Q(waybill_key=""), name="shipment_one_per_waybill_key"
            ),
        ]
        indexes = [
            models.Index(fields=["tracking_number"]),
            models.Index(fields=["order", "is_active", "parcel_index"], name="shipment_order_active_parcel"),
            models.Index(fields=["is_finished", "next_poll_at"]),
            models.Index(fields=["is_finished", "last_event_at"]),
            # The cancel sweep's question, on a few rows of a large registry.
            models.Index(
                fields=["cancelled_at"],
                condition=models.Q(waybill_state="cancel_pending"),
                name="shipment_cancel_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier_id}:{self.tracking_number}"

    @property
    def is_stalled(self) -> bool:
        return self.stalled_since is not None


class TrackingEvent(models.Model):
    """One carrier event as received (raw kept). Stored once however often it is delivered."""

    shipment = models.ForeignKey(Shipment, models.CASCADE, related_name="events", verbose_name=_("shipment"))
    occurred_at = models.DateTimeField(_("time"))
    carrier_state = models.CharField(_("carrier state"), max_length=32, blank=True)
    description = models.CharField(_("description"), max_length=500)
    location = models.CharField(_("location"), max_length=100, blank=True)
    raw = models.JSONField(_("raw event"), default=dict)
    fingerprint = models.CharField(_("fingerprint"), max_length=64, editable=False)
    received_via = models.CharField(_("received via"), max_length=16)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "fingerprint"], name="tracking_event_once_per_shipment")
        ]
        indexes = [models.Index(fields=["shipment", "-occurred_at"])]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.description[:40]}"


class WaybillNumberRange(models.Model):
    """A seller's pre-bought range of waybill numbers (号段) at one carrier, handed out in order, never twice.
    Only logistics.services takes numbers from it; the issued-number rows are the record of each one taken."""

    carrier = models.ForeignKey(Carrier, models.PROTECT, related_name="number_ranges", verbose_name=_("carrier"))
    prefix = models.CharField(_("prefix"), max_length=12, blank=True, help_text=_("e.g. SF; letters and digits"))
    first_number = models.PositiveBigIntegerField(_("first number"))
    next_number = models.PositiveBigIntegerField(_("next number"), help_text=_("The number handed out next."))
    last_number = models.PositiveBigIntegerField(_("last number"))
    width = models.PositiveSmallIntegerField(
        _("digits (zero-padded)"), default=0, help_text=_("0 means no padding, e.g. 12 makes 000000012345.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # The counter moves with every number taken: its record is WaybillNumberIssue, not a history row each.
    history = HistoricalRecords(excluded_fields=["next_number"])

    class Meta:
        verbose_name = _("waybill number range")
        verbose_name_plural = _("waybill number ranges")
        ordering = ["carrier__code", "pk"]
        constraints = [
            # next_number == last_number + 1 means used up; never past it, so no number is made twice.
            models.CheckConstraint(
                condition=models.Q(next_number__lte=models.F("last_number") + 1)
                & models.Q(next_number__gte=models.F("first_number")),
                name="waybill_range_next_within",
                violation_error_message=_("The next number must lie between the first and the last number."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.number(self.first_number)}–{self.number(self.last_number)}"

    def number(self, value: int) -> str:
        return f"{self.prefix}{str(value).zfill(self.width)}"

    @property
    def remaining(self) -> int:
        return max(self.last_number + 1 - self.next_number, 0)


class WaybillNumberIssue(models.Model):
    """One number taken from a range, for one idempotency key ("<order>-<parcel index>"): asking again with the
    same key gives the same number. A cancelled number is never handed out again; its key may get a new one."""

    number_range = models.ForeignKey(
        WaybillNumberRange, models.PROTECT, related_name="issues", verbose_name=_("waybill number range")
    )
    carrier = models.ForeignKey(Carrier, models.PROTECT, related_name="+", verbose_name=_("carrier"))
    key = models.CharField(_("request key"), max_length=64)
    tracking_number = models.CharField(_("tracking number"), max_length=32)
    created_at = models.DateTimeField(_("taken at"), auto_now_add=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancel reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("waybill number taken")
        verbose_name_plural = _("waybill numbers taken")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "tracking_number"], name="waybill_issue_number_once"),
            models.UniqueConstraint(
                fields=["carrier", "key"], condition=models.Q(cancelled_at__isnull=True), name="waybill_issue_key_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} → {self.tracking_number}"


class TrackingLookupCount(models.Model):
    """How many customer lookups one door answered one way on one Asia/Shanghai day: a counter per
    (day, door, outcome), bumped by logistics.services.tracking_lookup_count in one upsert. No typed number or
    phone is kept. The reports app reads it (客户自助查单成功率)."""

    class Door(models.TextChoices):
        PAGE = "page", _("Tracking page form")
        LINK = "link", _("Tracking link (SMS)")
        API = "api", _("Order lookup API")

    class Outcome(models.TextChoices):
        FOUND = "found", _("Answered")
        NOT_FOUND = "not_found", _("Not found")
        INVALID = "invalid", _("Invalid input")
        RATE_LIMITED = "rate_limited", _("Rate limited")

    day = models.DateField(_("day"))
    door = models.CharField(_("door"), max_length=8, choices=Door.choices)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    n = models.PositiveBigIntegerField(_("lookups"), default=0)

    class Meta:
        verbose_name = _("tracking lookup count")
        verbose_name_plural = _("tracking lookup counts")
        ordering = ["-day", "door", "outcome"]
        constraints = [
            models.UniqueConstraint(fields=["day", "door", "outcome"], name="tracking_lookup_count_once"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.door} {self.outcome}: {self.n}"
