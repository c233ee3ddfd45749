"""导入历史订单 in a real browser: 运营主管 uploads a messy workbook built here, picks the header row, maps the
columns, runs the dry run, sees the problems, maps a legacy status code from the report, commits, and watches the
progress bar reach the result — reloading the page half-way. The RQ jobs run in this process (a real RQ worker in
burst mode on the "imports" queue, as tests/channels drains its queues), so the page sees each state change."""

import django_rq
import pytest
from playwright.sync_api import Page, expect

from orders.models import ImportJob, LegacyStatusMapping, Order
from orders.services.imports import import_commit
from tests.browser import login
from tests.channels.helpers import drain
from tests.factories import ChannelFactory, SkuFactory
from tests.imports.workbooks import HEADER, row, xlsx

pytestmark = [pytest.mark.browser]

# The phone column is named as no synonym knows it, so the clerk has to map it by hand.
MESSY_HEADER = [name if name != "联系手机" else "客户手机" for name in HEADER]


def messy_workbook() -> bytes:
    """Two title rows, then: TB1 with two lines (A01), TB2 with an unreadable phone (B02), TB3 with an unknown
    SKU, TB4 (B02) and TB5 (A01) fine. A01 is mapped already, B02 is not."""
    return xlsx(
        [
            row("TB1", "MASK-001", 2, "59.00", paid="118.00"),
            row("TB1", "SAMPLE-3", 1, "0.00", paid="118.00"),
            row("TB2", phone="1380013", status="B02"),
            row("TB3", "NOPE-404"),
            row("TB4", status="B02"),
            row("TB5"),
        ],
        header=MESSY_HEADER,
        title_rows=2,
    )


@pytest.fixture
def imports_queue():
    queue = django_rq.get_queue("imports")
    queue.empty()  # jobs an earlier run left in this test's Redis database
    yield queue
    queue.empty()


def test_clerk_imports_a_messy_workbook_through_to_the_progress_bar(
    page: Page, live_server, yunying, imports_queue, settings
):
    # given the SKUs, a channel, and one of the file's two legacy status codes mapped
    settings.IMPORT_BATCH_ORDERS = 1  # one order per commit batch, so the progress moves in steps
    SkuFactory(code="MASK-001")
    SkuFactory(code="SAMPLE-3")
    channel = ChannelFactory()
    LegacyStatusMapping.objects.create(code="A01", status="delivered", label="交易成功")

    # step 1: from the admin home's entry, upload the workbook with its channel
    login(page, live_server, "yunying")
    page.click("#import-entry-link")
    page.select_option("#id_channel", str(channel.pk))
    page.set_input_files(
        "#id_file",
        {"name": "旧系统导出.xlsx", "mimeType": "application/octet-stream", "buffer": messy_workbook()},
    )
    page.click("#import-upload")

    # step 2: the guessed header row is row 3 (under the two title rows); try row 1, then pick row 3 again
    expect(page.locator("#import-raw-rows tr.oh-header-row")).to_have_attribute("data-row", "3")
    page.fill("#id_header_row", "1")
    page.click("#import-sheet-show")
    expect(page.locator("#import-raw-rows tr.oh-header-row")).to_have_attribute("data-row", "1")
    page.click("#import-raw-rows a.oh-pick-header[data-row='3']")
    expect(page.locator("#import-raw-rows tr.oh-header-row")).to_have_attribute("data-row", "3")
    expect(page.locator("select[name=col_0]")).to_have_value("channel_order_no")

    # the phone column is not recognised: saving names the missing required field; mapping it previews the rows
    expect(page.locator("select[name=col_3]")).to_have_value("")
    page.click("#import-save")
    expect(page.locator("#import-mapping-error")).to_contain_text("联系手机")
    page.select_option("select[name=col_3]", "phone")
    page.click("#import-save")
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    preview = page.locator("#import-preview")
    expect(preview.locator("tr[data-row='4']")).to_contain_text("TB1")
    expect(preview.locator("tr[data-row='4']")).to_contain_text("13812345678")
    expect(preview.locator("tr[data-row='6']")).to_contain_text("1380013")

    # step 3: the dry run starts (a progress bar), its job runs, and the page turns into the report by itself
    page.click("#import-check")
    expect(page.locator("#import-progress")).to_be_visible()
    drain(imports_queue)
    expect(page.locator("#import-summary")).to_be_visible(timeout=15_000)
    expect(page.locator("#import-state")).to_have_attribute("data-state", "checked")
    job = ImportJob.objects.get()
    will_create = job.summary["will_create"]
    assert will_create == 3  # TB1, TB4, TB5
    expect(page.locator("#import-summary [data-count=will_create]")).to_have_text(str(will_create))
    problems = page.locator("#import-problem-table tbody tr")
    expect(problems.filter(has_text="1380013").first).to_contain_text("6")  # Excel row 6
    expect(problems.filter(has_text="NOPE-404").first).to_contain_text("7")
    page.click("#import-problem-kinds a[data-kind=unknown_sku]")
    expect(page.locator("#import-problem-table tbody tr")).to_have_count(1)

    # the commit waits for B02, with the reason beside the disabled button
    expect(page.locator("#import-commit")).to_be_disabled()
    expect(page.locator("#import-commit-blocked")).to_contain_text("B02")

    # map B02 in the report's own form: back on the report, the button is enabled
    form = page.locator("form.oh-map-code[data-code=B02]")
    form.locator("select[name=status]").select_option("on_hold")
    form.locator("input[name=label]").fill("待人工复核")
    form.locator("input[type=submit]").click()
    expect(page.locator("ul.messagelist .success")).to_contain_text("B02")
    expect(page.locator("#import-commit")).to_be_enabled()
    assert LegacyStatusMapping.objects.get(code="B02").history.get().history_user == yunying

    # step 4: commit; one batch runs, the page is reloaded half-way and shows where the import is
    page.click("#import-commit")
    expect(page.locator("#import-state")).to_have_attribute("data-state", "committing")
    import_commit(job_id=job.pk, max_batches=1)
    job.refresh_from_db()
    assert job.state == "committing" and 0 < job.rows_done < job.rows_total
    page.reload()
    expect(page.locator("#import-progress")).to_have_attribute("value", str(job.rows_done))
    expect(page.locator("#import-progress-text")).to_contain_text(f"{job.rows_done} / {job.rows_total}")
    expect(page.locator("#import-progress-text")).to_contain_text("每秒")  # rows/s
    expect(page.locator("#import-progress-text")).to_contain_text("剩余时间")  # time left

    # the queued job resumes where the batch stopped; the polling page reaches the result by itself
    drain(imports_queue)
    expect(page.locator("#import-result")).to_be_visible(timeout=15_000)
    expect(page.locator("#import-orders-created")).to_have_text(str(will_create))
    assert Order.objects.filter(is_legacy=True).count() == will_create

    # and the link lists exactly the imported orders
    page.click("#import-orders-link")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(will_create)
    for number in ("TB1", "TB4", "TB5"):
        expect(page.locator("#result_list")).to_contain_text(number)
