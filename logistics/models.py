"""Carriers with their adapters and keys, the one registry of tracking numbers (shipments), the carriers'
raw events, and the mapping from carrier states to order transitions (data, edited in the admin)."""

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


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
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(excluded_fields=["api_key", "callback_secret"])

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
    """One parcel: a tracking number registered once against its order, channel and carrier.
    Its carrier events are the audit trail of its tracking fields."""

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

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "tracking_number"], name="shipment_one_per_carrier_number")
        ]
        indexes = [
            models.Index(fields=["tracking_number"]),
            models.Index(fields=["is_finished", "next_poll_at"]),
            models.Index(fields=["is_finished", "last_event_at"]),
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
