"""Every link and picker a role is shown works for that role (issue 9, defect 13 and the role-walk must-hold).

A small in-process version of /work/shared/tools/role_walk.py: as each role, open the stock, rule, status-node
and alert pages, then follow every admin link and every autocomplete picker they show, one step deep.
"""

import re
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from orders.models import Alert, EscalationLevel, StatusNode
from orders.services.alerts import alert_acknowledge, alert_raise
from rules.models import Rule
from rules.services import rule_save
from tests.factories import make_order, user_with_role
from warehouse.models import StockLevel

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

ROLES = ["客服", "仓库", "采购", "运营主管", "财务", "管理员"]
SKIP = re.compile(
    r"/(logout|delete|password_change|password)/|/history/\d+/|[?&]_popup=|/jsi18n/|\.(css|js|png|svg|ico)$"
)
HREF = re.compile(r'href="([^"#]+)"')
SELECT2 = re.compile(r"<select[^>]*data-ajax--url=\"([^\"]+)\"[^>]*>")
ATTR = re.compile(r'data-(app-label|model-name|field-name)="([^"]*)"')


def shown_links(page: str, html: str) -> set[str]:
    """Admin links and autocomplete picker URLs on a page, as role_walk.py finds them."""
    links = set()
    for raw in HREF.findall(html):
        parts = urlsplit(urljoin(page, raw.replace("&amp;", "&")))
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if not parts.netloc and target.startswith("/admin/") and not SKIP.search(target):
            links.add(target)
    for tag in SELECT2.finditer(html):
        attrs = dict(ATTR.findall(tag.group(0)))
        query = {"app_label": attrs["app-label"], "model_name": attrs["model-name"], "field_name": attrs["field-name"]}
        links.add(f"{tag.group(1)}?{urlencode({**query, 'term': ''})}")
    return links


@pytest.fixture
def pages() -> list[str]:
    order = make_order()
    rule = rule_save(
        rule=Rule(
            kind="tag",
            name="大单",
            condition={"all": [{"fact": "paid_amount", "op": "gte", "value": "299"}]},
            action={"tag": "大单"},
        ),
        actor=None,
    )
    owner = user_with_role("仓库", "warehouse-lead")
    group = Group.objects.get(name="仓库")
    alert = alert_raise(kind="stock_shortfall", message="MASK-001 缺货 3 件", order=order, owner_group=group)
    alert_acknowledge(alert=alert, actor=owner)
    Alert.objects.filter(pk=alert.pk).update(owner_user=owner)
    # every owner and recipient filled, so a read-only page would have something to link
    node = StatusNode.objects.get(status="paid")
    StatusNode.objects.filter(pk=node.pk).update(owner_group=group, owner_user=owner)
    EscalationLevel.objects.create(node=node, level=1, after_minutes=30, notify_group=group, notify_user=owner)
    assert StockLevel.objects.exists()
    return [
        reverse("admin:warehouse_stocklevel_changelist"),
        reverse("admin:warehouse_stockmovement_changelist"),
        reverse("admin:rules_rule_changelist"),
        reverse("admin:rules_rule_change", args=[rule.pk]),
        reverse("admin:orders_statusnode_changelist"),
        reverse("admin:orders_statusnode_change", args=[node.pk]),
        reverse("admin:orders_alert_changelist"),
        reverse("admin:orders_alert_change", args=[alert.pk]),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_admin_pages_for_each_role_show_only_links_and_pickers_that_answer_200(client, pages, role):
    client.force_login(user_with_role(role))
    problems, shown = [], {}
    for page in pages:
        response = client.get(page)
        if response.status_code == 403:
            continue  # the page itself is not offered to this role; what matters is what pages show
        assert response.status_code == 200, f"{role}: {response.status_code} {page}"
        for link in shown_links(page, response.content.decode()):
            shown.setdefault(link, page)
    for link, page in sorted(shown.items()):
        status = client.get(link).status_code
        if status in (403, 404) or status >= 500:
            problems.append(f"{status} {link} (shown on {page})")
    assert not problems, f"{role}:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("role", "movements", "adjust"),
    [("客服", False, False), ("运营主管", True, False), ("仓库", True, True), ("采购", True, True)],
)
def test_stock_list_ledger_links_follow_the_role(client, role, movements, adjust):
    client.force_login(user_with_role(role))
    html = client.get(reverse("admin:warehouse_stocklevel_changelist")).content.decode()
    assert (reverse("admin:warehouse_stockmovement_changelist") + "?sku__id__exact=" in html) is movements
    assert (reverse("admin:warehouse_stocklevel_adjust") in html) is adjust
