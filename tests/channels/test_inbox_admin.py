"""Channel setup and the intake log in the admin, as 运营主管 (configures, replays) and 客服 (sees only)."""

import json

import pytest
from django.urls import reverse

from orders.channels.mapping import GENERIC_MAPPING, ORDER_FIELDS
from orders.models import Channel, InboxDelivery, IntakeRecord, Order, Via
from orders.services.channel_inbox import inbox_delivery_process, inbox_delivery_store
from tests.channels.helpers import SECRET, batch, channel_order, webhook_channel
from tests.factories import SkuFactory
from warehouse.models import SkuAlias

pytestmark = pytest.mark.django_db

ADD = reverse("admin:orders_channel_add")


def form_data(**overrides) -> dict:
    data = {
        "code": "mini",
        "name": "小程序",
        "kind": "wechat",
        "is_active": "on",
        "shop_name": "官方小程序",
        "shop_id": "wx-001",
        "arrival": "webhook",
        "webhook_secret": "",
        "webhook_secret_previous": "",
        "orders_path": GENERIC_MAPPING["orders_path"],
        "amounts": "yuan",
        "time_format": "text",
        "time_zone": "Asia/Shanghai",
        "status_map": "placed = placed\nWAIT_SEND = paid\nCLOSED = cancelled",
        "sample": "",
        # the page's inlines (slice outbox: the ship confirmation settings), left as they are
        "ship_confirm-TOTAL_FORMS": "0",
        "ship_confirm-INITIAL_FORMS": "0",
        # the page's inlines (slice pulls: the channel's pull settings and its backfills), left as they are
        "pull-TOTAL_FORMS": "0",
        "pull-INITIAL_FORMS": "0",
        "backfills-TOTAL_FORMS": "0",
        "backfills-INITIAL_FORMS": "0",
    }
    data.update({f"map_{name}": GENERIC_MAPPING["fields"].get(name, "") for name in ORDER_FIELDS})
    data.update(overrides)
    return data


def test_manager_sets_up_a_webhook_channel_and_the_secret_is_shown_once(client, yunying):
    client.force_login(yunying)
    response = client.post(ADD, form_data(map_receiver="addr.name"), follow=True)
    assert response.status_code == 200
    channel = Channel.objects.get(code="mini")
    assert channel.webhook_secret.startswith("whsec_")
    assert channel.field_mapping["fields"]["receiver"] == "addr.name"
    assert channel.field_mapping["status_map"] == {"placed": "placed", "WAIT_SEND": "paid", "CLOSED": "cancelled"}
    assert channel.webhook_secret in response.content.decode()  # once, in the message after saving
    page = client.get(reverse("admin:orders_channel_change", args=[channel.pk])).content.decode()
    assert channel.webhook_secret not in page
    assert "/api/v1/channels/mini/webhook/" in page
    # an empty secret input keeps the stored secret
    client.post(reverse("admin:orders_channel_change", args=[channel.pk]), form_data(name="小程序二"))
    channel.refresh_from_db()
    assert channel.name == "小程序二" and channel.webhook_secret.startswith("whsec_")
    history_fields = {field.name for field in channel.history.model._meta.fields}
    assert "webhook_secret" not in history_fields and "field_mapping" in history_fields


def test_a_wrong_mapping_is_refused_on_its_fields_and_nothing_is_saved(client, yunying):
    client.force_login(yunying)
    response = client.post(
        ADD,
        form_data(map_receiver="", map_city="a..b", time_zone="Mars/Olympus", status_map="WAIT = exploded"),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"map_receiver", "map_city", "time_zone", "status_map"} <= set(errors)
    assert not Channel.objects.filter(code="mini").exists()
    bad_line = client.post(ADD, form_data(status_map="just text"))
    assert "status_map" in bad_line.context["adminform"].form.errors
    bad_secret = client.post(ADD, form_data(webhook_secret="short"))
    assert "webhook_secret" in bad_secret.context["adminform"].form.errors
    assert not Channel.objects.filter(code="mini").exists()


def test_try_on_sample_shows_what_it_would_create_and_writes_nothing(client, yunying):
    SkuFactory(code="MASK-001")
    channel = webhook_channel(code="mini")
    delivery, _ = inbox_delivery_store(
        channel=channel, via=Via.WEBHOOK, delivery_id="had", body=batch(channel_order("S-1")), headers={}
    )
    inbox_delivery_process(delivery=delivery)
    had = Order.objects.get(channel_order_no="S-1")
    before = channel.field_mapping
    client.force_login(yunying)
    sample = batch(channel_order("S-1"), channel_order("S-2", sku="NOPE-1"), {"channel_order_no": "S-3"}).decode()
    url = reverse("admin:orders_channel_change", args=[channel.pk])
    response = client.post(url, form_data(name="改了名", sample=sample, _try="1", map_detail="shipping_address.city"))
    assert response.status_code == 200
    page = response.content.decode()
    trial = response.context["trial"]
    assert [order.channel_order_no for order in trial.orders] == ["S-1", "S-2"]
    assert trial.orders[0].lines[0].resolved == "MASK-001" and trial.orders[1].unknown_skus == ["NOPE-1"]
    assert (trial.orders[0].existing, trial.orders[1].existing) == (had.number, "")  # an update, a new one
    assert [refusal.channel_order_no for refusal in trial.refusals] == ["S-3"]
    assert "S-1" in page and "NOPE-1" in page and "unknown SKU" in page
    channel.refresh_from_db()
    assert channel.name == "小程序商城" and channel.field_mapping == before
    assert Order.objects.count() == 1 and InboxDelivery.objects.count() == 1
    not_json = client.post(url, form_data(sample="{oops", _try="1"))
    assert not_json.context["trial"].error


def test_customer_service_sees_the_channel_and_the_log_but_changes_nothing(client, kefu):
    SkuFactory(code="MASK-001")
    channel = webhook_channel(webhook_secret_previous=SECRET.replace("M", "N"))
    delivery, _ = inbox_delivery_store(
        channel=channel, via=Via.WEBHOOK, delivery_id="d-kefu", body=batch(channel_order("K-1")), headers={}
    )
    inbox_delivery_process(delivery=delivery)
    client.force_login(kefu)
    page = client.get(reverse("admin:orders_channel_change", args=[channel.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert SECRET not in html and "channel-mapping" in html and 'name="_try"' not in html
    assert client.post(reverse("admin:orders_channel_change", args=[channel.pk]), form_data()).status_code == 403
    for name in ("intakerecord", "inboxdelivery", "webhookrefusal"):
        listing = client.get(reverse(f"admin:orders_{name}_changelist"))
        assert listing.status_code == 200, name
    record = IntakeRecord.objects.get()
    listing = client.get(reverse("admin:orders_intakerecord_changelist")).content.decode()
    assert "K-1" in listing and "intake-stats" in listing and 'value="replay"' not in listing
    detail = client.get(reverse("admin:orders_inboxdelivery_change", args=[delivery.pk])).content.decode()
    assert "K-1" in detail and "delivery-records" in detail
    assert client.get(reverse("admin:orders_intakerecord_change", args=[record.pk])).status_code == 200
    # the replay action is not theirs
    client.post(
        reverse("admin:orders_inboxdelivery_changelist"), {"action": "replay", "_selected_action": [delivery.pk]}
    )
    delivery.refresh_from_db()
    assert delivery.replays == 0


def test_replay_after_fixing_the_sku_alias_takes_the_rejected_order_once(client, yunying):
    sku = SkuFactory(code="MASK-001")
    channel = webhook_channel()
    body = batch(channel_order("R-1"), channel_order("R-2", sku="面膜十片装"))
    delivery, _ = inbox_delivery_store(channel=channel, via=Via.WEBHOOK, delivery_id="d-replay", body=body, headers={})
    summary = inbox_delivery_process(delivery=delivery)
    assert summary.rejected == 1 and summary.refusals[0][1] == "R-2"
    SkuAlias.objects.create(sku=sku, alias="面膜十片装")
    client.force_login(yunying)
    changelist = reverse("admin:orders_inboxdelivery_changelist")
    response = client.post(changelist, {"action": "replay", "_selected_action": [delivery.pk]}, follow=True)
    assert response.status_code == 200
    replayed = IntakeRecord.objects.get(delivery=delivery, run=1)
    assert (replayed.channel_order_no, replayed.via, replayed.outcome) == ("R-2", "replay", "created")
    assert Order.objects.filter(channel_order_no="R-2").count() == 1
    delivery.refresh_from_db()
    assert (delivery.replays, delivery.taken_count, delivery.rejected_count) == (1, 2, 0)
    # a replay of a record (from the log) never duplicates the order
    records = reverse("admin:orders_intakerecord_changelist")
    client.post(records, {"action": "replay", "_selected_action": [replayed.pk]}, follow=True)
    assert Order.objects.filter(channel_order_no="R-2").count() == 1
    assert IntakeRecord.objects.get(delivery=delivery, run=2).outcome == "unchanged"
    assert Order.objects.count() == 2


def test_replay_after_fixing_the_mapping(yunying):
    SkuFactory(code="MASK-001")
    mapping = json.loads(json.dumps(GENERIC_MAPPING))
    mapping["fields"]["receiver"] = "shipping_address.name"  # wrong: the sender says "receiver"
    channel = webhook_channel(field_mapping=mapping)
    delivery, _ = inbox_delivery_store(
        channel=channel, via=Via.WEBHOOK, delivery_id="d-map", body=batch(channel_order("M-1")), headers={}
    )
    assert inbox_delivery_process(delivery=delivery).rejected == 1
    channel.field_mapping = GENERIC_MAPPING
    channel.save()
    from orders.services.channel_inbox import inbox_delivery_replay

    summary = inbox_delivery_replay(delivery=delivery)
    assert (summary.orders, summary.rejected) == (1, 0)
    assert Order.objects.filter(channel_order_no="M-1").count() == 1


def test_a_whole_delivery_refused_for_its_orders_path_is_taken_whole_on_replay():
    from orders.services.channel_inbox import inbox_delivery_replay

    SkuFactory(code="MASK-001")
    mapping = json.loads(json.dumps(GENERIC_MAPPING))
    mapping["orders_path"] = "data.orders"  # wrong: the sender puts them under "orders"
    channel = webhook_channel(field_mapping=mapping)
    body = batch(channel_order("W-1"), channel_order("W-2"), channel_order("W-3"))
    delivery, _ = inbox_delivery_store(channel=channel, via=Via.WEBHOOK, delivery_id="d-whole", body=body, headers={})
    first = inbox_delivery_process(delivery=delivery)
    assert (first.orders, first.rejected) == (1, 1) and "data.orders" in first.refusals[0][2]
    channel.field_mapping = GENERIC_MAPPING
    channel.save()
    summary = inbox_delivery_replay(delivery=delivery)
    assert (summary.orders, summary.rejected) == (3, 0)
    assert sorted(Order.objects.values_list("channel_order_no", flat=True)) == ["W-1", "W-2", "W-3"]
    again = inbox_delivery_replay(delivery=delivery)  # nothing left to take
    assert again.orders == 0 and Order.objects.count() == 3
    delivery.refresh_from_db()
    assert (delivery.taken_count, delivery.rejected_count) == (3, 0)
