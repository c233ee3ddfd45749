"""Electronic waybills (电子面单) at the carrier: Kuaidi100's waybill API as a real local HTTP server that checks the
signature and fields like the provider (same orderId → same number), refuses, times out and answers garbage;
and the manual adapter handing out a seller's number range (号段) in order, never twice."""

import json
import threading
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from django.core.management import call_command
from django.db import connection
from werkzeug import Request, Response

from config.exceptions import InvalidInput
from logistics.carriers import adapter_for, adapter_names, kuaidi100
from logistics.carriers.base import CarrierUnavailable, WaybillParty, WaybillRefused, WaybillRequest
from logistics.models import Carrier, Shipment, WaybillNumberIssue, WaybillNumberRange
from logistics.services import tracking_number_clean, waybill_number_range_save, waybill_number_take
from warehouse.models import Warehouse

pytestmark = pytest.mark.django_db

KEY, SECRET, PARTNER_ID, PARTNER_KEY = "k100-key", "k100-secret", "SF-MONTHLY-0101", "pk-9"
SENDER = WaybillParty(
    name="上海青浦仓", phone="021-61234567", address="上海市青浦区华新镇华志路1688号", company="美肤旗舰店"
)
RECEIVER = WaybillParty(name="王小明", phone="13800138000", address="浙江省杭州市西湖区文三路478号")


@pytest.fixture
def carrier(httpserver):
    return Carrier.objects.create(
        code="shunfeng",
        name="顺丰速运",
        adapter=Carrier.Adapter.KUAIDI100,
        provider_code="shunfeng",
        api_key=KEY,
        callback_secret="push-salt",
        waybill_api_url=httpserver.url_for("/label/order"),
        waybill_secret=SECRET,
        waybill_partner_id=PARTNER_ID,
        waybill_partner_key=PARTNER_KEY,
        waybill_template_id="sf_76130",
        label_paper="76x130",
    )


def request_for(key: str = "20261201-K7Q2M9XA-1", **changes) -> WaybillRequest:
    values = {"key": key, "receiver": RECEIVER, "sender": SENDER, "cargo": "化妆品", "weight_kg": Decimal("0.85")}
    return WaybillRequest(**{**values, **changes})


class Kuaidi100WaybillServer:
    """The provider's side: checks sign = upper(MD5(param + t + key + secret)) and the fields, hands out one
    number per orderId (a retried order gets the same number), cancels what it issued."""

    def __init__(self):
        self.numbers: dict[str, str] = {}
        self.cancelled: list[str] = []
        self.seen: list[dict] = []

    def __call__(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        param = json.loads(form["param"])
        self.seen.append({"method": request.args.get("method"), "form": form, "param": param})
        if form.get("key") != KEY or form.get("sign") != kuaidi100.sign(form["param"], form["t"], KEY, SECRET):
            return self.answer(False, 30002, "签名错误")
        if param.get("partnerId") != PARTNER_ID:
            return self.answer(False, 30005, "电子面单账号不存在")
        if request.args.get("method") == "cancel":
            self.cancelled.append(param["kuaidinum"])
            return self.answer(True, 200, "success", None)
        receiver = param["recMan"]
        if not (receiver.get("printAddr") or param.get("oaid")) or not param.get("orderId"):
            return self.answer(False, 30001, "收件人地址不能为空")
        number = self.numbers.setdefault(param["orderId"], f"SF{1400000000001 + len(self.numbers)}")
        data = {"taskId": f"T{len(self.seen)}", "kuaidinum": number, "bulkpen": "310-浦东 021"}
        return self.answer(True, 200, "success", {**data, "destSortingCode": "A12-03", "label": ""})

    @staticmethod
    def answer(success: bool, code: int, message: str, data=None) -> Response:
        body = {"success": success, "code": code, "message": message, "data": data}
        return Response(json.dumps(body, ensure_ascii=False), 200, content_type="application/json")


@pytest.fixture
def provider(httpserver):
    server = Kuaidi100WaybillServer()
    httpserver.expect_request("/label/order", method="POST").respond_with_handler(server)
    return server


def test_kuaidi100_waybill_order_signs_sends_the_account_and_parties_and_reads_the_number(carrier, provider):
    waybill = adapter_for(carrier).waybill_order(
        carrier=carrier, request=request_for(callback_url="https://oms.example.com/api/v1/logistics/callback/sf/")
    )

    assert waybill.tracking_number == "SF1400000000001"
    assert (waybill.routing_text, waybill.sorting_code, waybill.task_id) == ("310-浦东 021", "A12-03", "T1")
    assert waybill.subscribed is True and waybill.raw["kuaidinum"] == "SF1400000000001"
    (call,) = provider.seen
    param = call["param"]
    assert call["method"] == "order" and len(call["form"]["t"]) == 13  # milliseconds
    assert (
        param["printType"] == "NON" and param["kuaidicom"] == "shunfeng" and param["orderId"] == "20261201-K7Q2M9XA-1"
    )
    assert (param["partnerId"], param["partnerKey"], param["tempId"]) == (PARTNER_ID, PARTNER_KEY, "sf_76130")
    assert "partnerSecret" not in param and "net" not in param  # empty account fields are not sent
    assert param["recMan"] == {"name": "王小明", "mobile": "13800138000", "printAddr": "浙江省杭州市西湖区文三路478号"}
    assert param["sendMan"] == {
        "name": "上海青浦仓",
        "tel": "021-61234567",  # a landline goes as tel
        "printAddr": "上海市青浦区华新镇华志路1688号",
        "company": "美肤旗舰店",
    }
    assert (param["cargo"], param["count"], param["weight"]) == ("化妆品", 1, "0.85")
    assert (param["payType"], param["expType"], param["width"], param["height"]) == ("SHIPPER", "标准快递", 76, 130)
    assert param["needSubscribe"] is True
    assert param["pollCallBackUrl"] == "https://oms.example.com/api/v1/logistics/callback/sf/"
    assert param["salt"] == "push-salt"  # so its pushes can be verified


def test_kuaidi100_waybill_retried_with_the_same_key_gets_the_same_number(carrier, provider):
    adapter = adapter_for(carrier)
    first = adapter.waybill_order(carrier=carrier, request=request_for("20261201-K7Q2M9XA-1"))
    again = adapter.waybill_order(carrier=carrier, request=request_for("20261201-K7Q2M9XA-1"))
    second_parcel = adapter.waybill_order(carrier=carrier, request=request_for("20261201-K7Q2M9XA-2"))

    assert first.tracking_number == again.tracking_number != second_parcel.tracking_number
    assert "needSubscribe" not in provider.seen[0]["param"] and first.subscribed is False


def test_kuaidi100_waybill_platform_receiver_goes_by_its_id_never_a_plain_address(carrier, provider):
    masked = WaybillParty(name="王**", phone="138****8000", address="浙江省杭州市西湖区***")
    adapter_for(carrier).waybill_order(
        carrier=carrier,
        request=request_for(receiver=masked, platform_receiver_id="OAID-1AbC2dEf3", platform_order_id="TB4020001"),
    )

    param = provider.seen[0]["param"]
    assert param["oaid"] == "OAID-1AbC2dEf3" and param["thirdOrderId"] == "TB4020001"
    assert "printAddr" not in param["recMan"]
    assert param["recMan"] == {"name": "王**", "tel": "138****8000"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"waybill_secret": "wrong"}, "签名错误"),
        ({"waybill_partner_id": "NOBODY"}, "电子面单账号不存在"),
    ],
    ids=["wrong-key", "unknown-account"],
)
def test_kuaidi100_waybill_refusal_raises_waybill_refused_with_the_carriers_reason(carrier, provider, change, reason):
    for field, value in change.items():
        setattr(carrier, field, value)
    with pytest.raises(WaybillRefused) as refused:
        adapter_for(carrier).waybill_order(carrier=carrier, request=request_for())
    assert str(refused.value) == reason


def test_kuaidi100_waybill_bad_address_is_refused(carrier, provider):
    with pytest.raises(WaybillRefused, match="收件人地址不能为空"):
        adapter_for(carrier).waybill_order(
            carrier=carrier, request=request_for(receiver=WaybillParty(name="王小明", phone="13800138000", address=""))
        )


@pytest.mark.parametrize(
    "respond",
    [
        lambda server, _late: server.respond_with_data("<html>502 Bad Gateway</html>", status=502),
        lambda server, _late: server.respond_with_data("this is not json", status=200),
        lambda server, _late: server.respond_with_json({"success": True, "code": 200, "data": {"taskId": "T1"}}),
        lambda server, _late: server.respond_with_json({"success": False, "code": 500, "message": "服务器错误"}),
        lambda server, _late: server.respond_with_json(["not", "an", "object"]),
        lambda server, late: server.respond_with_handler(lambda request: late.wait(5) or Response("{}")),
    ],
    ids=["http-502", "garbage", "no-number", "json-500", "not-an-object", "timeout"],
)
def test_kuaidi100_waybill_unavailable_carrier_raises_carrier_unavailable(carrier, httpserver, settings, respond):
    settings.CARRIER_HTTP_TIMEOUT_SECONDS = 0.5
    late = threading.Event()  # the test server answers one request at a time: release it before the next test
    respond(httpserver.expect_request("/label/order"), late)
    try:
        with pytest.raises(CarrierUnavailable):
            adapter_for(carrier).waybill_order(carrier=carrier, request=request_for())
    finally:
        late.set()


def test_kuaidi100_waybill_timeout_then_retry_yields_one_number(carrier, httpserver, settings):
    """The provider issued the number but our read timed out: the retry with the same key gets that number."""
    settings.CARRIER_HTTP_TIMEOUT_SECONDS = 0.5
    provider = Kuaidi100WaybillServer()
    we_gave_up = threading.Event()

    def handler(request):
        answer = provider(request)
        if len(provider.seen) == 1:
            we_gave_up.wait(5)  # the number is issued, the answer comes too late
        return answer

    httpserver.expect_request("/label/order").respond_with_handler(handler)
    with pytest.raises(CarrierUnavailable):
        adapter_for(carrier).waybill_order(carrier=carrier, request=request_for())
    we_gave_up.set()
    retried = adapter_for(carrier).waybill_order(carrier=carrier, request=request_for())
    assert list(provider.numbers.values()) == [retried.tracking_number]


def test_kuaidi100_waybill_cancel_sends_the_number_and_key(carrier, provider):
    adapter = adapter_for(carrier)
    waybill = adapter.waybill_order(carrier=carrier, request=request_for())
    adapter.waybill_cancel(
        carrier=carrier, tracking_number=waybill.tracking_number, key="20261201-K7Q2M9XA-1", reason="订单取消"
    )

    call = provider.seen[-1]
    assert call["method"] == "cancel" and provider.cancelled == [waybill.tracking_number]
    assert call["param"] == {
        "partnerId": PARTNER_ID,
        "partnerKey": PARTNER_KEY,
        "kuaidicom": "shunfeng",
        "kuaidinum": waybill.tracking_number,
        "orderId": "20261201-K7Q2M9XA-1",
        "reason": "订单取消",
    }
    carrier.waybill_partner_id = "NOBODY"
    with pytest.raises(WaybillRefused):
        adapter.waybill_cancel(carrier=carrier, tracking_number=waybill.tracking_number, key="x", reason="")


def test_kuaidi100_without_a_waybill_account_is_not_ready_and_refused(carrier):
    carrier.waybill_api_url = ""
    adapter = adapter_for(carrier)
    assert adapter.issues_waybills and not adapter.waybill_ready(carrier=carrier)
    with pytest.raises(WaybillRefused):
        adapter.waybill_order(carrier=carrier, request=request_for())


# -- manual adapter: the seller's number ranges ---------------------------------------------------------------


@pytest.fixture
def zto():
    return Carrier.objects.create(code="zhongtong", name="中通快递")


def a_range(carrier, first, last, prefix="", width=0) -> WaybillNumberRange:
    return waybill_number_range_save(
        number_range=WaybillNumberRange(
            carrier=carrier, prefix=prefix, first_number=first, next_number=first, last_number=last, width=width
        ),
        actor=None,
    )


def test_manual_range_hands_out_numbers_in_order_then_refuses_when_used_up(zto):
    adapter = adapter_for(zto)
    assert adapter.issues_waybills and not adapter.waybill_ready(carrier=zto)  # no range yet
    a_range(zto, 7, 9, prefix="zt", width=6)
    assert adapter.waybill_ready(carrier=zto)

    numbers = [adapter.waybill_order(carrier=zto, request=request_for(f"K-{i}")).tracking_number for i in range(3)]

    assert numbers == ["ZT000007", "ZT000008", "ZT000009"]
    assert not adapter.waybill_ready(carrier=zto)
    with pytest.raises(WaybillRefused) as used_up:
        adapter.waybill_order(carrier=zto, request=request_for("K-3"))
    assert "号段已用完" in str(used_up.value)
    assert adapter.waybill_order(carrier=zto, request=request_for("K-1")).tracking_number == "ZT000008"  # same key
    assert WaybillNumberRange.objects.get().next_number == 10
    assert WaybillNumberIssue.objects.count() == 3


def test_manual_range_moves_on_to_the_next_range_and_skips_inactive_ones(zto):
    first = a_range(zto, 1, 1, prefix="A")
    off = a_range(zto, 1, 5, prefix="B")
    off.is_active = False
    waybill_number_range_save(number_range=off, actor=None)
    a_range(zto, 100, 200, prefix="C")

    assert waybill_number_take(carrier=zto, key="k1") == "A1"
    assert waybill_number_take(carrier=zto, key="k2") == "C100"
    first.refresh_from_db()
    assert first.remaining == 0


def test_manual_cancel_never_reissues_the_number_and_frees_the_key(zto):
    a_range(zto, 1, 10, prefix="M")
    adapter = adapter_for(zto)
    number = adapter.waybill_order(carrier=zto, request=request_for("K-1")).tracking_number
    adapter.waybill_cancel(carrier=zto, tracking_number=number, key="K-1", reason="改派")

    again = adapter.waybill_order(carrier=zto, request=request_for("K-1")).tracking_number
    assert (number, again) == ("M1", "M2")
    with pytest.raises(WaybillRefused):
        adapter.waybill_cancel(carrier=zto, tracking_number="M1", key="K-1", reason="twice")
    with pytest.raises(WaybillRefused):
        adapter.waybill_cancel(carrier=zto, tracking_number="M2", key="K-other", reason="not its key")


@pytest.mark.django_db(transaction=True)
def test_manual_range_concurrent_takes_never_give_a_number_twice(zto):
    """Eight packers at once, two of them for the same parcel: eight keys' worth of numbers… minus the repeat."""
    a_range(zto, 1, 100, prefix="P")
    keys = ["K-0", "K-0", "K-1", "K-2", "K-3", "K-4", "K-5", "K-6"]
    results: dict[int, str] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(keys))

    def take(index: int, key: str) -> None:
        try:
            start.wait()
            results[index] = waybill_number_take(carrier=zto, key=key)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(i, key)) for i, key in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert results[0] == results[1]  # the same key got one number
    assert sorted(set(results.values())) == sorted(f"P{i}" for i in range(1, 8))  # 7 keys, 7 numbers, in order
    assert WaybillNumberRange.objects.get().next_number == 8


def test_number_range_save_refuses_overlaps_shrinking_below_used_and_bad_prefix(zto):
    used = a_range(zto, 1, 100, prefix="SF")
    waybill_number_take(carrier=zto, key="k1")
    waybill_number_take(carrier=zto, key="k2")

    with pytest.raises(InvalidInput) as overlap:
        a_range(zto, 50, 150, prefix="sf")
    assert overlap.value.extra == {"field": "first_number"} and "SF1–SF100" in overlap.value.message
    a_range(zto, 50, 150, prefix="ZT")  # another prefix: other numbers

    used.last_number = 1
    with pytest.raises(InvalidInput) as shrink:
        waybill_number_range_save(number_range=used, actor=None)
    assert shrink.value.extra == {"field": "last_number"} and "SF2" in shrink.value.message

    used.refresh_from_db()
    used.next_number, used.first_number, used.last_number = 1, 1, 200  # a stale form cannot rewind the counter
    waybill_number_range_save(number_range=used, actor=None)
    used.refresh_from_db()
    assert (used.next_number, used.last_number) == (3, 200)

    with pytest.raises(InvalidInput) as bad:
        a_range(zto, 1, 5, prefix="顺丰")
    assert bad.value.extra == {"field": "prefix"}
    with pytest.raises(InvalidInput):
        a_range(zto, 9, 5, prefix="X")
    with pytest.raises(InvalidInput):
        a_range(zto, 1, 5, prefix="X", width=40)


def test_adapter_names_lists_waybill_issuers():
    assert set(adapter_names(issues_waybills=True)) == {Carrier.Adapter.KUAIDI100, Carrier.Adapter.MANUAL}
    assert adapter_names(issues_waybills=False) == [Carrier.Adapter.GENERIC]


def test_demo_carriers_have_number_ranges_and_warehouses_senders_so_the_first_waybill_works():
    call_command("load_demo", orders=8)

    for carrier in Carrier.objects.all():
        adapter = adapter_for(carrier)
        assert adapter.waybill_ready(carrier=carrier), carrier.code
        number = adapter.waybill_order(carrier=carrier, request=request_for(f"DEMO-{carrier.code}-1")).tracking_number
        assert not Shipment.objects.filter(carrier=carrier, tracking_number=number).exists()
        assert tracking_number_clean(number) == number
    assert all(w.sender_name and w.sender_phone and w.sender_address for w in Warehouse.objects.all())
    ranges = list(WaybillNumberRange.objects.values_list("pk", "next_number"))

    call_command("load_demo", orders=8)  # a second run adds nothing and moves no counter
    assert list(WaybillNumberRange.objects.values_list("pk", "next_number")) == ranges
