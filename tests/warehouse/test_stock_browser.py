"""A warehouse clerk books inbound stock and a count correction in the admin, in a real browser."""

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect

from tests.browser import login
from warehouse.models import StockLevel, StockMovement

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stocked")]


def zh(text: str) -> str:
    with translation.override("zh-hans"):
        return translation.gettext(text)


def test_clerk_adjusts_stock_sees_the_ledger_and_a_refusal_on_the_field(page: Page, live_server, cangku):
    login(page, live_server, "cangku")
    page.goto(f"{live_server.url}/admin/warehouse/stocklevel/")
    row = page.locator("#result_list tbody tr", has_text="MASK-001")
    expect(row).to_contain_text("100")

    # when: the row's adjust link, inbound 40 with a reason
    row.get_by_role("link", name=zh("adjust")).click()
    expect(page.locator("#id_sku")).to_have_value("MASK-001")
    page.select_option("#id_kind", "inbound")
    page.fill("#id_quantity", "40")
    page.fill("#id_reason", "采购单 PO-2026-118 到货")
    page.click("#stock-adjust-form input[type=submit]")

    # then: the ledger for this SKU and warehouse, newest first, names the clerk and the reason
    expect(page.locator("ul.messagelist .success")).to_contain_text("140")
    first = page.locator("#result_list tbody tr").first
    expect(first).to_contain_text("采购单 PO-2026-118 到货")
    expect(first).to_contain_text("cangku")
    assert StockLevel.objects.get(sku__code="MASK-001").on_hand == 140

    # when: a count correction below zero is typed as damage of too many units
    page.goto(f"{live_server.url}/admin/warehouse/stocklevel/adjust/?sku=MASK-001")
    page.select_option("#id_kind", "damage")
    page.fill("#id_quantity", "999")
    page.fill("#id_reason", "破损")
    page.click("#stock-adjust-form input[type=submit]")

    # then: refused on the quantity field, nothing booked
    expect(page.locator(".form-row.errors")).to_contain_text("-859")
    assert StockLevel.objects.get(sku__code="MASK-001").on_hand == 140
    assert StockMovement.objects.filter(kind="damage").count() == 0
