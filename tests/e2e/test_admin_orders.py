"""Customer service and warehouse staff on the admin pages, in a real browser (Chromium via Playwright).

Expected labels are computed with Django's own translation in zh-hans, so they follow the compiled catalog.
The browser announces English (en-US): pages must still come up in Chinese first.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone, translation
from playwright.sync_api import Page, expect

from orders.models import Alert, Order, OrderEvent, Source, Status
from orders.services.alerts import alert_raise
from orders.services.transitions import order_transition
from orders.transitions import TRANSITIONS
from tests.browser import login
from tests.factories import make_order

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stocked")]


def zh(text) -> str:
    """A message id or lazy label, as the page renders it for a zh-CN browser."""
    with translation.override("zh-hans"):
        return translation.gettext(text) if isinstance(text, str) else str(text)


def paid_order(**overrides) -> Order:
    order = make_order(**overrides)
    return order_transition(order=order, transition="pay", actor=None, source="api")


def order_url(live_server, order: Order) -> str:
    return f"{live_server.url}/admin/orders/order/{order.pk}/change/"


def transition_form(page: Page, name: str):
    return page.locator(f"#oh-status form:has(button[data-transition='{name}'])")


def search_orders(page: Page, live_server, term: str):
    page.goto(f"{live_server.url}/admin/orders/order/")
    page.fill("#searchbar", term)
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r"[?&]q="))
    return page.locator("#result_list tbody tr")


def test_admin_home_kefu_with_open_alert_shows_alert_panel_in_chinese(page: Page, live_server, kefu):
    # given: an order with an open alert for customer service raised by the system, and one for the warehouse
    order = make_order()
    alert_raise(
        kind=Alert.Kind.OTHER, message="天猫拉单失败：签名错误 e2e-alert", order=order, owner_group=kefu.groups.get()
    )
    alert_raise(kind=Alert.Kind.BREAKER_TRIPPED, message="e2e-breaker", owner_group=Group.objects.get(name="仓库"))

    # when
    login(page, live_server, "kefu")

    # then: the open-alerts panel counts my group's alerts by kind and lists the newest, with a link to the order
    panel = page.locator("#open-alerts")
    expect(panel).to_be_visible()
    expect(panel.locator("#my-alerts caption")).to_have_text(f"{zh('Open alerts for my groups')} (1)")
    kind_row = panel.locator("tr.oh-alert-kind")
    expect(kind_row).to_have_count(1)
    expect(kind_row).to_contain_text(zh(Alert.Kind.OTHER.label))
    row = panel.locator("tr.oh-alert")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("天猫拉单失败：签名错误 e2e-alert")
    expect(row.get_by_role("link", name=order.number)).to_have_attribute(
        "href", f"/admin/orders/order/{order.pk}/change/"
    )
    expect(panel.locator("#other-alerts")).to_contain_text("1")
    # and: the page is Chinese although the browser asked for English (the project's and Django's catalogs)
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#recent-actions-module h2")).to_have_text("最近动作")
    expect(page.locator("#logout-form button")).to_have_text("注销")
    assert zh("Open alerts for my groups") != "Open alerts for my groups"
    # when: the kind's count is followed, the alert list shows just those alerts, open
    kind_row.get_by_role("link").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("e2e-alert")
    expect(page.locator("#result_list")).to_contain_text(zh("Open"))


def test_order_list_search_exact_identifier_finds_only_that_order_and_opens_detail(
    page: Page, live_server, kefu, tmp_path
):
    # given: two orders of different customers
    wanted = make_order(
        channel_order_no="TM-E2E-7001",
        customer={"name": "李四", "phone": "13900000001", "member_level": "gold"},
        shipping_address={
            "receiver": "李四妈妈",
            "phone": "13700000002",  # receiver differs: the customer's phone must still find it
            "province": "江苏",
            "city": "南京",
            "district": "鼓楼区",
            "detail": "中山路 1 号",
        },
    )
    other = make_order(channel_order_no="TM-E2E-7002")
    login(page, live_server, "kefu")

    # when / then: each identifier finds exactly that order
    for term in ("13900000001", wanted.number, wanted.number.lower(), "TM-E2E-7001"):
        rows = search_orders(page, live_server, term)
        expect(rows, f"search {term!r}").to_have_count(1)
        expect(rows.first).to_contain_text(wanted.number)
        expect(rows.first).to_contain_text("TM-E2E-7001")
    rows = search_orders(page, live_server, "TM-E2E-7002")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(other.number)
    # exact match only: a prefix finds nothing
    rows = search_orders(page, live_server, "TM-E2E-70")
    expect(rows).to_have_count(0)

    # when: open it from the result list
    rows = search_orders(page, live_server, "13900000001")
    rows.first.get_by_role("link", name=wanted.number).click()
    page.wait_for_url(re.compile(re.escape(order_url(live_server, wanted)) + r"(\?_changelist_filters=.*)?$"))

    # then: lines, status-node settings and timeline are shown
    lines = page.locator("#lines-group")
    expect(lines).to_contain_text("MASK-001 补水面膜")
    expect(lines).to_contain_text("99.00")
    expect(lines.locator("tbody tr.has_original")).to_have_count(1)
    status = page.locator("#oh-status")
    expect(page.locator("#oh-current-status")).to_have_text(zh(Status.PLACED.label))
    expect(status).to_contain_text("客服")  # owner group of 'placed'
    expect(status).to_contain_text("30")  # timeout minutes
    expect(status).to_contain_text("“已下单” 订单已收到，正在确认付款。")  # what the customer sees
    expect(status).to_contain_text("L1: +30")  # escalation to 运营主管
    expect(status.locator("button[data-transition='hold']")).to_be_visible()
    timeline = page.locator("#oh-timeline tbody tr")
    expect(timeline).to_have_count(1)
    expect(timeline.first).to_contain_text(zh(OrderEvent.Kind.CREATED.label))
    page.screenshot(path=str(tmp_path / "order_page.png"), full_page=True)


def test_order_hold_kefu_with_reason_moves_to_on_hold_and_adds_timeline_row(page: Page, live_server, kefu):
    # given: a paid order (created + pay events on its timeline)
    order = paid_order()
    login(page, live_server, "kefu")
    page.goto(order_url(live_server, order))
    expect(page.locator("#oh-current-status")).to_have_text(zh(Status.PAID.label))
    expect(page.locator("#oh-timeline tbody tr")).to_have_count(2)

    # when
    form = transition_form(page, "hold")
    form.locator("input[name=reason]").fill("客户来电要求改地址，先暂停")
    form.locator("button[data-transition='hold']").click()
    page.wait_for_url(order_url(live_server, order))

    # then: the page shows the new status and a success message
    expect(page.locator("#oh-current-status")).to_have_text(zh(Status.ON_HOLD.label))
    expect(page.locator("ul.messagelist li.success")).to_contain_text(order.number)
    # and: one new timeline row with kefu as actor, the admin as source and the reason
    rows = page.locator("#oh-timeline tbody tr")
    expect(rows).to_have_count(3)
    cells = rows.last.locator("td")
    expect(cells.nth(1)).to_contain_text(f"{zh(Status.PAID.label)} → {zh(Status.ON_HOLD.label)}")
    expect(cells.nth(2)).to_have_text("kefu")
    expect(cells.nth(3)).to_have_text(zh(Source.ADMIN.label))
    expect(cells.nth(4)).to_have_text("客户来电要求改地址，先暂停")
    # and: the change really happened
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD
    assert order.status_reason == "客户来电要求改地址，先暂停"
    event = order.events.order_by("-id").first()
    assert (event.transition, event.actor.username) == ("hold", "kefu")


def test_order_hold_without_reason_is_refused_in_red_and_status_unchanged(page: Page, live_server, kefu):
    # given
    order = paid_order()
    login(page, live_server, "kefu")
    page.goto(order_url(live_server, order))
    form = transition_form(page, "hold")
    reason = form.locator("input[name=reason]")
    expect(reason).to_have_attribute("required", "")
    hold_label = form.locator("button").inner_text().strip()

    # when: the browser's own check is bypassed and the form is sent with no reason
    reason.evaluate("el => el.removeAttribute('required')")
    form.locator("button[data-transition='hold']").click()
    page.wait_for_url(order_url(live_server, order))

    # then: the refusal and its reason are shown as an error, in red
    error = page.locator("ul.messagelist li.error")
    expect(error).to_have_count(1)
    expect(error).to_contain_text(hold_label)
    expect(error).to_contain_text(zh("Refused: %(why)s").split("%")[0].strip())
    assert page.locator("ul.messagelist li.success").count() == 0
    red, green, blue = _rgb(error.evaluate("el => getComputedStyle(el).backgroundColor"))
    assert red > green + 10 and red > blue + 10, f"error message is not red: rgb({red}, {green}, {blue})"
    # and: nothing changed
    expect(page.locator("#oh-current-status")).to_have_text(zh(Status.PAID.label))
    expect(page.locator("#oh-timeline tbody tr")).to_have_count(2)
    order.refresh_from_db()
    assert order.status == Status.PAID
    assert not order.events.filter(transition="hold").exists()


def test_order_page_warehouse_user_without_cancel_permission_sees_no_cancel_button(
    browser, page: Page, live_server, kefu, cangku
):
    # given
    order = paid_order()

    # when / then: customer service may cancel a paid order
    login(page, live_server, "kefu")
    page.goto(order_url(live_server, order))
    expect(page.locator("#oh-status button[data-transition='cancel']")).to_have_count(1)
    expect(page.locator("#oh-status button[data-transition='start_allocation']")).to_have_count(0)

    # when / then: the warehouse sees its own step but no cancel button
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        wh = context.new_page()
        login(wh, live_server, "cangku")
        wh.goto(order_url(live_server, order))
        expect(wh.locator("#oh-current-status")).to_have_text(zh(Status.PAID.label))
        expect(wh.locator("#oh-status button[data-transition='start_allocation']")).to_have_count(1)
        expect(wh.locator("#oh-status button[data-transition='cancel']")).to_have_count(0)
        expect(wh.locator("#oh-status button[data-transition='hold']")).to_have_count(0)

        # and: forging the cancel request from the page is refused by the server too
        form = transition_form(wh, "start_allocation")
        form.locator("input[name=transition]").evaluate("el => el.value = 'cancel'")
        form.locator("input[name=reason]").fill("仓库想取消")
        form.locator("button").click()
        wh.wait_for_url(order_url(live_server, order))
        expect(wh.locator("ul.messagelist li.error")).to_contain_text(zh(TRANSITIONS["cancel"].label))
        expect(wh.locator("#oh-current-status")).to_have_text(zh(Status.PAID.label))
    finally:
        context.close()
    order.refresh_from_db()
    assert order.status == Status.PAID


def _rgb(css: str) -> tuple[int, int, int]:
    match = re.match(r"rgba?\((\d+), (\d+), (\d+)", css)
    assert match, css
    return int(match[1]), int(match[2]), int(match[3])


def test_order_list_bulk_release_asks_a_reason_then_counts_releases_and_lists_refusals_in_red(
    page: Page, live_server, kefu
):
    # given: two orders on hold and one that is not
    held = [
        order_transition(order=paid_order(), transition="hold", actor=kefu, source="admin", reason="待确认")
        for _ in range(2)
    ]
    not_held = paid_order()
    login(page, live_server, "kefu")
    page.goto(f"{live_server.url}/admin/orders/order/")
    # when: 客服 selects the three and chooses the bulk release
    for order in (*held, not_held):
        page.locator(f"input.action-select[value='{order.pk}']").check()
    page.select_option("select[name='action']", "release_holds")
    page.locator("button[name='index']").click()
    # then: the reason is asked first
    form = page.locator("#release-form")
    expect(form).to_be_visible()
    expect(page.locator("#release-orders tbody tr")).to_have_count(3)
    page.fill("#id_reason", "客户已确认地址")
    form.locator("input[type='submit']").click()
    # then: back on the list, the releases are counted and the refusal is red, naming the order
    expect(page.locator("ul.messagelist li.success")).to_have_text("已解除 2 个订单的挂起。")
    expect(page.locator("ul.messagelist li.error")).to_contain_text(not_held.number)
    for order in held:
        order.refresh_from_db()
        assert order.status == Status.PAID


@pytest.mark.parametrize("role", ["kefu", "cangku"])  # cangku also gets the action checkboxes
def test_order_list_on_1366_screen_shows_overdue_flag_without_scrolling(browser, live_server, kefu, cangku, role):
    # given: a few orders with long channel numbers and names, one of them overdue in its status
    for i in range(3):
        make_order(
            channel_order_no=f"TMALL2026112200001{i}",
            customer={"name": "欧阳娜娜", "phone": f"1390000{i:04d}"},
        )
    overdue = make_order(channel_order_no="TMALL20261122000019")
    overdue.state_deadline = timezone.now() - timedelta(minutes=40)
    overdue.save(update_fields=["state_deadline"])
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        login(page, live_server, role)

        # when
        page.goto(f"{live_server.url}/admin/orders/order/")

        # then: the overdue order's number, status, receiver phone and deadline with its marker are all in view
        row = page.locator("#result_list tbody tr", has_text=overdue.number)
        marker = row.locator(".oh-overdue")
        expect(marker).to_have_text(f"⚠ {zh('overdue')}")
        for cell in (row.get_by_role("link", name=overdue.number), row.locator(".oh-status"), marker):
            expect(cell).to_be_in_viewport(ratio=1)
        expect(row.get_by_text(overdue.receiver_phone)).to_be_in_viewport(ratio=1)
        # and: the page itself does not scroll sideways
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    finally:
        context.close()
