"""A hand-built configuration with no health finding, for the configuration health report's tests."""

from datetime import timedelta

from django.contrib.auth.models import Group
from django.utils import timezone

from orders.models import FINAL_STATES, MessageTemplate, Notification, StatusNode
from rules.models import Rule
from tests.factories import user_with_role


def clean_config() -> dict:
    """Every working node owned and timed, every default escalation group with an active member (one group each),
    every message template sent yesterday, no channel, no notification channel, no rule."""
    owner = Group.objects.get(name="客服")
    StatusNode.objects.exclude(status__in=FINAL_STATES).update(owner_group=owner, timeout_minutes=60)
    people = {role: user_with_role(role) for role in ("运营主管", "管理员", "客服")}
    yesterday = timezone.now() - timedelta(days=1)
    for key in MessageTemplate.objects.values_list("key", flat=True):
        template_sent(key, yesterday)
    return people


def template_sent(key: str, at) -> Notification:
    return Notification.objects.create(
        template_key=key, state=Notification.State.SENT, sent_at=at, next_attempt_at=at, dedupe_key=f"t:{key}:{at}"
    )


def rule(name: str, condition: dict, *, kind: str = "tag", position: int = 100, **fields) -> Rule:
    fields.setdefault("enabled", True)
    fields.setdefault("action", {"tag": name})
    return Rule.objects.create(kind=kind, name=name, condition=condition, position=position, **fields)


def cmp(fact: str, op: str, value=None) -> dict:
    return {"fact": fact, "op": op, **({} if value is None else {"value": value})}
