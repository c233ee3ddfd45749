"""Default status-node settings: a starting point managers then edit in the admin."""

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction

from orders.models import EscalationLevel, Status, StatusNode, pause_tokens_problem
from orders.roles import DEFAULT_ESCALATIONS, DEFAULT_NODE_OWNERS
from orders.services.deadlines import node_settings_forget
from orders.services.timeline import history_attribute

# status: (timeout minutes, customer label, customer message, notify customer); owners: orders.roles
DEFAULT_NODES = {
    Status.PLACED: (30, "已下单", "订单已收到，正在确认付款。", False),
    Status.PAID: (60, "付款成功", "已确认您的付款，正在安排发货。", True),
    Status.ON_HOLD: (120, "处理中", "订单正在人工复核，我们会尽快处理。", False),
    Status.ALLOCATING: (60, "备货中", "正在为您的订单分配仓库。", False),
    Status.ALLOCATED: (240, "备货中", "仓库正在为您拣货打包。", False),
    Status.PRINTED: (720, "待揽收", "包裹已打包，等待快递员揽收。", False),
    Status.PICKED_UP: (1440, "已发货", "快递已揽收，包裹正在发往您的城市。", True),
    Status.IN_TRANSIT: (4320, "运输中", "包裹正在运输途中。", False),
    Status.DELIVERED: (None, "已签收", "包裹已签收，感谢您的购买。", True),
    Status.CANCELLED: (None, "已取消", "订单已取消。", True),
    Status.RETURNED: (None, "已退货", "退货已完成。", True),
    Status.EXCEPTION: (240, "配送异常", "您的订单遇到问题，客服会主动联系您。", True),
}


def status_nodes_ensure_defaults() -> int:
    """Create the settings row of every state that has none. Existing rows are never overwritten."""
    created = 0
    groups = {g.name: g for g in Group.objects.all()}
    with transaction.atomic():
        for status, (timeout, label, message, notify) in DEFAULT_NODES.items():
            node, was_created = StatusNode.objects.get_or_create(
                status=status,
                defaults={
                    "owner_group": groups.get(DEFAULT_NODE_OWNERS.get(status)),
                    "timeout_minutes": timeout,
                    "customer_label": label,
                    "customer_message": message,
                    "notify_customer": notify,
                },
            )
            if not was_created:
                continue
            created += 1
            for level, minutes, group in DEFAULT_ESCALATIONS.get(status, []):
                if group in groups:
                    EscalationLevel.objects.create(
                        node=node, level=level, after_minutes=minutes, notify_group=groups[group]
                    )
    return created


def status_node_pauses_set(*, status: str, tokens: list[str], actor=None, reason: str = "") -> StatusNode:
    """Set what pauses a node's clock (pause tokens). Unknown or meaningless tokens raise, naming the token."""
    problem = pause_tokens_problem(status, tokens)
    if problem:
        raise ValidationError({"pause_states": problem})
    node = StatusNode.objects.get(status=status)
    node.pause_states = list(tokens)
    history_attribute(node, actor=actor, reason=reason or "pause states")
    node.save(update_fields=["pause_states"])
    node_settings_forget()  # this transaction's later deadlines read the new settings
    return node
