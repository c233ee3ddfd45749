import pytest

from orders.models import NotificationChannel, Order
from rules.models import Rule
from tests.conftest import client_for
from tests.factories import SkuFactory, make_order

pytestmark = pytest.mark.django_db

GIFT = {
    "kind": "gift",
    "name": "钻石会员面膜赠品",
    "condition": {
        "all": [
            {"fact": "member_level", "op": "eq", "value": "diamond"},
            {"fact": "paid_amount", "op": "gte", "value": "299"},
        ]
    },
    "action": {"sku": "SAMPLE-3", "quantity": 3},
    "position": 10,
}


@pytest.fixture
def manager(yunying):
    SkuFactory(code="SAMPLE-3")
    return client_for(yunying)


def test_create_list_and_read_rule_with_sentences(manager):
    created = manager.post("/api/v1/rules/", GIFT, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["enabled"] is False and body["version"] == 1
    assert body["sentence_zh"] == "会员等级 等于 钻石会员 且 实付金额 ≥ 299 → 赠 SAMPLE-3 × 3"
    assert [r["id"] for r in manager.get("/api/v1/rules/").json()] == [body["id"]]
    assert manager.get(f"/api/v1/rules/{body['id']}/").json()["name"] == GIFT["name"]


def test_invalid_rule_is_400_naming_the_field_and_nothing_saved(manager):
    bad = dict(GIFT, condition={"all": [{"fact": "shoe_size", "op": "eq", "value": 1}]})
    response = manager.post("/api/v1/rules/", bad, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("condition") and "shoe_size" in response.json()["message"]
    bad_sku = manager.post("/api/v1/rules/", dict(GIFT, action={"sku": "NOPE", "quantity": 1}), format="json")
    assert bad_sku.status_code == 400 and "NOPE" in bad_sku.json()["message"]
    assert Rule.objects.count() == 0


def test_switch_on_by_patch_makes_a_new_version_and_delete_is_refused(manager):
    rule_id = manager.post("/api/v1/rules/", GIFT, format="json").json()["id"]
    switched = manager.patch(f"/api/v1/rules/{rule_id}/", {"enabled": True}, format="json")
    assert switched.status_code == 200 and switched.json()["enabled"] is True and switched.json()["version"] == 2
    assert manager.delete(f"/api/v1/rules/{rule_id}/").status_code in (403, 405)
    assert Rule.objects.get().history.count() == 2


def test_dry_run_shows_matches_without_changing_anything(manager):
    rule_id = manager.post(
        "/api/v1/rules/",
        dict(GIFT, condition={"all": [{"fact": "paid_amount", "op": "gt", "value": "150"}]}),
        format="json",
    ).json()["id"]
    big = make_order()  # paid 198
    small = make_order(lines=[{"sku": "MASK-001", "quantity": 1, "unit_price": "100.00"}], paid_amount="100.00")
    before = list(Order.objects.order_by("id").values_list("updated_at", flat=True))
    response = manager.post(f"/api/v1/rules/{rule_id}/dry-run/", {"last": 10}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["matched"], body["tried"]) == (1, 2)
    by_order = {r["order"]: r for r in body["results"]}
    assert by_order[big.number]["matched"] and by_order[big.number]["outcome"] == "赠 SAMPLE-3 × 3"
    assert not by_order[small.number]["matched"]
    one = manager.post(f"/api/v1/rules/{rule_id}/dry-run/", {"orders": [small.number]}, format="json").json()
    assert one["tried"] == 1 and one["matched"] == 0
    assert Rule.objects.get().hit_count == 0
    assert list(Order.objects.order_by("id").values_list("updated_at", flat=True)) == before


def test_export_then_import_round_trips_and_imports_switched_off(manager):
    manager.post("/api/v1/rules/", dict(GIFT, enabled=True), format="json")
    exported = manager.get("/api/v1/rules/export/").json()
    assert exported[0]["condition"] == GIFT["condition"] and "hit_count" not in exported[0]
    imported = manager.post("/api/v1/rules/import/", exported, format="json")
    assert imported.status_code == 201
    assert Rule.objects.count() == 2 and imported.json()[0]["enabled"] is False


def test_import_is_all_or_nothing_and_names_the_bad_rule(manager):
    broken = dict(GIFT, action={"sku": "NOPE", "quantity": 1})
    response = manager.post("/api/v1/rules/import/", [GIFT, broken], format="json")
    assert response.status_code == 400 and "rules[1]" in response.json()["message"]
    assert Rule.objects.count() == 0


def test_customer_service_may_read_but_not_write_rules(kefu):
    client = client_for(kefu)
    assert client.get("/api/v1/rules/").status_code == 200
    assert client.post("/api/v1/rules/", GIFT, format="json").status_code == 403


def test_an_escalation_rung_to_an_unknown_channel_is_400_naming_it_and_a_known_one_is_saved(manager):
    rung = {
        "kind": "escalation",
        "name": "上海超时 L3",
        "condition": {"all": [{"fact": "province", "op": "eq", "value": "上海"}]},
        "action": {"level": 3, "after_minutes": 120, "channel": "老板钉钉机器人", "repeat_minutes": 60},
    }
    refused = manager.post("/api/v1/rules/", rung, format="json")
    assert refused.status_code == 400 and "channel '老板钉钉机器人' does not exist" in refused.json()["message"]
    assert Rule.objects.count() == 0
    NotificationChannel.objects.create(name="老板钉钉机器人", kind="dingtalk", url="http://127.0.0.1:9/robot")
    created = manager.post("/api/v1/rules/", rung, format="json")
    assert created.status_code == 201, created.content
    sentence = created.json()["sentence_zh"]
    assert sentence.endswith("L3 超时 120 分钟通知 渠道 老板钉钉机器人，每 60 分钟重复直至订单离开该状态")
