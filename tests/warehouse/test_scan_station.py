"""The scan station (service and page) and the pick list page."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from config.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from orders.models import Order, Source, Status
from orders.services.scan import GiftToAdd, order_scan
from orders.services.transitions import order_transition
from tests.factories import SkuFactory, WarehouseFactory, stock_in
from tests.warehouse.fulfilment import allocated_order, printed_order
from warehouse.models import StockLevel

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]


@pytest.fixture(autouse=True)
def english_messages():
    """Service messages are checked in English here; the pages speak Chinese (see the page tests)."""
    with translation.override("en"):
        yield


SCAN_URL = "/warehouse/scan/"
PICKLIST_URL = "/warehouse/picklist/"


def on_hand(sku_code: str, warehouse: str = "SH01") -> int:
    return StockLevel.objects.get(sku__code=sku_code, warehouse__code=warehouse).on_hand


def snapshot(order: Order) -> tuple:
    """What a refused scan must leave exactly as it was."""
    order.refresh_from_db()
    return (
        order.status,
        order.state_entered_at,
        order.events.count(),
        on_hand("MASK-001"),
        StockLevel.objects.get(sku__code="MASK-001", warehouse__code="SH01").locked,
    )


# --- service ---


def test_order_scan_print_allocated_order_prints_label_with_scan_event_by_packer(cangku):
    # given
    order = allocated_order()

    # when
    result = order_scan(code=order.number, step="print", actor=cangku)

    # then
    assert result.order.status == Status.PRINTED
    assert result.step == "print"
    assert order.number in result.message
    event = order.events.order_by("-id").first()
    assert (event.transition, event.source, event.actor, event.to_status) == (
        "print_label",
        Source.SCAN,
        cangku,
        Status.PRINTED,
    )


def test_order_scan_handover_printed_order_picks_up_and_deducts_stock(cangku):
    # given
    order = printed_order()
    assert on_hand("MASK-001") == 100

    # when
    result = order_scan(code=order.number, step="handover", actor=cangku)

    # then
    order.refresh_from_db()
    assert order.status == result.order.status == Status.PICKED_UP
    assert on_hand("MASK-001") == 98
    level = StockLevel.objects.get(sku__code="MASK-001", warehouse__code="SH01")
    assert level.locked == 0
    event = order.events.order_by("-id").first()
    assert (event.transition, event.source, event.actor) == ("pick_up", Source.SCAN, cangku)


def test_order_scan_unknown_code_raises_not_found_naming_it_and_changes_nothing(cangku):
    order = allocated_order()
    before = snapshot(order)

    with pytest.raises(NotFound) as refused:
        order_scan(code="  NOPE-404  ", step="print", actor=cangku)

    assert refused.value.code == "unknown_code"
    assert "NOPE-404" in refused.value.message
    assert snapshot(order) == before


@pytest.mark.parametrize("code", ["", "   "])
def test_order_scan_empty_code_is_invalid_input(cangku, code):
    with pytest.raises(InvalidInput) as refused:
        order_scan(code=code, step="print", actor=cangku)
    assert refused.value.extra["field"] == "code"


def test_order_scan_unknown_step_is_invalid_input_and_changes_nothing(cangku):
    order = allocated_order()
    before = snapshot(order)

    with pytest.raises(InvalidInput) as refused:
        order_scan(code=order.number, step="pack", actor=cangku)

    assert refused.value.extra == {"field": "step", "allowed": ["handover", "print"]}
    assert snapshot(order) == before


def test_order_scan_handover_of_allocated_order_refused_print_first_and_changes_nothing(cangku):
    # given: the label is not printed yet
    order = allocated_order()
    before = snapshot(order)

    # when
    with pytest.raises(Conflict) as refused:
        order_scan(code=order.number, step="handover", actor=cangku)

    # then: the reason names the order, its state and what to do instead
    assert refused.value.code == "wrong_step"
    assert refused.value.message == (f"Order {order.number} is '{Status.ALLOCATED.label}': print its label first.")
    assert refused.value.extra == {"order": order.number, "status": Status.ALLOCATED}
    assert snapshot(order) == before


def test_order_scan_print_twice_refused_already_printed(cangku):
    order = allocated_order()
    order_scan(code=order.number, step="print", actor=cangku)
    before = snapshot(order)

    with pytest.raises(Conflict) as refused:
        order_scan(code=order.number, step="print", actor=cangku)

    assert refused.value.code == "wrong_step"
    assert f"is already '{Status.PRINTED.label}'" in refused.value.message
    assert "Handover" in refused.value.message
    assert snapshot(order) == before


def test_order_scan_handover_twice_refused_already_handed_to_carrier(cangku):
    order = printed_order()
    order_scan(code=order.number, step="handover", actor=cangku)
    before = snapshot(order)

    for step in ("handover", "print"):
        with pytest.raises(Conflict) as refused:
            order_scan(code=order.number, step=step, actor=cangku)
        assert refused.value.code == "wrong_step"
        assert "already handed to carrier" in refused.value.message
    assert snapshot(order) == before


def test_order_scan_print_without_tracking_number_refused(cangku):
    order = allocated_order(tracking_number=None)
    before = snapshot(order)

    with pytest.raises(Conflict) as refused:
        order_scan(code=order.number, step="print", actor=cangku)

    assert refused.value.code == "wrong_step"
    assert "no tracking number" in refused.value.message
    assert snapshot(order) == before


def test_order_scan_cancelled_order_refused_do_not_ship_with_reason(cangku):
    order = allocated_order()
    order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="顾客取消")
    order.refresh_from_db()
    events = order.events.count()

    with pytest.raises(Conflict) as refused:
        order_scan(code=order.number, step="print", actor=cangku)

    assert "do not ship it" in refused.value.message
    assert "顾客取消" in refused.value.message
    order.refresh_from_db()
    assert order.status == Status.CANCELLED
    assert order.events.count() == events


def test_order_scan_finds_order_by_tracking_number_or_number_in_any_case(cangku):
    first = allocated_order(tracking_number="sf7700000001")
    second = allocated_order()

    assert order_scan(code=" SF7700000001\n", step="print", actor=cangku).order == first
    assert order_scan(code=f"  {second.number.lower()} ", step="print", actor=cangku).order == second


def test_order_scan_tracking_number_shared_by_two_orders_takes_the_one_ready_for_the_step(cangku):
    # one number is registered once per carrier, but two carriers may issue the same number
    printed = printed_order(tracking_number="SF8800000001")
    waiting = allocated_order(tracking_number="SF8800000001", carrier="zhongtong")

    assert order_scan(code="SF8800000001", step="print", actor=cangku).order == waiting
    # now both are printed: the packer must scan an order number
    with pytest.raises(Conflict) as refused:
        order_scan(code="SF8800000001", step="handover", actor=cangku)
    assert refused.value.code == "ambiguous_code"
    assert set(refused.value.extra["orders"]) == {printed.number, waiting.number}


def test_order_scan_lists_gift_lines_to_add(cangku):
    order = allocated_order(gift_note="钻石会员赠品，放在面膜上面")

    result = order_scan(code=order.number, step="print", actor=cangku)

    assert result.gifts == [GiftToAdd("SAMPLE-3", "面膜试用装", 3, "钻石会员赠品，放在面膜上面")]
    assert order_scan(code=order.number, step="handover", actor=cangku).gifts == result.gifts


GIFT = {"sku": "SAMPLE-3", "name": "面膜试用装", "quantity": 3, "note": "装箱时放入"}


def test_order_scan_print_without_tracking_number_refused_but_lists_gifts_for_packing(cangku):
    # given: an order being packed whose waybill number is not there yet
    order = allocated_order(tracking_number=None, gift_note="装箱时放入")
    before = snapshot(order)

    # when
    with pytest.raises(Conflict) as refused:
        order_scan(code=order.number, step="print", actor=cangku)

    # then: the label is refused, but the packer learns the gifts before sealing the parcel
    assert "no tracking number" in refused.value.message
    assert refused.value.extra["gifts"] == [GIFT]
    assert snapshot(order) == before


def test_order_scan_print_of_printed_order_refused_but_lists_gifts_for_packing(cangku):
    # given: the label was printed elsewhere (admin), the parcel is being packed
    order = printed_order(gift_note="装箱时放入")
    before = snapshot(order)

    with pytest.raises(Conflict) as refused:
        order_scan(code=order.number, step="print", actor=cangku)

    assert "Handover" in refused.value.message
    assert refused.value.extra["gifts"] == [GIFT]
    assert snapshot(order) == before


@pytest.mark.parametrize("transition", ["cancel", "hold"])
def test_order_scan_print_of_order_not_to_ship_lists_no_gifts(cangku, transition):
    order = allocated_order(gift_note="装箱时放入")
    order_transition(order=order, transition=transition, actor=None, source=Source.ADMIN, reason="顾客取消")

    with pytest.raises(Conflict) as refused:
        order_scan(code=order.number, step="print", actor=cangku)

    assert "do not ship it" in refused.value.message
    assert "gifts" not in refused.value.extra


def test_order_scan_without_fulfil_permission_is_forbidden(kefu):
    order = allocated_order()
    before = snapshot(order)

    with pytest.raises(Forbidden):
        order_scan(code=order.number, step="print", actor=kefu)

    assert snapshot(order) == before


# --- scan page ---


def post_scan(client, **data):
    return client.post(SCAN_URL, data=json.dumps(data), content_type="application/json")


def test_scan_page_get_shows_station_with_autofocus_input_in_chinese_first(client, cangku):
    client.force_login(cangku)

    response = client.get(SCAN_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert "扫码出库 <small>Scan station</small>" in html
    assert 'id="scan-code" name="code" type="text" autofocus' in html
    assert "打单确认" in html and "交接快递" in html
    assert "warehouse/scan.js" in html


def test_scan_page_json_post_success_returns_order_status_and_gifts(client, cangku):
    order = allocated_order(gift_note="随单赠送")
    client.force_login(cangku)

    response = post_scan(client, code=order.number, step="print")

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["order"] == order.number
    assert body["status"] == Status.PRINTED
    assert body["status_label"]
    assert body["gifts"] == [{"sku": "SAMPLE-3", "name": "面膜试用装", "quantity": 3, "note": "随单赠送"}]
    order.refresh_from_db()
    assert order.status == Status.PRINTED
    assert order.events.order_by("-id").first().actor == cangku


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"code": "NOPE-404", "step": "print"}, 404, "unknown_code"),
        ({"code": "", "step": "print"}, 400, "invalid_field"),
        ({"code": "X", "step": "pack"}, 400, "invalid_field"),
    ],
)
def test_scan_page_json_post_refusals_answer_status_and_reason(client, cangku, payload, status, code):
    client.force_login(cangku)

    response = post_scan(client, **payload)

    assert response.status_code == status
    body = response.json()
    assert (body["ok"], body["code"]) == (False, code)
    assert body["message"]


def test_scan_page_json_post_wrong_step_is_409_with_reason_and_changes_nothing(client, cangku):
    order = allocated_order()
    client.force_login(cangku)

    response = post_scan(client, code=order.number, step="handover")

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "wrong_step"
    assert body["order"] == order.number
    assert "请先打单" in body["message"]  # the page speaks Chinese first
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED


def test_scan_page_json_post_refused_print_of_order_being_packed_still_answers_gifts(client, cangku):
    order = allocated_order(tracking_number=None, gift_note="装箱时放入")
    client.force_login(cangku)

    response = post_scan(client, code=order.number, step="print")

    assert response.status_code == 409
    body = response.json()
    assert (body["ok"], body["code"]) == (False, "wrong_step")
    assert body["gifts"] == [GIFT]


def test_scan_page_bad_json_is_400(client, cangku):
    client.force_login(cangku)

    response = client.post(SCAN_URL, data="not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


def test_scan_page_form_post_without_script_renders_result_and_recent_scans(client, cangku):
    order = allocated_order(gift_note="加一片")
    client.force_login(cangku)

    done = client.post(SCAN_URL, {"code": order.number, "step": "print"})
    refused = client.post(SCAN_URL, {"code": order.number, "step": "print"})

    assert done.status_code == 200
    html = done.content.decode()
    assert 'class="result ok"' in html
    assert "加赠品 Add gifts" in html and "SAMPLE-3" in html and "加一片" in html
    assert refused.status_code == 409
    html = refused.content.decode()
    assert 'class="result error"' in html
    assert 'data-sound="error"' in html
    assert 'value="print" checked' in html  # the step stays chosen
    # both scans are in the recent list, newest first
    recent = client.get(SCAN_URL).context["recent"]
    assert [(scan["code"], scan["ok"]) for scan in recent] == [(order.number, False), (order.number, True)]


def test_scan_page_kefu_without_fulfil_permission_gets_403_and_nothing_changes(client, kefu):
    order = allocated_order()
    client.force_login(kefu)

    assert client.get(SCAN_URL).status_code == 403
    assert post_scan(client, code=order.number, step="print").status_code == 403
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED


def test_scan_page_anonymous_is_sent_to_admin_login(client):
    response = client.get(SCAN_URL)

    assert response.status_code == 302
    assert response.url == f"{reverse('admin:login')}?next={SCAN_URL}"


# --- pick list ---


@pytest.fixture
def beijing():
    warehouse = WarehouseFactory(code="BJ01", name="北京仓", province="北京")
    stock_in(SkuFactory(code="MASK-001"), warehouse, 100)
    stock_in(SkuFactory(code="SAMPLE-3"), warehouse, 100)
    return warehouse


def address(province: str, city: str, receiver: str = "王五") -> dict:
    return {
        "receiver": receiver,
        "phone": "13812345678",
        "province": province,
        "city": city,
        "district": "",
        "detail": "人民路 1 号",
    }


def test_picklist_groups_by_warehouse_then_region_most_urgent_first(client, cangku, beijing):
    # given: two regions at SH01 (浙江 has a normal then an urgent order), one order at BJ01, one not allocated
    zj_normal = allocated_order(shipping_address=address("浙江", "杭州"))
    zj_urgent = allocated_order(shipping_address=address("浙江", "宁波"), priority=2)
    js = allocated_order(shipping_address=address("江苏", "南京"), priority=1)
    bj = allocated_order(shipping_address=address("北京", "北京"), warehouse="BJ01")
    not_yet = printed_order()
    client.force_login(cangku)

    # when
    response = client.get(PICKLIST_URL)

    # then
    assert response.status_code == 200
    groups = response.context["groups"]
    assert [group.warehouse.code for group in groups] == ["BJ01", "SH01"]
    assert [[order.number for order in region.orders] for region in groups[0].regions] == [[bj.number]]
    shanghai = {region.province: [order.number for order in region.orders] for region in groups[1].regions}
    assert shanghai == {"江苏": [js.number], "浙江": [zj_urgent.number, zj_normal.number]}
    html = response.content.decode()
    assert not_yet.number not in html
    assert html.index(zj_urgent.number) < html.index(zj_normal.number)
    assert "紧急 Urgent ★★" in html and "高 High ★" in html
    assert "王五 · 宁波" in html
    assert "打印 Print" in html


def test_picklist_marks_gift_lines_with_note_and_sums_gifts_into_pick_summary(client, cangku):
    allocated_order(gift_note="钻石会员赠品")
    allocated_order(gift_note="钻石会员赠品")
    allocated_order()
    client.force_login(cangku)

    response = client.get(PICKLIST_URL)

    html = response.content.decode()
    assert html.count("【赠品 gift】") == 2
    assert "钻石会员赠品" in html
    [warehouse] = response.context["groups"]
    [region] = warehouse.regions
    totals = {total.sku_code: (total.quantity, total.gift_quantity) for total in region.totals}
    assert totals == {"MASK-001": (6, 0), "SAMPLE-3": (6, 6)}
    assert "拣货汇总 Pick summary" in html


def test_picklist_selected_orders_lists_only_them_and_names_those_not_waiting(client, cangku):
    wanted = allocated_order()
    other = allocated_order()
    shipped = printed_order()
    client.force_login(cangku)

    response = client.get(PICKLIST_URL, {"orders": f"{wanted.number.lower()}, {shipped.number}"})

    listed = [order.number for group in response.context["groups"] for r in group.regions for order in r.orders]
    assert listed == [wanted.number]
    assert response.context["not_listed"] == [shipped.number]
    assert other.number not in response.content.decode()


def test_picklist_filters_by_warehouse_and_province(client, cangku, beijing):
    zj = allocated_order(shipping_address=address("浙江", "杭州"))
    js = allocated_order(shipping_address=address("江苏", "南京"))
    bj = allocated_order(shipping_address=address("北京", "北京"), warehouse="BJ01")
    client.force_login(cangku)

    def listed(**params) -> set[str]:
        response = client.get(PICKLIST_URL, params)
        return {o.number for group in response.context["groups"] for r in group.regions for o in r.orders}

    assert listed(warehouse="BJ01") == {bj.number}
    assert listed(province="江苏") == {js.number}
    assert listed(warehouse="SH01", province="浙江") == {zj.number}


def test_picklist_empty_shows_nothing_to_pick(client, cangku):
    client.force_login(cangku)

    response = client.get(PICKLIST_URL)

    assert response.status_code == 200
    assert "Nothing to pick" in response.content.decode()


def test_picklist_queries_do_not_grow_with_order_count(client, cangku, django_assert_max_num_queries):
    client.force_login(cangku)
    allocated_order(gift_note="赠")
    client.get(PICKLIST_URL)  # warm up: session and permission caches

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(PICKLIST_URL).status_code == 200
        return len(captured)

    few = queries()
    for _ in range(5):
        allocated_order(gift_note="赠", tags=["加急"])
    assert queries() == few
    with django_assert_max_num_queries(8):
        client.get(PICKLIST_URL)


def test_picklist_kefu_gets_403_and_anonymous_goes_to_login(client, kefu):
    assert client.get(PICKLIST_URL).status_code == 302
    client.force_login(kefu)
    assert client.get(PICKLIST_URL).status_code == 403


def test_admin_action_print_pick_list_redirects_with_selected_orders(client, cangku):
    first, second = allocated_order(), allocated_order()
    client.force_login(cangku)

    response = client.post(
        reverse("admin:orders_order_changelist"),
        {"action": "print_pick_list", "_selected_action": [first.pk, second.pk]},
    )

    assert response.status_code == 302
    path, query = response.url.split("?")
    assert path == PICKLIST_URL
    assert query.startswith("orders=")
    assert set(query.removeprefix("orders=").split(",")) == {first.number, second.number}
