"""Demo data: channels, SKUs, warehouses, carriers, staff per role and ~500 orders in every state.

Everything goes through the real services, and every key is fixed, so a second run adds nothing.
"""

import hashlib
import random
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from logistics.models import Carrier, WaybillNumberRange
from logistics.services import (
    CarrierEvent,
    carrier_state_mappings_ensure,
    tracking_events_record,
    waybill_number_range_save,
)
from orders.channels.pulls import PULL_ADAPTERS
from orders.drafts import OrderDraft
from orders.models import FINAL_STATES, Alert, Channel, ChannelPull, Order, OrderEvent, Source, StatusNode
from orders.services.intake import order_create
from orders.services.nodes import status_node_pauses_set, status_nodes_ensure_defaults
from orders.services.owners import alert_routes_ensure_defaults
from orders.services.roles import roles_sync
from orders.services.sweeps import overdue_alerts_raise
from orders.services.timeline import history_attribute
from orders.services.transitions import order_transition, status_deadline
from rules.models import Rule
from rules.services import rule_save
from warehouse.exceptions import StockShortfall
from warehouse.models import Sku, SkuAlias, StockLevel, StockMovement, StockReservation, Warehouse
from warehouse.selectors import allocation_settings
from warehouse.services import reservation_save, stock_adjust

DEMO_PASSWORD = "orderhub-demo"  # noqa: S105 (demo logins, printed on purpose)
DEMO_USERS = [  # username, full name, role
    ("admin", "系统管理员", "管理员"),
    ("kefu", "客服小王", "客服"),
    ("cangku", "仓库老李", "仓库"),
    ("yunying", "运营主管陈姐", "运营主管"),
    ("caiwu", "财务小周", "财务"),
    ("caigou", "采购小孙", "采购"),
    ("api", "接口账号", "系统对接"),
]
CHANNELS = [("tmall", "天猫旗舰店", "taobao"), ("douyin", "抖音小店", "douyin"), ("miniapp", "微信小程序", "wechat")]
WAREHOUSES = [("SH01", "上海青浦仓", "上海", "上海"), ("GZ01", "广州白云仓", "广东", "广州")]
CARRIERS = [("shunfeng", "顺丰速运"), ("zhongtong", "中通快递"), ("yuantong", "圆通速递"), ("jd", "京东物流")]
# How each carrier's waybill numbers look: prefix + digits (SF1234567890123, 78123456789012, YT…, JDVA…).
TRACKING_FORMATS = {"shunfeng": ("SF", 13), "zhongtong": ("7", 13), "yuantong": ("YT", 13), "jd": ("JDVA", 11)}
# Each demo carrier's pre-bought waybill numbers (号段), zero-padded from 1: the demo orders' own numbers never
# start with a zero after the prefix, so no number of a range is already on a demo parcel.
DEMO_RANGE_SIZE = 100_000
SENDERS = {  # warehouse code: sender printed on its labels
    "SH01": ("美肤旗舰店 上海仓", "021-61234567", "上海市青浦区华新镇华志路1688号3号库", "美肤旗舰店"),
    "GZ01": ("美肤旗舰店 广州仓", "020-86123456", "广东省广州市白云区太和镇大源北路88号", "美肤旗舰店"),
}
BIG_ORDER_EVERY = 4  # every 4th order meant to wait on hold is a large VIP order that waits for approval
CATEGORIES = {"面膜": "MASK", "精华": "SERUM", "面霜": "CREAM", "洁面": "CLEANSER", "防晒": "SUN"}
PLACES = [
    ("浙江", "杭州", "西湖区"),
    ("上海", "上海", "浦东新区"),
    ("广东", "深圳", "南山区"),
    ("北京", "北京", "朝阳区"),
    ("四川", "成都", "武侯区"),
    ("江苏", "南京", "鼓楼区"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
# A returning customer (the README's lookup example) who orders every so often to the same address.
REGULAR = {"name": "张伟", "phone": "13812345678", "place": ("浙江", "杭州", "西湖区"), "detail": "文三路100号"}
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "杰", "娟", "涛", "明", "超", "秀英"]

# Final state → the transitions (and their source) that lead there from 'placed'.
PAID = [("pay", Source.API)]
ALLOCATED = [*PAID, ("start_allocation", Source.SYSTEM), ("allocate", Source.SYSTEM)]
PRINTED = [*ALLOCATED, ("print_label", Source.SCAN)]
PICKED = [*PRINTED, ("pick_up", Source.SCAN)]
TRANSIT = [*PICKED, ("transit", Source.CARRIER)]
DELIVERED = [*TRANSIT, ("deliver", Source.CARRIER)]
PATHS = {
    "placed": [],
    "paid": PAID,
    "on_hold": [*PAID, ("hold", Source.ADMIN)],
    "allocating": [*PAID, ("start_allocation", Source.SYSTEM)],
    "allocated": ALLOCATED,
    "printed": PRINTED,
    "picked_up": PICKED,
    "in_transit": TRANSIT,
    "delivered": DELIVERED,
    "cancelled": [("cancel", Source.ADMIN)],
    "returned": [*DELIVERED, ("mark_returned", Source.ADMIN)],
    "exception": [*TRANSIT, ("flag_exception", Source.ADMIN)],
}
WEIGHTS = {
    "placed": 30,
    "paid": 40,
    "on_hold": 20,
    "allocating": 30,
    "allocated": 50,
    "printed": 40,
    "picked_up": 30,
    "in_transit": 80,
    "delivered": 120,
    "cancelled": 25,
    "returned": 15,
    "exception": 20,
}
# How long ago demo orders of each final state were placed (minutes): unpaid ones are recent, finished ones old.
AGE_MINUTES = {
    "placed": (10, 12 * 60),
    "cancelled": (3 * 24 * 60, 14 * 24 * 60),
    "delivered": (4 * 24 * 60, 14 * 24 * 60),
    "returned": (6 * 24 * 60, 14 * 24 * 60),
    "exception": (3 * 24 * 60, 10 * 24 * 60),
    "in_transit": (2 * 24 * 60, 5 * 24 * 60),
}
REASONS = {
    "hold": "地址待客户确认",
    "cancel": "客户申请取消",
    "mark_returned": "七天无理由退货",
    "flag_exception": "快递显示疑难件",
}


def _master_data() -> tuple[list[Sku], list[Warehouse], list[Carrier], list[Channel]]:
    channels = [Channel.objects.get_or_create(code=c, defaults={"name": n, "kind": k})[0] for c, n, k in CHANNELS]
    for channel in channels:
        if channel.kind in PULL_ADAPTERS:  # a platform shop: its pull set up but off (the demo calls no one outside)
            ChannelPull.objects.get_or_create(channel=channel, defaults={"enabled": False, "interval_minutes": 5})
    warehouses = [
        Warehouse.objects.get_or_create(
            code=c, defaults={"name": n, "province": p, "city": city, "daily_capacity": 3000}
        )[0]
        for c, n, p, city in WAREHOUSES
    ]
    carriers = [Carrier.objects.get_or_create(code=c, defaults={"name": n})[0] for c, n in CARRIERS]
    _waybill_setup(warehouses, carriers)
    skus = []
    for category, prefix in CATEGORIES.items():
        for i in range(1, 11):
            sku, _ = Sku.objects.get_or_create(
                code=f"{prefix}-{i:03d}",
                defaults={
                    "name": f"{category}{i}号",
                    "spec": f"{30 + i * 5}ml",
                    "category": category,
                    "unit": "盒" if category == "面膜" else "瓶",
                },
            )
            skus.append(sku)
    sample, _ = Sku.objects.get_or_create(
        code="SAMPLE-3", defaults={"name": "面膜试用装", "category": "赠品", "unit": "片"}
    )
    for alias in ("面膜小样", "sample 3"):
        SkuAlias.objects.get_or_create(
            normalized=alias.replace(" ", "").upper(), defaults={"sku": sample, "alias": alias}
        )
    _opening_stock([*skus, sample], warehouses)
    return skus, warehouses, carriers, channels


def _waybill_setup(warehouses: list[Warehouse], carriers: list[Carrier]) -> None:
    """Senders for the demo warehouses and a number range per demo carrier, so 打单确认 can get a waybill.
    Only added where missing: what a user changed stays."""
    for warehouse in warehouses:
        if warehouse.code in SENDERS and not warehouse.sender_name:
            name, phone, address, company = SENDERS[warehouse.code]
            warehouse.sender_name, warehouse.sender_phone = name, phone
            warehouse.sender_address, warehouse.sender_company = address, company
            warehouse.save(update_fields=["sender_name", "sender_phone", "sender_address", "sender_company"])
    for carrier in carriers:
        if WaybillNumberRange.objects.filter(carrier=carrier).exists():
            continue
        prefix, digits = TRACKING_FORMATS.get(carrier.code, (carrier.code[:2].upper(), 12))
        waybill_number_range_save(
            number_range=WaybillNumberRange(
                carrier=carrier, prefix=prefix, first_number=1, next_number=1, last_number=DEMO_RANGE_SIZE, width=digits
            ),
            actor=None,
        )


def _opening_stock(skus: list[Sku], warehouses: list[Warehouse]) -> None:
    """Opening stock booked as inbound movements; the last SKU of each category runs low, to show shortfalls."""
    for sku in skus:
        for warehouse in warehouses:
            if StockLevel.objects.filter(sku=sku, warehouse=warehouse).exists():
                continue
            quantity = 1000 if sku.code == "SAMPLE-3" else (2 if sku.code.endswith("-010") else 300)
            stock_adjust(
                sku=sku,
                warehouse=warehouse,
                kind=StockMovement.Kind.INBOUND,
                quantity=quantity,
                reason="期初库存 opening stock",
                actor=None,
            )
    if not StockReservation.objects.exists():
        reservation_save(
            reservation=StockReservation(
                name="钻石会员专享 Diamond quota",
                kind=StockReservation.Kind.MEMBER,
                sku=skus[0],
                warehouse=warehouses[0],
                member_levels=["diamond", "vip"],
            ),
            quantity=30,
            actor=None,
        )


def _users() -> dict[str, object]:
    User = get_user_model()
    users = {}
    for username, full_name, role in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": full_name, "is_staff": role != "系统对接", "is_superuser": role == "管理员"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    Token.objects.get_or_create(user=users["系统对接"])
    return users


def _payload(rng: random.Random, i: int, skus: list[Sku], channel: Channel, now, target: str, big: bool) -> dict:
    place = rng.choice(PLACES)
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    phone = f"1{rng.choice('3578')}{rng.randint(0, 999_999_999):09d}"
    lines = [
        {"sku": s.code, "quantity": rng.randint(1, 3), "unit_price": Decimal(rng.choice([59, 99, 129, 199, 299]))}
        for s in rng.sample(skus, rng.randint(1, 3))
    ]
    member_level = rng.choice(["normal"] * 5 + ["gold", "diamond", "vip"])
    detail = f"{rng.choice(['文三路', '人民路', '科技园'])}{rng.randint(1, 999)}号"
    # Old enough for the steps that follow: finished orders days ago, open ones hours ago, unpaid ones recently.
    low, high = AGE_MINUTES.get(target, (120, 4 * 24 * 60))
    age = timedelta(minutes=rng.randint(low, high))
    # Every draw above happens for every order, so the sequence is the same every run; now shape a few stories.
    if i % 20 == 0:
        name, phone, place, detail = REGULAR["name"], REGULAR["phone"], REGULAR["place"], REGULAR["detail"]
    elif i % 5 == 3:  # a diamond member buying masks: the demo gift rule adds the sample pack
        member_level = "diamond"
        lines[0] = {"sku": "MASK-002", "quantity": 3, "unit_price": Decimal(129)}
        lines = [line for n, line in enumerate(lines) if n == 0 or line["sku"] != "MASK-002"]
    elif big:  # a large VIP order: priority, and the manager's approval
        member_level = "vip"
        lines = [{"sku": "CREAM-001", "quantity": 20, "unit_price": Decimal(299)}]
    total = sum(line["unit_price"] * line["quantity"] for line in lines)
    return {
        "channel": channel.code,
        "channel_order_no": f"{channel.code.upper()}{20260000000 + i}",
        "buyer_id": f"buyer-{i % 300}",
        "ordered_at": now - age,
        "customer": {"name": name, "phone": phone, "member_level": member_level},
        "shipping_address": {
            "receiver": name,
            "phone": phone,
            "province": place[0],
            "city": place[1],
            "district": place[2],
            "detail": detail,
        },
        "lines": lines,
        "paid_amount": total,
        "tags": ["加急"] if i % 17 == 0 else [],
        "priority": 2 if i % 17 == 0 else 0,
        **_promise(i, channel, now, target),
    }


# Ship-by promises of open demo orders, hours from now: green, yellow (< 6 h), red (< 2 h), late (red).
PROMISE_HOURS = (30, 4, 1, -2)
PROMISED_STATES = {"paid", "on_hold", "allocating", "allocated", "printed"}


def _promise(i: int, channel: Channel, now, target: str) -> dict:
    """Every other open order carries a promise: the platform's deadline on a marketplace shop, else the
    seller's own promise (24 小时发货); the hours cycle through the promise lights. No random draw here."""
    if target not in PROMISED_STATES or i % 2:
        return {}
    ship_by = now + timedelta(hours=PROMISE_HOURS[(i // 2) % len(PROMISE_HOURS)])
    return {"platform_ship_by" if channel.kind in PULL_ADAPTERS else "promised_ship_by": ship_by}


def _tracking_number(carrier: Carrier, i: int) -> str:
    """A number shaped like the carrier's own, fixed per demo order (so a second run registers the same)."""
    prefix, digits = TRACKING_FORMATS.get(carrier.code, (carrier.code[:2].upper(), 12))
    draw = int(hashlib.sha256(f"{carrier.code}-{i}".encode()).hexdigest(), 16)
    return f"{prefix}{10 ** (digits - 1) + draw % (9 * 10 ** (digits - 1))}"  # no leading zero


def _spread_timeline(*, order: Order, rng: random.Random, now) -> None:
    """Give a demo order a believable past after its ordered_at: taken in a few minutes later, steps hours apart,
    the last one days ago when the order is done and recent when it is still open. Paid orders get their paid_at."""
    events = list(order.events.order_by("id"))
    first = order.ordered_at + timedelta(minutes=rng.randint(1, 5))
    room = now - first  # at least 5 minutes (see AGE_MINUTES)
    if order.status in FINAL_STATES:
        last = first + room * rng.uniform(0.3, 0.8)
    else:
        last = max(first + room * 0.5, now - timedelta(minutes=rng.randint(5, 300)))
    steps = [event for event in events[1:] if event.kind == OrderEvent.Kind.TRANSITION]
    weights = [rng.uniform(0.2, 1.0) for _ in steps]
    gaps = iter([(last - first) * (w / sum(weights)) for w in weights])
    at, entered, paid_at = first, first, None
    for event in events:
        if event is not events[0]:
            # a transition takes its share of the time; what a step caused (rules, routing) follows it at once
            at += next(gaps) if event.kind == OrderEvent.Kind.TRANSITION else timedelta(seconds=rng.randint(1, 30))
        OrderEvent.objects.filter(pk=event.pk).update(created_at=at)  # events are append-only rows, not audited
        if event.kind == OrderEvent.Kind.TRANSITION:
            entered = at
            if event.transition == "pay":
                paid_at = at
    order.state_entered_at = entered
    basis = order.deadline_basis or {}
    # A clock stopped in place (a presale waiting for its balance) has no deadline; any other runs from entry.
    running = basis.get("minutes") or not basis.get("paused")
    order.state_deadline = status_deadline(status=order.status, entered_at=entered) if running else None
    fields = ["state_entered_at", "state_deadline"]
    if basis.get("paused"):  # paused since the (backdated) step that paused it
        basis["paused"]["since"] = entered.isoformat()
        fields.append("deadline_basis")
    if paid_at is not None:
        order.paid_at = paid_at
        fields.append("paid_at")
    history_attribute(order, actor=None, reason="demo data: backdated timeline")
    order.save(update_fields=fields)


# The example rules of DESIGN.md, as a seller's ops manager would enter them.
DEMO_RULES = [
    (
        "gift",
        "钻石会员面膜满299赠试用装",
        10,
        {
            "all": [
                {"fact": "member_level", "op": "eq", "value": "diamond"},
                {"fact": "sku_categories", "op": "contains", "value": "面膜"},
                {"fact": "paid_amount", "op": "gte", "value": "299"},
            ]
        },
        {"sku": "SAMPLE-3", "quantity": 3, "note": "拣货时放入面膜试用装"},
    ),
    (
        "priority",
        "VIP大单优先",
        10,
        {
            "all": [
                {"fact": "member_level", "op": "eq", "value": "vip"},
                {"fact": "paid_amount", "op": "gt", "value": "5000"},
            ]
        },
        {"level": 2},
    ),
    (
        "approval",
        "大额或定制订单主管审批",
        10,
        {
            "any": [
                {"fact": "paid_amount", "op": "gt", "value": "5000"},
                {"fact": "order_tags", "op": "contains", "value": "定制"},
            ]
        },
        {"group": "运营主管", "timeout_minutes": 120},
    ),
    (
        "tag",
        "复购高意向客户",
        10,
        {
            "all": [
                {"fact": "order_count_30d", "op": "gte", "value": 2},
                {"fact": "paid_amount", "op": "gt", "value": "199"},
            ]
        },
        {"tag": "高意向"},
    ),
    (
        "merge",
        "同地址24小时满3单合并发货",
        10,
        {"all": [{"fact": "same_address_orders_24h", "op": "gte", "value": 3}]},
        {"window_hours": 24, "min_orders": 3, "waive_shipping": True},
    ),
    (
        "route",
        "华南订单发广州仓",
        10,
        {
            "all": [
                {"fact": "province", "op": "in", "value": ["广东", "广西", "福建", "海南"]},
                {"fact": "warehouse_remaining_capacity", "op": "gt", "value": 0},
            ]
        },
        {"warehouse": "GZ01"},
    ),
    (
        "route",
        "其余订单发上海仓",
        20,
        {"all": [{"fact": "warehouse_remaining_capacity", "op": "gt", "value": 0}]},
        {"warehouse": "SH01"},
    ),
]


# What the carrier said at each step the demo order went through (for the tracking page).
PARCEL_WORDS = {
    "pick_up": ("1", "【{city}】快递员已揽收"),
    "transit": ("0", "快件已到达【{city}转运中心】，正发往下一站"),
    "deliver": ("3", "快件已签收，签收人：本人，感谢使用"),
    "flag_exception": ("2", "快件派送不成功，收件人电话无人接听"),
}


def _parcel_events(*, order: Order) -> None:
    shipment = order.shipments.first()
    if shipment is None:
        return
    events = []
    for step in order.events.filter(transition__in=PARCEL_WORDS).order_by("created_at"):
        state, words = PARCEL_WORDS[step.transition]
        events.append(
            CarrierEvent(occurred_at=step.created_at, description=words.format(city=order.city), carrier_state=state)
        )
    if events:
        tracking_events_record(shipment=shipment, events=events, via="demo", finished=order.status == "delivered")


def _demo_rules() -> None:
    for kind, name, position, condition, action in DEMO_RULES:
        if not Rule.objects.filter(kind=kind, name=name).exists():
            rule_save(
                rule=Rule(kind=kind, name=name, position=position, condition=condition, action=action, enabled=True),
                actor=None,
                reason="demo data",
            )


# What pauses the demo's node clocks (set only where a manager has chosen nothing yet).
DEMO_PAUSES = {
    "placed": ["presale_balance"],  # a presale waits for its balance without going overdue
    "paid": ["hold:customer", "hold:approval"],
    "allocated": ["hold:customer"],
}


def _demo_pauses() -> None:
    for status, tokens in DEMO_PAUSES.items():
        if not StatusNode.objects.filter(status=status).exclude(pause_states=[]).exists():
            status_node_pauses_set(status=status, tokens=tokens, reason="demo data")


# Two held orders that tell a story of their own (fixed numbers: a second run finds them).
STORY_APPROVAL = "STORY-APPROVAL-1"  # 定制: the approval rule holds it; it waits past its 2 h (审批滞留)
STORY_CUSTOMER = "STORY-CUSTOMER-1"  # 客服 asked the buyer about the size and waits (等待客户回复)


def _story_payload(number: str, channel: Channel, now, **extra) -> dict:
    return {
        "channel": channel.code,
        "channel_order_no": number,
        "buyer_id": f"buyer-{number.lower()}",
        "ordered_at": now - timedelta(hours=26),
        "customer": {"name": "林晓", "phone": "13900001111", "member_level": "gold"},
        "shipping_address": {
            "receiver": "林晓",
            "phone": "13900001111",
            "province": "江苏",
            "city": "南京",
            "district": "鼓楼区",
            "detail": "中山路18号",
        },
        "lines": [{"sku": "SERUM-001", "quantity": 1, "unit_price": Decimal(199)}],
        "paid_amount": Decimal(199),
        **extra,
    }


def _stories(*, users: dict, channel: Channel, now) -> None:
    """The approval hold old enough for 审批滞留 after the sweep, and an order waiting for the customer."""
    stories = [
        (STORY_APPROVAL, {"tags": ["定制"]}, [], timedelta(hours=3)),
        (STORY_CUSTOMER, {}, [("hold", "customer")], timedelta(hours=1)),
    ]
    for number, extra, steps, held_for in stories:
        if Order.objects.filter(channel=channel, channel_order_no=number).exists():
            continue
        data = _story_payload(number, channel, now, **extra)
        with transaction.atomic():
            order = order_create(draft=OrderDraft.from_api(data), actor=users["系统对接"], source=Source.API).order
            order = order_transition(order=order, transition="pay", actor=users["财务"], source=Source.API)
            for name, kind in steps:
                order = order_transition(
                    order=order,
                    transition=name,
                    actor=users["客服"],
                    source=Source.ADMIN,
                    reason="已联系客户确认肤质与规格，等待回复",
                    hold_kind=kind,
                )
            _spread_timeline(order=order, rng=random.Random(number), now=now - held_for)
            # The approval alert was raised with the hold: it is as old as the hold.
            Alert.objects.filter(order=order, kind=Alert.Kind.APPROVAL_WAITING).update(
                created_at=order.state_entered_at
            )


def demo_load(*, orders: int = 500, seed: int = 20261122) -> dict[str, int]:
    roles_sync()
    status_nodes_ensure_defaults()
    carrier_state_mappings_ensure()
    alert_routes_ensure_defaults()
    skus, _warehouses, carriers, channels = _master_data()
    users = _users()
    _demo_rules()  # before the orders: they add gifts, tags and priority on payment and route at allocation
    _demo_pauses()
    # The demo places orders in every state by hand; automatic allocation resumes afterwards.
    settings = allocation_settings()
    auto_allocate, settings.auto_allocate = settings.auto_allocate, False
    settings.save()
    rng = random.Random(seed)
    now = timezone.now().replace(second=0, microsecond=0)
    # Interleave the states by weight, so even a small --orders count covers every state.
    slots = [((k + 0.5) / weight, state) for state, weight in WEIGHTS.items() for k in range(weight)]
    targets = [state for _, state in sorted(slots)]
    held = [i for i in range(orders) if targets[i % len(targets)] == "on_hold" and i % 20 and i % 5 != 3]
    big = set(held[::BIG_ORDER_EVERY])
    created = 0
    for i in range(orders):
        channel = channels[i % len(channels)]
        target = targets[i % len(targets)]
        data = _payload(rng, i, skus, channel, now, target, i in big)  # always drawn: the same sequence every run
        if Order.objects.filter(channel=channel, channel_order_no=data["channel_order_no"]).exists():
            continue
        if target == "placed" and i % 2 == 0:  # every other unpaid order is a presale with its deposit in
            data.update(is_presale=True, deposit_amount=Decimal("50.00"), paid_amount=Decimal("50.00"))
        with transaction.atomic():
            result = order_create(draft=OrderDraft.from_api(data), actor=users["系统对接"], source=Source.API)
            if not result.created:
                continue
            created += 1
            order = result.order
            steps = [("record_deposit", Source.API)] if order.is_presale else PATHS[target]
            for name, source in steps:
                if order.status == "on_hold":
                    break  # a rule held it on payment (approval): it waits for the manager, as it would live
                changes = {}  # no warehouse for 'allocate': the routing rules (or stock and distance) choose it
                if name == "allocate":  # the carrier comes with the warehouse order, so 打单确认 can get its waybill
                    changes = {"carrier": carriers[i % len(carriers)].code}
                if name == "print_label":
                    carrier = carriers[i % len(carriers)]
                    changes = {"carrier": carrier.code, "tracking_number": _tracking_number(carrier, i)}
                actor = (
                    None
                    if source in (Source.CARRIER, Source.SYSTEM)
                    else (
                        users["财务"]
                        if name in ("pay", "record_deposit")
                        else users["仓库"]
                        if source == Source.SCAN
                        else users["客服"]
                    )
                )
                try:
                    order = order_transition(
                        order=order,
                        transition=name,
                        actor=actor,
                        source=source,
                        reason=REASONS.get(name, ""),
                        changes=changes,
                        actor_label=carriers[i % len(carriers)].name if source == Source.CARRIER else "",
                    )
                except StockShortfall:  # a low-stock SKU: the order is held for stock, as it would be live
                    order.refresh_from_db()
                    break
            _spread_timeline(order=order, rng=random.Random(f"{seed}-{i}"), now=now)  # its own draws: same past
            _parcel_events(order=order)
    _stories(users=users, channel=channels[2], now=now)  # the mini-program shop: no platform deadline
    settings.auto_allocate = auto_allocate
    settings.save()
    overdue_alerts_raise()  # also 审批滞留 of the approval that waited too long
    return {"orders_created": created, "orders_total": Order.objects.count(), "skus": Sku.objects.count()}
