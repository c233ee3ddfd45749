"""报表 → 经营看板 in the admin: who may open it, its link on the admin home, and its tables and drill-down links."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orders.models import Order, Status
from tests.factories import ChannelFactory, make_order, user_with_role

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


def test_tables_carry_the_figures_and_link_to_the_orders_behind_them(client, yunying):
    ChannelFactory()
    jd = ChannelFactory(code="jd", name="京东自营", kind="other")
    now = timezone.now()
    first, second = make_order(), make_order(channel="jd")
    Order.objects.filter(pk=second.pk).update(status=Status.PAID)
    Order.objects.filter(pk__in=[first.pk, second.pk]).update(ordered_at=now)
    client.force_login(yunying)
    response = client.get(URL)
    ctx = response.context
    assert ctx["hours_total"] == 2
    assert sum(row["count"] for row in ctx["hours"]) == 2
    assert {row["status"]: row["count"] for row in ctx["statuses"]}[Status.PAID] == 1
    html = response.content.decode()
    orders_url = reverse("admin:orders_order_changelist")
    assert f'<a href="{orders_url}?status__exact=paid">1</a>' in html
    assert f'<a href="{orders_url}?channel__id__exact={jd.pk}">1</a>' in html
    today = timezone.localdate()
    day = f"ordered_at__year={today.year}&amp;ordered_at__month={today.month}&amp;ordered_at__day={today.day}"
    assert f"{orders_url}?channel__id__exact={jd.pk}&amp;{day}" in html
    # the drill-down links really filter the order list
    listing = client.get(f"{orders_url}?status__exact=paid")
    assert listing.status_code == 200 and second.number in listing.content.decode()
    assert first.number not in listing.content.decode()
    listing = client.get(f"{orders_url}?channel__id__exact={jd.pk}&{day.replace('&amp;', '&')}")
    assert listing.status_code == 200 and second.number in listing.content.decode()
    assert first.number not in listing.content.decode()
    # the chart figures the page carries for dashboard.js
    data = json.loads(html.split('<script id="dashboard-data" type="application/json">')[1].split("</script>")[0])
    assert sum(data["hours"]["counts"]) == 2
    assert {s["name"]: s["orders"][-1] for s in data["channels"]["series"]} == {"天猫旗舰店": 1, "京东自营": 1}
    assert f"{orders_url}?status__exact=paid" in data["statuses"]["urls"]
    jd_series = next(s for s in data["channels"]["series"] if s["name"] == "京东自营")
    assert jd_series["urls"][-1] == f"{orders_url}?channel__id__exact={jd.pk}&{day.replace('&amp;', '&')}"


def test_the_page_reads_a_fixed_number_of_queries_whatever_the_orders(client, yunying):
    """The figures are GROUP BY queries: more orders or channels add no statements."""
    ChannelFactory()
    ChannelFactory(code="jd", name="京东自营", kind="other")
    client.force_login(yunying)
    make_order()
    client.get(URL)  # warm the per-process caches (sessions, content types)
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL).status_code == 200
    for channel in ("tmall", "jd", "jd", "tmall"):
        make_order(channel=channel)
    with CaptureQueriesContext(connection) as more:
        assert client.get(URL).status_code == 200
    assert len(more) == len(few)
    orders_sql = [q["sql"] for q in more.captured_queries if '"orders_order"' in q["sql"]]
    assert len(orders_sql) == 3 and all("GROUP BY" in sql for sql in orders_sql)
