"""报表 → 经营看板 in the admin: who may open it, its link on the admin home, and its tables and drill-down links."""

import json
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from orders.models import Channel, Order, Status
from reports.services.daily import current_figures_refresh, daily_figures_refresh_recent
from tests.factories import ChannelFactory, WarehouseFactory, make_order, user_with_role

SH = ZoneInfo("Asia/Shanghai")
ORDERS = "/admin/orders/order/"

URL = "/admin/reports/dashboard/"


@pytest.mark.parametrize("role", ["客服", "仓库", "采购", "财务"])
def test_other_roles_get_403_and_no_link(client, role):
    client.force_login(user_with_role(role))
    assert client.get(URL).status_code == 403
    home = client.get("/admin/").content.decode()
    assert URL not in home


@pytest.mark.parametrize("role", ["运营主管", "管理员"])
def test_ops_manager_and_admin_open_it_from_the_admin_home(client, role):
    client.force_login(user_with_role(role))
    home = client.get("/admin/").content.decode()
    assert f'href="{URL}"' in home
    assert "报表" in home and "经营看板" in home
    page = client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "今日每小时订单" in html and "当前状态分布" in html
    assert "/static/echarts/echarts.min.js" in html and "/static/reports/dashboard.js" in html
    assert "cdn" not in html.lower()


def test_anonymous_is_sent_to_the_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def chart_data(html: str) -> dict:
    return json.loads(html.split('<script id="dashboard-data" type="application/json">')[1].split("</script>")[0])


def listed(client, url: str) -> set[str]:
    """The order numbers the admin order list shows at `url`."""
    response = client.get(url)
    assert response.status_code == 200, url
    return {o.number for o in response.context["cl"].result_list}


@pytest.fixture
def today_orders(db):
    """Three orders placed today: tmall in 上海仓 (paid), jd in 上海仓 and jd not allocated (placed)."""
    tmall = ChannelFactory()
    jd = ChannelFactory(code="jd", name="京东自营", kind="other")
    sh = WarehouseFactory()
    WarehouseFactory(code="BJ01", name="北京仓")
    today = timezone.localdate()
    first = make_order()
    second, third = make_order(channel="jd"), make_order(channel="jd")
    at = datetime.combine(today, datetime.min.time(), tzinfo=SH)
    Order.objects.filter(pk=first.pk).update(
        ordered_at=at, status=Status.PAID, warehouse=sh, paid_amount=Decimal("10.00")
    )
    placed = {"ordered_at": at, "status": Status.PLACED}
    Order.objects.filter(pk=second.pk).update(**placed, warehouse=sh, paid_amount=Decimal("20.00"))
    Order.objects.filter(pk=third.pk).update(**placed, warehouse=None, paid_amount=Decimal("30.00"))
    daily_figures_refresh_recent(days=1)
    current_figures_refresh()
    return {"tmall": tmall, "jd": jd, "sh": sh, "orders": (first, second, third), "today": today}


def test_tables_carry_the_figures_and_link_to_the_orders_behind_them(client, yunying, today_orders):
    first, second, third = today_orders["orders"]
    jd, today = today_orders["jd"], today_orders["today"]
    client.force_login(yunying)
    response = client.get(URL)
    ctx = response.context
    assert ctx["hours_total"] == 3 and ctx["hours"][0]["count"] == 3
    assert ctx["total_orders"] == 3 and ctx["total_gmv"] == Decimal("60.00")
    assert {row["status"]: row["count"] for row in ctx["statuses"]}[Status.PAID] == 1
    assert [(w["name"], w["orders"]) for w in ctx["warehouses"]] == [("上海仓", 2), ("未分仓", 1)]
    html = response.content.decode()
    assert f'<a href="{ORDERS}?status__exact=paid">1</a>' in html
    # every link opens the orders behind its number
    start = (today - timedelta(days=13)).isoformat()
    before = (today + timedelta(days=1)).isoformat()
    jd_row = next(row for row in ctx["channels"] if row["code"] == "jd")
    assert jd_row["url"] == f"{ORDERS}?channel__id__exact={jd.pk}&ordered_from={start}&ordered_before={before}"
    assert listed(client, jd_row["url"]) == {second.number, third.number}
    assert listed(client, jd_row["cells"][-1]["url"]) == {second.number, third.number}
    assert jd_row["cells"][-2]["orders"] == 0 and listed(client, jd_row["cells"][-2]["url"]) == set()
    by_name = {w["name"]: w for w in ctx["warehouses"]}
    assert listed(client, by_name["上海仓"]["url"]) == {first.number, second.number}
    assert listed(client, by_name["未分仓"]["url"]) == {third.number}
    assert listed(client, ctx["hours"][0]["url"]) == {first.number, second.number, third.number}
    assert listed(client, ctx["hours"][1]["url"]) == set()
    assert listed(client, ctx["total_url"]) == {first.number, second.number, third.number}
    assert listed(client, ctx["statuses"][0]["url"]) == {second.number, third.number}  # placed
    # the chart figures the page carries for dashboard.js
    data = chart_data(html)
    assert sum(data["hours"]["counts"]) == 3
    assert {s["name"]: s["orders"][-1] for s in data["channels"]["series"]} == {"天猫旗舰店": 1, "京东自营": 2}
    assert data["warehouses"]["counts"] == [2, 1]
    assert f"{ORDERS}?status__exact=paid" in data["statuses"]["urls"]


def test_filtered_by_channel_and_warehouse_every_figure_and_link_narrows(client, yunying, today_orders):
    second = today_orders["orders"][1]
    jd, sh = today_orders["jd"], today_orders["sh"]
    client.force_login(yunying)
    response = client.get(URL, {"channel": jd.pk, "warehouse": sh.pk})
    assert response.status_code == 200
    ctx = response.context
    assert ctx["figures_range"]["channel_id"] == jd.pk and ctx["figures_range"]["warehouse_id"] == sh.pk
    assert ctx["total_orders"] == 1 and ctx["hours_total"] == 1 and ctx["statuses_total"] == 1
    assert [row["code"] for row in ctx["channels"]] == ["jd"]
    assert listed(client, ctx["total_url"]) == {second.number}
    assert listed(client, ctx["hours"][0]["url"]) == {second.number}
    placed_url = next(s["url"] for s in ctx["statuses"] if s["status"] == Status.PLACED)
    assert listed(client, placed_url) == {second.number}
    # the filter bar keeps what was chosen
    html = response.content.decode()
    assert f'<option value="{jd.pk}" selected>京东自营</option>' in html


def test_a_date_range_of_three_days(client, yunying, today_orders):
    today = today_orders["today"]
    client.force_login(yunying)
    start = today - timedelta(days=2)
    response = client.get(URL, {"start": start.isoformat(), "end": today.isoformat()})
    assert response.status_code == 200
    assert response.context["days"] == [start, start + timedelta(days=1), today]
    assert "共 3 天" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "2026-03-10", "end": "2026-03-01"}, "结束日期 2026-03-01 早于开始日期 2026-03-10。"),
        ({"start": "2025-01-01", "end": "2026-01-02"}, "日期范围共 367 天，最多 366 天。"),
        ({"channel": "999999"}, "未知渠道：999999。"),
        ({"channel": "tmall"}, "未知渠道：tmall。"),
        ({"warehouse": "x"}, "未知仓库：x。"),
        ({"start": "2026-02-30"}, "开始日期不是有效日期"),
        ({"end": "yesterday"}, "结束日期不是有效日期"),
        ({"start": "9999-12-20", "end": "9999-12-31"}, "结束日期 9999-12-31 晚于今天"),
    ],
)
def test_bad_filter_input_names_the_problem_and_shows_the_default_range(client, yunying, query, message):
    ChannelFactory()
    client.force_login(yunying)
    response = client.get(URL, query)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and 'id="dash-errors"' in html
    today = timezone.localdate()
    assert response.context["figures_range"] == {
        "start": today - timedelta(days=13),
        "end": today,
        "channel_id": None,
        "warehouse_id": None,
    }
    assert len(response.context["days"]) == 14


def test_the_order_list_refuses_a_bad_time_filter_without_a_500(client, yunying):
    client.force_login(yunying)
    response = client.get(f"{ORDERS}?ordered_from=not-a-day")
    assert response.status_code == 302 and "e=1" in response["Location"]


def page_queries(client, start, end) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL, {"start": start.isoformat(), "end": end.isoformat()}).status_code == 200
    return [q["sql"] for q in queries.captured_queries]


def test_the_page_reads_the_same_statements_for_3_and_30_days_and_channels(client, yunying):
    """The figures are GROUP BY queries over the reports app's rows: more orders, days or channels add no
    statement, and none reads the orders table."""
    ChannelFactory()
    client.force_login(yunying)
    today = timezone.localdate()
    make_order()
    daily_figures_refresh_recent(days=1)
    current_figures_refresh()
    client.get(URL)  # warm the per-process caches (sessions, content types)
    few = page_queries(client, today - timedelta(days=2), today)
    for n in range(30):
        Channel.objects.create(code=f"c{n:02d}", name=f"渠道{n}", kind="other")
    for channel in ("tmall", "c01", "c02", "c29"):
        make_order(channel=channel)
    daily_figures_refresh_recent(days=1)
    current_figures_refresh()
    more = page_queries(client, today - timedelta(days=29), today)
    assert len(more) == len(few)
    assert not [sql for sql in more if '"orders_order"' in sql]
    # day series, warehouses, hours, statuses, nodes; and the health figures' exceptions by cause
    assert len([sql for sql in more if "GROUP BY" in sql]) == 6


@pytest.mark.parametrize("value", ["²", "99999999999", "-5", "1e3"])
def test_the_order_list_ignores_an_overdue_filter_that_is_not_a_plain_number(client, yunying, value):
    client.force_login(yunying)
    assert client.get(ORDERS, {"overdue_by": value}).status_code == 200
    assert client.get(ORDERS, {"import_job": value}).status_code == 200


def test_a_yearly_report_page_with_a_bad_id_is_not_found(client, yunying):
    client.force_login(yunying)
    assert client.get("/admin/reports/yearlyreport/abc/change/").status_code == 404


def test_a_refused_page_says_so_in_chinese_in_the_admin_frame(client, kefu):
    client.force_login(kefu)
    with translation.override("zh-hans"):
        response = client.get(URL)
    html = response.content.decode()
    assert response.status_code == 403 and "无权访问" in html and "未做任何更改" in html and 'href="/admin/"' in html
