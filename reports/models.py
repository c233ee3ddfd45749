"""The reports app's own rows: figures per day, pre-aggregated by reports.services.daily from the other apps' rows."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from orders.models import Channel, Status


class DailyChannelFigures(models.Model):
    """One channel's figures of one Asia/Shanghai day. Written only by reports.services.daily.daily_figures_refresh."""

    day = models.DateField(_("day"))
    channel = models.ForeignKey(Channel, models.CASCADE, related_name="+", verbose_name=_("channel"))
    # Orders the buyers placed that day (by ordered_at) and their paid amounts.
    orders = models.PositiveIntegerField(_("orders placed"), default=0)
    gmv = models.DecimalField(_("GMV"), max_digits=16, decimal_places=2, default=0)
    # What the hub did that day: orders it created (by created_at), of them held as suspected duplicates,
    # reported orders refused at intake (intake log and refused webhook deliveries), orders cancelled.
    created = models.PositiveIntegerField(_("orders created"), default=0)
    duplicates = models.PositiveIntegerField(_("suspected duplicates"), default=0)
    rejected = models.PositiveIntegerField(_("rejected at intake"), default=0)
    cancelled = models.PositiveIntegerField(_("orders cancelled"), default=0)
    refreshed_at = models.DateTimeField(_("refreshed at"))

    class Meta:
        verbose_name = _("daily channel figures")
        verbose_name_plural = _("daily channel figures")
        ordering = ["day", "channel"]
        constraints = [models.UniqueConstraint(fields=["day", "channel"], name="daily_channel_figures_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.channel_id}"


class DailyNodeFigures(models.Model):
    """One status node's figures of one Asia/Shanghai day: orders that entered it, and the stays that ended
    that day (time from entering the node to leaving it, clock minutes)."""

    day = models.DateField(_("day"))
    status = models.CharField(_("status node"), max_length=16, choices=Status.choices)
    entered = models.PositiveIntegerField(_("orders entered"), default=0)
    left = models.PositiveIntegerField(_("stays ended"), default=0)
    p50_minutes = models.DecimalField(_("p50 minutes"), max_digits=12, decimal_places=2, null=True, blank=True)
    p90_minutes = models.DecimalField(_("p90 minutes"), max_digits=12, decimal_places=2, null=True, blank=True)
    # Ended stays longer than the node's timeout. Empty: the node has no timeout counted in clock time (a working-time
    # node's deadline depends on each order's calendar: not measured here).
    over_timeout = models.PositiveIntegerField(_("stays over timeout"), null=True, blank=True)
    refreshed_at = models.DateTimeField(_("refreshed at"))

    class Meta:
        verbose_name = _("daily node figures")
        verbose_name_plural = _("daily node figures")
        ordering = ["day", "status"]
        constraints = [models.UniqueConstraint(fields=["day", "status"], name="daily_node_figures_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.status}"


class Dashboard(models.Model):
    """No table: carries the permission to open 报表 → 经营看板 and its entry on the admin index."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_dashboard", "Can view the business dashboard")]
        verbose_name = _("business dashboard")
        verbose_name_plural = _("business dashboard")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


def email_list(text: str) -> list[str]:
    """The addresses of a recipients field: one per line, or separated by commas, semicolons or spaces."""
    return [part for part in text.replace(",", " ").replace(";", " ").replace("，", " ").split() if part]


class ReportSettings(models.Model):
    """One row (运营主管 edits it): the thresholds the health figures count by, who gets the daily consistency
    report, how many customers get a yearly report.
    Saved only through reports.services.settings.report_settings_save."""

    pickup_within_hours = models.PositiveIntegerField(
        _("picked up on time within (hours after payment)"),
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(240)],
    )
    breakpoint_grace_minutes = models.PositiveIntegerField(
        _("a step is a breakpoint when over its node timeout by more than (minutes)"),
        default=15,
        validators=[MaxValueValidator(24 * 60)],
    )
    rarely_hit_below = models.PositiveIntegerField(
        _("a rule is rarely hit below (hits in 30 days)"), default=5, validators=[MinValueValidator(1)]
    )
    consistency_recipients = models.TextField(
        _("daily consistency report recipients"),
        blank=True,
        help_text=_("Email addresses, one per line or separated by commas."),
    )
    yearly_report_customers = models.PositiveIntegerField(
        _("yearly fulfilment reports for the top customers"),
        default=100,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("report settings")
        verbose_name_plural = _("report settings")

    def __str__(self) -> str:
        return str(_("Report settings"))

    def clean(self) -> None:
        bad = []
        for address in email_list(self.consistency_recipients or ""):
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            raise ValidationError(
                {"consistency_recipients": _("Not an email address: %(addresses)s") % {"addresses": "、".join(bad)}}
            )


class HourlyOrderFigures(models.Model):
    """Orders placed in one Asia/Shanghai hour of one channel and one warehouse (empty: not allocated yet), and their
    paid amounts. The dashboard sums these rows into days (orders and GMV by channel by day, by warehouse) and reads
    today's hours as they are. Written only by reports.services.daily (daily_figures_refresh, hour_figures_refresh)."""

    day = models.DateField(_("day"))
    hour = models.PositiveSmallIntegerField(_("hour"), validators=[MaxValueValidator(23)])
    channel = models.ForeignKey(Channel, models.CASCADE, related_name="+", verbose_name=_("channel"))
    warehouse = models.ForeignKey(
        "warehouse.Warehouse", models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("warehouse")
    )
    orders = models.PositiveIntegerField(_("orders placed"), default=0)
    gmv = models.DecimalField(_("GMV"), max_digits=16, decimal_places=2, default=0)
    refreshed_at = models.DateTimeField(_("refreshed at"))

    class Meta:
        verbose_name = _("hourly order figures")
        verbose_name_plural = _("hourly order figures")
        ordering = ["day", "hour", "channel", "warehouse"]
        # One row per key, the not-allocated one included (two partial constraints: SQLite has no NULLS NOT DISTINCT).
        constraints = [
            models.UniqueConstraint(
                fields=["day", "hour", "channel", "warehouse"],
                condition=models.Q(warehouse__isnull=False),
                name="hourly_order_figures_unique",
            ),
            models.UniqueConstraint(
                fields=["day", "hour", "channel"],
                condition=models.Q(warehouse__isnull=True),
                name="hourly_order_figures_unallocated_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.hour:02d}h {self.channel_id}/{self.warehouse_id or '-'}"


class StatusSnapshot(models.Model):
    """How many orders of one channel and one warehouse (empty: not allocated) are in one status, as counted at
    `taken_at`: the dashboard's "status distribution now". Rewritten every minute by
    reports.services.daily.status_snapshot_refresh (one GROUP BY over orders), so the page reads a few rows."""

    channel = models.ForeignKey(Channel, models.CASCADE, related_name="+", verbose_name=_("channel"))
    warehouse = models.ForeignKey(
        "warehouse.Warehouse", models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("warehouse")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    orders = models.PositiveIntegerField(_("orders"), default=0)
    taken_at = models.DateTimeField(_("counted at"))

    class Meta:
        verbose_name = _("status snapshot")
        verbose_name_plural = _("status snapshots")
        ordering = ["status", "channel", "warehouse"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "warehouse", "status"],
                condition=models.Q(warehouse__isnull=False),
                name="status_snapshot_unique",
            ),
            models.UniqueConstraint(
                fields=["channel", "status"],
                condition=models.Q(warehouse__isnull=True),
                name="status_snapshot_unallocated_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.channel_id}/{self.warehouse_id or '-'}: {self.orders}"
