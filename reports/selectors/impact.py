"""变更影响 — what a rule or a status-node change would touch, before it is saved. Reads only.

Rules: the engine is pure Python (rules.engine, no SQL form), so matching a condition over the orders in flight
reads their facts in batches with orders.selectors.orders_facts (three statements per batch of BATCH orders,
whatever the batch holds) and stops after OPEN_CAP orders, newest first: the page then says "前 20,000 单中".
Only the orders still before the moment the rule's kind acts are counted (a gift rule acts when the order is
paid: an order already paid gets nothing from it any more).

Status nodes: a node's timeout, clock, calendar and percent levels are read when an order enters the node, and
kept on the order (deadline_basis); orders already in the node keep the deadline they entered with, and a paused
stay resumes on the basis it entered with (orders/services/deadlines.py). Owner, the minutes-after-deadline
escalation levels, their recipients, what pauses the clock and the customer-facing label and message are read
live, so they touch the orders in the node now. Every count here is one aggregate statement."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import FINAL_STATES, Alert, EscalationLevel, MessageTemplate, Order, Status, StatusNode
from orders.selectors import orders_facts, warehouse_remaining_capacity
from rules import actions, engine
from rules.models import Rule
from rules.selectors import condition_predicate

OPEN_CAP = 20_000
BATCH = 1_000
LIST_LIMIT = 50

# Where each kind acts (orders/services/transitions.py, admission.py, sweeps.py): the statuses an order may still
# be in for the rule to change it.
BEFORE_PAID = (Status.PLACED,)
BEFORE_ALLOCATED = (Status.PLACED, Status.PAID, Status.ON_HOLD, Status.ALLOCATING)
BEFORE_PRINTED = (*BEFORE_ALLOCATED, Status.ALLOCATED)
KIND_STATUSES: dict[str, tuple[str, ...] | None] = {
    actions.GIFT: BEFORE_PAID,
    actions.TAG: BEFORE_PAID,
    actions.PRIORITY: BEFORE_PAID,
    actions.APPROVAL: BEFORE_PAID,
    actions.ROUTE: BEFORE_ALLOCATED,
    actions.MERGE: BEFORE_PRINTED,
    actions.ESCALATION: None,  # the overdue sweep reads every open order with a deadline
}
KIND_MOMENT = {
    actions.GIFT: _("赠品规则在付款时执行：只计尚未付款的在途订单。 Gift rules act on payment: only unpaid orders."),
    actions.TAG: _("标签规则在付款时执行：只计尚未付款的在途订单。 Tag rules act on payment: only unpaid orders."),
    actions.PRIORITY: _(
        "优先级规则在付款时执行：只计尚未付款的在途订单。 Priority rules act on payment: only unpaid orders."
    ),
    actions.APPROVAL: _(
        "审批规则在付款时执行：只计尚未付款的在途订单。 Approval rules act on payment: only unpaid orders."
    ),
    actions.ROUTE: _(
        "分仓规则在分配仓库时执行：只计尚未分仓的在途订单。 Routing rules act on allocation: only orders not yet "
        "allocated."
    ),
    actions.MERGE: _(
        "合并规则在打单时执行：只计尚未打单的在途订单。 Merge rules act when the label is printed: only orders "
        "not yet printed."
    ),
    actions.ESCALATION: _(
        "升级规则由超时巡检执行：计所有在途订单。 Escalation rules act in the overdue sweep: every open order."
    ),
}

# Facts a rule's action writes on the order (so rules reading them depend on it), and the node its action sends
# the order to.
ACTION_WRITES = {actions.TAG: ("order_tags",)}
ACTION_NODE = {actions.APPROVAL: Status.ON_HOLD}
# The alerts a rule raises, by kind (their message templates read it): every rule may raise a rule error.
KIND_ALERTS = {
    actions.APPROVAL: (Alert.Kind.APPROVAL_WAITING, Alert.Kind.RULE_ERROR),
    actions.ESCALATION: (Alert.Kind.NODE_OVERDUE, Alert.Kind.RULE_ERROR),
}

# The dashboard figures that depend on a setting (a fixed map).
F_BREAKPOINT = _("订单流断点率 Order-flow breakpoint rate")
F_DURATIONS = _("节点时长 p50/p90 Node durations")
F_PICKUP = _("【已揽收】时效达标率 Picked up on time")
F_INTERVENTION = _("人工干预频次 Manual interventions per 1,000 orders")
F_STATUS = _("当前状态分布 Status distribution now")
F_WORKBENCH = _("工作台“我的超时订单与告警” Workbench: my late orders and alerts")
F_TRACKING = _("客户自助查单页 Public tracking page")
RULE_FIGURES = {
    actions.GIFT: (),
    actions.TAG: (),
    actions.PRIORITY: (F_DURATIONS, F_PICKUP),
    actions.APPROVAL: (F_STATUS, F_INTERVENTION, F_BREAKPOINT, F_DURATIONS, F_PICKUP),
    actions.ROUTE: (F_DURATIONS, F_PICKUP),
    actions.MERGE: (F_DURATIONS, F_PICKUP),
    actions.ESCALATION: (F_WORKBENCH,),
}
NODE_FIGURES = {
    "timeout_minutes": (F_BREAKPOINT, F_DURATIONS, F_WORKBENCH),
    "clock": (F_BREAKPOINT, F_DURATIONS),
    "calendar": (F_BREAKPOINT, F_DURATIONS),
    "pause_states": (F_BREAKPOINT, F_DURATIONS),
    "owner": (F_WORKBENCH,),
    "escalations": (F_WORKBENCH,),
    "customer_label": (F_TRACKING,),
    "customer_message": (F_TRACKING,),
    "notify_customer": (),
}


@dataclass(frozen=True)
class OrderRef:
    pk: int
    number: str
    status: str
    status_label: str


def _ref(order: Order) -> OrderRef:
    return OrderRef(order.pk, order.number, order.status, str(Status(order.status).label))


@dataclass
class Matched:
    """Orders of one set: the exact count and the first LIST_LIMIT."""

    count: int = 0
    first: list[OrderRef] = field(default_factory=list)

    def add(self, order: Order) -> None:
        self.count += 1
        if len(self.first) < LIST_LIMIT:
            self.first.append(_ref(order))


@dataclass
class RuleRelation:
    rule: Rule
    relation: str  # "shadowed_by" (earlier stop-after-match), "shadows" (this one stops later ones), "overlaps"
    both: int  # orders in flight both match
    identical: bool  # the same condition: they always match together


@dataclass
class Reader:
    what: str  # "escalation_level", "rule", "template"
    label: str
    why: str
    obj: object


@dataclass
class RuleImpact:
    kind: str
    moment: str
    open_total: int  # open orders before the kind's moment (exact)
    scanned: int
    capped: bool
    matched_new: int
    matched_old: int
    newly: Matched
    no_longer: Matched
    missing_fact: int  # orders lacking a fact the new condition reads (the rule would fail and hold them)
    relations: list[RuleRelation]
    readers: list[Reader]
    figures: tuple
    is_new: bool

    @property
    def scanned_text(self) -> str:
        return f"{self.scanned:,}"

    @property
    def open_total_text(self) -> str:
        return f"{self.open_total:,}"


def open_orders() -> QuerySet[Order]:
    return Order.objects.filter(is_legacy=False).exclude(status__in=sorted(FINAL_STATES))


def _facts_named(condition) -> set[str]:
    if not isinstance(condition, dict) or len(condition) != 1:
        return set()
    items = next(iter(condition.values()))
    names = set()
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and ("all" in item or "any" in item):
            names |= _facts_named(item)
        elif isinstance(item, dict) and "fact" in item:
            names.add(item["fact"])
    return names


def _safe_predicate(condition) -> Callable[[dict], bool] | None:
    try:
        return condition_predicate(condition)
    except engine.ConditionError:
        return None


def _same_condition(a, b) -> bool:
    try:
        return engine.validate(a) == engine.validate(b)
    except engine.ConditionError:
        return False


def _matches(predicate, facts: dict) -> bool | None:
    """True/False, or None when the order lacks a fact (or a value cannot be compared)."""
    try:
        return bool(predicate(facts))
    except (engine.MissingFact, TypeError):
        return None


def _capacity_facts(kind: str, now: datetime) -> Callable[[dict], dict] | None:
    if kind != actions.ROUTE:
        return None
    capacity = warehouse_remaining_capacity(now=now)

    def for_action(action: dict) -> dict:
        named = (action or {}).get("warehouse")
        return {"warehouse_remaining_capacity": capacity.get(named, 0) if named else max(capacity.values(), default=0)}

    return for_action


def rule_impact(*, old: Rule | None, new: Rule, now: datetime | None = None, cap: int = OPEN_CAP) -> RuleImpact:
    """What saving `new` (unsaved, already validated by the admin's form) instead of `old` (None for a new rule)
    would change on the orders in flight, and which other rules, alerts, templates and figures it touches."""
    now = now or timezone.now()
    kind = new.kind
    statuses = KIND_STATUSES.get(kind)
    orders = open_orders()
    if statuses is not None:
        orders = orders.filter(status__in=statuses)
    open_total = orders.count()
    new_pred = condition_predicate(new.condition)
    # The old rule changed orders only while it was on; the new one will only when switched on.
    old_pred = _safe_predicate(old.condition) if old is not None and old.enabled else None
    new_on = new.enabled
    others = list(Rule.objects.filter(kind=kind, enabled=True).exclude(pk=new.pk).order_by("position", "id"))
    other_preds = {r.pk: _safe_predicate(r.condition) for r in others}
    both = dict.fromkeys(other_preds, 0)
    here = (new.position, new.pk or 10**12)
    for_action = _capacity_facts(kind, now)

    newly, no_longer = Matched(), Matched()
    matched_new = matched_old = missing = scanned = 0
    last_pk = None
    qs = orders.select_related("channel", "customer").order_by("-pk")
    while scanned < cap:
        batch_qs = qs if last_pk is None else qs.filter(pk__lt=last_pk)
        batch = list(batch_qs[: min(BATCH, cap - scanned)])
        if not batch:
            break
        last_pk = batch[-1].pk
        scanned += len(batch)
        facts = orders_facts(orders=batch, now=now)
        for order in batch:
            base = facts[order.pk]
            f_new = {**base, **for_action(new.action)} if for_action else base
            m_new = _matches(new_pred, f_new)
            if m_new is None:
                missing += 1
            m_old = False
            if old_pred is not None:
                f_old = {**base, **for_action(old.action)} if for_action else base
                m_old = bool(_matches(old_pred, f_old))
            m_new = bool(m_new)
            matched_new += m_new
            matched_old += m_old
            if m_new and new_on and not m_old:
                newly.add(order)
            elif m_old and not (m_new and new_on):
                no_longer.add(order)
            if m_new:
                for other in others:
                    pred = other_preds[other.pk]
                    f_other = {**base, **for_action(other.action)} if for_action else base
                    if pred is not None and _matches(pred, f_other):
                        both[other.pk] += 1

    relations = []
    for other in others:
        identical = _same_condition(other.condition, new.condition)
        if not both[other.pk] and not identical:
            continue
        if (other.position, other.pk) < here and other.stop_after_match:
            relation = "shadowed_by"
        elif (other.position, other.pk) > here and new.stop_after_match:
            relation = "shadows"
        else:
            relation = "overlaps"
        relations.append(RuleRelation(other, relation, both[other.pk], identical))
    return RuleImpact(
        kind=kind,
        moment=str(KIND_MOMENT.get(kind, "")),
        open_total=open_total,
        scanned=scanned,
        capped=open_total > scanned,
        matched_new=matched_new,
        matched_old=matched_old,
        newly=newly,
        no_longer=no_longer,
        missing_fact=missing,
        relations=relations,
        readers=_rule_readers(new),
        figures=tuple(str(f) for f in RULE_FIGURES.get(kind, ())),
        is_new=old is None,
    )


def _rule_readers(rule: Rule) -> list[Reader]:
    readers = []
    writes = set(ACTION_WRITES.get(rule.kind, ()))
    reads = _facts_named(rule.condition)
    for other in Rule.objects.exclude(pk=rule.pk).order_by("kind", "position", "id"):
        named = _facts_named(other.condition)
        if named & writes:
            why = _("读取此规则写入的事实：%(facts)s Reads what this rule writes") % {
                "facts": "、".join(sorted(named & writes))
            }
        elif other.kind == actions.ESCALATION and named & reads:
            why = _("升级规则读取相同的事实：%(facts)s Escalation rule reading the same facts") % {
                "facts": "、".join(sorted(named & reads))
            }
        else:
            continue
        readers.append(Reader("rule", str(other), str(why), other))
    node = ACTION_NODE.get(rule.kind)
    if node:
        for level in EscalationLevel.objects.filter(node__status=node).select_related(
            "node", "notify_group", "notify_user", "notify_channel"
        ):
            readers.append(
                Reader("escalation_level", _level_label(level), str(_("此规则把订单送入该节点 Orders enter it")), level)
            )
    keys = [f"alert:{kind}" for kind in KIND_ALERTS.get(rule.kind, (Alert.Kind.RULE_ERROR,))]
    keys += [f"status:{node}"] if node else []
    for template in MessageTemplate.objects.filter(Q(key__in=keys) | Q(key="alert:*")).order_by("key"):
        readers.append(Reader("template", str(template), str(_("此规则引发的消息 Messages it causes")), template))
    return readers


def _level_label(level: EscalationLevel) -> str:
    whom = level.notify_user or level.notify_group or level.notify_channel
    when = (
        _("超时 %(n)s 分钟后") % {"n": level.after_minutes}
        if level.after_minutes is not None
        else _("时限用去 %(n)s%% 时") % {"n": level.after_percent}
    )
    return f"{level.node} L{level.level} · {when} → {whom or '—'}"


# --- status nodes -------------------------------------------------------------------------------------------------
NODE_FIELDS = (
    "owner_group_id",
    "owner_user_id",
    "timeout_minutes",
    "clock",
    "calendar_id",
    "pause_states",
    "customer_label",
    "customer_message",
    "notify_customer",
)
LEVEL_FIELDS = ("level", "after_minutes", "after_percent", "repeat_minutes", "notify_group", "notify_user")


@dataclass
class NodeChange:
    field: str
    label: str
    old: str
    new: str
    effect: str  # what it does to the orders in the node now, in words
    touched: int  # orders in flight it touches now (0 when it applies only to later entries)
    figures: tuple


@dataclass
class NodeImpact:
    status: str
    in_node: Matched
    with_deadline: int
    overdue: int
    paused_here: int
    old_basis: int  # orders in the node whose deadline was set with another timeout than the new one
    deadlines_moved: int  # always 0: the product's rule (see the module's docstring)
    changes: list[NodeChange]
    readers: list[Reader]
    figures: tuple


def _text(value) -> str:
    if value in (None, "", []):
        return "—"
    if isinstance(value, bool):
        return str(_("是 yes") if value else _("否 no"))
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value)
    return str(value)


def _level_key(values: dict) -> tuple:
    return tuple(getattr(values.get(f), "pk", values.get(f)) for f in (*LEVEL_FIELDS, "notify_channel"))


def node_impact(*, old: StatusNode, new: StatusNode, new_levels: list[dict], now: datetime | None = None) -> NodeImpact:
    """What saving `new` (the node's unsaved settings) and `new_levels` (its escalation ladder as submitted:
    one dict per kept level) instead of the saved `old` would touch."""
    now = now or timezone.now()
    status = old.status
    here = open_orders().filter(status=status)
    counts = here.aggregate(
        total=Count("pk"),
        with_deadline=Count("pk", filter=Q(state_deadline__isnull=False)),
        overdue=Count("pk", filter=Q(state_deadline__lte=now)),
        old_basis=Count(
            "pk",
            filter=Q(state_deadline__isnull=False) & ~Q(deadline_basis__minutes=new.timeout_minutes)
            if new.timeout_minutes
            else Q(state_deadline__isnull=False),
        ),
    )
    paused_here = open_orders().filter(deadline_basis__paused__node=status).count()
    in_node = Matched(count=counts["total"])
    in_node.first = [_ref(o) for o in here.order_by("state_deadline", "pk")[:LIST_LIMIT]]
    total, with_deadline = counts["total"], counts["with_deadline"]

    changes: list[NodeChange] = []

    def change(name: str, label, old_v, new_v, effect, touched: int, figures_key: str) -> None:
        changes.append(
            NodeChange(name, str(label), _text(old_v), _text(new_v), str(effect), touched, _figures(figures_key))
        )

    if old.timeout_minutes != new.timeout_minutes:
        change(
            "timeout_minutes",
            _("时限（分钟） Timeout (minutes)"),
            old.timeout_minutes,
            new.timeout_minutes,
            _(
                "已在此节点的订单保持进入时算出的截止时间，0 单的截止时间会移动；新时限只对保存后进入此节点的订单"
                "生效，暂停中的订单恢复时仍按原时限。 Orders already in the node keep the deadline they entered "
                "with: no deadline moves; the new timeout applies to orders entering after the save, and paused "
                "stays resume on their old basis."
            ),
            0,
            "timeout_minutes",
        )
    for name, label in (("clock", _("计时方式 Clock")), ("calendar_id", _("工作日历 Calendar"))):
        if getattr(old, name) != getattr(new, name):
            shown = (
                (old.get_clock_display(), new.get_clock_display())
                if name == "clock"
                else (old.calendar or "—", new.calendar or "—")
            )
            change(
                name,
                label,
                *shown,
                _("只对保存后进入此节点的订单生效。 Applies to orders entering the node after the save."),
                0,
                name.removesuffix("_id"),
            )
    if sorted(old.pause_states or []) != sorted(new.pause_states or []):
        change(
            "pause_states",
            _("暂停计时的状态 States that pause the clock"),
            old.pause_states,
            new.pause_states,
            _(
                "此节点中有截止时间的订单离开时按新设置判断是否暂停。 Orders in the node with a deadline pause by the "
                "new setting when they leave."
            ),
            with_deadline,
            "pause_states",
        )
    if (old.owner_group_id, old.owner_user_id) != (new.owner_group_id, new.owner_user_id):
        change(
            "owner",
            _("负责人 Owner"),
            old.owner_user or old.owner_group,
            new.owner_user or new.owner_group,
            _("此节点中的订单立即归新负责人。 The orders in the node belong to the new owner at once."),
            total,
            "owner",
        )
    for name, label in (
        ("customer_label", _("客户看到的状态 Customer-facing label")),
        ("customer_message", _("客户看到的说明 Customer-facing message")),
    ):
        if getattr(old, name) != getattr(new, name):
            change(
                name,
                label,
                getattr(old, name),
                getattr(new, name),
                _("查单页对此节点中的订单立即显示新文字。 The tracking page shows the new text for them at once."),
                total,
                name,
            )
    if old.notify_customer != new.notify_customer:
        change(
            "notify_customer",
            _("进入时通知客户 Notify customer on entry"),
            old.notify_customer,
            new.notify_customer,
            _("只对保存后进入此节点的订单生效。 Applies to orders entering the node after the save."),
            0,
            "notify_customer",
        )
    old_levels = list(
        EscalationLevel.objects.filter(node=old)
        .select_related("node", "notify_group", "notify_user", "notify_channel")
        .order_by("level", "id")
    )
    before = sorted(_level_key({f: getattr(lv, f) for f in (*LEVEL_FIELDS, "notify_channel")}) for lv in old_levels)
    after = sorted(_level_key(values) for values in new_levels)
    if before != after:
        minutes_before = sorted(k for k in before if k[1] is not None)
        minutes_after = sorted(k for k in after if k[1] is not None)
        touched = with_deadline if minutes_before != minutes_after else 0
        change(
            "escalations",
            _("升级阶梯 Escalation ladder"),
            ngettext_levels(len(before)),
            ngettext_levels(len(after)),
            _(
                "按“超时后 N 分钟”的级别由巡检按每单现有截止时间实时读取：此节点中有截止时间的订单按新阶梯升级"
                "（其中 %(late)d 单已超时）；按“时限百分比”的级别只对保存后进入的订单生效。 Minutes-after-deadline "
                "levels are read live by the sweep (%(late)d already late); percent levels apply to later entries."
            )
            % {"late": counts["overdue"]},
            touched,
            "escalations",
        )
    figures = tuple(dict.fromkeys(f for c in changes for f in c.figures))
    return NodeImpact(
        status=status,
        in_node=in_node,
        with_deadline=with_deadline,
        overdue=counts["overdue"],
        paused_here=paused_here,
        old_basis=counts["old_basis"] if old.timeout_minutes != new.timeout_minutes else 0,
        deadlines_moved=0,
        changes=changes,
        readers=_node_readers(old, old_levels, changed={c.field for c in changes}),
        figures=figures,
    )


def ngettext_levels(n: int) -> str:
    return str(_("%(n)d 级 levels") % {"n": n})


def _figures(key: str) -> tuple:
    return tuple(str(f) for f in NODE_FIGURES.get(key, ()))


def _node_readers(node: StatusNode, levels: list[EscalationLevel], *, changed: set[str]) -> list[Reader]:
    readers = [
        Reader("escalation_level", _level_label(level), str(_("此节点的升级阶梯 This node's ladder")), level)
        for level in levels
    ]
    if changed & {"timeout_minutes", "clock", "calendar_id", "pause_states", "escalations"}:
        for rule in Rule.objects.filter(kind=actions.ESCALATION).order_by("position", "id"):
            readers.append(
                Reader("rule", str(rule), str(_("升级规则按节点截止时间计时 Counts from the node's deadline")), rule)
            )
    keys = [f"status:{node.status}", f"alert:{Alert.Kind.NODE_OVERDUE}"]
    for template in MessageTemplate.objects.filter(key__in=keys).order_by("key"):
        why = (
            _("此节点的客户通知 The node's customer notice")
            if template.key.startswith("status:")
            else _("节点超时告警 Node overdue alerts")
        )
        readers.append(Reader("template", str(template), str(why), template))
    return readers
