"""What a clerk reads is Chinese first: API validation messages, history pages, the job-queue label."""

import re

import pytest
from django.contrib.auth import get_user_model

from tests.factories import make_order, order_payload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

URL = "/api/v1/orders/"


def page_text(response) -> str:
    html = re.sub(r"(?s)<script.*?</script>|<style.*?</style>", "", response.content.decode())
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("where", ["customer", "shipping_address"])
def test_order_create_bad_phone_message_is_chinese_and_english_on_request(api, where):
    payload = order_payload()
    payload[where] = dict(payload[where], phone="12345")

    zh = api.post(URL, payload, format="json")
    en = api.post(URL, payload, format="json", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")

    assert zh.status_code == en.status_code == 400
    assert zh.json()["message"] == f"{where}: phone: 请输入中国大陆手机号：以 1 开头的 11 位数字（例如 13812345678）。"
    assert zh.json()["extra"]["fields"][where]["phone"] == [zh.json()["message"].split(": ", 2)[2]]
    assert en.json()["message"].startswith(f"{where}: phone: Enter a mainland China mobile number")


def test_order_create_malformed_json_message_is_chinese_with_position(api):
    zh = api.post(URL, "{", content_type="application/json")
    en = api.post(URL, '{"channel": tmall}', content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")

    assert zh.status_code == en.status_code == 400
    assert zh.json()["code"] == "parse_error"
    assert zh.json()["message"] == "请求正文不是有效的 JSON（第 1 行第 2 列）。"
    assert "Expecting property name" in zh.json()["extra"]["detail"]  # the parser's own words, for integrators
    assert en.json()["message"] == "The request body is not valid JSON (line 1, column 13)."


def test_order_transition_malformed_json_message_is_chinese(api):
    order = make_order()
    response = api.post(f"/api/v1/orders/{order.number}/transitions/", "[1,", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("请求正文不是有效的 JSON")


def test_order_history_page_admin_reads_chinese_column_headers(client):
    # given: an order with two history rows
    admin = get_user_model().objects.create_superuser("boss", password="pw-12345")
    order = make_order()
    order.receiver_name = "李四"
    order.save()
    client.force_login(admin)

    # when
    text = page_text(client.get(f"/admin/orders/order/{order.pk}/history/"))

    # then: every column header is Chinese (simple-history's own catalog lacks "Changes")
    for header in ("记录对象", "日期/时间", "备注", "修改人", "修改原因", "变更内容"):
        assert header in text
    assert "Changes" not in text


def test_admin_home_names_the_job_queues_app_in_chinese(client):
    admin = get_user_model().objects.create_superuser("boss", password="pw-12345")
    client.force_login(admin)
    text = page_text(client.get("/admin/"))
    assert "任务队列" in text
    assert "Django_Rq" not in text
    # the app list's screen-reader headers too
    assert "模型名称" in text and "Model name" not in text
