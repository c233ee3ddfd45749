"""The "Try it" sandbox of a rule in the admin: which orders it would match, changing nothing."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from orders.models import Order, OrderEvent
from rules.models import Rule
from rules.services import rule_save
from tests.factories import make_order

pytestmark = pytest.mark.django_db

OVER_150 = {"all": [{"fact": "paid_amount", "op": "gt", "value": "150"}]}


def make_rule(**overrides) -> Rule:
    fields = {"kind": "tag", "name": "大单", "condition": OVER_150, "action": {"tag": "大单"}, "enabled": False}
    fields.update(overrides)
    return rule_save(rule=Rule(**fields), actor=None)


@pytest.fixture
def orders_198_and_100():
    big = make_order(paid_amount="198.00", lines=[{"sku": "MASK-001", "quantity": 2, "unit_price": "99.00"}])
    small = make_order(paid_amount="100.00", lines=[{"sku": "MASK-001", "quantity": 1, "unit_price": "100.00"}])
    return big, small


def try_url(rule: Rule) -> str:
    return reverse("admin:rules_rule_try", args=[rule.pk])


def result_rows(html: str) -> dict[str, str]:
    """Order number -> the text of its result row."""
    rows = re.findall(r'<tr class="rt-(?:matched|unmatched)" data-order="([^"]+)">(.*?)</tr>', html, re.S)
    return {number: re.sub(r"<[^>]+>|\s+", " ", body).strip() for number, body in rows}


def snapshot() -> tuple:
    return (
        sorted(Order.objects.values_list("number", "status", "updated_at", "tags")),
        OrderEvent.objects.count(),
    )


def test_rule_try_last_n_orders_shows_matches_and_changes_nothing(client, yunying, orders_198_and_100):
    # given: a switched-off rule "paid amount > 150" and two orders paid 198 and 100
    big, small = orders_198_and_100
    rule = make_rule()
    before = snapshot()
    client.force_login(yunying)

    # when
    response = client.get(try_url(rule), {"last": "50", "numbers": ""})

    # then: the 198 order would match and get the tag, the 100 order would not
    assert response.status_code == 200
    html = response.content.decode()
    rows = result_rows(html)
    assert set(rows) == {big.number, small.number}
    assert "是 yes" in rows[big.number] and "打标签 大单" in rows[big.number]
    assert "否 no" in rows[small.number] and "打标签" not in rows[small.number]
    assert "2 单中有 1 单会命中 — 1 of 2 orders would match" in html
    assert f'href="{reverse("admin:orders_order_change", args=[big.pk])}"' in html
    # and: nothing changed — no hit counted, no order touched, no timeline event
    rule.refresh_from_db()
    assert (rule.hit_count, rule.last_hit_at, rule.version) == (0, None, 1)
    assert snapshot() == before


def test_rule_try_listed_numbers_tries_only_those_and_names_unknown_ones(client, yunying, orders_198_and_100):
    # given
    big, small = orders_198_and_100
    rule = make_rule(enabled=True)
    client.force_login(yunying)

    # when: one real number in lower case, one that does not exist, comma- and newline-separated
    response = client.get(try_url(rule), {"numbers": f"{big.number.lower()},\nOH-NOPE-1", "last": "50"})

    # then
    assert response.status_code == 200
    html = response.content.decode()
    rows = result_rows(html)
    assert list(rows) == [big.number, "OH-NOPE-1"]
    assert "是 yes" in rows[big.number]
    assert "未找到此订单 No such order" in rows["OH-NOPE-1"]
    assert "1 单中有 1 单会命中 — 1 of 1 order would match" in html
    assert small.number not in rows
    rule.refresh_from_db()
    assert rule.hit_count == 0


def test_rule_try_only_last_n_newest_orders_are_tried(client, yunying, orders_198_and_100):
    _, newest = orders_198_and_100
    rule = make_rule()
    client.force_login(yunying)

    rows = result_rows(client.get(try_url(rule), {"last": "1"}).content.decode())

    assert list(rows) == [newest.number]


def test_rule_try_page_without_submitting_shows_form_with_default_50(client, yunying):
    rule = make_rule()
    client.force_login(yunying)

    response = client.get(try_url(rule))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="last"' in html and 'value="50"' in html
    assert "rule-try-summary" not in html
    assert "此规则目前停用" in html  # switched off, tried all the same


@pytest.mark.parametrize("last", ["0", "abc", "501", "-3"])
def test_rule_try_bad_n_shows_error_not_500(client, yunying, orders_198_and_100, last):
    rule = make_rule()
    client.force_login(yunying)

    response = client.get(try_url(rule), {"last": last, "numbers": ""})

    assert response.status_code == 200
    html = response.content.decode()
    assert "errornote" in html and "errorlist" in html
    assert response.context["form"].errors["last"]
    assert result_rows(html) == {}
    assert "rule-try-summary" not in html


def test_rule_try_overlong_number_shows_error_not_500(client, yunying):
    rule = make_rule()
    client.force_login(yunying)

    response = client.get(try_url(rule), {"numbers": "X" * 40, "last": "50"})

    assert response.status_code == 200
    assert "不是订单号 Not an order number" in response.content.decode()


def test_rule_try_without_view_permission_is_403(client, db):
    # given: a staff member in no group at all
    rule = make_rule()
    nobody = get_user_model().objects.create_user(username="nobody", password="pw-12345", is_staff=True)
    client.force_login(nobody)

    assert client.get(try_url(rule)).status_code == 403
    assert client.get(try_url(rule), {"last": "5"}).status_code == 403


def test_rule_try_customer_service_with_view_permission_may_try(client, kefu, orders_198_and_100):
    rule = make_rule()
    client.force_login(kefu)  # 客服 may view rules, not change them

    response = client.get(try_url(rule), {"last": "10"})

    assert response.status_code == 200
    assert len(result_rows(response.content.decode())) == 2


def test_rule_try_unknown_rule_is_404(client, yunying):
    client.force_login(yunying)

    assert client.get(reverse("admin:rules_rule_try", args=[999999])).status_code == 404


def test_rule_change_page_links_to_try_and_keeps_both_sentences(client, yunying):
    rule = make_rule()
    client.force_login(yunying)

    html = client.get(reverse("admin:rules_rule_change", args=[rule.pk])).content.decode()

    assert f'href="{try_url(rule)}"' in html and "试运行 Try it" in html
    assert "实付金额 &gt; 150 → 打标签 大单" in html or "实付金额 > 150 → 打标签 大单" in html
    assert "paid amount &gt; 150 → tag 大单" in html or "paid amount > 150 → tag 大单" in html
    # the builders are on the page, with the vocabulary from rules.engine
    assert 'data-rule-builder="condition"' in html and 'data-rule-builder="action"' in html
    assert "实付金额" in html and "rules/builder.js" in html
