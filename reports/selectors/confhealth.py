"""配置健康度报告: what in the configuration is unused, switched off, overlapping or pointing at nobody. Queries only
(a handful of set-based statements whatever the number of rules, nodes or users); the rule conditions are compared
by rules.overlap from their structure.

Definitions (also shown on the report page):
- hits in 30 days: the rules' day rows (rules.RuleDayHits) of the 30 local days up to and including `today`;
- shadowed: a later enabled rule of the same kind that can never fire because an earlier enabled stop-after-match
  rule's condition holds whenever the later one's does (and is valid whenever the later one is);
- overlap: two enabled rules of one kind whose conditions can both hold for one order (same condition: they hold
  for exactly the same orders), in validity windows that meet; "可能" where the structure does not decide it
  (see rules.overlap);
- conflicting duties: one person holds, through two different groups, both sides of a pair in DUTY_CONFLICTS
  (e.g. confirming payments and shipping); a group that grants both by itself is a designed role, not a finding.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import Exists, IntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.models import (
    FINAL_STATES,
    Channel,
    EscalationLevel,
    MessageTemplate,
    Notification,
    NotificationChannel,
    NotificationGroupRoute,
    NotificationSettings,
    Order,
    StatusNode,
)
from reports.models import ConfigHealthFinding
from rules import actions, engine, overlap
from rules.models import Rule, RuleDayHits

HIT_DAYS = 30
IDLE_DAYS = 90

# Pairs of permissions one person should not hold through two different groups, and why.
DUTY_CONFLICTS = [
    ("orders.pay_order", "orders.fulfil_order", "确认收款又能发货：一个人即可把未付款的订单标为已付并发出。"),
    ("orders.pay_order", "warehouse.adjust_stock", "确认收款又能调整库存：收款与货物出入无人互相核对。"),
]


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    subject: str
    what: str
    why: str
    fix_url: str


WARNING, INFO = "warning", "info"


def _rule_url(rule: Rule) -> str:
    return reverse("admin:rules_rule_change", args=[rule.pk])


def _windows_meet(a: Rule, b: Rule) -> bool:
    starts_before_b_ends = a.valid_from is None or b.valid_to is None or a.valid_from < b.valid_to
    b_starts_before_a_ends = b.valid_from is None or a.valid_to is None or b.valid_from < a.valid_to
    return starts_before_b_ends and b_starts_before_a_ends


def _window_contains(outer: Rule, inner: Rule) -> bool:
    starts = outer.valid_from is None or (inner.valid_from is not None and outer.valid_from <= inner.valid_from)
    ends = outer.valid_to is None or (inner.valid_to is not None and inner.valid_to <= outer.valid_to)
    return starts and ends


def rule_findings(*, today: date, rarely_below: int) -> list[Finding]:
    """Rules never or rarely hit in the 30 local days up to `today` (included), switched off, shadowed or
    overlapping."""
    start = today - timedelta(days=HIT_DAYS - 1)
    hits = (
        RuleDayHits.objects.filter(rule=OuterRef("pk"), day__gte=start, day__lte=today)
        .values("rule")
        .annotate(n=Sum("hits"))
        .values("n")
    )
    rules = list(
        Rule.objects.annotate(hits_30d=Coalesce(Subquery(hits, output_field=IntegerField()), 0)).order_by(
            "kind", "position", "id"
        )
    )
    findings: list[Finding] = []
    for rule in rules:
        if not rule.enabled:
            findings.append(
                Finding(
                    "rule_disabled",
                    INFO,
                    str(rule),
                    _("Switched off (taken over by hand); %(hits)s hits in total, last %(last)s.")
                    % {"hits": rule.hit_count, "last": _when(rule.last_hit_at)},
                    _("A rule left off is easily forgotten: switch it on again, or delete it if it is not needed."),
                    _rule_url(rule),
                )
            )
        elif rule.hits_30d == 0:
            findings.append(
                Finding(
                    "rule_never_hit",
                    WARNING,
                    str(rule),
                    _("Enabled, but no order matched it in the last %(days)s days (last hit: %(last)s).")
                    % {"days": HIT_DAYS, "last": _when(rule.last_hit_at)},
                    _("Its condition may be wrong or out of date (a promo code, SKU or level that no longer occurs)."),
                    _rule_url(rule),
                )
            )
        elif rule.hits_30d < rarely_below:
            findings.append(
                Finding(
                    "rule_rarely_hit",
                    INFO,
                    str(rule),
                    _("Only %(hits)s hits in the last %(days)s days (rarely hit: below %(below)s).")
                    % {"hits": rule.hits_30d, "days": HIT_DAYS, "below": rarely_below},
                    _("Check that the condition still says what was meant, or hand these few orders to a person."),
                    _rule_url(rule),
                )
            )
    findings += _rule_pairs([r for r in rules if r.enabled])
    return findings


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else _("never")


def _rule_pairs(enabled: list[Rule]) -> list[Finding]:
    shapes = {}
    for rule in enabled:
        try:
            shapes[rule.pk] = overlap.shape(rule.condition)
        except engine.ConditionError:
            continue  # a condition that no longer validates is reported as an error when it runs
    findings = []
    for i, earlier in enumerate(enabled):
        if earlier.pk not in shapes:
            continue
        for later in enabled[i + 1 :]:
            if later.kind != earlier.kind:
                break  # ordered by kind: no later rule of this kind
            if later.pk not in shapes or not _windows_meet(earlier, later):
                continue
            a, b = shapes[earlier.pk], shapes[later.pk]
            finding = _shadow(earlier, later, a, b) if earlier.stop_after_match else None
            findings.append(finding or _overlap(earlier, later, a, b))
    return [f for f in findings if f is not None]


def _shadow(earlier: Rule, later: Rule, a: overlap.Shape, b: overlap.Shape) -> Finding | None:
    covered = overlap.covers(a, b)
    if covered == overlap.NO:
        return None
    certain = covered == overlap.YES and _window_contains(earlier, later)
    what = (
        _(
            "Can never fire: the earlier rule %(earlier)s (position %(position)s, stop after match) matches "
            "every order this one matches."
        )
        if certain
        else _(
            "Possibly never fires: the earlier rule %(earlier)s (position %(position)s, stop after match) may match "
            "every order this one matches (not decidable from the conditions, or only within its validity)."
        )
    ) % {"earlier": earlier.name, "position": earlier.position}
    return Finding(
        "rule_shadowed",
        WARNING,
        f"{later} ← {earlier.name}",
        what,
        _(
            "Later rules of the same kind are skipped once a stop-after-match rule matches: its action is dead "
            "configuration. Move it before the earlier rule, narrow the earlier rule, or delete it."
        ),
        _rule_url(later),
    )


def _overlap(earlier: Rule, later: Rule, a: overlap.Shape, b: overlap.Shape) -> Finding | None:
    same = overlap.same(a, b)
    met = overlap.overlaps(a, b)
    if met == overlap.NO:
        return None
    if same == overlap.YES:
        what = _("Same condition as %(earlier)s (position %(position)s): both match exactly the same orders.")
    elif met == overlap.YES:
        what = _("Condition overlaps %(earlier)s (position %(position)s): some orders match both.")
    else:
        what = _("Condition possibly overlaps %(earlier)s (position %(position)s): not decidable from the conditions.")
    if earlier.stop_after_match:
        why = _("The earlier rule stops after matching: where both match, this rule's action is silently skipped.")
    else:
        why = _("Where both match, both actions apply to one order (e.g. two gifts, two tags): check it is meant.")
    return Finding(
        "rule_overlap",
        INFO,
        f"{later} ∩ {earlier.name}",
        what % {"earlier": earlier.name, "position": earlier.position},
        why,
        _rule_url(later),
    )


# --- status nodes and escalations ---------------------------------------------------------------------------


def _live_groups() -> set[int]:
    """Groups an alert reaches somebody through: an active member, or a group route to a channel that is on."""
    with_members = Group.objects.filter(user__is_active=True).values_list("pk", flat=True)
    routed = NotificationGroupRoute.objects.filter(channel__is_active=True).values_list("group_id", flat=True)
    return set(with_members) | set(routed)


def node_findings() -> list[Finding]:
    """Status nodes (not the final ones) without owner or timeout; escalation levels that reach nobody."""
    findings = []
    nodes = StatusNode.objects.exclude(status__in=FINAL_STATES).select_related("owner_group", "owner_user")
    for node in nodes:
        url = reverse("admin:orders_statusnode_change", args=[node.pk])
        user_ok = node.owner_user is not None and node.owner_user.is_active
        if node.owner_group is None and not user_ok:
            what = (
                _("No owner group; the owner user %(user)s is inactive.") % {"user": node.owner_user.get_username()}
                if node.owner_user
                else _("Neither an owner group nor an owner user.")
            )
            findings.append(
                Finding(
                    "node_no_owner",
                    WARNING,
                    str(node),
                    what,
                    _("Its overdue and stalled alerts fall back to the alert route: nobody answers for this step."),
                    url,
                )
            )
        if node.timeout_minutes is None:
            findings.append(
                Finding(
                    "node_no_timeout",
                    WARNING,
                    str(node),
                    _("No timeout: orders may wait in this step for ever without an alert."),
                    _("Breakpoints and escalations count from the timeout: without one this step is never overdue."),
                    url,
                )
            )
    live = _live_groups()
    levels = EscalationLevel.objects.select_related("node", "notify_group", "notify_user", "notify_channel")
    for level in levels.order_by("node_id", "level"):
        reasons, reached = _recipients(
            group=(level.notify_group.name if level.notify_group else None, level.notify_group_id in live),
            user=(
                level.notify_user.get_username() if level.notify_user else None,
                bool(level.notify_user and level.notify_user.is_active),
            ),
            channel=(
                level.notify_channel.name if level.notify_channel else None,
                bool(level.notify_channel and level.notify_channel.is_active),
            ),
        )
        if not reached:
            findings.append(
                Finding(
                    "escalation_nobody",
                    WARNING,
                    f"{level.node} · {level}",
                    "；".join(reasons),
                    _("The level fires when the order is late but nobody is told: the escalation is silent."),
                    reverse("admin:orders_statusnode_change", args=[level.node_id]),
                )
            )
    return findings


def _recipients(*, group, user, channel) -> tuple[list[str], bool]:
    """Why each named recipient reaches nobody, and whether any reaches somebody."""
    reasons, reached = [], False
    for (name, ok), missing, dead in (
        (group, _("no group"), _("group %(name)s has no active member and no channel route")),
        (user, _("no user"), _("user %(name)s is inactive or gone")),
        (channel, _("no channel"), _("channel %(name)s is switched off or gone")),
    ):
        if name is None:
            reasons.append(missing)
        elif ok:
            reached = True
        else:
            reasons.append(dead % {"name": name})
    return reasons, reached


def escalation_rule_findings() -> list[Finding]:
    """Enabled escalation rules whose action names only groups, users or channels that reach nobody."""
    rules = list(Rule.objects.filter(kind=actions.ESCALATION, enabled=True).order_by("position", "id"))
    if not rules:
        return []
    live_groups = set(Group.objects.filter(pk__in=_live_groups()).values_list("name", flat=True))
    active_users = set(get_user_model().objects.filter(is_active=True).values_list("username", flat=True))
    channels_on = set(NotificationChannel.objects.filter(is_active=True).values_list("name", flat=True))
    findings = []
    for rule in rules:
        params = rule.action if isinstance(rule.action, dict) else {}
        group, user, channel = (params.get(key) or None for key in ("group", "user", "channel"))
        reasons, reached = _recipients(
            group=(group, group in live_groups),
            user=(user, user in active_users),
            channel=(channel, channel in channels_on),
        )
        if not reached:
            findings.append(
                Finding(
                    "escalation_rule_nobody",
                    WARNING,
                    str(rule),
                    "；".join(reasons),
                    _("The rule fires when an order is late but nobody is told: the escalation is silent."),
                    _rule_url(rule),
                )
            )
    return findings


# --- people ---------------------------------------------------------------------------------------------------


def user_findings() -> list[Finding]:
    """Active staff (not superusers) in two or more groups: conflicting duties (DUTY_CONFLICTS) or just overlap."""
    User = get_user_model()
    memberships = (
        User.groups.through.objects.filter(user__is_active=True, user__is_superuser=False)
        .values_list("user_id", "group_id")
        .order_by("user_id", "group_id")
    )
    by_user: dict[int, list[int]] = {}
    for user_id, group_id in memberships:
        by_user.setdefault(user_id, []).append(group_id)
    several = {u: gs for u, gs in by_user.items() if len(gs) > 1}
    if not several:
        return []
    group_ids = {g for gs in several.values() for g in gs}
    names = dict(Group.objects.filter(pk__in=group_ids).values_list("pk", "name"))
    wanted = {perm for a, b, _why in DUTY_CONFLICTS for perm in (a, b)}
    grants: dict[int, set[str]] = {}
    perms = Permission.objects.filter(group__in=group_ids).values_list("group", "content_type__app_label", "codename")
    for group_id, app_label, codename in perms:
        if f"{app_label}.{codename}" in wanted:
            grants.setdefault(group_id, set()).add(f"{app_label}.{codename}")
    users = {u.pk: u for u in User.objects.filter(pk__in=several)}
    findings = []
    for user_id, groups in sorted(several.items()):
        user = users[user_id]
        group_names = "、".join(names[g] for g in groups)
        conflicts = []
        for a, b, why in DUTY_CONFLICTS:
            alone = any({a, b} <= grants.get(g, set()) for g in groups)
            has_a = [g for g in groups if a in grants.get(g, set())]
            has_b = [g for g in groups if b in grants.get(g, set())]
            if has_a and has_b and not alone:
                conflicts.append((a, b, why, has_a, has_b))
        url = reverse("admin:auth_user_change", args=[user_id])
        if conflicts:
            a, b, why, has_a, has_b = conflicts[0]
            findings.append(
                Finding(
                    "user_duty_conflict",
                    WARNING,
                    user.get_username(),
                    _("In groups %(groups)s: %(a)s comes from %(ga)s, %(b)s from %(gb)s.")
                    % {
                        "groups": group_names,
                        "a": a,
                        "ga": "、".join(names[g] for g in has_a),
                        "b": b,
                        "gb": "、".join(names[g] for g in has_b),
                    },
                    " ".join(why for _a, _b, why, _x, _y in conflicts),
                    url,
                )
            )
        else:
            findings.append(
                Finding(
                    "user_groups_overlap",
                    INFO,
                    user.get_username(),
                    _("In %(n)s groups: %(groups)s.") % {"n": len(groups), "groups": group_names},
                    _("Work and alerts of every one of these groups land on this person; check it is still meant."),
                    url,
                )
            )
    return findings


# --- settings nobody uses -------------------------------------------------------------------------------------


def unused_findings(*, now: datetime) -> list[Finding]:
    """Channels with no order placed in 90 days, message templates none of whose messages was sent in 90 days,
    notification channels (switched on) that no escalation, group route, person, escalation rule or customer
    notice goes by. (SKU aliases are left out: intake does not record which alias matched.)"""
    since = now - timedelta(days=IDLE_DAYS)
    findings = []
    recent = Order.objects.filter(channel=OuterRef("pk"), ordered_at__gte=since)
    for channel in Channel.objects.filter(is_active=True).annotate(busy=Exists(recent)).filter(busy=False):
        findings.append(
            Finding(
                "channel_idle",
                INFO,
                str(channel.name),
                _("Switched on, but no order placed in it in the last %(days)s days.") % {"days": IDLE_DAYS},
                _("A channel nobody sells in still pulls, accepts webhooks and shows in every list: switch it off."),
                reverse("admin:orders_channel_change", args=[channel.pk]),
            )
        )
    sent = Notification.objects.filter(state=Notification.State.SENT, sent_at__gte=since)
    keys = MessageTemplate.objects.values("key")
    fallback_used = sent.filter(template_key__startswith="alert:").exclude(template_key__in=keys)
    templates = (
        MessageTemplate.objects.filter(~Exists(sent.filter(template_key=OuterRef("key"))))
        .exclude(Q(key="alert:*"), Exists(fallback_used))
        .order_by("key")
    )
    for template in templates:
        findings.append(
            Finding(
                "template_unsent",
                INFO,
                str(template),
                _("No message of kind %(key)s was sent in the last %(days)s days.")
                % {"key": template.key, "days": IDLE_DAYS},
                _("Either the event never happens or its notice is switched off: the text may be stale."),
                reverse("admin:orders_messagetemplate_change", args=[template.pk]),
            )
        )
    escalation_channels = set(
        Rule.objects.filter(kind=actions.ESCALATION, enabled=True).values_list("action__channel", flat=True)
    )
    first_sms = (
        NotificationChannel.objects.filter(kind=NotificationChannel.Kind.SMS, is_active=True)
        .order_by("pk")
        .values("pk")[:1]
    )
    notifies_customers = StatusNode.objects.filter(notify_customer=True).exists()
    unrouted = (
        NotificationChannel.objects.filter(is_active=True)
        .annotate(
            by_level=Exists(EscalationLevel.objects.filter(notify_channel=OuterRef("pk"))),
            by_route=Exists(NotificationGroupRoute.objects.filter(channel=OuterRef("pk"))),
            by_person=Exists(NotificationSettings.objects.filter(is_active=True, channels=OuterRef("pk"))),
        )
        .filter(by_level=False, by_route=False, by_person=False)
        .exclude(name__in=[c for c in escalation_channels if c])
    )
    if notifies_customers:
        unrouted = unrouted.exclude(pk__in=Subquery(first_sms))
    for channel in unrouted.order_by("pk"):
        findings.append(
            Finding(
                "notify_channel_unused",
                INFO,
                channel.name,
                _(
                    "Switched on, but no escalation level, group route, person's settings, escalation rule or customer "
                    "notice goes by it."
                ),
                _("Nothing is ever sent through it: a robot or gateway set up and forgotten (or a route missing)."),
                reverse("admin:orders_notificationchannel_change", args=[channel.pk]),
            )
        )
    return findings


def config_health_findings(*, now: datetime, today: date, rarely_below: int) -> list[Finding]:
    """Every finding, grouped by kind in a fixed order. `today`: the local day of `now`."""
    return [
        *rule_findings(today=today, rarely_below=rarely_below),
        *node_findings(),
        *escalation_rule_findings(),
        *user_findings(),
        *unused_findings(now=now),
    ]


def config_health_groups(*, report) -> list[dict]:
    """A stored report's findings grouped by kind, in the kinds' order, with counts (one query)."""
    kinds = ConfigHealthFinding.Kind
    grouped: dict[str, list] = {}
    for finding in report.findings.order_by("position"):
        grouped.setdefault(finding.kind, []).append(finding)
    return [
        {"kind": value, "label": label, "count": len(grouped[value]), "findings": grouped[value]}
        for value, label in kinds.choices
        if value in grouped
    ]
