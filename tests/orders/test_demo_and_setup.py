import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from logistics.models import Carrier
from logistics.selectors import orders_with_tracking_number
from orders.models import Order, OrderEvent, OrderLine, Status, StatusNode
from orders.roles import ROLES
from orders.services.demo import CARRIERS, DEMO_USERS
from rules.models import Rule
from warehouse.selectors import stock_check

pytestmark = pytest.mark.django_db


def test_load_demo_covers_every_state_and_is_idempotent():
    call_command("load_demo", orders=48)
    counts = {s: Order.objects.filter(status=s).count() for s in Status.values}
    assert all(counts.values()), counts
    assert Order.objects.filter(is_presale=True, payment_status="deposit_paid").exists()
    assert StatusNode.objects.count() == len(Status.values)
    logins = ["kefu", "cangku", "yunying", "caiwu", "caigou", "admin"]
    assert get_user_model().objects.filter(username__in=logins, is_staff=True).count() == 6
    # shipped demo orders have registered parcels whose carrier events match their timeline
    delivered = Order.objects.filter(status="delivered").first()
    parcel = delivered.shipments.get()
    assert parcel.events.filter(carrier_state="3").exists() and parcel.is_finished
    assert stock_check() == []
    before = (Order.objects.count(), Order.history.count())
    call_command("load_demo", orders=48)
    assert (Order.objects.count(), Order.history.count()) == before


# What each demo carrier's waybill numbers look like (SF Express, ZTO, YTO, JD Logistics for merchants).
TRACKING_PATTERNS = {
    "shunfeng": r"SF[1-9]\d{12}",
    "zhongtong": r"7\d{13}",
    "yuantong": r"YT[1-9]\d{12}",
    "jd": r"JDVA[1-9]\d{10}",
}
SOUTH_CHINA = {"广东", "广西", "福建", "海南"}  # the demo routing rule 华南订单发广州仓


def test_load_demo_tells_one_consistent_story():
    call_command("load_demo", orders=60)
    orders = list(orders_with_tracking_number(Order.objects.select_related("warehouse", "carrier", "customer")))
    first_event = {}
    for order_id, at in OrderEvent.objects.order_by("created_at").values_list("order_id", "created_at"):
        first_event.setdefault(order_id, at)

    # ordered before anything happened to it, and the status entered after that
    assert all(o.ordered_at < first_event[o.pk] <= o.state_entered_at for o in orders)
    # every paid order says when, at its 'pay' step
    paid = [o for o in orders if o.payment_status == Order.PaymentStatus.PAID]
    assert len(paid) > 30
    pay_at = dict(OrderEvent.objects.filter(transition="pay").values_list("order_id", "created_at"))
    assert all(o.paid_at is not None and o.paid_at == pay_at[o.pk] for o in paid)
    assert all(o.paid_at is None for o in orders if o.payment_status != Order.PaymentStatus.PAID)
    # the warehouse is the one the routing rules choose, and the timeline says so
    routed = [o for o in orders if o.warehouse is not None]
    assert len(routed) > 20
    assert all(o.warehouse.code == ("GZ01" if o.province in SOUTH_CHINA else "SH01") for o in routed)
    assert {o.warehouse.code for o in routed} == {"GZ01", "SH01"}
    routing = OrderEvent.objects.filter(kind=OrderEvent.Kind.RULE, data__kind="route")
    named = dict(routing.values_list("order_id", "data__action__warehouse"))
    assert all(named[o.pk] == o.warehouse.code for o in routed)
    # (a routed order held for 缺货 keeps no warehouse: releasing it routes it again)
    assert all(o.status_reason.startswith("缺货") for o in orders if o.pk in named and o.warehouse is None)
    # tracking numbers look like their carrier's
    shipped = [o for o in orders if o.tracking_number]
    assert {o.carrier.code for o in shipped} == {code for code, _ in CARRIERS}
    for order in shipped:
        assert re.fullmatch(TRACKING_PATTERNS[order.carrier.code], order.tracking_number), order.tracking_number
        assert order.shipments.get().tracking_number == order.tracking_number
    # the demo rules fire: gift lines from the gift rule, routing, and the large VIP order's priority and approval
    hits = dict(Rule.objects.values_list("name", "hit_count"))
    fired = ["钻石会员面膜满299赠试用装", "华南订单发广州仓", "其余订单发上海仓"]
    fired += ["VIP大单优先", "大额或定制订单主管审批"]
    assert all(hits[name] > 0 for name in fired), hits
    gifts = OrderLine.objects.filter(is_gift=True, sku__code="SAMPLE-3", order__customer__member_level="diamond")
    assert gifts.values("order").distinct().count() == hits["钻石会员面膜满299赠试用装"]
    assert Order.objects.filter(status=Status.ON_HOLD, status_reason__contains="运营主管").exists()
    # what the README promises: its example phone finds orders, every login and carrier code is listed
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    phone = re.search(r"lookup/\?q=(1\d{10})", readme)[1]
    assert Order.objects.filter(customer__phone=phone).count() >= 2
    logins = {row[0] for row in re.findall(r"^\| (\w+) \| ([^|]+) \|", readme, re.MULTILINE)}
    assert {username for username, _, _ in DEMO_USERS} <= logins
    assert all(f"`{code}`" in readme for code in Carrier.objects.values_list("code", flat=True))
    assert ".venv/bin/python manage.py drf_create_token api" in readme


def test_roles_exist_with_fitting_permissions(kefu, yunying, caiwu, cangku):
    assert set(ROLES) >= {"客服", "仓库", "运营主管", "财务", "管理员"}
    # customer service cannot edit node settings (or, later, rules); the ops manager can
    assert not kefu.has_perm("orders.change_statusnode")
    assert yunying.has_perm("orders.change_statusnode")
    assert kefu.has_perm("orders.cancel_order") and not kefu.has_perm("orders.pay_order")
    assert caiwu.has_perm("orders.pay_order") and not caiwu.has_perm("orders.cancel_order")
    assert cangku.has_perm("orders.fulfil_order") and not cangku.has_perm("orders.cancel_order")
    assert not any(u.has_perm("orders.delete_order") for u in (kefu, yunying, caiwu, cangku))


def test_presale_deposit_then_balance_replay_then_pay(api):
    from tests.factories import order_payload

    payload = order_payload(is_presale=True, deposit_amount="50.00", paid_amount="50.00")
    created = api.post("/api/v1/orders/", payload, format="json").json()
    url = f"/api/v1/orders/{created['number']}/transitions/"
    # paying with only the deposit is refused
    assert api.post(url, {"transition": "pay"}, format="json").status_code == 409
    assert api.post(url, {"transition": "record_deposit"}, format="json").json()["payment_status"] == "deposit_paid"
    # the channel sends the order again with the balance paid: same order, new amount, and it is paid
    replay = api.post("/api/v1/orders/", dict(payload, paid_amount="198.00"), format="json")
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert replay.json()["paid_amount"] == "198.00" and replay.json()["payment_recorded"] is True
    assert replay.json()["status"] == "paid" and replay.json()["payment_status"] == "paid"
    assert Order.objects.count() == 1


def test_production_settings_refuse_to_start_without_secrets():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    result = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_load_demo_lights_promises_and_shows_pauses_and_approval_overdue(client):
    """The admin home's promise counters are not all 0; an approval hold (待审批) waited past its time and shows
    审批滞留; an order waits for the customer with the paid clock paused; presales with only the deposit have
    their 'placed' clock stopped."""
    from django.utils import translation

    from orders.models import Alert
    from orders.selectors import promise_light_counts
    from orders.services.demo import STORY_APPROVAL, STORY_CUSTOMER

    call_command("load_demo", orders=48)
    lights = promise_light_counts()
    assert lights["green"] > 0 and lights["yellow"] > 0 and lights["red"] > 0, lights

    approval = Order.objects.get(channel_order_no=STORY_APPROVAL)
    assert (approval.status, approval.hold_kind) == (Status.ON_HOLD, Order.HoldKind.APPROVAL)
    assert Alert.objects.filter(order=approval, kind=Alert.Kind.APPROVAL_OVERDUE, resolved_at__isnull=True).exists()
    waiting = Order.objects.get(channel_order_no=STORY_CUSTOMER)
    assert (waiting.status, waiting.hold_kind) == (Status.ON_HOLD, Order.HoldKind.CUSTOMER)
    assert waiting.deadline_basis["paused"]["cause"] == "hold:customer"
    presale = Order.objects.filter(is_presale=True, payment_status="deposit_paid").first()
    assert presale.state_deadline is None and presale.deadline_basis["paused"]["cause"] == "presale_balance"

    client.force_login(get_user_model().objects.get(username="yunying"))
    with translation.override("zh-hans"):
        home = client.get("/admin/").content.decode()
        page = client.get(f"/admin/orders/order/{waiting.pk}/change/").content.decode()
    assert "等待客户回复" in page and "已暂停" in page
    counters = dict(re.findall(r'data-light="(\w+)">.*?class="oh-promise-n"[^>]*>(\d+)<', home))
    assert counters == {light: str(lights[light]) for light in ("red", "yellow", "green")}
    stalled = re.search(r'id="approval-overdue"><a [^>]*>\D*(\d+)', home)
    assert stalled and int(stalled[1]) >= 1, "审批滞留 counter on the home page"
