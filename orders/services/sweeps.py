"""Periodic checks over orders. Each is idempotent: running it twice raises nothing twice.

The overdue sweep is set-based: per kind of alert (the node owner's at the deadline, ladder levels by minutes,
ladder levels by share of the allowed time, approvals waiting too long) one INSERT … SELECT finds the due
(order, stay, level, repeat) keys that have not fired and writes their alerts, history rows and timeline lines,
in batches by an (order id, level id) keyset, so the batches together make one pass over what is due. A key
fires once ever (constraint alert_sweep_key_once, ON CONFLICT DO NOTHING) and the select skips fired keys, so a
sweep killed after any batch (each commits) picks up where it stopped when run again. Ladder levels by minutes
are found through the partial index on open orders' deadlines. Levels by percentage have their moments computed
when the order enters the node, in the node's own clock (orders.services.deadlines: deadline_basis["marks"]), and
are found through the small OrderLadder table's next_at, which the same statement advances to the next mark or
repeat, so only the orders with a mark due now are read.
Escalation rules with conditions need the rule engine per order: the orders due for a rule are found in one
query per batch, the batch's facts in two (selectors.orders_facts), and the fired ones are inserted at once.
"""

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from orders import selectors
from orders.models import (
    FINAL_STATES,
    SWEEP_ALERT_KINDS,
    Alert,
    AlertRoute,
    EscalationLevel,
    NotificationChannel,
    Order,
    OrderEvent,
    OrderLadder,
    StaffProfile,
    Status,
    StatusNode,
)
from orders.services.alerts import alert_raise, alert_resolve
from rules import actions
from rules.models import Rule
from rules.selectors import rules_active, rules_evaluate
from rules.services import rules_record

DEFAULT_APPROVAL_MINUTES = 120  # an approval rule saved before it had a timeout

# One stay of an order in a node: a new entry into the node is a new stay, so a new ladder.
_STAY = "o.id::text || ':' || o.status || ':' || to_char(o.state_entered_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS')"


def _stay(order: Order) -> str:
    """_STAY of an order read in Python (the escalation rules and the sweep without PostgreSQL): the same text."""
    return f"{order.pk}:{order.status}:{order.state_entered_at.astimezone(UTC):%Y%m%d%H%M%S%f}"


# The open orders the sweep looks at (the partial index order_open_deadline_idx serves it).
_OPEN = "o.state_deadline IS NOT NULL AND NOT o.is_legacy AND NOT (o.status IN ({}))".format(
    ", ".join(f"'{s}'" for s in sorted(FINAL_STATES))  # literals, as the partial index's predicate has them
)
# Fired already: a sweep alert with that key exists (alert_sweep_key_once's index serves it).
# A scalar subquery with LIMIT, not NOT EXISTS: the planner keeps it a per-row probe of that index instead of
# an anti join whose plan depends on how fresh the alert table's statistics are.
_FIRED = (
    "(SELECT 1 FROM {alert} f"
    " WHERE f.dedupe_key = {key} AND f.kind = ANY(%(sweep_kinds)s) AND f.dedupe_key <> '' LIMIT 1) IS NOT NULL"
)
_LOCAL = "to_char({col} AT TIME ZONE %(tz)s, 'YYYY-MM-DD HH24:MI')"
_MESSAGE = (
    "replace(replace(replace(replace({tpl}, '{{number}}', o.number), '{{status}}', %(labels)s::jsonb ->> o.status),"
    " '{{deadline}}', " + _LOCAL.format(col="o.state_deadline") + "), '{{level}}', {level})"
)


@dataclass
class SweepResult:
    raised: int = 0
    batches: int = 0
    stopped: bool = False  # max_batches reached before everything due was written
    seconds: dict[str, float] = field(default_factory=dict)  # per kind of statement, for the bench


def _tables() -> dict[str, str]:
    return {
        "alert": Alert._meta.db_table,
        "hist": Alert.history.model._meta.db_table,
        "event": OrderEvent._meta.db_table,
        "order": Order._meta.db_table,
        "node": StatusNode._meta.db_table,
        "level": EscalationLevel._meta.db_table,
        "ladder": OrderLadder._meta.db_table,
    }


def _alert_columns() -> list[str]:
    return [f.column for f in Alert._meta.concrete_fields if not f.primary_key]


def _insert_sql(due_sql: str, *, before: str = "", after: str = "", summary: str = "") -> str:
    """One statement: the due rows (columns order_id, dedupe_key, message, severity, owner_group_id,
    owner_user_id, notify_channel_id, kind) become alerts, their history rows and their orders' timeline lines.
    `before` / `after`: more CTEs around those; `summary`: what the statement returns instead of (rows due,
    alerts written, last keyset position)."""
    t = _tables()
    given = {
        "kind": "d.kind",
        "severity": "d.severity",
        "order_id": "d.order_id",
        "message": "left(d.message, 500)",
        "owner_group_id": "d.owner_group_id",
        "owner_user_id": "d.owner_user_id",
        "notify_channel_id": "d.notify_channel_id",
        "dedupe_key": "left(d.dedupe_key, 100)",
        "created_at": "%(now)s",
        "resolution": "''",
    }
    cols = _alert_columns()
    # Columns other slices add (all nullable) start empty.
    values = [given.get(c, "NULL") for c in cols]
    hist_cols = ["id", *cols, "history_date", "history_change_reason", "history_type", "history_user_id"]
    hist_values = ["i.id", *(f"i.{c}" for c in cols), "%(now)s", "NULL", "'+'", "NULL"]
    return f"""
        WITH {before} d AS ({due_sql}),
        ins AS (
            INSERT INTO {t["alert"]} ({", ".join(cols)})
            SELECT {", ".join(values)} FROM d
            ON CONFLICT DO NOTHING
            RETURNING *
        ),
        hist AS (
            INSERT INTO {t["hist"]} ({", ".join(hist_cols)})
            SELECT {", ".join(hist_values)} FROM ins i
        ),
        ev AS (
            INSERT INTO {t["event"]}
                (order_id, created_at, kind, transition, from_status, to_status, actor_id, actor_label, source,
                 reason, data)
            SELECT i.order_id, %(now)s, 'alert', '', '', '', NULL, '', 'system', i.message,
                   jsonb_build_object('alert_id', i.id, 'alert_kind', i.kind, 'severity', i.severity,
                                      'resolved', false)
            FROM ins i
        ) {after}
        {summary or _SUMMARY}
    """  # noqa: S608 - names from the models, every value a bound parameter


_SUMMARY = """SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM ins),
               (SELECT ARRAY[k1, k2] FROM d ORDER BY k1 DESC, k2 DESC LIMIT 1)"""


def _run_batches(sql: str, params: dict, *, batch: int, result: SweepResult, max_batches: int | None) -> None:
    """Run one kind's statement batch after batch, each after the last one's (order id, level id), until fewer
    than `batch` rows were due: one pass over the due rows whatever the number of batches."""
    cursor_keys = [0, 0]
    while not result.stopped:
        if max_batches is not None and result.batches >= max_batches:
            result.stopped = True
            return
        with transaction.atomic(), connection.cursor() as cursor:  # each batch commits on its own
            # These statements are cheap but look costly to the planner: JIT would compile them for ~1 s.
            cursor.execute("SET LOCAL jit = off")
            # A batch lost in a crash right after its commit is simply due again at the next sweep (its keys never
            # fired), so the commit need not wait for the disk.
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(sql, {**params, "batch": batch, "k1": cursor_keys[0], "k2": cursor_keys[1]})
            selected, inserted, last = cursor.fetchone()
        result.batches += 1
        result.raised += inserted
        if selected < batch:
            return
        cursor_keys = last


def _common_params(now: datetime) -> dict:
    return {
        "now": now,
        "sweep_kinds": list(SWEEP_ALERT_KINDS),
        "tz": settings.TIME_ZONE,
        "labels": json.dumps({s.value: str(s.label) for s in Status}, ensure_ascii=False),
    }


def _templates() -> dict[str, str]:
    tokens = {"number": "{number}", "status": "{status}", "deadline": "{deadline}"}
    overdue = _("Order %(number)s is overdue in '%(status)s' (deadline %(deadline)s).") % tokens
    early = _("Order %(number)s has used %(percent)s%% of its time in '%(status)s' (deadline %(deadline)s).") % {
        **tokens,
        "percent": "{percent}",
    }
    level = _("Escalation L%(level)s: %(msg)s")
    return {
        "overdue": overdue,
        "level_minutes": level % {"level": "{level}", "msg": overdue},
        "level_percent": level % {"level": "{level}", "msg": early},
    }


def _overdue_sql() -> str:
    """The node owner's alert when the deadline passes: the node's owner, else the kind's route."""
    t = _tables()
    key = f"'overdue:' || {_STAY}"
    message = _MESSAGE.format(tpl="%(tpl_overdue)s", level="''")
    return f"""
        SELECT o.id AS order_id, {key} AS dedupe_key, {message} AS message,
               coalesce(r.severity, 'warning') AS severity,
               CASE WHEN n.owner_group_id IS NULL AND n.owner_user_id IS NULL THEN r.owner_group_id
                    ELSE n.owner_group_id END AS owner_group_id,
               CASE WHEN n.owner_group_id IS NULL AND n.owner_user_id IS NULL THEN r.owner_user_id
                    ELSE n.owner_user_id END AS owner_user_id,
               NULL::bigint AS notify_channel_id, 'node_overdue' AS kind, o.id AS k1, 0::bigint AS k2
        FROM {t["order"]} o
        LEFT JOIN {t["node"]} n ON n.status = o.status
        LEFT JOIN {AlertRoute._meta.db_table} r ON r.kind = 'node_overdue'
        WHERE {_OPEN} AND o.state_deadline <= %(now)s AND o.id > %(k1)s
          AND NOT {_FIRED.format(alert=t["alert"], key=key)}
        ORDER BY o.id
        LIMIT %(batch)s
    """  # noqa: S608 - names from the models, every value a bound parameter


_REPEAT = (
    "CASE WHEN l.repeat_minutes > 0 THEN floor(extract(epoch FROM (%(now)s - x.t0)) / 60 / l.repeat_minutes)"
    "::bigint ELSE 0 END"
)


def _level_key() -> str:
    return f"'escalate:' || {_STAY} || ':L' || l.id::text || ':R' || ({_REPEAT})::text"


def _level_sql() -> str:
    """Ladder levels by minutes after the deadline, found through the open orders' deadline index; a level that
    repeats fires its latest repeat (repeats missed while no sweep ran are not sent late)."""
    t = _tables()
    key = _level_key()
    message = _MESSAGE.format(tpl="%(tpl_level_minutes)s", level="l.level::text")
    return f"""
        SELECT o.id AS order_id, {key} AS dedupe_key, {message} AS message, 'critical' AS severity,
               l.notify_group_id AS owner_group_id, l.notify_user_id AS owner_user_id,
               l.notify_channel_id AS notify_channel_id, 'node_overdue' AS kind, o.id AS k1, l.id AS k2
        FROM {t["order"]} o
        JOIN {t["node"]} n ON n.status = o.status
        JOIN {t["level"]} l ON l.node_id = n.id AND l.after_minutes IS NOT NULL
        CROSS JOIN LATERAL (SELECT o.state_deadline + make_interval(mins => l.after_minutes) AS t0) x
        WHERE {_OPEN} AND o.state_deadline <= %(bound)s AND x.t0 <= %(now)s AND (o.id, l.id) > (%(k1)s, %(k2)s)
          AND NOT {_FIRED.format(alert=t["alert"], key=key)}
        ORDER BY o.id, l.id
        LIMIT %(batch)s
    """  # noqa: S608 - names from the models, every value a bound parameter


def _percent_sql() -> str:
    """Ladder levels at % of the allowed time: the orders whose ladder row (OrderLadder, its next_at index) has
    come due, each due mark of their stay (deadline_basis["marks"], counted in the node's own clock when it
    entered) at its latest repeat; in the same statement each ladder row moves on to the next unfired mark or
    repeat, and goes when none is left (or the order has moved on since: a new stay with marks writes its own
    row). Rows a transition holds locked are skipped and picked up by the next sweep. A key fires once ever:
    alert_sweep_key_once (ON CONFLICT DO NOTHING) guards against a mark seen twice."""
    t = _tables()
    key = _level_key()
    tpl = "replace(%(tpl_level_percent)s, '{percent}', m.mark ->> 'percent')"
    message = _MESSAGE.format(tpl=tpl, level="l.level::text")
    before = f"""
        p AS MATERIALIZED (
            SELECT lr.order_id, lr.stay_entered_at FROM {t["ladder"]} lr
            WHERE lr.next_at <= %(now)s AND lr.order_id > %(k1)s
            ORDER BY lr.order_id
            LIMIT %(batch)s
            FOR UPDATE SKIP LOCKED
        ),
        o AS MATERIALIZED (
            SELECT o.id, o.number, o.status, o.state_entered_at, o.state_deadline, o.deadline_basis -> 'marks' AS marks
            FROM p JOIN {t["order"]} o ON o.id = p.order_id AND o.state_entered_at = p.stay_entered_at
            WHERE {_OPEN}
        ),
        marks AS MATERIALIZED (
            SELECT o.id AS order_id, l.id AS level_id, x.t0, l.repeat_minutes, m.mark
            FROM o
            CROSS JOIN LATERAL jsonb_each(o.marks) m(level_key, mark)
            JOIN {t["level"]} l ON l.id = m.level_key::bigint AND l.after_percent IS NOT NULL
            CROSS JOIN LATERAL (SELECT (m.mark ->> 'at')::timestamptz AS t0) x
        ),
        next AS MATERIALIZED (
            SELECT p.order_id,
                   min(CASE WHEN x.t0 > %(now)s THEN x.t0
                            WHEN x.repeat_minutes > 0 THEN x.t0 + make_interval(mins => x.repeat_minutes
                                 * (floor(extract(epoch FROM (%(now)s - x.t0)) / 60 / x.repeat_minutes)::int + 1))
                       END) AS next_at
            FROM p LEFT JOIN marks x ON x.order_id = p.order_id
            GROUP BY p.order_id
        ),"""  # noqa: S608 - names from the models, every value a bound parameter
    due = f"""
        SELECT o.id AS order_id, {key} AS dedupe_key, {message} AS message, 'critical' AS severity,
               l.notify_group_id AS owner_group_id, l.notify_user_id AS owner_user_id,
               l.notify_channel_id AS notify_channel_id, 'node_overdue' AS kind, o.id AS k1, l.id AS k2
        FROM marks x
        JOIN o ON o.id = x.order_id
        JOIN {t["level"]} l ON l.id = x.level_id
        CROSS JOIN LATERAL (SELECT x.mark) m(mark)
        WHERE x.t0 <= %(now)s
    """  # noqa: S608 - names from the models, every value a bound parameter
    after = f""",
        advanced AS (
            UPDATE {t["ladder"]} lr SET next_at = n.next_at
            FROM next n WHERE lr.order_id = n.order_id AND n.next_at IS NOT NULL
        ),
        done AS (
            DELETE FROM {t["ladder"]} lr USING next n WHERE lr.order_id = n.order_id AND n.next_at IS NULL
        )"""  # noqa: S608 - names from the models, every value a bound parameter
    summary = "SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM ins), (SELECT ARRAY[max(order_id), 0] FROM p)"
    return _insert_sql(due, before=before, after=after, summary=summary)


def _approval_sql() -> str:
    """Approvals waiting past their time (审批滞留): the approval alert's owner, or the lead of its group, is the
    approver; the alert goes to the approver's superior, else to the lead of the on-hold node's owner group,
    else to the route of approval_overdue (运营主管 as seeded)."""
    t = _tables()
    profile = StaffProfile._meta.db_table
    key = "'approval-late:' || w.id::text"
    minutes = "coalesce(rt.minutes, hn.timeout_minutes, %(default_minutes)s)"
    message = "replace(replace(%(tpl_approval)s, '{number}', o.number), '{minutes}', (" + minutes + ")::text)"
    return f"""
        SELECT o.id AS order_id, {key} AS dedupe_key, {message} AS message,
               coalesce(r.severity, 'critical') AS severity,
               CASE WHEN coalesce(sup.superior_id, lead.user_id) IS NULL THEN r.owner_group_id END
                   AS owner_group_id,
               coalesce(sup.superior_id, lead.user_id, CASE WHEN r.owner_group_id IS NULL THEN r.owner_user_id END)
                   AS owner_user_id,
               NULL::bigint AS notify_channel_id, 'approval_overdue' AS kind, o.id AS k1, w.id AS k2
        FROM {t["alert"]} w
        JOIN {t["order"]} o ON o.id = w.order_id AND o.status = 'on_hold' AND o.state_entered_at <= w.created_at
        LEFT JOIN {t["node"]} hn ON hn.status = 'on_hold'
        LEFT JOIN unnest(%(rule_ids)s::bigint[], %(rule_minutes)s::int[]) AS rt(rule_id, minutes)
               ON split_part(w.dedupe_key, ':', 3) = rt.rule_id::text
        LEFT JOIN {AlertRoute._meta.db_table} r ON r.kind = 'approval_overdue'
        LEFT JOIN LATERAL (
            SELECT coalesce(w.owner_user_id,
                            (SELECT p.user_id FROM {profile} p WHERE p.leads_group_id = w.owner_group_id
                             ORDER BY p.user_id LIMIT 1)) AS approver_id
        ) a ON true
        LEFT JOIN {profile} sup ON sup.user_id = a.approver_id
        LEFT JOIN LATERAL (
            SELECT p.user_id FROM {profile} p WHERE p.leads_group_id = hn.owner_group_id
              AND p.user_id IS DISTINCT FROM a.approver_id
            ORDER BY p.user_id LIMIT 1
        ) lead ON true
        WHERE w.kind = 'approval_waiting' AND w.acknowledged_at IS NULL AND w.resolved_at IS NULL
          AND w.order_id IS NOT NULL AND (o.id, w.id) > (%(k1)s, %(k2)s)
          AND w.created_at + make_interval(mins => {minutes}) <= %(now)s
          AND NOT {_FIRED.format(alert=t["alert"], key=key)}
        ORDER BY o.id, w.id
        LIMIT %(batch)s
    """  # noqa: S608 - names from the models, every value a bound parameter


def _rule_rows_sql() -> str:
    return """
        SELECT r.order_id, r.dedupe_key, r.message, 'critical' AS severity, r.owner_group_id, r.owner_user_id,
               r.notify_channel_id, 'node_overdue' AS kind, r.order_id AS k1, 0::bigint AS k2
        FROM unnest(%(r_order)s::bigint[], %(r_key)s::text[], %(r_message)s::text[], %(r_group)s::int[],
                    %(r_user)s::int[], %(r_channel)s::bigint[])
             AS r(order_id, dedupe_key, message, owner_group_id, owner_user_id, notify_channel_id)
    """


def _rule_key(stay: str, rule: Rule, order: Order, now: datetime) -> str | None:
    """The key of the rule's rung due for this stay at `now`, or None before its minute. A rung that repeats
    has one key per interval and only the latest is due (repeats missed while no sweep ran are not sent late);
    a rung that does not has the key rules had before they could repeat, so fired rungs stay fired."""
    t0 = order.state_deadline + timedelta(minutes=rule.action["after_minutes"])
    if t0 > now:
        return None
    repeat = rule.action.get("repeat_minutes") or 0
    key = f"escalate:{stay}:rule{rule.pk}"
    return f"{key}:R{int((now - t0).total_seconds() // 60 // repeat)}" if repeat else key


def _rule_targets(rules: list[Rule]) -> dict[int, tuple[int | None, int | None, int | None]]:
    """(group id, user id, channel id) each rule notifies, read in three queries for all rules. A name deleted
    since the rule was saved notifies nobody through it (the others still do)."""
    wanted = {key: {r.action.get(key) for r in rules} - {None, ""} for key in ("group", "user", "channel")}
    groups = dict(Group.objects.filter(name__in=wanted["group"]).values_list("name", "id"))
    users = dict(
        get_user_model().objects.filter(username__in=wanted["user"], is_active=True).values_list("username", "id")
    )
    channels = dict(NotificationChannel.objects.filter(name__in=wanted["channel"]).values_list("name", "id"))
    return {
        r.pk: (
            groups.get(r.action.get("group")),
            users.get(r.action.get("user")),
            channels.get(r.action.get("channel")),
        )
        for r in rules
    }


def _escalation_rules_raise(*, now: datetime, batch: int, result: SweepResult, max_batches: int | None) -> None:
    """Escalation rules, each one rung of a ladder (rules with the same condition and other minutes make the
    ladder): per batch of orders past the soonest rung, one query for them, one for their fired keys, two for
    all their facts (selectors.orders_facts), one insert, and one hit count per rule: a fixed number of
    statements whatever the number of due orders. Each batch commits, so a killed sweep resumes."""
    escalation_rules = rules_active(kinds=(actions.ESCALATION,), at=now)
    if not escalation_rules:
        return
    targets = _rule_targets(escalation_rules)
    overdue_tpl = _templates()["overdue"]
    # Translated once per sweep, not per alert (a lazy label costs more than the rest of its alert).
    by_rule, by_rule_level = (
        _("Escalation by rule %(name)s: %(msg)s"),
        _("Escalation L%(level)s by rule %(name)s: %(msg)s"),
    )
    labels = {s.value: str(s.label) for s in Status}
    soonest = min(r.action["after_minutes"] for r in escalation_rules)
    after_pk = 0
    while not result.stopped:
        if max_batches is not None and result.batches >= max_batches:
            result.stopped = True
            return
        candidates = list(
            Order.objects.filter(state_deadline__lte=now - timedelta(minutes=soonest), is_legacy=False, pk__gt=after_pk)
            .exclude(status__in=FINAL_STATES)
            .select_related("channel", "customer")
            .order_by("pk")[:batch]
        )
        result.batches += 1
        if not candidates:
            return
        after_pk = candidates[-1].pk
        due: dict[int, dict[int, str]] = {}  # order id -> rule id -> the rung's key due now
        for order in candidates:
            stay = _stay(order)
            keys = {r.pk: key for r in escalation_rules if (key := _rule_key(stay, r, order, now))}
            if keys:
                due[order.pk] = keys
        fired_keys = set(
            Alert.objects.filter(
                kind=Alert.Kind.NODE_OVERDUE, dedupe_key__in=[k for keys in due.values() for k in keys.values()]
            ).values_list("dedupe_key", flat=True)
        )
        due_orders = []
        for order in candidates:
            keys = {pk: k for pk, k in due.get(order.pk, {}).items() if k not in fired_keys}
            if keys:
                due[order.pk] = keys
                due_orders.append(order)
        facts = selectors.orders_facts(orders=due_orders, now=now)
        rows, fired, failed = [], [], []
        for order in due_orders:
            due_rules = [r for r in escalation_rules if r.pk in due[order.pk]]
            decisions, failures = rules_evaluate(rules=due_rules, facts=facts[order.pk])
            message = overdue_tpl.format(
                number=order.number,
                status=labels.get(order.status, order.status),
                deadline=timezone.localtime(order.state_deadline).strftime("%Y-%m-%d %H:%M"),
            )
            for d in decisions:
                level = d.action.get("level")
                text = (by_rule_level if level else by_rule) % {"level": level, "name": d.rule_name, "msg": message}
                rows.append((order, due[order.pk][d.rule_id], text, *targets[d.rule_id]))
                fired.append(d)
            failed.extend(failures)
        if rows and connection.vendor != "postgresql":
            channels = NotificationChannel.objects.in_bulk({r[5] for r in rows if r[5]})
            users = get_user_model().objects.in_bulk({r[4] for r in rows if r[4]})
            for order, key, message, group_id, user_id, channel_id in rows:
                _raise_one(
                    order=order,
                    key=key,
                    message=message,
                    severity="critical",
                    group_id=group_id,
                    owner_user=users.get(user_id),
                    notify_channel=channels.get(channel_id),
                )
                result.raised += 1
        elif rows:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")  # as in _run_batches: cheap, but looks costly to the planner
                cursor.execute(
                    _insert_sql(_rule_rows_sql()),
                    {
                        "now": now,
                        "r_order": [r[0].pk for r in rows],
                        "r_key": [r[1] for r in rows],
                        "r_message": [r[2] for r in rows],
                        "r_group": [r[3] for r in rows],
                        "r_user": [r[4] for r in rows],
                        "r_channel": [r[5] for r in rows],
                    },
                )
                result.raised += cursor.fetchone()[1]
        rules_record(decisions=fired, failures=failed, at=now)
        if len(candidates) < batch:
            return


def overdue_alerts_raise(
    *, now: datetime | None = None, batch: int = 20000, max_batches: int | None = None
) -> SweepResult:
    """Raise what is due at `now`: the node owner's alert at the deadline, each ladder level (by minutes after
    the deadline or by share of the allowed time, repeating at its interval until the order moves), escalation
    rules, and approvals waiting past their time (审批滞留). `max_batches` stops early (a sweep killed midway)."""
    now = now or timezone.now()
    result = SweepResult()
    params = _common_params(now)
    tpl = _templates()
    params.update({f"tpl_{k}": v for k, v in tpl.items()})
    minute_levels = list(
        EscalationLevel.objects.filter(after_minutes__isnull=False).values_list("after_minutes", flat=True)
    )
    approval_rules = list(Rule.objects.filter(kind=actions.APPROVAL).values_list("pk", "action"))
    params.update(
        {
            "bound": now - timedelta(minutes=min(minute_levels, default=0)),
            "rule_ids": [pk for pk, _a in approval_rules],
            "rule_minutes": [(a or {}).get("timeout_minutes") for _pk, a in approval_rules],
            "default_minutes": DEFAULT_APPROVAL_MINUTES,
            "tpl_approval": _("Approval of order %(number)s has waited over %(minutes)s minutes (审批滞留).")
            % {"number": "{number}", "minutes": "{minutes}"},
        }
    )
    if connection.vendor != "postgresql":  # the SQLite demo: the same alerts, order by order
        _sweep_in_python(now=now, params=params, result=result)
        _escalation_rules_raise(now=now, batch=batch, result=result, max_batches=max_batches)
        return result
    statements = [("overdue", _insert_sql(_overdue_sql()))]
    if minute_levels:
        statements.append(("levels by minutes", _insert_sql(_level_sql())))
    statements.append(("levels by percent", _percent_sql()))  # an index probe when no mark is due
    statements.append(("approvals", _insert_sql(_approval_sql())))
    for name, sql in statements:
        start = time.perf_counter()
        _run_batches(sql, params, batch=batch, result=result, max_batches=max_batches)
        result.seconds[name] = time.perf_counter() - start
    start = time.perf_counter()
    _escalation_rules_raise(now=now, batch=batch, result=result, max_batches=max_batches)
    result.seconds["escalation rules"] = time.perf_counter() - start
    return result


def _resolve_sql() -> str:
    """Close, in one statement, the open sweep alerts whose order has entered another status since they were
    raised (or left the system's view: final, legacy), with their history rows and timeline lines."""
    t = _tables()
    cols = _alert_columns()
    hist_cols = ["id", *cols, "history_date", "history_change_reason", "history_type", "history_user_id"]
    hist_values = ["u.id", *(f"u.{c}" for c in cols), "%(now)s", "NULL", "'~'", "NULL"]
    return f"""
        WITH u AS (
            UPDATE {t["alert"]} a SET resolved_at = %(now)s, resolution = left(%(why)s, 255)
            FROM {t["order"]} o
            WHERE a.order_id = o.id AND a.kind = ANY(%(sweep_kinds)s) AND a.resolved_at IS NULL
              AND o.state_entered_at > a.created_at
            RETURNING a.*
        ),
        hist AS (INSERT INTO {t["hist"]} ({", ".join(hist_cols)}) SELECT {", ".join(hist_values)} FROM u),
        ev AS (
            INSERT INTO {t["event"]}
                (order_id, created_at, kind, transition, from_status, to_status, actor_id, actor_label, source,
                 reason, data)
            SELECT u.order_id, %(now)s, 'alert', '', '', '', NULL, '', 'system', left(%(line)s, 500),
                   jsonb_build_object('alert_id', u.id, 'alert_kind', u.kind, 'severity', u.severity,
                                      'resolved', true)
            FROM u
        )
        SELECT count(*) FROM u
    """  # noqa: S608 - names from the models, every value a bound parameter


def alerts_resolve_stale(*, now: datetime | None = None) -> int:
    """Close the order alerts whose cause is gone: an overdue, escalation or 审批滞留 alert once its order has
    entered another status since it was raised (one statement); a shortfall alert once its order no longer
    waits for stock (cancelled, or moved on by hand). Shortfalls that get allocated close at once, in the
    allocation itself."""
    why = _("the order left the overdue status")
    if connection.vendor != "postgresql":  # the SQLite demo
        resolved = alert_resolve(
            alerts=Alert.objects.filter(kind__in=SWEEP_ALERT_KINDS, order__state_entered_at__gt=F("created_at")),
            resolution=why,
        )
    else:
        resolved = _resolve_stale_sql(now=now or timezone.now(), why=why)
    resolved += alert_resolve(
        alerts=Alert.objects.filter(kind=Alert.Kind.STOCK_SHORTFALL, order__isnull=False).exclude(
            order__status__in=(Status.ON_HOLD, Status.ALLOCATING)
        ),
        resolution=_("the order no longer waits for stock"),
    )
    return resolved


def _resolve_stale_sql(*, now: datetime, why: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            _resolve_sql(),
            {
                "now": now,
                "why": why,
                "line": _("Alert resolved by the system: %(why)s") % {"why": why},
                "sweep_kinds": list(SWEEP_ALERT_KINDS),
            },
        )
        return cursor.fetchone()[0]


def _raise_one(*, order: Order, key: str, message: str, severity: str | None, group_id=None, **about) -> None:
    group = Group.objects.filter(pk=group_id).first() if group_id else None
    alert_raise(
        kind=about.pop("kind", Alert.Kind.NODE_OVERDUE),
        message=message,
        severity=severity,
        order=order,
        owner_group=group,
        dedupe_key=key,
        **about,
    )


def _sweep_in_python(*, now: datetime, params: dict, result: SweepResult) -> None:
    """What the statements above do, order by order, for databases without them (the SQLite demo's few
    hundred orders). Same keys, thresholds and owners."""
    fired = set(
        Alert.objects.filter(kind__in=SWEEP_ALERT_KINDS).exclude(dedupe_key="").values_list("dedupe_key", flat=True)
    )
    nodes = {n.status: n for n in StatusNode.objects.prefetch_related("escalations__notify_channel")}
    open_orders = (
        Order.objects.filter(state_deadline__isnull=False, is_legacy=False)
        .exclude(status__in=FINAL_STATES)
        .order_by("pk")
    )

    def text(tpl: str, order: Order, **extra) -> str:
        deadline = timezone.localtime(order.state_deadline).strftime("%Y-%m-%d %H:%M")
        return tpl.format(number=order.number, status=order.get_status_display(), deadline=deadline, **extra)

    for order in open_orders:
        stay = _stay(order)
        node = nodes.get(order.status)
        wanted = []
        if order.state_deadline <= now:
            wanted.append((f"overdue:{stay}", text(params["tpl_overdue"], order), None, {"node": node}))
        levels = {level.pk: level for level in node.escalations.all()} if node else {}
        marks = (order.deadline_basis or {}).get("marks") or {}
        by_percent = {int(k): m for k, m in marks.items() if getattr(levels.get(int(k)), "after_percent", None)}
        due = [  # levels by minutes from the deadline; by percent from the stay's marks, as the statement reads them
            *((lv, lv.after_minutes, None) for lv in levels.values() if lv.after_minutes is not None),
            *((levels[pk], None, mark) for pk, mark in by_percent.items()),
        ]
        for level, minutes, mark in due:
            if mark is None:
                t0, tpl, percent = order.state_deadline + timedelta(minutes=minutes), params["tpl_level_minutes"], None
            else:
                t0, tpl, percent = datetime.fromisoformat(mark["at"]), params["tpl_level_percent"], mark["percent"]
            if t0 > now:
                continue
            n = int((now - t0).total_seconds() // 60 // level.repeat_minutes) if level.repeat_minutes else 0
            message = text(tpl, order, level=level.level, percent=percent)
            about = {"escalation": level, "notify_channel": level.notify_channel}
            wanted.append((f"escalate:{stay}:L{level.pk}:R{n}", message, Alert.Severity.CRITICAL, about))
        for key, message, severity, about in wanted:
            if key not in fired:
                _raise_one(order=order, key=key, message=message, severity=severity, **about)
                result.raised += 1
    minutes_of = dict(zip(params["rule_ids"], params["rule_minutes"], strict=True))
    hold_node = nodes.get(Status.ON_HOLD)
    leads = {  # the lowest user id per group wins, as in the statement
        p.leads_group_id: p.user
        for p in StaffProfile.objects.filter(leads_group__isnull=False).select_related("user").order_by("-user_id")
    }
    superiors = {
        p.user_id: p.superior for p in StaffProfile.objects.filter(superior__isnull=False).select_related("superior")
    }
    waiting = Alert.objects.filter(
        kind=Alert.Kind.APPROVAL_WAITING, acknowledged_at__isnull=True, resolved_at__isnull=True, order__isnull=False
    ).select_related("order", "owner_user")
    route = selectors.alert_route_for(kind=Alert.Kind.APPROVAL_OVERDUE)
    for w in waiting.order_by("order_id", "pk"):
        order, key = w.order, f"approval-late:{w.pk}"
        if key in fired or order.status != Status.ON_HOLD or order.state_entered_at > w.created_at:
            continue
        rule_pk = int(w.dedupe_key.split(":")[2]) if w.dedupe_key.count(":") == 2 else None
        minutes = minutes_of.get(rule_pk) or (hold_node and hold_node.timeout_minutes) or DEFAULT_APPROVAL_MINUTES
        if w.created_at + timedelta(minutes=minutes) > now:
            continue
        approver = w.owner_user or leads.get(w.owner_group_id)
        lead = leads.get(hold_node.owner_group_id) if hold_node else None
        owner = (approver and superiors.get(approver.pk)) or (lead if lead != approver else None)
        message = params["tpl_approval"].format(number=order.number, minutes=minutes)
        if owner:
            owners = {"owner_user": owner}
        else:
            owners = {"owner_group": route and route.owner_group, "owner_user": route and route.owner_user}
        alert_raise(
            kind=Alert.Kind.APPROVAL_OVERDUE, message=message, severity=None, order=order, dedupe_key=key, **owners
        )
        result.raised += 1
