"""SKUs, warehouses and stock: levels per SKU per warehouse, the movement ledger behind them, order locks,
reserved quotas, and the allocation queue's settings with its circuit breaker."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


def alias_normalize(text: str) -> str:
    """How SKU codes and aliases are compared: no spaces, ASCII upper-case ("mb-c200 " == "MB-C200")."""
    return "".join(str(text).split()).upper()


class Sku(models.Model):
    """A sellable item."""

    code = models.CharField(_("SKU code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    spec = models.CharField(_("specification"), max_length=200, blank=True)
    unit = models.CharField(_("unit"), max_length=20, default="件")
    category = models.CharField(_("category"), max_length=64, blank=True, db_index=True)
    default_supplier = models.CharField(_("default supplier"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class SkuAlias(models.Model):
    """Another name a channel or an old system uses for a SKU; intake resolves it to the SKU."""

    sku = models.ForeignKey(Sku, models.CASCADE, related_name="aliases", verbose_name=_("SKU"))
    alias = models.CharField(_("alias"), max_length=100)
    normalized = models.CharField(_("normalized alias"), max_length=100, unique=True, editable=False)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("SKU alias")
        verbose_name_plural = _("SKU aliases")
        ordering = ["alias"]

    def __str__(self) -> str:
        return self.alias

    def save(self, *args, **kwargs):
        self.normalized = alias_normalize(self.alias)
        super().save(*args, **kwargs)


class Warehouse(models.Model):
    code = models.CharField(_("warehouse code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    province = models.CharField(_("province"), max_length=32, blank=True)
    city = models.CharField(_("city"), max_length=32, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    daily_capacity = models.PositiveIntegerField(
        _("daily capacity (orders)"), default=0, help_text=_("0 means no limit.")
    )
    # The sender printed on this warehouse's waybills and sent to the carrier with each waybill order.
    sender_name = models.CharField(_("sender name"), max_length=50, blank=True)
    sender_phone = models.CharField(
        _("sender phone"),
        max_length=20,
        blank=True,
        validators=[
            RegexValidator(
                r"^\+?[0-9][0-9 -]{4,18}$", _("A phone number is digits, e.g. 13800138000 or 021-6123 4567.")
            )
        ],
    )
    sender_address = models.CharField(
        _("sender address (printed)"), max_length=255, blank=True, help_text=_("Full address as printed on labels.")
    )
    sender_company = models.CharField(_("sender company"), max_length=100, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class StockLevel(models.Model):
    """Stock of one SKU in one warehouse. Only warehouse.services writes it, always with a movement row,
    so the movement ledger is its audit trail (and can rebuild it: `manage.py stock_check`)."""

    sku = models.ForeignKey(Sku, models.PROTECT, related_name="stock_levels", verbose_name=_("SKU"))
    warehouse = models.ForeignKey(Warehouse, models.PROTECT, related_name="stock_levels", verbose_name=_("warehouse"))
    on_hand = models.IntegerField(_("on hand"), default=0)
    locked = models.IntegerField(_("locked"), default=0, help_text=_("Locked by orders not yet shipped."))
    reserved = models.IntegerField(_("reserved"), default=0, help_text=_("Held back for promo / VIP quotas."))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        ordering = ["sku__code", "warehouse__code"]
        constraints = [
            models.UniqueConstraint(fields=["sku", "warehouse"], name="stock_level_one_per_sku_warehouse"),
            # The backstop against overselling: whatever the code does, available never goes below zero.
            models.CheckConstraint(
                condition=Q(on_hand__gte=0)
                & Q(locked__gte=0)
                & Q(reserved__gte=0)
                & Q(on_hand__gte=F("locked") + F("reserved")),
                name="stock_level_available_not_negative",
            ),
        ]
        permissions = [("adjust_stock", _("Can adjust stock (inbound, count correction, damage)"))]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.warehouse_id}"

    @property
    def available(self) -> int:
        return self.on_hand - self.locked - self.reserved


class StockReservation(models.Model):
    """A quota held back for a promotion or for member levels; only matching orders may use it."""

    class Kind(models.TextChoices):
        PROMO = "promo", _("Promotion quota")
        MEMBER = "member", _("Member quota")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    sku = models.ForeignKey(Sku, models.PROTECT, related_name="+", verbose_name=_("SKU"))
    warehouse = models.ForeignKey(Warehouse, models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    promo_code = models.CharField(_("promo code"), max_length=64, blank=True)
    member_levels = models.JSONField(_("member levels"), default=list, blank=True)
    quantity = models.PositiveIntegerField(_("quantity left"), editable=False, default=0)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True, help_text=_("Empty: until switched off."))
    is_active = models.BooleanField(_("active"), default=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("reserved quota")
        verbose_name_plural = _("reserved quotas")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["sku", "warehouse", "is_active"])]

    def __str__(self) -> str:
        return self.name

    def serves(self, *, promo_code: str, member_level: str) -> bool:
        if self.kind == self.Kind.PROMO:
            return bool(self.promo_code) and promo_code == self.promo_code
        return member_level in (self.member_levels or [])


class StockLock(models.Model):
    """Units of one SKU held for one order, from allocation until pickup (deducted), cancel or expiry."""

    class State(models.TextChoices):
        ACTIVE = "active", _("Locked")
        RELEASED = "released", _("Released")
        EXPIRED = "expired", _("Expired")
        DEDUCTED = "deducted", _("Shipped (deducted)")
        RESTOCKED = "restocked", _("Returned (restocked)")

    order = models.ForeignKey("orders.Order", models.PROTECT, related_name="stock_locks", verbose_name=_("order"))
    sku = models.ForeignKey(Sku, models.PROTECT, related_name="+", verbose_name=_("SKU"))
    warehouse = models.ForeignKey(Warehouse, models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    quantity = models.PositiveIntegerField(_("quantity"))
    reservation = models.ForeignKey(
        StockReservation, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("from quota")
    )
    from_reserved = models.PositiveIntegerField(_("of which from quota"), default=0)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(_("locked at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("stock lock")
        verbose_name_plural = _("stock locks")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "expires_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="stock_lock_quantity_positive"),
            models.CheckConstraint(condition=Q(from_reserved__lte=F("quantity")), name="stock_lock_reserved_le_qty"),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id} × {self.quantity}"


class StockMovement(models.Model):
    """One change of a stock level: the ledger. Append-only; the sum of deltas rebuilds every level."""

    class Kind(models.TextChoices):
        INBOUND = "inbound", _("Inbound")
        COUNT = "count", _("Count correction")
        DAMAGE = "damage", _("Damaged / written off")
        LOCK = "lock", _("Locked for order")
        RELEASE = "release", _("Lock released")
        EXPIRE = "expire", _("Lock expired")
        DEDUCT = "deduct", _("Shipped (deducted)")
        RESTOCK = "restock", _("Returned (restocked)")
        RESERVE = "reserve", _("Quota reserved")
        UNRESERVE = "unreserve", _("Quota released")

    sku = models.ForeignKey(Sku, models.PROTECT, related_name="+", verbose_name=_("SKU"))
    warehouse = models.ForeignKey(Warehouse, models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    on_hand_delta = models.IntegerField(_("on hand ±"), default=0)
    locked_delta = models.IntegerField(_("locked ±"), default=0)
    reserved_delta = models.IntegerField(_("reserved ±"), default=0)
    on_hand_after = models.IntegerField(_("on hand after"))
    locked_after = models.IntegerField(_("locked after"))
    reserved_after = models.IntegerField(_("reserved after"))
    order = models.ForeignKey(
        "orders.Order", models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("order")
    )
    reservation = models.ForeignKey(
        StockReservation, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("quota")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("by")
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["sku", "warehouse", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.sku_id}@{self.warehouse_id}"

    @property
    def available_after(self) -> int:
        return self.on_hand_after - self.locked_after - self.reserved_after


class AllocationSettings(models.Model):
    """One row: how paid orders enter warehouse allocation, lock expiry, and the queue's circuit breaker."""

    auto_allocate = models.BooleanField(
        _("allocate paid orders automatically"),
        default=True,
        help_text=_("Off: paid orders wait in 'Payment verified' until someone sends them to routing."),
    )
    allocate_on_payment = models.BooleanField(
        _("allocate in the payment's transaction"),
        default=False,
        help_text=_(
            "On: a paid order admitted while no other order waits in the queue is routed and its stock locked "
            "at once, in the same transaction as the payment (no worker round trip). Otherwise a worker allocates "
            "it in turn."
        ),
    )
    lock_expiry_hours = models.PositiveIntegerField(
        _("stock lock expiry (hours)"),
        default=72,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text=_("Locks of orders not yet printed are released after this long; the order is held."),
    )
    breaker_enabled = models.BooleanField(_("circuit breaker on"), default=True)
    breaker_max_backlog = models.PositiveIntegerField(
        _("trip when orders waiting reach"), default=200, validators=[MinValueValidator(1)]
    )
    breaker_max_wait_minutes = models.PositiveIntegerField(
        _("trip when average wait reaches (minutes)"), default=8, validators=[MinValueValidator(1)]
    )
    breaker_resume_percent = models.PositiveIntegerField(
        _("resume below (percent of thresholds)"),
        default=80,
        validators=[MinValueValidator(10), MaxValueValidator(100)],
        help_text=_("Intake resumes by itself once backlog and wait are both below this share of the thresholds."),
    )
    breaker_tripped = models.BooleanField(_("breaker tripped"), default=False, editable=False)
    breaker_changed_at = models.DateTimeField(_("breaker changed at"), null=True, blank=True, editable=False)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("allocation settings")
        verbose_name_plural = _("allocation settings")

    def __str__(self) -> str:
        return str(_("allocation settings"))


class BreakerEvent(models.Model):
    """Every trip and reset of the allocation breaker, with the figures that caused it."""

    class Kind(models.TextChoices):
        TRIPPED = "tripped", _("Tripped")
        RESET = "reset", _("Reset")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    backlog = models.PositiveIntegerField(_("orders waiting"))
    average_wait_minutes = models.DecimalField(_("average wait (minutes)"), max_digits=8, decimal_places=1)
    max_backlog = models.PositiveIntegerField(_("backlog threshold"))
    max_wait_minutes = models.PositiveIntegerField(_("wait threshold (minutes)"))
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("breaker event")
        verbose_name_plural = _("breaker events")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d %H:%M}"
