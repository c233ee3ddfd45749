"""Issue 11: the hub gets an order's waybill (电子面单) from its carrier — Kuaidi100 as a real local HTTP server that
checks signature and fields, or a manual number range — registers it in the parcel registry once, and prints it.
Idempotent on "<order number>-1": a second call, a re-print, a retry after a timeout and two packers at once all
get one number. A refusal or timeout writes nothing, keeps the order allocated and alerts the warehouse."""

import threading

import pytest
from django.db import connection

from logistics.models import Shipment, WaybillNumberIssue
from orders.exceptions import Conflict, Forbidden
from orders.models import Alert, Order, OrderEvent, Source, Status
from orders.services.timeline import EVENT_DATA_KEYS
from orders.services.transitions import order_transition
from orders.services.waybills import order_labels_pdf, order_waybill_obtain, orders_waybills_obtain
from tests.factories import user_with_role
from tests.logistics.test_labels import decoded, page_text
from tests.warehouse.waybills import (
    Kuaidi100WaybillServer,
    allocated_for,
    kuaidi100_carrier,
    manual_carrier,
    with_sender,
)
from warehouse.models import Warehouse

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]


@pytest.fixture
def provider(httpserver):
    server = Kuaidi100WaybillServer()
    httpserver.expect_request("/label/order", method="POST").respond_with_handler(server)
    return server


@pytest.fixture
def sf(httpserver, stocked):
    with_sender()
    return kuaidi100_carrier(httpserver.url_for("/label/order"))


def order_calls(provider: Kuaidi100WaybillServer) -> list[dict]:
    return [call for call in provider.seen if call["method"] == "order"]


def nothing_written(order: Order, events_before: int) -> None:
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED
    assert not Shipment.objects.filter(order=order).exists()  # not even the reserved row
    assert order.events.exclude(kind=OrderEvent.Kind.ALERT).count() == events_before


def test_order_waybill_obtain_registers_the_carriers_number_once_and_a_second_call_returns_it(sf, provider, cangku):
    order = allocated_for(sf)

    first = order_waybill_obtain(order=order, actor=cangku, source=Source.SCAN)
    again = order_waybill_obtain(order=order, actor=cangku, source=Source.SCAN)

    assert again.pk == first.pk and again.tracking_number == first.tracking_number == "SF1400000000001"
    assert len(order_calls(provider)) == 1  # the carrier was asked once
    stored = Shipment.objects.get(order=order)
    assert (stored.waybill_key, stored.waybill_state, stored.is_active) == (f"{order.number}-1", "ordered", True)
    assert (stored.routing_text, stored.sorting_code) == ("310-浦东 021", "A12-03")
    assert stored.waybill_raw["kuaidinum"] == "SF1400000000001" and stored.ordered_at is not None
    assert stored.subscribed_at is not None  # subscribed for tracking pushes in the same call
    param = order_calls(provider)[0]["param"]
    assert param["orderId"] == f"{order.number}-1"
    assert param["pollCallBackUrl"].endswith("/api/v1/logistics/callback/shunfeng/") and param["needSubscribe"]
    assert param["sendMan"]["name"] == "上海青浦仓" and param["sendMan"]["printAddr"].startswith("上海市青浦区")
    assert param["recMan"] == {"name": "张三", "mobile": "13812345678", "printAddr": "浙江杭州西湖区文三路 100 号"}
    assert param["cargo"] == "补水面膜×2"
    [event] = order.events.filter(data__has_key="waybill_key")
    assert sorted(event.data) == sorted(EVENT_DATA_KEYS["waybill_ordered_event"])
    assert (event.data["tracking_number"], event.actor_id, event.source) == ("SF1400000000001", cangku.pk, "scan")
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED  # the label step is the scan's (or the admin's), not this service's


def test_order_waybill_obtain_platform_masked_receiver_goes_masked(sf, provider, cangku):
    order = allocated_for(
        sf,
        shipping_address={
            "receiver": "王小明",
            "phone": "138****8000",
            "province": "浙江",
            "city": "杭州",
            "district": "西湖区",
            "detail": "文三路***",
        },
    )

    order_waybill_obtain(order=order, actor=cangku, source=Source.SCAN)

    receiver = order_calls(provider)[0]["param"]["recMan"]
    assert receiver["name"] == "王*" and receiver["tel"] == "138****8000"


def test_order_waybill_obtain_reprint_after_printing_gives_the_same_number_and_label(sf, provider, cangku):
    order = allocated_for(sf, gift_note="赠品放上面")
    waybill = order_waybill_obtain(order=order, actor=cangku, source=Source.SCAN)
    order = order_transition(order=order, transition="print_label", actor=cangku, source=Source.SCAN)
    first_pdf = order_labels_pdf(orders=[order])

    again = order_waybill_obtain(order=order, actor=cangku, source=Source.ADMIN)
    second_pdf = order_labels_pdf(orders=[order])

    assert again.pk == waybill.pk and len(order_calls(provider)) == 1
    assert decoded(first_pdf) == decoded(second_pdf) == [sorted([waybill.tracking_number, order.number])]
    text = page_text(second_pdf)[0]
    assert "310-浦东021" in text and "补水面膜×2" in text and "面膜试用装×3" in text
    assert "张*" in text and "138****5678" in text and "13812345678" not in text  # masked as printed
    assert Shipment.objects.get(pk=waybill.pk).waybill_state == Shipment.WaybillState.PRINTED


def test_order_waybill_obtain_carrier_refusal_writes_nothing_alerts_the_warehouse_and_names_the_reason(
    httpserver, provider, cangku
):
    with_sender()
    wrong = kuaidi100_carrier(httpserver.url_for("/label/order"), partner_id="NO-SUCH-ACCOUNT")
    order = allocated_for(wrong)
    events_before = order.events.count()

    with pytest.raises(Conflict) as refused:
        order_waybill_obtain(order=order, actor=cangku, source=Source.SCAN)
    with pytest.raises(Conflict):  # the packer tries again: still one open alert, with the latest reason
        order_waybill_obtain(order=order, actor=cangku, source=Source.SCAN)

    assert order.number in refused.value.message and "电子面单账号不存在" in refused.value.message
    assert refused.value.code == "waybill_failed" and refused.value.extra["status"] == Status.ALLOCATED
    nothing_written(order, events_before)
    [alert] = Alert.objects.filter(order=order, kind=Alert.Kind.WAYBILL_FAILED)
    assert alert.owner_group.name == "仓库" and "电子面单账号不存在" in alert.message and alert.resolved_at is None

    # when: the account is fixed, the next try gets the waybill and the alert closes by itself
    type(wrong).objects.filter(pk=wrong.pk).update(waybill_partner_id="SF-MONTHLY-0101")
    order_waybill_obtain(order=order, actor=cangku, source=Source.SCAN)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_order_waybill_obtain_timeout_writes_nothing_and_the_retry_gets_the_number_the_carrier_issued(
    sf, httpserver, settings, cangku
):
    settings.CARRIER_HTTP_TIMEOUT_SECONDS = 0.5
    provider = Kuaidi100WaybillServer()
    late = threading.Event()

    def handler(request):
        answer = provider(request)
        if len(provider.seen) == 1:
            late.wait(5)  # the carrier issued the number; its answer comes after we gave up
        return answer

    httpserver.expect_request("/label/order").respond_with_handler(handler)
    order = allocated_for(sf)
    events_before = order.events.count()
    try:
        with pytest.raises(Conflict) as refused:
            order_waybill_obtain(order=order, actor=cangku, source=Source.SCAN)
    finally:
        late.set()
    assert order.number in refused.value.message
    nothing_written(order, events_before)
    assert Alert.objects.filter(order=order, kind=Alert.Kind.WAYBILL_FAILED, resolved_at__isnull=True).exists()

    retried = order_waybill_obtain(order=order, actor=cangku, source=Source.SCAN)

    assert list(provider.numbers.values()) == [retried.tracking_number]  # one number, never a second
    assert [c["param"]["orderId"] for c in provider.seen] == [f"{order.number}-1"] * 2


def test_order_waybill_obtain_garbage_answer_writes_nothing(sf, httpserver, cangku):
    httpserver.expect_request("/label/order").respond_with_data("<html>502</html>", status=502)
    order = allocated_for(sf)
    events_before = order.events.count()

    with pytest.raises(Conflict) as refused:
        order_waybill_obtain(order=order, actor=cangku, source=Source.SCAN)

    assert "502" in refused.value.extra["reason"]
    nothing_written(order, events_before)


def test_order_waybill_obtain_manual_range_hands_out_numbers_in_order(stocked, cangku):
    with_sender()
    zto = manual_carrier()
    first, second = allocated_for(zto), allocated_for(zto)

    numbers = [order_waybill_obtain(order=o, actor=cangku, source=Source.SCAN).tracking_number for o in (first, second)]
    again = order_waybill_obtain(order=first, actor=cangku, source=Source.SCAN)

    assert numbers == ["ZT0000000001", "ZT0000000002"] and again.tracking_number == "ZT0000000001"
    assert WaybillNumberIssue.objects.count() == 2


def test_order_waybill_obtain_carrier_without_numbers_or_sender_is_refused_clearly(stocked, cangku):
    used_up = manual_carrier(first=None)
    order = allocated_for(used_up)
    with_sender()

    with pytest.raises(Conflict) as no_numbers:
        order_waybill_obtain(order=order, actor=cangku, source=Source.SCAN)
    assert "中通快递" in no_numbers.value.message and order.number in no_numbers.value.message
    assert Alert.objects.filter(order=order, kind=Alert.Kind.WAYBILL_FAILED).count() == 1

    Warehouse.objects.filter(code="SH01").update(sender_name="")
    zto = manual_carrier(code="zto2")
    other = allocated_for(zto)
    with pytest.raises(Conflict) as no_sender:
        order_waybill_obtain(order=other, actor=cangku, source=Source.SCAN)
    assert "上海仓" in no_sender.value.message and not Shipment.objects.filter(order=other).exists()


def test_order_waybill_obtain_refused_before_allocation_and_without_permission(sf, provider, kefu, cangku):
    order = allocated_for(sf)
    with pytest.raises(Forbidden):
        order_waybill_obtain(order=order, actor=kefu, source=Source.ADMIN)
    order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="顾客取消")
    with pytest.raises(Conflict) as refused:
        order_waybill_obtain(order=order, actor=cangku, source=Source.ADMIN)
    assert order.number in refused.value.message and order_calls(provider) == []


def test_orders_waybills_obtain_one_failing_order_never_stops_the_others(sf, provider, cangku):
    used_up = manual_carrier(first=None)
    good, bad, also_good = allocated_for(sf), allocated_for(used_up), allocated_for(sf)

    batch = orders_waybills_obtain(orders=[good, bad, also_good], actor=cangku, source=Source.ADMIN)

    assert [s.order_id for s in batch.ok] == [good.pk, also_good.pk]
    [(number, reason)] = batch.failed
    assert number == bad.number and "中通快递" in reason
    pdf = order_labels_pdf(orders=[good, also_good])
    assert decoded(pdf) == [sorted([s.tracking_number, s.order.number]) for s in batch.ok]


def test_order_labels_pdf_refuses_orders_without_a_waybill_naming_them(sf, provider, cangku):
    order = allocated_for(sf)
    with pytest.raises(Conflict) as refused:
        order_labels_pdf(orders=[order])
    assert order.number in refused.value.message and refused.value.extra["orders"] == [order.number]


@pytest.mark.django_db(transaction=True)
def test_order_waybill_obtain_two_packers_at_once_get_one_waybill(httpserver):
    # given: a Kuaidi100 order whose carrier answers slowly, so both packers are inside at once
    provider = Kuaidi100WaybillServer()
    inside = threading.Event()

    def slow(request):
        inside.set()
        threading.Event().wait(0.3)  # the second packer arrives while the carrier is still answering
        return provider(request)

    httpserver.expect_request("/label/order").respond_with_handler(slow)
    with_sender()
    sf = kuaidi100_carrier(httpserver.url_for("/label/order"))
    order = allocated_for(sf)
    packers = [user_with_role("仓库", f"packer-{i}") for i in range(2)]
    got: dict[int, str] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def obtain(index: int) -> None:
        try:
            start.wait()
            if index == 1:
                inside.wait(5)
            got[index] = order_waybill_obtain(order=order, actor=packers[index], source=Source.SCAN).tracking_number
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=obtain, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert got[0] == got[1]
    assert len(order_calls(provider)) == 1
    assert Shipment.objects.filter(order=order).count() == 1
    assert OrderEvent.objects.filter(order=order, data__has_key="waybill_key").count() == 1
