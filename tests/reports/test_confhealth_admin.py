"""报表 → 配置健康度报告 in the admin, per role: the list, one report grouped by kind with counts and fix links,
立即生成 for 运营主管 and 管理员; every other role gets 403 and sees no link."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import StatusNode
from reports.models import ConfigHealthReport
from reports.services.confhealth import config_health_report_build
from tests.factories import user_with_role
from tests.reports.confhealth_config import clean_config, cmp, rule

LIST = "/admin/reports/confighealthreport/"
BUILD = "/admin/reports/confighealthreport/build/"


def detail(report) -> str:
    return f"{LIST}{report.pk}/change/"


@pytest.mark.parametrize("role", ["客服", "仓库", "采购", "财务"])
def test_other_roles_get_403_and_no_link(client, role):
    report = config_health_report_build()
    client.force_login(user_with_role(role))
    assert client.get(LIST).status_code == 403
    assert client.get(detail(report)).status_code == 403
    assert client.post(BUILD).status_code == 403
    assert ConfigHealthReport.objects.count() == 1
    assert LIST not in client.get("/admin/").content.decode()


def test_anonymous_is_sent_to_the_login(client):
    response = client.get(LIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("role", ["运营主管", "管理员"])
def test_ops_manager_and_admin_build_one_from_the_list_and_read_it(client, role):
    clean_config()
    StatusNode.objects.filter(status="picked_up").update(owner_group=None, timeout_minutes=None)
    never = rule("从不命中", {"all": [cmp("paid_amount", "lt", "1")]})
    user = user_with_role(role)
    client.force_login(user)
    home = client.get("/admin/").content.decode()
    assert f'href="{LIST}"' in home and "配置健康度报告" in home
    listing = client.get(LIST).content.decode()
    assert 'id="oh-build-confhealth"' in listing and "立即生成" in listing
    # when: 立即生成
    response = client.post(BUILD)
    report = ConfigHealthReport.objects.get()
    assert response.status_code == 302 and response["Location"] == detail(report)
    assert report.generated_by == user and report.findings_count == 3
    # then: the report page groups the findings by kind, with counts, each linking to where it is fixed
    page = client.get(detail(report))
    assert page.status_code == 200
    html = page.content.decode()
    assert "配置健康度报告" in html and "已生成" in html
    groups = {g["kind"]: g["count"] for g in page.context["groups"]}
    assert groups == {"rule_never_hit": 1, "node_no_owner": 1, "node_no_timeout": 1}
    assert "30 天内从未命中的规则" in html and "没有负责人的状态节点" in html
    node_url = reverse("admin:orders_statusnode_change", args=[StatusNode.objects.get(status="picked_up").pk])
    assert f'href="{reverse("admin:rules_rule_change", args=[never.pk])}" class="oh-fix"' in html
    assert html.count(f'href="{node_url}" class="oh-fix"') == 2
    assert "口径说明" in html
    # and the list shows it
    listing = client.get(LIST).content.decode()
    assert detail(report) in listing


def test_build_is_a_post_only_and_a_bad_report_id_is_a_404(client, yunying):
    client.force_login(yunying)
    assert client.get(BUILD).status_code == 405
    assert ConfigHealthReport.objects.count() == 0
    assert client.get(f"{LIST}abc/change/").status_code == 404
    assert client.get(f"{LIST}999999/change/").status_code == 404


def test_a_clean_configuration_says_so(client, yunying):
    clean_config()
    report = config_health_report_build()
    client.force_login(yunying)
    html = client.get(detail(report)).content.decode()
    assert 'id="oh-clean"' in html and "没有发现" in html


def test_the_report_page_reads_a_fixed_number_of_queries_whatever_the_findings(client, yunying):
    client.force_login(yunying)
    few = config_health_report_build()
    for i in range(12):
        rule(f"规则{i}", {"all": [cmp("paid_amount", "gte", str(i))]}, enabled=i % 2 == 0)
        user_with_role("客服").groups.add(Group.objects.get(name="仓库"))
    many = config_health_report_build()
    assert many.findings_count > few.findings_count + 20

    def count(report) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(detail(report)).status_code == 200
        return len(queries)

    assert count(many) == count(few)


def test_a_finding_about_people_links_to_the_user_admin_only_for_those_who_may_open_it(client):
    clean_config()
    person = user_with_role("财务", "both")
    person.groups.add(Group.objects.get(name="仓库"))  # pays and fulfils: a duty conflict
    report = config_health_report_build()
    user_url = reverse("admin:auth_user_change", args=[person.pk])
    client.force_login(user_with_role("运营主管"))
    html = client.get(detail(report)).content.decode()
    assert "both" in html and f'href="{user_url}"' not in html and "由管理员在“用户和组”中修改" in html
    client.force_login(user_with_role("管理员"))
    html = client.get(detail(report)).content.decode()
    assert f'href="{user_url}" class="oh-fix"' in html
    assert client.get(user_url).status_code == 200
