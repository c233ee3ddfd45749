"""A real rqworker on the imports queue, killed with SIGKILL mid-commit: the batch in flight leaves nothing, the
job says it is still committing, and started again it goes on where it stopped, creating each order once."""

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from orders.models import ImportJob, Order, OrderLine
from orders.services.imports import import_commit_start, import_dry_run, import_dry_run_start, import_upload
from tests.channels import processes
from tests.imports.workbooks import row, xlsx

pytestmark = pytest.mark.django_db(transaction=True)
BATCH = 20


def imports_worker(*, burst: bool = False) -> processes.Process:
    cmd = [str(processes.BIN / "python"), "manage.py", "rqworker", "imports"] + (["--burst"] if burst else [])
    env = processes.env_for()
    env["IMPORT_BATCH_ORDERS"] = str(BATCH)
    return processes.Process(cmd, env=env, name="rqworker-imports")


def test_kill_9_of_the_worker_mid_commit_resumes_and_creates_each_order_once(catalogue):
    queue = django_rq.get_queue("imports")
    queue.empty()
    rows = [row(f"TB{i:05d}", sku) for i in range(400) for sku in ("MASK-001", "CREAM-02")]
    job = import_upload(file_name="大批量.xlsx", data=xlsx(rows), content_type="", channel=catalogue, actor=None)
    import_dry_run_start(job=job, actor=None)
    queue.empty()  # the dry run runs here, in the test
    import_dry_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.summary["will_create"] == 400

    import_commit_start(job=job, actor=None)  # autocommit: enqueued at once
    assert len(queue) == 1
    with imports_worker() as worker:
        processes.wait_until(
            lambda: ImportJob.objects.get(pk=job.pk).orders_created >= 2 * BATCH, timeout=240, what="two batches"
        )
        horses = worker.kill9()
        assert horses  # the work-horse was running the commit
        processes.wait_until(lambda: not any(processes.alive(pid) for pid in horses), timeout=10, what="dead horse")

    job.refresh_from_db()
    assert job.state == ImportJob.State.COMMITTING and 0 < job.orders_created < 400
    # only whole batches are in: every order has both its lines, and the count says how many
    assert Order.objects.filter(is_legacy=True).count() == job.orders_created
    assert OrderLine.objects.filter(order__is_legacy=True).count() == 2 * job.orders_created
    assert job.orders_created % BATCH == 0

    # started again (by the clerk, once it stalled)
    ImportJob.objects.filter(pk=job.pk).update(progress_at=timezone.now() - timedelta(hours=1))
    job.refresh_from_db()
    queue.empty()  # the killed job's own entry, whatever RQ did with it
    import_commit_start(job=job, actor=None)
    worker = imports_worker(burst=True).start()
    try:
        assert worker.wait(timeout=300) == 0, worker.output()
    finally:
        worker.stop()

    job.refresh_from_db()
    assert job.state == ImportJob.State.DONE, job.error
    assert job.orders_created == Order.objects.filter(is_legacy=True).count() == 400
    assert OrderLine.objects.filter(order__is_legacy=True).count() == 800
    assert job.rows_done == job.rows_total == 800
