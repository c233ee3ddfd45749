"""Carriers against a real local HTTP server speaking Kuaidi100's shape: poll, push callback, generic signed
callback, timeouts, 500s and garbage, duplicates and out-of-order events, and stalled parcels."""

import json
import time
from datetime import timedelta
from urllib.parse import parse_qs

import django_rq
import pytest
from django.utils import timezone
from rq import SimpleWorker
from werkzeug import Response

from config.exceptions import Conflict
from logistics.carriers import generic, kuaidi100
from logistics.models import Carrier, Shipment, TrackingEvent
from logistics.services import shipment_poll, shipment_subscribe, shipments_poll_due
from orders.models import Alert, Source, Status
from orders.services.tracking import parcels_stall_sweep
from orders.services.transitions import order_transition
from tests.factories import make_order
from tests.logistics.parcels import printed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

KEY, CUSTOMER, SALT = "k100-key", "K100CUSTOMER", "push-salt"


@pytest.fixture
def carrier(httpserver):
    return Carrier.objects.create(
        code="shunfeng",
        name="顺丰速运",
        adapter=Carrier.Adapter.KUAIDI100,
        provider_code="shunfeng",
        api_base_url=httpserver.url_for("/"),
        api_customer=CUSTOMER,
        api_key=KEY,
        callback_secret=SALT,
        stall_hours=36,
    )


def k100_result(number: str, state: str, items: list[tuple[str, str]], ischeck="0") -> dict:
    return {
        "message": "ok",
        "nu": number,
        "com": "shunfeng",
        "status": "200",
        "ischeck": ischeck,
        "state": state,
        "data": [{"time": t, "ftime": t, "context": c} for t, c in items],
    }


def query_handler(answers: list[dict], seen: list[dict]):
    """Answers Kuaidi100's real-time query with the next answer; checks the sign like the real service."""

    def handle(request):
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        seen.append(form)
        if form.get("sign") != kuaidi100.sign(form["param"], KEY, CUSTOMER):
            return Response(json.dumps({"result": False, "returnCode": "600", "message": "bad sign"}), 200)
        return Response(json.dumps(answers.pop(0), ensure_ascii=False), 200, content_type="application/json")

    return handle


def poll_and_follow(shipment_id: int, capture) -> str:
    """The poll job as a worker runs it: logistics polls and stores, then names orders' follow job, which a real
    RQ worker runs (real Redis)."""
    queue = django_rq.get_queue("default")
    queue.empty()
    with capture(execute=True):
        result = shipment_poll(shipment_id=shipment_id)
    jobs = queue.get_jobs()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    for job in jobs:
        job.refresh()
        assert job.func_name == "orders.jobs.follow_parcel" and job.get_status() == "finished", job.exc_info
    return result


def test_printing_a_label_registers_the_tracking_number_once(carrier):
    order = printed(carrier)
    shipment = Shipment.objects.get()
    assert (shipment.order, shipment.tracking_number, shipment.carrier) == (order, "SF1000000001", carrier)
    other = make_order()
    for name in ("pay", "start_allocation", "allocate"):
        other = order_transition(order=other, transition=name, actor=None, source=Source.SYSTEM)
    with pytest.raises(Conflict) as taken:
        order_transition(
            order=other,
            transition="print_label",
            actor=None,
            source=Source.SCAN,
            changes={"carrier": "shunfeng", "tracking_number": "sf1000000001"},
        )
    assert order.number in taken.value.message
    other.refresh_from_db()
    assert other.status == Status.ALLOCATED and Shipment.objects.count() == 1


def test_poll_moves_the_order_with_the_parcel_and_keeps_raw_events(
    carrier, httpserver, django_capture_on_commit_callbacks
):
    order = printed(carrier)
    seen: list[dict] = []
    answers = [
        k100_result("SF1000000001", "1", [("2026-11-20 10:00:00", "【杭州】顺丰小哥已揽件")]),
        k100_result(
            "SF1000000001",
            "3",
            [
                ("2026-11-21 18:00:00", "【上海】已签收，签收人：本人"),
                ("2026-11-21 08:00:00", "【上海】派送中"),
                ("2026-11-20 10:00:00", "【杭州】顺丰小哥已揽件"),
            ],
            ischeck="1",
        ),
    ]
    httpserver.expect_request("/poll/query.do", method="POST").respond_with_handler(query_handler(answers, seen))
    shipment = Shipment.objects.get()

    assert poll_and_follow(shipment.pk, django_capture_on_commit_callbacks) == "1 new"
    order.refresh_from_db()
    assert order.status == Status.PICKED_UP
    assert json.loads(seen[0]["param"])["phone"] == "5678" and seen[0]["customer"] == CUSTOMER

    # the collected event is not stored twice
    assert poll_and_follow(shipment.pk, django_capture_on_commit_callbacks) == "2 new"
    order.refresh_from_db()
    assert order.status == Status.DELIVERED
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 3
    assert TrackingEvent.objects.filter(description__contains="签收人").get().raw["context"].startswith("【上海】")
    shipment.refresh_from_db()
    assert shipment.is_finished and shipment.next_poll_at is None
    carrier_steps = list(order.events.filter(source="carrier").values_list("transition", flat=True))
    assert carrier_steps == ["pick_up", "deliver"]


@pytest.mark.parametrize(
    "respond",
    [
        lambda server: server.respond_with_data("<html>502 Bad Gateway</html>", status=500),
        lambda server: server.respond_with_data("this is not json", status=200),
        lambda server: server.respond_with_json({"status": "200", "data": [{"time": "yesterday", "context": "x"}]}),
        lambda server: server.respond_with_handler(lambda request: time.sleep(2) or Response("{}")),
    ],
    ids=["500", "garbage", "bad-event-time", "timeout"],
)
def test_failing_carrier_is_retried_with_backoff_and_loses_nothing(carrier, httpserver, settings, respond):
    settings.CARRIER_HTTP_TIMEOUT_SECONDS = 0.5
    printed(carrier)
    shipment = Shipment.objects.get()
    TrackingEvent.objects.create(
        shipment=shipment,
        occurred_at=timezone.now(),
        description="已揽件",
        carrier_state="1",
        fingerprint="kept",
        received_via="poll",
    )
    respond(httpserver.expect_request("/poll/query.do"))
    assert shipment_poll(shipment_id=shipment.pk) == "failed"
    shipment.refresh_from_db()
    first_retry = shipment.next_poll_at - timezone.now()
    assert shipment.poll_failures == 1 and shipment.last_error
    assert timedelta(minutes=4) < first_retry <= timedelta(minutes=5)
    assert shipment_poll(shipment_id=shipment.pk) == "failed"
    shipment.refresh_from_db()
    assert shipment.next_poll_at - timezone.now() > timedelta(minutes=9)  # later each time
    assert shipment.events.count() == 1


def push_form(number: str, state: str, items: list[tuple[str, str]], status="polling", salt=SALT) -> dict:
    param = json.dumps(
        {"status": status, "message": "", "lastResult": k100_result(number, state, items)}, ensure_ascii=False
    )
    return {"param": param, "sign": kuaidi100.sign(param, salt)}


def test_push_callback_is_verified_idempotent_and_never_moves_the_order_backwards(carrier, client):
    order = printed(carrier)
    url = "/api/v1/logistics/callback/shunfeng/"
    signed = push_form("SF1000000001", "3", [("2026-11-21 18:00:00", "已签收")])
    first = client.post(url, signed)
    assert first.status_code == 200 and first.json()["result"] is True and first.json()["returnCode"] == "200"
    assert client.post(url, signed).json()["result"] is True  # delivered twice: stored once
    assert TrackingEvent.objects.count() == 1
    order.refresh_from_db()
    assert order.status == Status.DELIVERED
    late = client.post(url, push_form("SF1000000001", "0", [("2026-11-20 12:00:00", "运输中")]))
    assert late.status_code == 200
    order.refresh_from_db()
    assert order.status == Status.DELIVERED and TrackingEvent.objects.count() == 2  # kept, not applied

    forged = client.post(url, push_form("SF1000000001", "14", [("2026-11-22 09:00:00", "拒签")], salt="guess"))
    assert forged.status_code == 403 and forged.json()["result"] is False
    garbage = client.post(url, {"param": "{not json", "sign": kuaidi100.sign("{not json", SALT)})
    assert garbage.status_code == 400
    unknown = client.post(url, push_form("SF9999999999", "0", [("2026-11-22 09:00:00", "运输中")]))
    assert unknown.status_code == 404
    assert TrackingEvent.objects.count() == 2


def test_problem_parcel_flags_the_order_exception_with_the_reason(carrier, client):
    order = printed(carrier)
    url = "/api/v1/logistics/callback/shunfeng/"
    client.post(url, push_form("SF1000000001", "1", [("2026-11-20 10:00:00", "已揽件")]))
    client.post(url, push_form("SF1000000001", "14", [("2026-11-21 10:00:00", "收件人拒收")]))
    order.refresh_from_db()
    assert order.status == Status.EXCEPTION and "拒签" in order.status_reason and "收件人拒收" in order.status_reason


def test_generic_signed_json_callback(client):
    carrier = Carrier.objects.create(code="deppon", name="德邦", adapter="generic", callback_secret="s3cret")
    order = printed(carrier, number="DPK0001")
    body = json.dumps(
        {
            "tracking_number": "DPK0001",
            "events": [{"time": "2026-11-21T09:00:00+08:00", "state": "1", "description": "德邦已揽收"}],
        }
    ).encode()
    url = "/api/v1/logistics/callback/deppon/"
    bad = client.post(url, body, content_type="application/json", headers={"X-OrderHub-Signature": "00"})
    assert bad.status_code == 403 and not TrackingEvent.objects.exists()
    sig = generic.signature("s3cret", body)
    good = client.post(url, body, content_type="application/json", headers={"X-OrderHub-Signature": sig})
    assert good.status_code == 200
    order.refresh_from_db()
    assert order.status == Status.PICKED_UP


def test_quiet_parcel_is_flagged_stalled_alerts_owner_and_clears_when_events_resume(carrier, client, httpserver):
    order = printed(carrier)
    shipment = Shipment.objects.get()
    # the clock moves: the label was printed 37 hours ago and nothing came
    Shipment.objects.filter(pk=shipment.pk).update(created_at=timezone.now() - timedelta(hours=37))
    assert parcels_stall_sweep() == 1
    shipment.refresh_from_db()
    assert shipment.is_stalled and shipment.next_poll_at <= timezone.now()  # re-query now
    alert = Alert.objects.get(kind=Alert.Kind.PARCEL_STALLED, order=order)
    assert "物流停滞" in alert.message and alert.owner_group is not None
    assert parcels_stall_sweep() == 0  # flagged once
    client.post(
        "/api/v1/logistics/callback/shunfeng/",
        push_form("SF1000000001", "1", [(timezone.localtime().strftime("%Y-%m-%d %H:%M:%S"), "已揽件")]),
    )
    shipment.refresh_from_db()
    assert not shipment.is_stalled


def test_any_registered_parcel_finds_its_order(carrier, kefu, client):
    from logistics.services import shipment_register
    from tests.conftest import client_for

    order = printed(carrier)
    shipment_register(order=order, carrier=carrier, tracking_number="sf 2000 0000 02", source="manual")
    found = client_for(kefu).get("/api/v1/orders/lookup/", {"q": "SF2000000002"}).json()
    assert [o["number"] for o in found] == [order.number]
    client.force_login(kefu)
    assert order.number in client.get("/admin/orders/order/", {"q": "SF2000000002"}).content.decode()
    assert client.get("/admin/logistics/shipment/").status_code == 200
    assert client.get(f"/admin/logistics/shipment/{Shipment.objects.first().pk}/change/").status_code == 200


def test_new_kuaidi100_parcel_is_subscribed_for_pushes(
    carrier, httpserver, settings, django_capture_on_commit_callbacks
):
    settings.ORDERHUB_PUBLIC_URL = "https://oms.example.com"
    seen: list[dict] = []

    def handle(request):
        seen.append({k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()})
        return Response(json.dumps({"result": True, "returnCode": "200", "message": "提交成功"}), 200)

    httpserver.expect_request("/poll", method="POST").respond_with_handler(handle)
    with django_capture_on_commit_callbacks() as callbacks:
        printed(carrier)
    assert callbacks  # a subscribe job is enqueued once the label's transaction commits
    shipment = Shipment.objects.get()
    assert shipment_subscribe(shipment_id=shipment.pk) == "subscribed"
    param = json.loads(seen[0]["param"])
    assert param["parameters"]["callbackurl"] == "https://oms.example.com/api/v1/logistics/callback/shunfeng/"
    assert param["number"] == "SF1000000001" and param["key"] == KEY and param["parameters"]["salt"] == SALT
    shipment.refresh_from_db()
    assert shipment.subscribed_at is not None
    assert shipment_subscribe(shipment_id=shipment.pk) == "skipped"


def test_due_parcels_get_one_poll_job_each_spaced_per_carrier_account(carrier, django_capture_on_commit_callbacks):
    for n in range(3):
        printed(carrier, number=f"SF30000000{n}")
    queue = django_rq.get_queue("carriers")

    def clear() -> None:
        queue.empty()
        for job_id in queue.scheduled_job_registry.get_job_ids():
            queue.scheduled_job_registry.remove(job_id)

    clear()
    with django_capture_on_commit_callbacks(execute=True):  # django-rq enqueues on commit
        assert shipments_poll_due() == 3
    assert queue.count == 1  # the first now, the others later: about one query per second per account
    assert len(queue.scheduled_job_registry.get_job_ids()) == 2
    clear()


def test_order_page_shows_parcels_with_carrier_events_and_stall(carrier, client, kefu):
    order = printed(carrier)
    client.post(
        "/api/v1/logistics/callback/shunfeng/", push_form("SF1000000001", "1", [("2026-11-20 10:00:00", "顺丰已揽件")])
    )
    Shipment.objects.update(stalled_since=timezone.now())
    client.force_login(kefu)
    page = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    panel = page[page.index('id="oh-parcels"') :][:3000]
    assert "SF1000000001" in panel and "顺丰已揽件" in panel and "oh-stock-out" in panel
