"""Stock on the API and in the admin: read, adjust with a reason, refusals that change nothing."""

import pytest

from tests.conftest import client_for
from tests.factories import SkuFactory, user_with_role
from warehouse.models import SkuAlias, StockLevel, StockMovement, StockReservation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]


def mask() -> StockLevel:
    return StockLevel.objects.get(sku__code="MASK-001", warehouse__code="SH01")


def test_stock_list_shows_available_and_filters_by_alias(kefu):
    SkuAlias.objects.create(sku=SkuFactory(code="MASK-001"), alias="补水面膜十片装")
    response = client_for(kefu).get("/api/v1/stock/", {"sku": "补水面膜十片装"})
    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "sku": "MASK-001",
            "sku_name": "补水面膜",
            "warehouse": "SH01",
            "on_hand": 100,
            "locked": 0,
            "reserved": 0,
            "available": 100,
            "updated_at": response.json()["results"][0]["updated_at"],
        }
    ]
    assert client_for(kefu).get("/api/v1/stock/", {"sku": "NOPE"}).json()["code"] == "unknown_sku"


def test_stock_adjust_api_books_inbound_with_the_actor(cangku):
    response = client_for(cangku).post(
        "/api/v1/stock/adjustments/",
        {"sku": "MASK-001", "warehouse": "SH01", "kind": "inbound", "quantity": 20, "reason": "PO-7 到货"},
        format="json",
    )
    assert response.status_code == 201 and response.json()["on_hand"] == 120
    movement = StockMovement.objects.latest("id")
    assert (movement.actor, movement.reason, movement.on_hand_delta) == (cangku, "PO-7 到货", 20)
    ledger = client_for(cangku).get("/api/v1/stock/movements/", {"sku": "MASK-001"}).json()["results"]
    assert ledger[0]["reason"] == "PO-7 到货" and ledger[0]["actor"] == "cangku"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"kind": "damage", "quantity": 101, "reason": "破损"}, "stock_below_zero", "quantity"),
        ({"kind": "inbound", "quantity": 5, "reason": "x", "sku": "NOPE"}, "unknown_sku", "sku"),
        ({"kind": "inbound", "quantity": 5, "reason": "x", "warehouse": "XX"}, "unknown_warehouse", "warehouse"),
        ({"kind": "inbound", "quantity": -1, "reason": "x"}, "invalid", None),
        ({"kind": "inbound", "quantity": 5}, "invalid", None),
    ],
)
def test_stock_adjust_api_refusals_name_the_problem_and_change_nothing(cangku, body, code, field):
    payload = {"sku": "MASK-001", "warehouse": "SH01", **body}
    response = client_for(cangku).post("/api/v1/stock/adjustments/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code or code == "invalid"
    if field:
        assert response.json()["extra"]["field"] == field
    assert mask().on_hand == 100 and StockMovement.objects.count() == 2  # the fixture's two inbound rows


def test_stock_adjust_needs_permission(kefu):
    response = client_for(kefu).post(
        "/api/v1/stock/adjustments/",
        {"sku": "MASK-001", "warehouse": "SH01", "kind": "inbound", "quantity": 5, "reason": "x"},
        format="json",
    )
    assert response.status_code == 403 and mask().on_hand == 100


def test_admin_adjust_form_books_stock_and_refuses_below_zero_on_the_field(client, cangku):
    client.force_login(cangku)
    page = client.get("/admin/warehouse/stocklevel/adjust/?sku=MASK-001")
    assert page.status_code == 200
    form = {"sku": "MASK-001", "warehouse": mask().warehouse_id, "kind": "damage", "quantity": 500, "reason": "破损"}
    refused = client.post("/admin/warehouse/stocklevel/adjust/", form)
    assert refused.status_code == 200 and "errorlist" in refused.content.decode()
    assert mask().on_hand == 100
    done = client.post("/admin/warehouse/stocklevel/adjust/", {**form, "quantity": 4})
    assert done.status_code == 302 and "stockmovement" in done["Location"]
    assert mask().on_hand == 96


def test_admin_adjust_form_is_forbidden_without_permission(client, kefu):
    client.force_login(kefu)
    assert client.get("/admin/warehouse/stocklevel/adjust/").status_code == 403


def test_admin_stock_pages_open_for_the_warehouse(client, cangku, django_assert_max_num_queries):
    client.force_login(cangku)
    for n in range(30):
        from tests.factories import stock_in

        stock_in(SkuFactory(code=f"BULK-{n}"), mask().warehouse, n + 1)
    with django_assert_max_num_queries(12):
        listing = client.get("/admin/warehouse/stocklevel/")
    assert listing.status_code == 200 and "MASK-001" in listing.content.decode()
    assert client.get("/admin/warehouse/stocklevel/?available=low").status_code == 200
    assert client.get("/admin/warehouse/stockmovement/").status_code == 200
    assert client.get("/admin/warehouse/stocklock/").status_code == 200
    assert client.get("/admin/warehouse/allocationsettings/").status_code == 302


def test_admin_quota_form_reserves_units_and_refuses_more_than_free(client, yunying):
    client.force_login(yunying)
    form = {
        "name": "双11 大促",
        "kind": "promo",
        "sku": SkuFactory(code="MASK-001").pk,
        "warehouse": mask().warehouse_id,
        "promo_code": "D11",
        "units": 150,
    }
    refused = client.post("/admin/warehouse/stockreservation/add/", form)
    assert refused.status_code == 200 and "errorlist" in refused.content.decode()
    assert not StockReservation.objects.exists()
    saved = client.post("/admin/warehouse/stockreservation/add/", {**form, "units": 30})
    assert saved.status_code == 302
    assert StockReservation.objects.get().quantity == 30 and mask().reserved == 30
    assert StockReservation.history.count() >= 1


def test_purchasing_role_sees_stock_and_books_inbound(client):
    buyer = user_with_role("采购", "caigou")
    client.force_login(buyer)
    assert client.get("/admin/warehouse/stocklevel/").status_code == 200
    assert client.get("/admin/warehouse/stocklevel/adjust/").status_code == 200
    from warehouse.selectors import allocation_settings

    settings_page = client.get(f"/admin/warehouse/allocationsettings/{allocation_settings().pk}/change/")
    assert settings_page.status_code == 200 and 'name="breaker_max_backlog"' not in settings_page.content.decode()


def test_ops_manager_sets_breaker_thresholds_with_history(client, yunying):
    from warehouse.selectors import allocation_settings

    client.force_login(yunying)
    settings = allocation_settings()
    url = f"/admin/warehouse/allocationsettings/{settings.pk}/change/"
    assert 'name="breaker_max_backlog"' in client.get(url).content.decode()
    form = {
        "auto_allocate": "on",
        "lock_expiry_hours": 48,
        "breaker_enabled": "on",
        "breaker_max_backlog": 300,
        "breaker_max_wait_minutes": 10,
        "breaker_resume_percent": 70,
    }
    assert client.post(url, form).status_code == 302
    settings.refresh_from_db()
    assert (settings.breaker_max_backlog, settings.lock_expiry_hours) == (300, 48)
    assert settings.history.latest().history_user == yunying
    assert client.post(url, {**form, "breaker_max_backlog": 0}).status_code == 200  # refused on the field


def test_order_page_shows_the_orders_stock_locks(client, kefu):
    from orders.models import Source
    from orders.services.transitions import order_transition
    from tests.factories import make_order

    order = make_order()
    for name in ("pay", "start_allocation", "allocate"):
        order = order_transition(order=order, transition=name, actor=None, source=Source.SYSTEM)
    client.force_login(kefu)
    page = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    panel = page[page.index('id="oh-stock-locks"') :]
    assert "MASK-001" in panel[:2000] and "SH01" in panel[:2000]


def test_integration_token_reads_stock_but_cannot_adjust_it(api):
    assert api.get("/api/v1/stock/", {"sku": "MASK-001"}).json()["results"][0]["available"] == 100
    adjust = {"sku": "MASK-001", "warehouse": "SH01", "kind": "inbound", "quantity": 5, "reason": "x"}
    assert api.post("/api/v1/stock/adjustments/", adjust, format="json").status_code == 403
