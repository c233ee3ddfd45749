from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from rules import actions

# What a person defines (admin form, API, export/import); the rest is kept by the engine.
RULE_DEFINITION_FIELDS = [
    "kind",
    "name",
    "description",
    "condition",
    "action",
    "position",
    "stop_after_match",
    "valid_from",
    "valid_to",
    "enabled",
]


class Rule(models.Model):
    """A business rule staff edit as a row: when the condition holds, the action of its kind applies."""

    class Kind(models.TextChoices):
        GIFT = actions.GIFT, _("Gift")
        PRIORITY = actions.PRIORITY, _("Priority")
        APPROVAL = actions.APPROVAL, _("Approval")
        TAG = actions.TAG, _("Tag")
        ROUTE = actions.ROUTE, _("Warehouse routing")
        MERGE = actions.MERGE, _("Merge shipments")
        ESCALATION = actions.ESCALATION, _("Escalation")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True, help_text=_("In plain words, what and why."))
    condition = models.JSONField(
        _("condition"), help_text=_('e.g. {"all": [{"fact": "paid_amount", "op": "gte", "value": "299"}]}')
    )
    action = models.JSONField(_("action"), default=dict, blank=True)
    position = models.PositiveIntegerField(_("order of evaluation"), default=100, db_index=True)
    stop_after_match = models.BooleanField(
        _("stop after match"), default=False, help_text=_("Later rules of the same kind are skipped when this matches.")
    )
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_to = models.DateTimeField(_("valid to"), null=True, blank=True)
    enabled = models.BooleanField(
        _("enabled"), default=False, help_text=_("Switch off to take over by hand; new rules start off until tried.")
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    hit_count = models.PositiveIntegerField(_("hits"), default=0, editable=False)
    last_hit_at = models.DateTimeField(_("last hit"), null=True, blank=True, editable=False)
    last_error = models.CharField(_("last error"), max_length=500, blank=True, editable=False)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Hits and run-time errors are counters and notes written by the engine, not edits: no history rows.
    history = HistoricalRecords(excluded_fields=["hit_count", "last_hit_at", "last_error", "last_error_at"])

    class Meta:
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        ordering = ["kind", "position", "id"]
        indexes = [models.Index(fields=["kind", "enabled", "position"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="rule_valid_to_after_valid_from",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.name}"


class RuleDayHits(models.Model):
    """How often a rule matched on one Asia/Shanghai day (the hit count is cumulative; this is per day), so
    "hits in the last 30 days" is exact. Upserted by rules.services.rules_record, one statement per batch."""

    rule = models.ForeignKey(Rule, models.CASCADE, related_name="day_hits", verbose_name=_("rule"))
    day = models.DateField(_("day"))
    hits = models.PositiveIntegerField(_("hits"), default=0)

    class Meta:
        verbose_name = _("rule hits per day")
        verbose_name_plural = _("rule hits per day")
        ordering = ["rule", "day"]
        constraints = [models.UniqueConstraint(fields=["rule", "day"], name="rule_day_hits_unique")]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.day}: {self.hits}"
