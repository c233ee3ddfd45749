"""Unused waybills are cancelled at the carrier (sellers pay for unused numbers): cancelling or re-routing an order
whose waybill was ordered or printed marks it cancel_pending and enqueues logistics.jobs.waybill_cancel, which asks
the carrier — here Kuaidi100's waybill API as a real local HTTP server — once. A refusal, or no answer within the
give-up time, is cancel_failed and an alert for 仓库; a later success resolves it. The manual range just marks the
number cancelled, never to be handed out again."""

import json
import threading
from datetime import timedelta
from urllib.parse import parse_qs

import django_rq
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from werkzeug import Request, Response

from logistics import jobs as logistics_jobs
from logistics.carriers import adapter_for, kuaidi100
from logistics.carriers.base import CarrierUnavailable
from logistics.models import Carrier, Shipment, WaybillNumberIssue, WaybillNumberRange
from logistics.services import (
    WAYBILL_CANCEL_JOB,
    waybill_cancels_sweep,
    waybill_number_range_save,
    waybill_number_take,
    waybill_reserve,
    waybills_cancel_retry,
)
from orders import jobs as orders_jobs
from orders.models import Alert, Order, Source
from orders.services.transitions import order_transition
from orders.services.waybills import order_labels_pdf, order_waybill_obtain
from tests.factories import CarrierFactory
from tests.logistics.test_waybills import KEY, PARTNER_ID, PARTNER_KEY, SECRET, request_for
from tests.warehouse.fulfilment import allocated_order
from tests.warehouse.waybills import allocated_for, with_sender

pytestmark = pytest.mark.usefixtures("stocked")

FOLLOW_JOB = "orders.jobs.follow_waybill_cancel"


class CancellingServer:
    """Kuaidi100's waybill API: orders (one number per orderId) and cancels, checking the signature. `refuse` makes
    a cancel answer the provider's refusal; `late` holds the next cancel's answer past our timeout."""

    def __init__(self):
        self.numbers: dict[str, str] = {}
        self.cancels: list[dict] = []
        self.refuse = ""
        self.late: threading.Event | None = None

    def __call__(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        param = json.loads(form["param"])
        if form.get("sign") != kuaidi100.sign(form["param"], form["t"], KEY, SECRET):
            return self.answer(False, 30002, "签名错误")
        if request.args.get("method") == "cancel":
            self.cancels.append(param)
            if self.late is not None:
                late, self.late = self.late, None
                late.wait(5)  # the provider cancelled it, but its answer comes after we gave up waiting
            if self.refuse:
                return self.answer(False, 30010, self.refuse)
            return self.answer(True, 200, "success")
        number = self.numbers.setdefault(param["orderId"], f"SF{1500000000001 + len(self.numbers)}")
        return self.answer(True, 200, "success", {"kuaidinum": number, "bulkpen": "310-浦东"})

    @staticmethod
    def answer(success: bool, code: int, message: str, data=None) -> Response:
        body = {"success": success, "code": code, "message": message, "data": data}
        return Response(json.dumps(body, ensure_ascii=False), 200, content_type="application/json")


@pytest.fixture
def provider(httpserver):
    server = CancellingServer()
    httpserver.expect_request("/label/order", method="POST").respond_with_handler(server)
    return server


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
    )


@pytest.fixture
def queues():
    carriers, default = django_rq.get_queue("carriers"), django_rq.get_queue("default")
    carriers.empty()
    default.empty()
    yield carriers, default
    carriers.empty()
    default.empty()


def order_with_waybill(carrier: Carrier, *, state=Shipment.WaybillState.PRINTED) -> tuple[Order, Shipment]:
    """An allocated order whose label was printed from a waybill of `carrier` (reserved by its key, ordered
    through the adapter, its number in the registry)."""
    order = allocated_order(tracking_number=None)
    Order.objects.filter(pk=order.pk).update(carrier=carrier)
    order = Order.objects.get(pk=order.pk)
    shipment = waybill_reserve(order=order, carrier=carrier)
    waybill = adapter_for(carrier).waybill_order(carrier=carrier, request=request_for(shipment.waybill_key))
    Shipment.objects.filter(pk=shipment.pk).update(tracking_number=waybill.tracking_number, waybill_state=state)
    shipment.refresh_from_db()
    return order, shipment


def cancel(order: Order, capture) -> Order:
    with capture(execute=True):
        return order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="客户取消")


def run_jobs(queue, capture, *, func_name: str) -> list:
    """Run the queued jobs of one name as a worker would (their on-commit hand-overs included); returns results
    (or the exception a job raised, which RQ would retry)."""
    results = []
    for job in queue.get_jobs():
        if job.func_name != func_name:
            continue
        job.delete()
        try:
            with capture(execute=True):
                results.append(job.func(*job.args, **job.kwargs))
        except CarrierUnavailable as exc:
            results.append(exc)
    return results


def cancel_alerts(order: Order):
    return Alert.objects.filter(order=order, kind=Alert.Kind.WAYBILL_CANCEL_FAILED)


def test_order_cancel_cancels_its_unused_waybill_at_the_carrier_once(
    carrier, provider, queues, django_capture_on_commit_callbacks
):
    carriers, _default = queues
    order, shipment = order_with_waybill(carrier)
    # when: the customer cancels the order
    cancel(order, django_capture_on_commit_callbacks)
    # then: the registry marked the waybill cancel_pending and queued its cancel job by name, with retries
    shipment.refresh_from_db()
    assert (shipment.is_active, shipment.waybill_state) == (False, Shipment.WaybillState.CANCEL_PENDING)
    [job] = [j for j in carriers.get_jobs() if j.func_name == WAYBILL_CANCEL_JOB]
    assert job.kwargs == {"shipment_id": shipment.pk, "reason": "订单取消：客户取消"}
    assert job.retries_left == 3
    # when: the worker runs it
    assert run_jobs(carriers, django_capture_on_commit_callbacks, func_name=WAYBILL_CANCEL_JOB) == ["cancelled"]
    # then: the carrier was asked with the number, our key and the reason; the waybill is cancelled
    [asked] = provider.cancels
    assert (asked["kuaidinum"], asked["orderId"], asked["reason"]) == (
        shipment.tracking_number,
        f"{order.number}-1",
        "订单取消：客户取消",
    )
    shipment.refresh_from_db()
    assert shipment.waybill_state == Shipment.WaybillState.CANCELLED and shipment.last_error == ""
    # idempotent: the same job again (a redelivery) asks the carrier nothing
    assert logistics_jobs.waybill_cancel(shipment_id=shipment.pk) == "skipped"
    assert len(provider.cancels) == 1 and not cancel_alerts(order).exists()


def test_order_rerouted_to_another_carrier_cancels_the_old_carriers_waybill(
    carrier, provider, queues, django_capture_on_commit_callbacks
):
    carriers, _default = queues
    order, shipment = order_with_waybill(carrier)
    CarrierFactory(code="zhongtong", name="中通快递")
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(
            order=order,
            transition="hold",
            actor=None,
            source=Source.ADMIN,
            reason="改派中通",
            changes={"carrier": "zhongtong"},
        )

    assert run_jobs(carriers, django_capture_on_commit_callbacks, func_name=WAYBILL_CANCEL_JOB) == ["cancelled"]
    assert [(c["kuaidinum"], c["reason"]) for c in provider.cancels] == [(shipment.tracking_number, "改派")]
    shipment.refresh_from_db()
    assert (shipment.is_active, shipment.waybill_state) == (False, Shipment.WaybillState.CANCELLED)


def test_waybill_in_use_or_plain_number_is_never_cancelled(
    carrier, provider, queues, django_capture_on_commit_callbacks
):
    carriers, _default = queues
    _order, shipment = order_with_waybill(carrier)
    # a job for a waybill still in use (e.g. enqueued by mistake) does nothing
    assert logistics_jobs.waybill_cancel(shipment_id=shipment.pk) == "skipped"
    # a plain (typed) number retired with its order gets no cancel job
    plain = allocated_order(tracking_number="SF5300000001")
    cancel(plain, django_capture_on_commit_callbacks)
    assert [j for j in carriers.get_jobs() if j.func_name == WAYBILL_CANCEL_JOB] == []
    assert provider.cancels == []


def test_cancel_after_a_timeout_is_retried_and_asks_for_the_same_waybill(
    carrier, provider, queues, settings, django_capture_on_commit_callbacks
):
    settings.CARRIER_HTTP_TIMEOUT_SECONDS = 0.5
    carriers, _default = queues
    order, shipment = order_with_waybill(carrier)
    provider.late = late = threading.Event()
    cancel(order, django_capture_on_commit_callbacks)
    # when: the carrier's answer comes too late
    [first] = run_jobs(carriers, django_capture_on_commit_callbacks, func_name=WAYBILL_CANCEL_JOB)
    late.set()
    # then: the job raised for RQ to retry it later; the waybill still waits, the error is kept, nobody is alerted
    assert isinstance(first, CarrierUnavailable)
    shipment.refresh_from_db()
    assert shipment.waybill_state == Shipment.WaybillState.CANCEL_PENDING and "timed out" in shipment.last_error
    # when: RQ's retry runs it again
    assert logistics_jobs.waybill_cancel(shipment_id=shipment.pk) == "cancelled"
    # then: the same waybill by number and key, twice asked, cancelled once here
    assert [(c["kuaidinum"], c["orderId"]) for c in provider.cancels] == [
        (shipment.tracking_number, shipment.waybill_key)
    ] * 2
    shipment.refresh_from_db()
    assert (shipment.waybill_state, shipment.last_error) == (Shipment.WaybillState.CANCELLED, "")
    assert not cancel_alerts(order).exists()


def test_refused_cancel_is_cancel_failed_with_an_alert_for_the_warehouse_and_a_retry_resolves_it(
    carrier, provider, queues, django_capture_on_commit_callbacks
):
    carriers, default = queues
    order, shipment = order_with_waybill(carrier)
    provider.refuse = "面单已揽收，不能取消"
    cancel(order, django_capture_on_commit_callbacks)
    # when: the carrier refuses
    assert run_jobs(carriers, django_capture_on_commit_callbacks, func_name=WAYBILL_CANCEL_JOB) == ["refused"]
    shipment.refresh_from_db()
    assert (shipment.waybill_state, shipment.last_error) == (
        Shipment.WaybillState.CANCEL_FAILED,
        "面单已揽收，不能取消",
    )
    assert run_jobs(default, django_capture_on_commit_callbacks, func_name=FOLLOW_JOB) == ["alerted"]
    # then: one alert for 仓库 (its route) naming the order, the number and the carrier's reason
    [alert] = cancel_alerts(order)
    assert alert.owner_group.name == "仓库" and alert.resolved_at is None
    for part in (order.number, shipment.tracking_number, "顺丰速运", "面单已揽收，不能取消"):
        assert part in alert.message
    assert orders_jobs.follow_waybill_cancel(shipment_id=shipment.pk) == "alerted"  # again: still one alert
    assert cancel_alerts(order).count() == 1
    # when: the carrier accepts, and a person retries (admin 重新取消面单) — a pending or cancelled one is skipped
    provider.refuse = ""
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = waybills_cancel_retry(shipments=Shipment.objects.filter(order=order), actor=None)
    assert outcomes == {"cancelled": 1}
    assert run_jobs(default, django_capture_on_commit_callbacks, func_name=FOLLOW_JOB) == ["resolved"]
    # then: cancelled, and the alert resolved itself
    shipment.refresh_from_db()
    alert.refresh_from_db()
    assert shipment.waybill_state == Shipment.WaybillState.CANCELLED
    assert alert.resolved_at is not None
    assert waybills_cancel_retry(shipments=Shipment.objects.filter(order=order), actor=None) == {"skipped": 1}
    assert len(provider.cancels) == 2


def test_cancel_without_an_answer_is_enqueued_again_then_given_up_with_the_last_error_and_alerted(
    carrier, provider, queues, settings, django_capture_on_commit_callbacks
):
    carriers, default = queues
    order, shipment = order_with_waybill(carrier)
    cancel(order, django_capture_on_commit_callbacks)
    carriers.empty()  # the job is lost (Redis went away with it)
    Shipment.objects.filter(pk=shipment.pk).update(last_error="http://127.0.0.1/label/order: timed out")
    # not yet: the job's own retries still have time
    assert waybill_cancels_sweep() == {"requeued": 0, "given_up": 0}
    # past the retries: the sweep enqueues the cancel again
    retried = timezone.now() + timedelta(minutes=settings.WAYBILL_CANCEL_REQUEUE_MINUTES + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert waybill_cancels_sweep(now=retried) == {"requeued": 1, "given_up": 0}
    [job] = carriers.get_jobs()
    assert (job.func_name, job.kwargs["shipment_id"]) == (WAYBILL_CANCEL_JOB, shipment.pk)
    carriers.empty()  # ... and it never runs either
    # when: the give-up time has passed
    later = timezone.now() + timedelta(minutes=settings.WAYBILL_CANCEL_GIVE_UP_MINUTES + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert waybill_cancels_sweep(now=later) == {"requeued": 0, "given_up": 1}
    assert run_jobs(default, django_capture_on_commit_callbacks, func_name=FOLLOW_JOB) == ["alerted"]
    shipment.refresh_from_db()
    assert shipment.waybill_state == Shipment.WaybillState.CANCEL_FAILED
    [alert] = cancel_alerts(order)
    assert "timed out" in alert.message and alert.owner_group.name == "仓库"
    assert waybill_cancels_sweep(now=later) == {"requeued": 0, "given_up": 0}  # once
    # a late job (e.g. the requeued one after all) still cancels it, and the alert resolves
    assert logistics_jobs.waybill_cancel(shipment_id=shipment.pk) == "cancelled"
    assert orders_jobs.follow_waybill_cancel(shipment_id=shipment.pk) == "resolved"
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_manual_range_waybill_is_marked_cancelled_and_its_number_never_reused(
    queues, django_capture_on_commit_callbacks
):
    carriers, _default = queues
    zto = Carrier.objects.create(code="zhongtong", name="中通快递")
    waybill_number_range_save(
        number_range=WaybillNumberRange(carrier=zto, prefix="ZT", first_number=1, next_number=1, last_number=99),
        actor=None,
    )
    order = allocated_order(tracking_number=None)
    Order.objects.filter(pk=order.pk).update(carrier=zto)
    order = Order.objects.get(pk=order.pk)
    shipment = waybill_reserve(order=order, carrier=zto)
    number = waybill_number_take(carrier=zto, key=shipment.waybill_key)
    Shipment.objects.filter(pk=shipment.pk).update(tracking_number=number, waybill_state=Shipment.WaybillState.PRINTED)

    cancel(order, django_capture_on_commit_callbacks)
    assert run_jobs(carriers, django_capture_on_commit_callbacks, func_name=WAYBILL_CANCEL_JOB) == ["cancelled"]

    issue = WaybillNumberIssue.objects.get(tracking_number=number)
    assert issue.cancelled_at is not None and issue.cancel_reason == "订单取消：客户取消"
    assert Shipment.objects.get(pk=shipment.pk).waybill_state == Shipment.WaybillState.CANCELLED
    assert waybill_number_take(carrier=zto, key=shipment.waybill_key) == "ZT2"  # never ZT1 again
    assert logistics_jobs.waybill_cancel(shipment_id=shipment.pk) == "skipped"


def test_manual_range_waybill_without_its_number_cancels_what_its_key_was_given(
    queues, django_capture_on_commit_callbacks
):
    carriers, _default = queues
    zto = Carrier.objects.create(code="zhongtong", name="中通快递")
    waybill_number_range_save(
        number_range=WaybillNumberRange(carrier=zto, prefix="ZT", first_number=1, next_number=1, last_number=99),
        actor=None,
    )
    given, never = (allocated_order(tracking_number=None) for _ in range(2))
    for order in (given, never):
        Order.objects.filter(pk=order.pk).update(carrier=zto)
    # reserved; one key got its number but the registry never heard of it, the other got none
    lost = waybill_reserve(order=Order.objects.get(pk=given.pk), carrier=zto)
    waybill_number_take(carrier=zto, key=lost.waybill_key)
    waybill_reserve(order=Order.objects.get(pk=never.pk), carrier=zto)

    for order in (given, never):
        cancel(Order.objects.get(pk=order.pk), django_capture_on_commit_callbacks)
    assert run_jobs(carriers, django_capture_on_commit_callbacks, func_name=WAYBILL_CANCEL_JOB) == ["cancelled"] * 2
    assert WaybillNumberIssue.objects.get(key=lost.waybill_key).cancelled_at is not None


def test_cancel_with_a_waybill_costs_no_statement_more_than_without(
    carrier, provider, queues, django_capture_on_commit_callbacks
):
    """The retiring UPDATE says which rows were waybills (RETURNING): the cancel effect adds nothing to the path."""
    with_waybill, _shipment = order_with_waybill(carrier)
    plain = allocated_order(tracking_number=None)
    Order.objects.filter(pk=plain.pk).update(carrier=carrier)
    counts = []
    for order in (Order.objects.get(pk=plain.pk), Order.objects.get(pk=with_waybill.pk)):
        with CaptureQueriesContext(connection) as statements:
            cancel(order, django_capture_on_commit_callbacks)
        counts.append(len(statements.captured_queries))
    assert counts[0] == counts[1]
    assert Shipment.objects.get(order=with_waybill).waybill_state == Shipment.WaybillState.CANCEL_PENDING


def test_shipment_admin_retry_action_for_the_warehouse_cancels_through_the_service(
    carrier, provider, queues, client, cangku, kefu, django_capture_on_commit_callbacks
):
    carriers, default = queues
    order, shipment = order_with_waybill(carrier)
    provider.refuse = "网点不存在"
    cancel(order, django_capture_on_commit_callbacks)
    run_jobs(carriers, django_capture_on_commit_callbacks, func_name=WAYBILL_CANCEL_JOB)
    run_jobs(default, django_capture_on_commit_callbacks, func_name=FOLLOW_JOB)
    changelist = reverse("admin:logistics_shipment_changelist")
    # customer service sees the parcel and its waybill state, not the action
    client.force_login(kefu)
    page = client.get(changelist, {"waybill_state": "cancel_failed"}).content.decode()
    assert shipment.tracking_number in page and "面单取消失败" in page and "网点不存在" in page
    assert "重新取消面单" not in page
    # the warehouse retries: still refused, said in red with the reason kept on the row
    client.force_login(cangku)
    assert "重新取消面单" in client.get(changelist).content.decode()
    form = {"action": "retry_waybill_cancel", "_selected_action": [shipment.pk]}
    refused = client.post(changelist, form, follow=True).content.decode()
    assert "1 张面单被快递公司再次拒绝取消" in refused
    # the carrier's side is fixed: the retry cancels it, and the alert resolves through orders' job
    provider.refuse = ""
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(changelist, form, follow=True).content.decode()
    assert "1 张面单已在快递公司取消" in done
    assert Shipment.objects.get(pk=shipment.pk).waybill_state == Shipment.WaybillState.CANCELLED
    assert run_jobs(default, django_capture_on_commit_callbacks, func_name=FOLLOW_JOB) == ["resolved"]
    assert not cancel_alerts(order).filter(resolved_at__isnull=True).exists()


def test_waybill_the_carrier_already_scanned_or_holds_is_retired_but_never_cancelled(
    carrier, provider, queues, django_capture_on_commit_callbacks
):
    carriers, _default = queues
    # a printed waybill whose parcel the carrier has scanned (its event came before the order followed)
    scanned, scanned_parcel = order_with_waybill(carrier)
    Shipment.objects.filter(pk=scanned_parcel.pk).update(last_event_at=timezone.now())
    cancel(scanned, django_capture_on_commit_callbacks)
    # a parcel handed over at the scan station (已揽收), then re-routed from 异常 to another carrier
    handed, handed_parcel = order_with_waybill(carrier)
    CarrierFactory(code="zhongtong", name="中通快递")
    with django_capture_on_commit_callbacks(execute=True):
        for name, changes in (("print_label", {}), ("pick_up", {})):
            handed = order_transition(order=handed, transition=name, actor=None, source=Source.SCAN, changes=changes)
        order_transition(
            order=handed,
            transition="flag_exception",
            actor=None,
            source=Source.ADMIN,
            reason="丢件改派",
            changes={"carrier": "zhongtong"},
        )

    assert [j for j in carriers.get_jobs() if j.func_name == WAYBILL_CANCEL_JOB] == []
    for parcel in (scanned_parcel, handed_parcel):
        parcel.refresh_from_db()
        assert (parcel.is_active, parcel.waybill_state) == (False, Shipment.WaybillState.PRINTED)
    assert provider.cancels == []


def test_waybill_obtained_and_printed_through_the_warehouse_services_is_cancelled_with_its_order(
    carrier, provider, queues, django_capture_on_commit_callbacks
):
    """The whole way: 获取面单 (orders.services.waybills), label printed, then the customer cancels."""
    carriers, _default = queues
    with_sender()
    order = allocated_for(carrier)
    with django_capture_on_commit_callbacks(execute=True):
        shipment = order_waybill_obtain(order=order, actor=None, source=Source.SCAN)
        order_labels_pdf(orders=[order])
    shipment.refresh_from_db()
    assert shipment.waybill_state == Shipment.WaybillState.PRINTED and shipment.tracking_number
    carriers.empty()  # the subscribe job of the new number is not this test's business

    cancel(Order.objects.get(pk=order.pk), django_capture_on_commit_callbacks)
    assert run_jobs(carriers, django_capture_on_commit_callbacks, func_name=WAYBILL_CANCEL_JOB) == ["cancelled"]
    assert [(c["kuaidinum"], c["orderId"]) for c in provider.cancels] == [
        (shipment.tracking_number, f"{order.number}-1")
    ]
    # a new waybill for the same parcel would take the next key, never the cancelled number
    assert Shipment.objects.get(pk=shipment.pk).waybill_state == Shipment.WaybillState.CANCELLED


def test_order_with_a_platform_receiver_id_is_ordered_by_oaid_without_a_plain_address(
    carrier, httpserver, django_capture_on_commit_callbacks
):
    """Issue 11: platform-encrypted receivers go by their platform id (the obtain reads receiver_platform_id)."""
    seen = []

    def handler(request):
        seen.append(json.loads(parse_qs(request.get_data(as_text=True))["param"][0]))
        return CancellingServer.answer(True, 200, "success", {"kuaidinum": "SF1700000000001", "bulkpen": "310"})

    httpserver.expect_request("/label/order", method="POST").respond_with_handler(handler)
    with_sender()
    masked = {"receiver": "王**", "phone": "138****8000", "province": "浙江省", "city": "杭州市", "detail": "文三路***"}
    order = allocated_for(carrier, shipping_address={**masked, "platform_receiver_id": "OAID-9XyZ"})
    with django_capture_on_commit_callbacks(execute=True):
        order_waybill_obtain(order=order, actor=None, source=Source.SCAN)
    [param] = seen
    assert param["oaid"] == "OAID-9XyZ" and "printAddr" not in param["recMan"]
