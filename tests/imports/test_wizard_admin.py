"""导入历史订单 in the admin, step by step with the Django client: upload (refusals on the page), sheet / header row /
columns (errors naming the field), the dry run's report (Excel rows, kinds, pages, download), legacy status codes
mapped from the report, the commit refused until they are, its progress JSON and result; and who may do it."""

import io
import re
from datetime import timedelta

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from orders import admin_imports
from orders.models import ImportJob, LegacyStatusMapping, Order
from orders.services.imports import import_commit, import_dry_run
from tests.e2e.test_role_links import shown_links
from tests.factories import ChannelFactory, SkuFactory, make_order, user_with_role
from tests.imports.workbooks import row, xlsx

pytestmark = pytest.mark.django_db

NO_IMPORT_ROLES = ["客服", "仓库", "采购", "财务"]


@pytest.fixture
def channel():
    return ChannelFactory()


@pytest.fixture
def manager_client(client, yunying):
    client.force_login(yunying)
    return client


def messy_workbook() -> bytes:
    """Two title rows above the header; TB1 has two lines (two SKUs), TB2 an unreadable phone, TB3 an unknown SKU,
    TB4 an exact repeat of a row; status codes A01 and B02 are not mapped."""
    return xlsx(
        [
            row("TB1", "MASK-001", 2, "59.00", paid="118.00"),
            row("TB1", "SAMPLE-3", 1, "0.00", paid="118.00"),
            row("TB2", phone="1380013", status="B02"),
            row("TB3", "NOPE-404"),
            row("TB4", status="B02"),
            row("TB4", status="B02"),
        ],
        title_rows=2,
    )


def upload(client, channel, data: bytes, name: str = "历史订单.xlsx"):
    return client.post(
        reverse("admin:orders_importjob_add"),
        {"file": SimpleUploadedFile(name, data, content_type="application/octet-stream"), "channel": channel.pk},
    )


def uploaded(client, channel, data: bytes | None = None) -> ImportJob:
    response = upload(client, channel, data or messy_workbook())
    job = ImportJob.objects.latest("pk")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:orders_importjob_configure", args=[job.pk])
    return job


def mapping_post(job: ImportJob, **override) -> dict:
    """The configure form as the page pre-fills it (the suggested column per field), with changes."""
    data = {"sheet": job.sheet_name, "header_row": job.header_row}
    for field, index in job.mapping.items():
        data[f"col_{index}"] = field
    data.update(override)
    return data


def checked(client, channel, data: bytes | None = None) -> ImportJob:
    """Uploaded, columns saved, dry run started from the page and run (the job's body, here in the test)."""
    SkuFactory(code="MASK-001")
    SkuFactory(code="SAMPLE-3")
    job = uploaded(client, channel, data)
    response = client.post(
        reverse("admin:orders_importjob_configure", args=[job.pk]), {**mapping_post(job), "_check": "1"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job.refresh_from_db()
    assert job.state == "checking"
    import_dry_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == "checked"
    return job


def job_page(client, job: ImportJob, query: str = "") -> str:
    response = client.get(reverse("admin:orders_importjob_change", args=[job.pk]) + query)
    assert response.status_code == 200
    return response.content.decode()


# --- step 1: upload -------------------------------------------------------------------------------------------------
def test_upload_without_a_file_says_so_and_stores_nothing(manager_client, channel):
    response = manager_client.post(reverse("admin:orders_importjob_add"), {"channel": channel.pk})
    assert response.status_code == 200
    assert "请选择要导入的文件" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_upload_of_a_renamed_program_shows_the_refusal_in_chinese(manager_client, channel):
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200 + b"This program cannot be run"
    response = upload(manager_client, channel, exe, "订单.xlsx")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="import-refusal"' in html and "不是 Excel 工作簿或 CSV 文件" in html
    assert not ImportJob.objects.exists()


def test_upload_without_a_channel_names_the_channel(manager_client):
    response = manager_client.post(
        reverse("admin:orders_importjob_add"), {"file": SimpleUploadedFile("a.xlsx", xlsx([row("TB1")]))}
    )
    assert "请选择这些订单来自的渠道" in response.content.decode()
    assert not ImportJob.objects.exists()


# --- step 2: sheet, header row, columns ------------------------------------------------------------------------------
def test_configure_page_shows_the_top_rows_with_the_guessed_header_row_highlighted(manager_client, channel):
    job = uploaded(manager_client, channel)
    html = manager_client.get(reverse("admin:orders_importjob_configure", args=[job.pk])).content.decode()
    # two title rows, so the header is Excel row 3, highlighted; the title rows can be picked instead
    assert job.header_row == 3
    assert re.search(r'<tr class="oh-header-row" data-row="3">', html)
    assert "2025年历史订单导出" in html and 'class="oh-pick-header" data-row="1"' in html
    # one select per column with the suggestion chosen, required fields marked
    assert re.search(r'<select name="col_0"[^>]*>.*?<option value="channel_order_no" selected>', html, re.S)
    assert re.search(r'<select name="col_12"[^>]*>.*?<option value="ordered_at" selected>', html, re.S)
    assert "订单编号 Order number *" in html


def test_choosing_another_header_row_shows_that_row_highlighted(manager_client, channel):
    job = uploaded(manager_client, channel)
    url = reverse("admin:orders_importjob_configure", args=[job.pk])
    html = manager_client.get(url, {"sheet": job.sheet_name, "header_row": 1}).content.decode()
    assert re.search(r'<tr class="oh-header-row" data-row="1">', html)
    assert 'value="1"' in html


def test_mapping_without_a_required_field_names_it_and_changes_nothing(manager_client, channel):
    job = uploaded(manager_client, channel)
    before = dict(job.mapping)
    response = manager_client.post(
        reverse("admin:orders_importjob_configure", args=[job.pk]), mapping_post(job, col_0="", _preview="1")
    )
    assert response.status_code == 200
    error = re.search(r'id="import-mapping-error">(.*?)</p>', response.content.decode(), re.S).group(1)
    assert "订单编号" in error
    job.refresh_from_db()
    assert job.mapping == before and job.state == "uploaded"


def test_one_field_chosen_for_two_columns_is_refused_naming_it(manager_client, channel):
    job = uploaded(manager_client, channel)
    response = manager_client.post(
        reverse("admin:orders_importjob_configure", args=[job.pk]), mapping_post(job, col_1="receiver")
    )
    error = re.search(r'id="import-mapping-error">(.*?)</p>', response.content.decode(), re.S).group(1)
    assert "收货人姓名" in error and "买家会员名" in error


def test_saved_columns_show_the_first_rows_as_they_will_be_read(manager_client, channel):
    job = uploaded(manager_client, channel)
    # the buyer column is not imported this time
    response = manager_client.post(
        reverse("admin:orders_importjob_configure", args=[job.pk]), mapping_post(job, col_1="", _preview="1")
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert "buyer_id" not in job.mapping and job.template is not None
    html = manager_client.get(response["Location"]).content.decode()
    preview = re.search(r'<table id="import-preview">(.*?)</table>', html, re.S).group(1)
    assert '<tr data-row="4">' in preview  # the first data row is Excel row 4
    assert "TB1" in preview and "13812345678" in preview and "2025-01-05 09:00" in preview
    assert "<th>买家会员名</th>" not in preview
    assert re.search(r'<tr data-row="6">.*?1380013', preview, re.S)  # TB2's phone, with its problem


# --- step 3: the dry run and its report ----------------------------------------------------------------------------
def test_dry_run_report_counts_problems_by_excel_row_and_unmapped_codes(manager_client, channel):
    job = checked(manager_client, channel)
    html = job_page(manager_client, job)
    assert re.search(r'data-count="orders">4<', html)
    problems = re.search(r'<table id="import-problem-table".*?</table>', html, re.S).group(0)
    assert re.search(r"<td>6</td>.*?1380013", problems, re.S)  # TB2's phone at Excel row 6
    assert re.search(r"<td>7</td>.*?NOPE-404", problems, re.S)  # TB3's SKU at row 7
    # the legacy codes of the file, each unmapped one with its form; the commit is disabled with the reason
    assert 'class="oh-map-code" data-code="A01"' in html and 'class="oh-map-code" data-code="B02"' in html
    assert re.search(r'id="import-commit"[^>]*disabled', html)
    assert "A01、B02" in re.search(r'id="import-commit-blocked">(.*?)<', html).group(1)


def test_problems_filter_by_kind_and_page(manager_client, channel, monkeypatch):
    job = checked(manager_client, channel)
    html = job_page(manager_client, job, "?kind=unknown_sku")
    codes = set(re.findall(r'<tr data-code="([a-z_]+)"><td>\d', html))
    assert codes == {"unknown_sku"}
    monkeypatch.setattr(admin_imports, "PROBLEMS_PER_PAGE", 1)
    total = job.problems.count()
    assert total >= 2
    first, second = job_page(manager_client, job), job_page(manager_client, job, "?page=2")
    rows = [re.findall(r'<tr data-code="[a-z_]+"><td>(\d+)</td>', page) for page in (first, second)]
    assert len(rows[0]) == len(rows[1]) == 1 and rows[0] != rows[1]
    assert f"第 1 页，共 {total} 页" in first


def test_report_downloads_as_xlsx_with_excel_row_numbers(manager_client, channel):
    job = checked(manager_client, channel)
    response = manager_client.get(reverse("admin:orders_importjob_report", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(".xlsx")  # saved as a file Excel opens with a double click
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0][0] == "Excel 行号"
    assert {r[0] for r in rows[1:]} >= {6, 7}
    assert any("NOPE-404" in str(r[2]) for r in rows[1:])


# --- step 4: status codes, commit, progress, result ----------------------------------------------------------------
def test_commit_is_refused_while_a_status_code_is_unmapped(manager_client, channel):
    job = checked(manager_client, channel)
    response = manager_client.post(reverse("admin:orders_importjob_commit", args=[job.pk]), follow=True)
    assert "A01" in response.content.decode() and "B02" in response.content.decode()
    job.refresh_from_db()
    assert job.state == "checked" and not Order.objects.filter(is_legacy=True).exists()


def test_status_code_mapped_from_the_report_returns_to_it_with_history(manager_client, channel, yunying):
    job = checked(manager_client, channel)
    back = reverse("admin:orders_importjob_change", args=[job.pk])
    response = manager_client.post(
        reverse("admin:orders_legacystatusmapping_add"),
        {"code": "A01", "status": "delivered", "label": "已完成", "next": back},
    )
    assert response.status_code == 302 and response["Location"] == back
    mapping = LegacyStatusMapping.objects.get(code="A01")
    assert (mapping.status, mapping.label) == ("delivered", "已完成")
    assert mapping.history.get().history_user == yunying
    html = job_page(manager_client, job)
    assert 'data-code="A01"' not in re.findall(r'<form[^>]*class="oh-map-code"[^>]*>', html).__str__()
    assert "B02" in re.search(r'id="import-commit-blocked">(.*?)<', html).group(1)
    # the report's "more…" link opens the full form with the code filled in, and saving it returns to the report
    more = re.search(r'<form[^>]*data-code="B02".*?<a href="([^"]+)"', html, re.S).group(1).replace("&amp;", "&")
    assert 'value="B02"' in manager_client.get(more).content.decode()
    response = manager_client.post(more, {"code": "B02", "status": "on_hold", "label": "待审核", "note": "旧系统"})
    assert response.status_code == 302 and response["Location"] == back
    assert not re.search(r'id="import-commit"[^>]*disabled', job_page(manager_client, job))


def test_mapping_page_refuses_an_outside_next_url(manager_client):
    response = manager_client.post(
        reverse("admin:orders_legacystatusmapping_add"),
        {"code": "C03", "status": "cancelled", "label": "", "next": "https://evil.example/"},
    )
    assert response.status_code == 302 and "evil" not in response["Location"]


def test_commit_runs_in_the_background_with_progress_json_and_the_result(manager_client, channel):
    job = checked(manager_client, channel)
    for code, status in (("A01", "delivered"), ("B02", "on_hold")):
        LegacyStatusMapping.objects.create(code=code, status=status)
    will_create = job.summary["will_create"]
    html = job_page(manager_client, job)
    assert not re.search(r'id="import-commit"[^>]*disabled', html)

    response = manager_client.post(reverse("admin:orders_importjob_commit", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == "committing"
    # the page shows a progress bar polling the JSON endpoint, and says so without JavaScript
    html = job_page(manager_client, job)
    assert 'id="import-progress"' in html and '<meta http-equiv="refresh"' in html
    progress = manager_client.get(reverse("admin:orders_importjob_progress", args=[job.pk])).json()
    assert progress["state"] == "committing" and progress["rows_done"] == 0 and progress["percent"] == 0
    assert progress["rows_total"] == job.summary["will_create_lines"]

    import_commit(job_id=job.pk)  # the job's body, here in the test
    progress = manager_client.get(reverse("admin:orders_importjob_progress", args=[job.pk])).json()
    assert progress["state"] == "done" and progress["percent"] == 100 and progress["orders_created"] == will_create
    html = job_page(manager_client, job)
    assert f'id="import-orders-created">{will_create}<' in html
    link = re.search(r'href="([^"]+)" id="import-orders-link"', html).group(1).replace("&amp;", "&")
    make_order()  # an order of another door, not in the import's list
    listed = manager_client.get(link).content.decode()
    imported = set(Order.objects.filter(is_legacy=True).values_list("number", flat=True))
    assert len(imported) == will_create
    shown = set(re.findall(r"/admin/orders/order/\d+/change/[^>]*>([^<]+)<", listed))
    assert shown == imported
    # the list is the orders the import's FK names, not a search of timeline events
    assert set(Order.objects.filter(import_job=job).values_list("number", flat=True)) == imported
    # a legacy order's page says which import (and file) it came from, linking to that import's orders
    order = Order.objects.filter(import_job=job).first()
    page = manager_client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    found = re.search(r'<a href="([^"]+)" id="order-import-job">([^<]+)</a>', page)
    assert found and found.group(2) == f"导入 #{job.pk}（历史订单.xlsx）"
    assert found.group(1).replace("&amp;", "&") == link


def test_imported_orders_stay_read_only_in_the_order_admin(manager_client, channel):
    job = checked(manager_client, channel)
    for code in ("A01", "B02"):
        LegacyStatusMapping.objects.create(code=code, status="delivered")
    manager_client.post(reverse("admin:orders_importjob_commit", args=[job.pk]))
    import_commit(job_id=job.pk)
    order = Order.objects.filter(is_legacy=True).first()
    url = reverse("admin:orders_order_change", args=[order.pk])
    html = manager_client.get(url).content.decode()
    assert 'name="_save"' not in html
    before = order.invoice_title
    manager_client.post(url, {"invoice_title": "改了"})
    order.refresh_from_db()
    assert order.invoice_title == before


def test_jobs_list_shows_file_who_state_and_counts(manager_client, channel):
    job = checked(manager_client, channel)
    html = manager_client.get(reverse("admin:orders_importjob_changelist")).content.decode()
    assert "历史订单.xlsx" in html and "yunying" in html and job.get_state_display() in html
    assert f"{job.summary['will_create']} 个待导入" in html


# --- who may ---------------------------------------------------------------------------------------------------------
def test_manager_sees_the_entry_on_the_admin_home(manager_client):
    html = manager_client.get(reverse("admin:index")).content.decode()
    assert 'id="import-entry-link"' in html and "导入历史订单" in html


@pytest.mark.parametrize("role", NO_IMPORT_ROLES)
def test_roles_without_the_import_permission_get_403_and_no_entry(client, yunying, channel, role):
    client.force_login(yunying)
    job = uploaded(client, channel, xlsx([row("TB1")]))
    client.force_login(user_with_role(role))
    assert 'id="import-entry' not in client.get(reverse("admin:index")).content.decode()
    gets = ["add", "changelist", "configure", "change", "progress", "report"]
    for name in gets:
        args = [job.pk] if name not in ("add", "changelist") else []
        assert client.get(reverse(f"admin:orders_importjob_{name}", args=args)).status_code == 403, name
    for name in ("check", "commit", "configure"):
        assert client.post(reverse(f"admin:orders_importjob_{name}", args=[job.pk])).status_code == 403, name
    assert upload(client, channel, xlsx([row("TB2")])).status_code == 403
    assert ImportJob.objects.count() == 1


@pytest.mark.parametrize("role", ["运营主管", "管理员"])
def test_every_link_the_import_pages_show_answers_for_the_role(client, yunying, channel, role):
    """As tests/e2e/test_role_links.py does for the other pages: every admin link shown is one the role may open."""
    client.force_login(yunying)
    job = checked(client, channel)
    client.force_login(user_with_role(role))
    pages = [
        reverse("admin:index"),
        reverse("admin:orders_importjob_changelist"),
        reverse("admin:orders_importjob_add"),
        reverse("admin:orders_importjob_configure", args=[job.pk]),
        reverse("admin:orders_importjob_change", args=[job.pk]),
        reverse("admin:orders_legacystatusmapping_changelist"),
    ]
    shown = {}
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        for link in shown_links(page, response.content.decode()):
            shown.setdefault(link, page)
    answers = {link: client.get(link).status_code for link in shown}
    problems = [f"{answers[link]} {link} (on {page})" for link, page in sorted(shown.items()) if answers[link] >= 400]
    assert not problems, "\n".join(problems)


def test_a_stalled_commit_can_be_started_again_from_its_page_and_resumes(manager_client, channel, settings):
    settings.IMPORT_BATCH_ORDERS = 1
    job = checked(manager_client, channel)
    for code in ("A01", "B02"):
        LegacyStatusMapping.objects.create(code=code, status="delivered")
    manager_client.post(reverse("admin:orders_importjob_commit", args=[job.pk]))
    import_commit(job_id=job.pk, max_batches=1)  # then the worker dies
    job.refresh_from_db()
    created = job.orders_created
    assert job.state == "committing" and created == 1
    # while it still moves, starting it again is refused with the reason
    response = manager_client.post(reverse("admin:orders_importjob_commit", args=[job.pk]), follow=True)
    assert "导入正在进行，请等待完成" in response.content.decode()
    # once it has not moved for IMPORT_STALE_SECONDS, the page's button starts it again and it resumes
    ImportJob.objects.filter(pk=job.pk).update(progress_at=job.progress_at - timedelta(hours=1))
    assert 'id="import-restart"' in job_page(manager_client, job)
    response = manager_client.post(reverse("admin:orders_importjob_commit", args=[job.pk]))
    assert response.status_code == 302
    import_commit(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == "done" and job.orders_created == job.summary["will_create"]
    assert Order.objects.filter(is_legacy=True).count() == job.summary["will_create"]


def test_a_stalled_dry_run_says_so_on_its_page_and_can_be_started_again(manager_client, channel):
    """A dry run whose worker died (retries used up) must not leave the job stuck in 'checking'."""
    SkuFactory(code="MASK-001")
    SkuFactory(code="SAMPLE-3")
    job = uploaded(manager_client, channel)
    configure = reverse("admin:orders_importjob_configure", args=[job.pk])
    manager_client.post(configure, {**mapping_post(job), "_check": "1"})
    job.refresh_from_db()
    assert job.state == "checking"  # and no worker ever runs it
    # while it is fresh: no stall note, starting again is refused, the columns page sends back to the job
    html = job_page(manager_client, job)
    assert 'id="import-stalled"' not in html and 'id="import-restart-check"' not in html
    response = manager_client.post(reverse("admin:orders_importjob_check", args=[job.pk]), follow=True)
    assert "导入正在进行，请等待完成" in response.content.decode()
    assert manager_client.get(configure).status_code == 302
    # no progress for IMPORT_STALE_SECONDS: the page says it stalled and offers to start it again
    ImportJob.objects.filter(pk=job.pk).update(
        progress_at=job.progress_at - timedelta(hours=1), started_at=job.started_at - timedelta(hours=1)
    )
    html = job_page(manager_client, job)
    assert 'id="import-stalled"' in html and 'id="import-restart-check"' in html
    assert manager_client.get(reverse("admin:orders_importjob_progress", args=[job.pk])).json()["stalled"] is True
    assert manager_client.get(configure).status_code == 200  # the columns may be changed too
    response = manager_client.post(reverse("admin:orders_importjob_check", args=[job.pk]), follow=True)
    assert "导入正在进行" not in response.content.decode()
    job.refresh_from_db()
    assert job.state == "checking" and job.history.first().history_change_reason == "stalled dry run started again"
    assert 'id="import-stalled"' not in job_page(manager_client, job)  # fresh again
    import_dry_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == "checked" and job.summary["will_create"] > 0
