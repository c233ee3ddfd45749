"""The reports app's own rows: figures per day, pre-aggregated by reports.services.daily from the other apps' rows."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from orders.models import Channel, Customer, Status


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


class ConsistencyReport(models.Model):
    """跨系统订单一致性日报 of one Asia/Shanghai day: the figures as built (JSON, so the page, the email and the
    xlsx show the same numbers however the rows change later) and what became of its email.
    One row per day: building a day again replaces its figures (the earlier ones stay in the history table).
    Written only by reports.services.consistency."""

    class Mail(models.TextChoices):
        PENDING = "pending", _("To be sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Sending failed (retried by the next run)")
        NO_RECIPIENTS = "no_recipients", _("Not sent: no recipients configured")

    day = models.DateField(_("day"), unique=True)
    generated_at = models.DateTimeField(_("generated at"))
    builds = models.PositiveIntegerField(_("times built"), default=1)
    built_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("built by"),
        help_text=_("Empty: the daily job."),
    )
    # {"channels": [{channel, code, deliveries, received, created, duplicates, rejected, timeouts, net}],
    #  "totals": {…}, "erp": [{order, channel, endpoint, since, waited_minutes, messages, dead, attempts, error}],
    #  "erp_total": n}
    figures = models.JSONField(_("figures"), default=dict)
    mail_state = models.CharField(_("email"), max_length=16, choices=Mail.choices, default=Mail.PENDING)
    recipients = models.TextField(_("sent to"), blank=True)
    mail_attempts = models.PositiveSmallIntegerField(_("sending attempts"), default=0)
    mail_error = models.CharField(_("last sending error"), max_length=500, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("daily consistency report")
        verbose_name_plural = _("daily consistency reports")
        ordering = ["-day"]
        default_permissions = ("view",)
        permissions = [("build_consistencyreport", "Can build a daily consistency report now")]
        indexes = [
            models.Index(fields=["mail_state"], condition=models.Q(mail_state="failed"), name="consistency_mail_retry")
        ]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d}"


def _health_row_constraints(name: str, *fields: str) -> list[models.UniqueConstraint]:
    """One row per (day, channel, warehouse, …), the orders without a warehouse in a row of their own (NULLs are
    distinct in a plain unique constraint)."""
    keys = ["day", "channel", *fields]
    return [
        models.UniqueConstraint(
            fields=[*keys, "warehouse"], condition=models.Q(warehouse__isnull=False), name=f"{name}_unique"
        ),
        models.UniqueConstraint(fields=keys, condition=models.Q(warehouse__isnull=True), name=f"{name}_unique_nowh"),
    ]


class DailyHealthFigures(models.Model):
    """The sellers' health figures of one Asia/Shanghai day for the orders of one channel and one warehouse (the
    order's warehouse now; none: not routed yet): numerators and denominators only, never a ratio, so any range,
    channel or warehouse sums. Written only by reports.services.health.health_figures_refresh; what each pair
    counts is said in reports.selectors.health.DEFINITIONS."""

    day = models.DateField(_("day"))
    channel = models.ForeignKey(Channel, models.CASCADE, related_name="+", verbose_name=_("channel"))
    warehouse = models.ForeignKey(
        "warehouse.Warehouse", models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("warehouse")
    )
    steps_checked = models.PositiveIntegerField(_("steps entered (printed, picked up, in transit)"), default=0)
    steps_consistent = models.PositiveIntegerField(_("steps with their physical evidence"), default=0)
    paid = models.PositiveIntegerField(_("orders paid"), default=0)
    picked_up_on_time = models.PositiveIntegerField(_("picked up on time"), default=0)
    changes = models.PositiveIntegerField(_("order changes"), default=0)
    changes_traced = models.PositiveIntegerField(_("changes with history row and actor"), default=0)
    orders_moved = models.PositiveIntegerField(_("orders that left a step"), default=0)
    orders_breakpoint = models.PositiveIntegerField(_("orders with a breakpoint"), default=0)
    orders_created = models.PositiveIntegerField(_("orders created"), default=0)
    interventions = models.PositiveIntegerField(_("manual interventions"), default=0)
    parcels_in_transit = models.PositiveIntegerField(_("parcels in carrier hands"), default=0)
    parcels_stalled = models.PositiveIntegerField(_("parcels stalled"), default=0)
    refreshed_at = models.DateTimeField(_("refreshed at"))

    class Meta:
        verbose_name = _("daily health figures")
        verbose_name_plural = _("daily health figures")
        ordering = ["day", "channel", "warehouse"]
        constraints = _health_row_constraints("daily_health_figures")

    def __str__(self) -> str:
        return f"{self.day} {self.channel_id} {self.warehouse_id}"


class DailyExceptionCauses(models.Model):
    """How many holds and exceptions of one cause one Asia/Shanghai day brought, per channel and warehouse.
    cause: "hold:<hold kind>" ("hold:" for another hold), "exception:carrier" or "exception:manual".
    Written only by reports.services.health.health_figures_refresh."""

    day = models.DateField(_("day"))
    channel = models.ForeignKey(Channel, models.CASCADE, related_name="+", verbose_name=_("channel"))
    warehouse = models.ForeignKey(
        "warehouse.Warehouse", models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("warehouse")
    )
    cause = models.CharField(_("cause"), max_length=32)
    count = models.PositiveIntegerField(_("count"), default=0)
    refreshed_at = models.DateTimeField(_("refreshed at"))

    class Meta:
        verbose_name = _("daily exception causes")
        verbose_name_plural = _("daily exception causes")
        ordering = ["day", "channel", "warehouse", "cause"]
        constraints = _health_row_constraints("daily_exception_causes", "cause")

    def __str__(self) -> str:
        return f"{self.day} {self.channel_id} {self.warehouse_id} {self.cause}"


class YearlyReport(models.Model):
    """One customer's yearly fulfilment report (我的年度履约报告): the figures of the year and the PDF made of them,
    kept so it can be downloaded again. Written only by reports.services.yearly."""

    customer = models.ForeignKey(Customer, models.CASCADE, related_name="+", verbose_name=_("customer"))
    year = models.PositiveSmallIntegerField(_("year"))
    orders = models.PositiveIntegerField(_("orders"), default=0)
    gmv = models.DecimalField(_("GMV"), max_digits=16, decimal_places=2, default=0)
    figures = models.JSONField(_("figures"), default=dict)
    pdf = models.BinaryField(_("PDF"))
    generated_at = models.DateTimeField(_("generated at"))
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("generated by"),
        help_text=_("Empty: generated by the yearly job."),
    )

    class Meta:
        verbose_name = _("yearly fulfilment report")
        verbose_name_plural = _("yearly fulfilment reports")
        ordering = ["-year", "-orders", "customer"]
        # view: download it (客服 sends it to the customer); generate: make or remake it (运营主管, 管理员).
        default_permissions = ("view",)
        permissions = [("generate_yearlyreport", "Can generate yearly fulfilment reports")]
        constraints = [models.UniqueConstraint(fields=["customer", "year"], name="yearly_report_unique")]

    def __str__(self) -> str:
        return f"{self.year} {self.customer_id}"


class ChangeImpact(models.Model):
    """No table and no permission of its own: carries the admin URLs of 变更影响 (what a rule or a status-node change
    would touch). Who may preview is who may change the rule or the node."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("change impact")
        verbose_name_plural = _("change impact")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class ConfigHealthReport(models.Model):
    """配置健康度报告: what in the configuration is unused, switched off, overlapping or pointing at nobody, as
    found at one moment. Built on the 1st of each month by a job (and on demand); every build is kept.
    Written only by reports.services.confhealth."""

    month = models.DateField(_("month"), help_text=_("The first day of the month the report is for."))
    generated_at = models.DateTimeField(_("generated at"))
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("generated by"),
        help_text=_("Empty: built by the monthly job."),
    )
    findings_count = models.PositiveIntegerField(_("findings"), default=0)

    class Meta:
        verbose_name = _("configuration health report")
        verbose_name_plural = _("configuration health reports")
        ordering = ["-month", "-generated_at"]
        default_permissions = ("view",)
        permissions = [("build_confighealthreport", "Can build a configuration health report now")]
        indexes = [models.Index(fields=["month", "generated_at"])]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}"


class ConfigHealthFinding(models.Model):
    """One finding of a report: what it is, why it matters, where to fix it."""

    class Kind(models.TextChoices):
        RULE_NEVER_HIT = "rule_never_hit", _("Rules never hit in 30 days")
        RULE_RARELY_HIT = "rule_rarely_hit", _("Rules rarely hit in 30 days")
        RULE_DISABLED = "rule_disabled", _("Rules switched off")
        RULE_SHADOWED = "rule_shadowed", _("Rules shadowed by an earlier rule")
        RULE_OVERLAP = "rule_overlap", _("Rules with the same or overlapping condition")
        NODE_NO_OWNER = "node_no_owner", _("Status nodes without owner")
        NODE_NO_TIMEOUT = "node_no_timeout", _("Status nodes without timeout")
        ESCALATION_NOBODY = "escalation_nobody", _("Escalation levels that reach nobody")
        ESCALATION_RULE_NOBODY = "escalation_rule_nobody", _("Escalation rules that reach nobody")
        USER_DUTY_CONFLICT = "user_duty_conflict", _("Users whose groups give conflicting duties")
        USER_GROUPS_OVERLAP = "user_groups_overlap", _("Users in several role groups")
        CHANNEL_IDLE = "channel_idle", _("Channels with no orders in 90 days")
        TEMPLATE_UNSENT = "template_unsent", _("Message templates never sent in 90 days")
        NOTIFY_CHANNEL_UNUSED = "notify_channel_unused", _("Notification channels nobody routes to")

    class Severity(models.TextChoices):
        WARNING = "warning", _("Warning")
        INFO = "info", _("Info")

    report = models.ForeignKey(ConfigHealthReport, models.CASCADE, related_name="findings", verbose_name=_("report"))
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices)
    subject = models.CharField(_("subject"), max_length=200)
    what = models.CharField(_("what"), max_length=500)
    why = models.CharField(_("why it matters"), max_length=500)
    fix_url = models.CharField(_("where to fix it"), max_length=300)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("configuration health finding")
        verbose_name_plural = _("configuration health findings")
        ordering = ["report", "position"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}"


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
