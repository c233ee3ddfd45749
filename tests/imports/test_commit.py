"""The commit: exactly the orders the dry run promised, as read-only legacy orders with their lines, customer,
timeline event and history naming the import and its file; batches of one transaction each; idempotent; a
stopped or failed job resumes where it stopped and never leaves half an order."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import django_rq
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import ProtectedError
from django.utils import timezone

from config.exceptions import ApplicationError
from logistics.models import Shipment
from orders.exceptions import ImportRefused
from orders.models import Customer, ImportJob, LegacyStatusMapping, Order, OrderEvent, OrderLine, Source, Status
from orders.selectors import order_lookup
from orders.services.imports import (
    import_commit,
    import_commit_start,
    import_configure,
    import_dry_run,
    import_dry_run_start,
    import_upload,
)
from orders.services.transitions import order_transition
from tests.factories import CarrierFactory, SkuFactory
from tests.imports.test_dry_run import MESSY, dry_run, messy_job
from tests.imports.workbooks import row, xlsx

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def commit(job: ImportJob, **kwargs) -> ImportJob:
    import_commit_start(job=job, actor=None)
    import_commit(job_id=job.pk, **kwargs)
    job.refresh_from_db()
    return job


def upload(catalogue, rows, name="历史订单.xlsx") -> ImportJob:
    return import_upload(file_name=name, data=xlsx(rows), content_type="", channel=catalogue, actor=None)


def imported(job) -> dict[str, Order]:
    return {o.channel_order_no: o for o in Order.objects.filter(source=Source.IMPORT).prefetch_related("lines__sku")}


def test_commit_refused_while_a_status_code_is_unmapped(catalogue):
    job = messy_job(catalogue)
    dry_run(job)

    with pytest.raises(ImportRefused) as caught:
        import_commit_start(job=job, actor=None)

    assert caught.value.code == "unmapped_status" and "Z99" in caught.value.message
    assert caught.value.message.startswith("请先为这些历史状态码添加映射")
    job.refresh_from_db()
    assert job.state == ImportJob.State.CHECKED and not Order.objects.filter(is_legacy=True).exists()


def test_commit_refused_without_a_current_dry_run(catalogue):
    job = upload(catalogue, [row("TB1")])
    with pytest.raises(ImportRefused) as caught:
        import_commit_start(job=job, actor=None)
    assert caught.value.code == "not_checked"

    dry_run(job)
    import_configure(job=job, sheet_name="订单", header_row=1, mapping={**job.mapping, "note": 11}, actor=None)
    with pytest.raises(ImportRefused) as caught:
        import_commit_start(job=job, actor=None)
    assert caught.value.code == "not_checked"  # the settings changed: run it again


def test_commit_creates_exactly_what_the_dry_run_said(catalogue):
    job = messy_job(catalogue)
    summary = dry_run(job)
    LegacyStatusMapping.objects.create(code="Z99", status=Status.DELIVERED, label="已完成")  # mapped afterwards

    job = commit(job)

    assert job.state == ImportJob.State.DONE, job.error
    orders = imported(job)
    assert job.orders_created == len(orders) == summary["will_create"] == 8
    assert OrderLine.objects.filter(order__is_legacy=True).count() == summary["will_create_lines"] == 10
    assert sorted(orders) == ["TB1001", "TB1003", "TB1004", "TB1005", "TB1006", "TB1007", "TB1014", "TB1015"]
    first = orders["TB1001"]
    assert first.is_legacy and first.status == Status.ON_HOLD and first.status_reason == "A01 待人工复核"
    assert [(line.sku.code, line.quantity, line.unit_price) for line in first.lines.all()] == [
        ("MASK-001", 2, Decimal("99.00")),
        ("SAMPLE-3", 1, Decimal("20.00")),  # 面膜小样: the alias resolved
    ]
    assert (first.subtotal, first.paid_amount) == (Decimal("218.00"), Decimal("218.00"))
    assert (first.province, first.city, first.district, first.address_detail) == (
        "浙江省",
        "杭州市",
        "西湖区",
        "文三路1号",
    )
    assert orders["TB1005"].status == Status.ALLOCATED and orders["TB1014"].status == Status.DELIVERED
    assert orders["TB1003"].ordered_at == datetime(2025, 1, 5, 14, 3, tzinfo=SHANGHAI)
    assert orders["TB1003"].paid_amount == Decimal("1299.00")
    assert orders["TB1006"].ordered_at == datetime(2025, 1, 5, 9, 0, tzinfo=SHANGHAI)  # serial 45662.375
    assert orders["TB1004"].receiver_phone == "138****5678"
    # customers: the real phone is the hub's existing customer (HUB-1's), the masked buyer a row of its own
    assert orders["TB1003"].customer == Order.objects.get(channel_order_no="HUB-1").customer
    assert orders["TB1004"].customer.platform_buyer == "tmall:order:TB1004"
    assert Customer.objects.filter(phone="13812345678", platform_buyer="").count() == 1


def test_commit_writes_a_timeline_event_and_history_naming_the_import(catalogue):
    job = upload(catalogue, [row("TB1", tracking="SF100200300", carrier="顺丰")], name="老系统.xlsx")
    dry_run(job)
    job = commit(job)

    order = Order.objects.get(channel_order_no="TB1")
    event = OrderEvent.objects.get(order=order)
    assert (event.kind, event.source, event.to_status) == ("created", "import", "on_hold")
    assert event.reason == f"从 老系统.xlsx 导入（导入 #{job.pk}），原状态 A01 待人工复核"
    assert event.data == {
        "channel": "tmall",
        "channel_order_no": "TB1",
        "import_job": job.pk,
        "file_name": "老系统.xlsx",
        "legacy_code": "A01",
        "tracking_number": "SF100200300",
        "carrier": "顺丰",
        "note": "",
    }
    assert list(order.history.values_list("history_type", "history_change_reason")) == [
        ("+", f"import #{job.pk} 老系统.xlsx")
    ]
    line = order.lines.get()
    assert line.history.get().history_change_reason == f"import #{job.pk} 老系统.xlsx"
    assert order.import_job == job and order.history.get().import_job_id == job.pk


def test_an_import_with_orders_cannot_be_deleted_under_them(catalogue):
    job = upload(catalogue, [row("TB1")])
    dry_run(job)
    job = commit(job)
    assert list(job.orders.values_list("channel_order_no", flat=True)) == ["TB1"]
    with pytest.raises(ProtectedError):
        job.delete()
    assert Order.objects.get(channel_order_no="TB1").import_job_id == job.pk


def test_imported_orders_are_read_only(catalogue):
    job = upload(catalogue, [row("TB1", status="A01")])
    dry_run(job)
    commit(job)
    order = Order.objects.get(channel_order_no="TB1")

    with pytest.raises(ApplicationError):
        order_transition(order=order, transition="release", actor=None, source=Source.ADMIN, reason="试试")

    order.refresh_from_db()
    assert order.status == Status.ON_HOLD


def test_reimport_of_the_same_file_creates_nothing_new(catalogue):
    rows = [row("TB1"), row("TB1", "CREAM-02"), row("TB2")]
    first = upload(catalogue, rows)
    dry_run(first)
    assert commit(first).orders_created == 2

    again = upload(catalogue, rows, name="历史订单(1).xlsx")
    summary = dry_run(again)
    again = commit(again)

    assert (summary["will_create"], summary["already_in_hub"]) == (0, 2)
    assert again.state == ImportJob.State.DONE and again.orders_created == 0
    assert Order.objects.filter(is_legacy=True).count() == 2 and OrderLine.objects.count() == 3


def test_same_orders_in_another_file_are_not_created_twice(catalogue):
    first = upload(catalogue, [row("TB1"), row("TB2")])
    dry_run(first)
    # a second file, checked before the first was committed, shares TB2
    second = upload(catalogue, [row("TB2"), row("TB3")], name="另一个.xlsx")
    assert dry_run(second)["will_create"] == 2
    commit(first)

    second = commit(second)

    assert second.orders_created == 1  # TB3; TB2 is there already
    assert Order.objects.filter(channel_order_no="TB2").count() == 1


def test_stopped_commit_resumes_where_it_stopped(catalogue, settings):
    settings.IMPORT_BATCH_ORDERS = 3
    job = upload(catalogue, [row(f"TB{i}") for i in range(8)])
    dry_run(job)

    job = commit(job, max_batches=1)  # the worker dies after its first batch
    assert (job.state, job.orders_created, job.rows_done, job.rows_total) == ("committing", 3, 3, 8)
    assert Order.objects.filter(is_legacy=True).count() == 3
    with pytest.raises(ImportRefused) as caught:
        import_commit_start(job=job, actor=None)
    assert caught.value.code == "busy"  # not stalled yet

    ImportJob.objects.filter(pk=job.pk).update(progress_at=timezone.now() - timedelta(hours=1))
    job.refresh_from_db()
    job = commit(job)  # started again: goes on from the 4th order

    assert job.state == ImportJob.State.DONE
    assert job.orders_created == Order.objects.filter(is_legacy=True).count() == 8
    assert job.rows_done == 8


@pytest.fixture
def failing_line(db):
    """A database that refuses one particular line (quantity 7), as a constraint or a lost connection would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_seven() RETURNS trigger AS $$ BEGIN IF NEW.quantity = 7 THEN "
            "RAISE EXCEPTION 'refused line'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_seven BEFORE INSERT ON orders_orderline FOR EACH ROW EXECUTE FUNCTION refuse_seven()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS refuse_seven ON orders_orderline")
        cursor.execute("DROP FUNCTION IF EXISTS refuse_seven()")


def test_failed_commit_leaves_no_partial_order_and_resumes(catalogue, settings, failing_line):
    settings.IMPORT_BATCH_ORDERS = 2
    rows = [row("TB1"), row("TB2"), row("TB3"), row("TB3", "CREAM-02", qty=7), row("TB4"), row("TB5")]
    job = upload(catalogue, rows)
    dry_run(job)

    job = commit(job)

    assert job.state == ImportJob.State.FAILED and "refused line" in job.error
    assert job.orders_created == 2
    assert sorted(Order.objects.filter(is_legacy=True).values_list("channel_order_no", flat=True)) == ["TB1", "TB2"]
    assert not OrderLine.objects.filter(order__channel_order_no__in=["TB3", "TB4"]).exists()

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_seven ON orders_orderline")
    job = commit(job)  # started again after the failure

    assert job.state == ImportJob.State.DONE and job.orders_created == 5
    assert Order.objects.get(channel_order_no="TB3").lines.count() == 2


def test_messy_file_rows_are_the_fixture_rows():
    assert len(MESSY) == 23  # Excel rows 5 … 27


def test_imported_orders_are_found_by_tracking_number_and_phone(catalogue):
    CarrierFactory(code="shunfeng", name="顺丰速运")
    rows = [
        row("TB1", tracking="SF100200300", carrier="顺丰", phone="13900001111", status="B02"),
        row("TB2", tracking="YT999", carrier="不认识的快递"),  # no such carrier: kept in the timeline only
    ]
    job = upload(catalogue, rows)
    dry_run(job)
    commit(job)

    order = Order.objects.get(channel_order_no="TB1")
    parcel = Shipment.objects.get(order=order)
    assert (parcel.tracking_number, parcel.carrier.code, parcel.source) == ("SF100200300", "shunfeng", "import")
    assert parcel.is_finished and parcel.next_poll_at is None  # long delivered: never polled
    assert order.carrier.code == "shunfeng"
    assert [o.pk for o in order_lookup(q="SF100200300")] == [order.pk]
    assert [o.pk for o in order_lookup(q="13900001111")] == [order.pk]
    assert [o.pk for o in order_lookup(q="TB1")] == [order.pk]
    assert not Shipment.objects.filter(order__channel_order_no="TB2").exists()


def test_commit_fails_clearly_when_skus_changed_since_the_dry_run(catalogue):
    job = upload(catalogue, [row("TB1"), row("TB2", "NEW-SKU")])
    assert dry_run(job)["will_create"] == 1
    SkuFactory(code="NEW-SKU")  # now TB2 would be created too: not what the dry run said

    job = commit(job)

    assert job.state == ImportJob.State.FAILED
    assert job.error == "系统在试运行后有变动（SKU 或别名）：请重新试运行。"
    assert not Order.objects.filter(is_legacy=True).exists()


def test_commit_batch_is_bulk_not_a_statement_per_order(catalogue, settings, django_assert_max_num_queries):
    settings.IMPORT_BATCH_ORDERS = 1000
    CarrierFactory(code="shunfeng", name="顺丰速运")
    rows = [r for i in range(120) for r in (row(f"TB{i}", phone=f"139{i:08d}", tracking=f"SF{i:09d}", carrier="顺丰"),
                                             row(f"TB{i}", "CREAM-02", phone=f"139{i:08d}", tracking=f"SF{i:09d}",
                                                 carrier="顺丰"))]  # fmt: skip
    job = upload(catalogue, rows)
    dry_run(job)
    import_commit_start(job=job, actor=None)

    with django_assert_max_num_queries(40):  # 120 orders, 240 lines, 120 customers, parcels, events, history
        import_commit(job_id=job.pk)

    job.refresh_from_db()
    assert job.orders_created == 120 and Shipment.objects.count() == 120


def test_dry_run_and_commit_are_enqueued_by_name_on_the_imports_queue(catalogue, django_capture_on_commit_callbacks):
    queue = django_rq.get_queue("imports")
    queue.empty()
    job = upload(catalogue, [row("TB1")])

    with django_capture_on_commit_callbacks(execute=True):
        import_dry_run_start(job=job, actor=None)
    enqueued = queue.jobs
    assert [(j.func_name, j.kwargs) for j in enqueued] == [("orders.jobs.import_dry_run", {"job_id": job.pk})]
    queue.empty()

    import_dry_run(job_id=job.pk)
    job.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        import_commit_start(job=job, actor=None)
    assert [(j.func_name, j.kwargs) for j in queue.jobs] == [("orders.jobs.import_commit", {"job_id": job.pk})]
    assert queue.jobs[0].timeout == django_settings.IMPORT_JOB_TIMEOUT_SECONDS
    queue.empty()
