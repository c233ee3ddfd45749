"""Who is asked when something needs a person: one answer for alerts, status nodes and escalation levels.

Owners are data managers edit in the admin: status-node settings with their escalation levels, the group a
rule names, and one alert route per alert kind (AlertRoute). No service names a group; they ask `owner_for`.
"""

from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction

from orders import selectors
from orders.models import AlertRoute, EscalationLevel, StatusNode
from orders.roles import DEFAULT_ALERT_ROUTES


class Owner(NamedTuple):
    group: Group | None = None
    user: AbstractBaseUser | None = None

    @property
    def is_nobody(self) -> bool:
        return self.group is None and self.user is None


def owner_for(
    *,
    kind: str,
    node: StatusNode | None = None,
    escalation: EscalationLevel | None = None,
    rule_group: str = "",
    route: AlertRoute | None = None,
) -> Owner:
    """The owner of an alert of `kind`, most specific first: the escalation level's recipient, the group a rule
    names (if that group exists), the status node's owner, then the route of the alert kind (`route` when the
    caller has read it already). Owner() — nobody — when none of them names one."""
    if escalation is not None and (escalation.notify_group_id or escalation.notify_user_id):
        return Owner(escalation.notify_group, escalation.notify_user)
    if rule_group:
        group = Group.objects.filter(name=rule_group).first()
        if group is not None:
            return Owner(group)
    if node is not None and (node.owner_group_id or node.owner_user_id):
        return Owner(node.owner_group, node.owner_user)
    route = route or selectors.alert_route_for(kind=kind)
    return Owner(route.owner_group, route.owner_user) if route else Owner()


def alert_routes_ensure_defaults() -> int:
    """Create the route of every alert kind that has none (the migration seeds them; a flushed database has
    none). Owners are the role groups that exist; edited routes are never changed. Returns how many."""
    groups = {g.name: g for g in Group.objects.filter(name__in=[g for g, _s, _n in DEFAULT_ALERT_ROUTES.values()])}
    created = 0
    with transaction.atomic():
        for kind, (group, severity, note) in DEFAULT_ALERT_ROUTES.items():
            _route, made = AlertRoute.objects.get_or_create(
                kind=kind, defaults={"owner_group": groups.get(group), "severity": severity, "note": note}
            )
            created += made
    return created
