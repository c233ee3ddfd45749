import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from orders.models import Order, Status, StatusNode
from orders.roles import ROLES
from warehouse.selectors import stock_check

pytestmark = pytest.mark.django_db


def test_load_demo_covers_every_state_and_is_idempotent():
    call_command("load_demo", orders=48)
    counts = {s: Order.objects.filter(status=s).count() for s in Status.values}
    assert all(counts.values()), counts
    assert Order.objects.filter(is_presale=True, payment_status="deposit_paid").exists()
    assert StatusNode.objects.count() == len(Status.values)
    assert get_user_model().objects.filter(username__in=["kefu", "cangku", "yunying", "caiwu", "admin"]).count() == 5
    # shipped demo orders have registered parcels whose carrier events match their timeline
    delivered = Order.objects.filter(status="delivered").first()
    parcel = delivered.shipments.get()
    assert parcel.events.filter(carrier_state="3").exists() and parcel.is_finished
    assert stock_check() == []
    before = (Order.objects.count(), Order.history.count())
    call_command("load_demo", orders=48)
    assert (Order.objects.count(), Order.history.count()) == before


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
