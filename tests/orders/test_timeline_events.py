"""Timeline lines come from typed constructors with fixed data keys (orders/services/timeline.py), so reports
can read them; no call site outside the timeline module writes a line with keys of its own."""

import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from logistics.models import Shipment
from orders.drafts import Address
from orders.models import AddressChange, Alert, OrderEvent, Source, Status
from orders.services import timeline
from orders.services.transitions import order_transition
from rules.services import Decision
from tests.factories import CarrierFactory, WarehouseFactory, make_order

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
ADDRESS = Address(
    receiver="张三", phone="13800138000", province="浙江省", city="杭州市", district="西湖区", detail="文三路1号"
)
NEW_ADDRESS = Address(
    receiver="李四", phone="13900139000", province="上海市", city="上海市", district="浦东新区", detail="世纪大道2号"
)
DECISION = Decision(rule_id=7, rule_name="加急标签", version=2, kind="tag", action={"tag": "加急"})


def _arguments(name: str, order) -> dict:
    """Keyword arguments a real call site passes to each constructor."""
    paid_at = datetime(2026, 3, 1, 10, 30, tzinfo=SHANGHAI)
    return {
        "order_created_event": lambda: {"order": order, "source": Source.API, "actor": None},
        "order_imported_event": lambda: {
            "order": order,
            "import_job": 7,
            "file_name": "历史订单.xlsx",
            "legacy_code": "A01",
            "legacy_label": "待人工复核",
            "tracking_number": "SF1400000000009",
            "carrier": "顺丰",
            "note": "老客户，加急",
        },
        "transition_event": lambda: {
            "order": order,
            "transition": "pay",
            "from_status": Status.PLACED,
            "source": Source.API,
            "actor": None,
        },
        "rule_fired_event": lambda: {"order": order, "decision": DECISION, "text": "打标签 加急"},
        "order_routed_event": lambda: {
            "order": order,
            "warehouse": WarehouseFactory(),
            "why": ["all items in stock"],
            "ranking": "",
            "actor_label": "auto",
        },
        "address_changed_event": lambda: {
            "order": order,
            "old": ADDRESS,
            "new": NEW_ADDRESS,
            "actor": None,
            "reason": "客户来电",
        },
        "intercept_resolved_event": lambda: {
            "order": order,
            "change": AddressChange.objects.create(
                order=order,
                state=AddressChange.State.INTERCEPTED,
                old_address=ADDRESS.order_fields(),
                new_address=NEW_ADDRESS.order_fields(),
                reason="客户来电",
            ),
            "intercepted": True,
            "actor": None,
        },
        "payment_recorded_event": lambda: {
            "order": order,
            "amount": Decimal("198.00"),
            "paid_at": paid_at,
            "reference": "T2026",
            "expected": [Decimal("198.00")],
            "before": {"paid_amount": "0.00", "paid_at": None, "reference": ""},
            "source": Source.ADMIN,
            "actor": None,
        },
        "payment_time_event": lambda: {"order": order, "paid_at": paid_at, "source": Source.API, "actor": None},
        "channel_update_event": lambda: {
            "order": order,
            "differences": [{"field": "buyer_note", "old": "", "new": "尽快发货"}],
            "described": "买家留言",
            "source": Source.API,
            "actor": None,
        },
        "channel_review_event": lambda: {
            "order": order,
            "differences": [{"field": "lines", "old": "1", "new": "2"}],
            "digest": "abc123",
            "reason": "渠道重推不同",
            "source": Source.API,
        },
        "duplicate_noted_event": lambda: {
            "order": order,
            "twin": order,
            "reason": "疑似重复",
            "source": Source.WEBHOOK,
        },
        "order_edited_event": lambda: {
            "order": order,
            "changes": {field: {"old": None, "new": None} for field in timeline.EDITABLE_FIELDS},
            "text": "优先级",
            "source": Source.ADMIN,
            "actor": None,
        },
        "stock_lock_expired_event": lambda: {"order": order, "hours": 48, "reason": "锁定过期"},
        "alert_raised_event": lambda: {"alert": Alert.objects.create(kind=Alert.Kind.OTHER, order=order, message="m")},
        "alert_resolved_event": lambda: {
            "alert": Alert.objects.create(kind=Alert.Kind.OTHER, order=order, message="m", resolution="好了")
        },
        "waybill_ordered_event": lambda: {
            "order": order,
            "shipment": Shipment.objects.create(
                order=order,
                channel_id=order.channel_id,
                carrier=CarrierFactory(),
                tracking_number="SF1400000000001",
                waybill_key=f"{order.number}-1",
                waybill_state=Shipment.WaybillState.ORDERED,
            ),
            "source": Source.SCAN,
            "actor": None,
        },
    }[name]()


def test_timeline_no_event_record_call_outside_timeline_module():
    callers = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("orders", "rules", "warehouse", "logistics", "reports", "config", "bench", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if path != ROOT / "orders/services/timeline.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bevent_record\(", line)
    ]
    assert callers == []


def test_timeline_every_constructor_has_documented_keys():
    constructors = {name for name in dir(timeline) if name.endswith("_event") and callable(getattr(timeline, name))}
    assert constructors == set(timeline.EVENT_DATA_KEYS)


@pytest.mark.parametrize("name", sorted(timeline.EVENT_DATA_KEYS))
def test_timeline_constructor_written_event_has_exactly_documented_keys(name):
    # given: an order
    order = make_order()
    # when: the constructor writes its line
    event = getattr(timeline, name)(**_arguments(name, order))
    # then: the stored line carries exactly the documented data keys
    stored = OrderEvent.objects.get(pk=event.pk)
    assert sorted(stored.data) == sorted(timeline.EVENT_DATA_KEYS[name])
    if name == "payment_recorded_event":
        assert sorted(stored.data["payment"]) == sorted(timeline.PAYMENT_RECORDED_KEYS)


def test_order_edited_event_unknown_field_refused():
    order = make_order()
    with pytest.raises(ValueError, match="colour"):
        timeline.order_edited_event(
            order=order, changes={"colour": {"old": 1, "new": 2}}, text="x", source=Source.ADMIN, actor=None
        )
    assert not order.events.filter(kind=OrderEvent.Kind.NOTE).exists()


def test_order_transition_without_guard_fields_writes_empty_set_key():
    # given: an order paid through the lifecycle (pay sets no guard fields)
    order = order_transition(order=make_order(), transition="pay", actor=None, source=Source.API)
    # then: its transition lines still carry the one fixed key
    assert {tuple(e.data) for e in order.events.filter(kind=OrderEvent.Kind.TRANSITION)} == {("set",)}


def test_timeline_constructors_keep_deferred_mode():
    order = make_order()
    before = OrderEvent.objects.count()
    with timeline.events_deferred():
        timeline.stock_lock_expired_event(order=order, hours=1, reason="a")
        timeline.payment_time_event(
            order=order, paid_at=datetime(2026, 3, 1, tzinfo=SHANGHAI), source=Source.API, actor=None
        )
        # nothing written until the block ends
        assert OrderEvent.objects.count() == before
    assert OrderEvent.objects.count() == before + 2
