"""The field mapping: their dotted paths, fen/yuan, time formats and zones, status codes, refusals naming the
field; mapping_check for the admin; each kind's default."""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from orders.channels.mapping import (
    GENERIC_MAPPING,
    MappingRefusal,
    channel_reports_from_payload,
    default_mapping,
    mapping_check,
    mapping_problems,
    path_get,
)
from orders.drafts import ChannelEvent, ChannelOrder

SHANGHAI = ZoneInfo("Asia/Shanghai")

# A platform that spells everything its own way, nests the receiver and pays in fen with epoch times.
THEIRS = {
    "orders_path": "data.trades",
    "fields": {
        "channel_order_no": "tid",
        "ordered_at": "created",
        "buyer_id": "buyer.open_id",
        "receiver": "receiver_info.name",
        "receiver_phone": "receiver_info.mobile",
        "province": "receiver_info.area.0",
        "city": "receiver_info.area.1",
        "district": "receiver_info.area.2",
        "detail": "receiver_info.address",
        "platform_receiver_id": "receiver_info.oaid",
        "lines": "items",
        "line_sku": "outer_sku",
        "line_quantity": "num",
        "line_unit_price": "price",
        "paid_amount": "payment",
        "paid_at": "pay_time",
        "status": "trade_status",
        "modified_at": "modified",
        "cancel_reason": "close_reason",
        "platform_ship_by": "last_ship_time",
    },
    "amounts": "fen",
    "time_format": "unix",
    "time_zone": "Asia/Shanghai",
    "status_map": {"WAIT_SELLER_SEND": "paid", "TRADE_CLOSED": "cancelled", "WAIT_BUYER_PAY": "placed"},
}


def trade(**overrides) -> dict:
    data = {
        "tid": "T-1001",
        "created": 1764554400,  # 2025-12-01 02:00:00 UTC
        "buyer": {"open_id": "ob-77"},
        "receiver_info": {
            "name": "王*",
            "mobile": "138****5678",
            "area": ["浙江省", "杭州市", "西湖区"],
            "address": "文*路**号",
            "oaid": "OAID-XYZ",
        },
        "items": [
            {"outer_sku": "MASK-001", "num": 2, "price": 9950},
            {"outer_sku": "SAMPLE-3", "num": "1", "price": "0"},
        ],
        "payment": 19900,
        "pay_time": 1764554700,
        "trade_status": "WAIT_SELLER_SEND",
        "modified": 1764554800,
        "last_ship_time": 1764727200,
    }
    data.update(overrides)
    return data


def reports(payload, mapping=THEIRS):
    return channel_reports_from_payload(mapping=mapping, payload=payload, channel_code="tb")


def test_nested_paths_fen_epoch_times_and_status_map():
    [report] = reports({"data": {"trades": [trade()]}})
    assert isinstance(report, ChannelOrder)
    draft = report.draft
    assert (draft.channel, draft.channel_order_no, draft.buyer_id) == ("tb", "T-1001", "ob-77")
    assert draft.address.province == "浙江省" and draft.address.district == "西湖区"
    assert draft.address.phone == "138****5678"  # masked, kept as the platform gave it
    assert draft.address.platform_receiver_id == "OAID-XYZ"
    assert draft.customer.name == "王*"  # no separate customer: the receiver is the customer
    assert [(line.sku, line.quantity, line.unit_price) for line in draft.lines] == [
        ("MASK-001", 2, Decimal("99.50")),
        ("SAMPLE-3", 1, Decimal("0.00")),
    ]
    assert draft.paid_amount == Decimal("199.00")
    assert draft.ordered_at == datetime(2025, 12, 1, 2, 0, tzinfo=UTC)
    assert draft.paid_at == datetime(2025, 12, 1, 2, 5, tzinfo=UTC)
    assert draft.platform_ship_by == datetime(2025, 12, 3, 2, 0, tzinfo=UTC)
    assert (report.event, report.platform_status) == (ChannelEvent.PAID, "WAIT_SELLER_SEND")
    assert report.modified_at == datetime(2025, 12, 1, 2, 6, 40, tzinfo=UTC)


def test_yuan_text_times_in_the_channel_zone_and_milliseconds():
    mapping = {**THEIRS, "amounts": "yuan", "time_format": "text", "time_zone": "Asia/Tokyo"}
    [report] = reports(
        {
            "data": {
                "trades": [
                    trade(
                        payment="199.00",
                        created="2025-12-01 11:00:00",
                        pay_time="2025-12-01T03:00:00+00:00",
                        modified="2025-12-01 11:10:00",
                        last_ship_time="2025-12-03 11:00:00",
                    )
                ]
            }
        },
        mapping,
    )
    assert report.draft.paid_amount == Decimal("199.00")
    assert report.draft.ordered_at == datetime(2025, 12, 1, 2, 0, tzinfo=UTC)  # 11:00 in Tokyo
    assert report.draft.paid_at == datetime(2025, 12, 1, 3, 0, tzinfo=UTC)  # its own offset wins
    ms = {**THEIRS, "time_format": "unix_ms"}
    [report] = reports({"data": {"trades": [trade(created=1764554400123)]}}, ms)
    assert report.draft.ordered_at == datetime(2025, 12, 1, 2, 0, 0, 123000, tzinfo=UTC)
    shanghai = {**THEIRS, "time_format": "text"}
    text_times = {"pay_time": None, "modified": None, "last_ship_time": None}
    [report] = reports({"data": {"trades": [trade(created="2025-12-01 10:00:00", **text_times)]}}, shanghai)
    assert report.draft.ordered_at == datetime(2025, 12, 1, 10, 0, tzinfo=SHANGHAI)


def test_each_bad_order_is_refused_naming_its_field_and_the_good_ones_pass():
    no_city = trade(tid="T-2")
    del no_city["receiver_info"]["area"][1:]
    payload = {
        "data": {
            "trades": [
                trade(tid="T-1"),
                no_city,
                trade(tid="T-3", items=[{"outer_sku": "MASK-001", "num": 1.5, "price": 100}]),
                trade(tid="T-4", payment="lots"),
                trade(tid="T-5", trade_status="SOMETHING_NEW"),
                trade(tid="T-6", created="yesterday"),
                trade(tid="T-7", items=[]),
                "not an order",
                trade(tid="T-9"),
            ]
        }
    }
    results = reports(payload)
    assert [type(result).__name__ for result in results] == ["ChannelOrder"] + ["MappingRefusal"] * 7 + ["ChannelOrder"]
    refusals = {result.index: result for result in results if isinstance(result, MappingRefusal)}
    assert (refusals[1].channel_order_no, refusals[1].field) == ("T-2", "city")
    assert refusals[2].field == "line_quantity" and "1.5" in refusals[2].message
    assert refusals[3].field == "paid_amount" and "lots" in refusals[3].message
    assert refusals[4].field == "status" and "SOMETHING_NEW" in refusals[4].message
    assert refusals[5].field == "ordered_at" and "yesterday" in refusals[5].message
    assert refusals[6].field == "lines"
    assert refusals[7].channel_order_no == ""


def test_a_payload_without_the_orders_list_is_one_refusal():
    [refusal] = reports({"data": {}})
    assert isinstance(refusal, MappingRefusal) and refusal.index == -1 and refusal.field == "orders_path"


def test_without_an_orders_path_a_payload_is_one_order_or_a_list():
    mapping = {**THEIRS, "orders_path": ""}
    assert len(reports(trade(), mapping)) == 1
    assert len(reports([trade(tid="a"), trade(tid="b")], mapping)) == 2


def test_without_a_status_path_the_event_follows_the_payment():
    fields = {name: path for name, path in THEIRS["fields"].items() if name != "status"}
    mapping = {**THEIRS, "fields": fields, "status_map": {}}
    [paid] = reports({"data": {"trades": [trade()]}}, mapping)
    [unpaid] = reports({"data": {"trades": [trade(payment=0, pay_time=None)]}}, mapping)
    assert (paid.event, unpaid.event) == (ChannelEvent.PAID, ChannelEvent.PLACED)


def test_path_get_walks_dicts_and_list_positions():
    data = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert path_get(data, "a.b.1.c") == 2
    assert path_get(data, "a.b.-1.c") == 2
    assert path_get(data, "a.b.5.c", None) is None
    assert path_get(data, "a.x", None) is None


def test_mapping_check_names_what_is_wrong():
    assert mapping_check(GENERIC_MAPPING) == []
    assert mapping_check(THEIRS) == []
    bad = {
        **THEIRS,
        "fields": {**THEIRS["fields"], "receiver": "", "nonsense": "x", "city": "a..b"},
        "amounts": "jiao",
        "time_format": "weeks",
        "time_zone": "Mars/Olympus",
        "status_map": {"X": "exploded"},
    }
    errors = " | ".join(mapping_check(bad))
    for needle in ("nonsense", "a..b", "unix_ms", "Mars/Olympus", "exploded"):
        assert needle in errors, needle
    about = {key for key, _message in mapping_problems(bad)}
    assert about == {"", "receiver", "city", "amounts", "time_format", "time_zone", "status_map"}
    assert mapping_check({"fields": "x"}) and mapping_check([])


def test_default_mapping_is_the_generic_one_for_a_kind_without_its_own():
    mapping = default_mapping("pos")
    assert mapping == GENERIC_MAPPING and mapping is not GENERIC_MAPPING
    mapping["fields"]["receiver"] = "changed"
    assert GENERIC_MAPPING["fields"]["receiver"] == "shipping_address.receiver"


@pytest.mark.parametrize("kind", ["taobao", "pdd", "douyin", "wechat", "other"])
def test_every_kind_default_passes_its_own_check(kind):
    assert mapping_check(default_mapping(kind)) == []


def test_an_order_without_a_status_code_is_placed_or_paid_by_its_payment():
    [unpaid] = reports({"data": {"trades": [trade(trade_status=None, payment=0, pay_time=None)]}})
    [paid] = reports({"data": {"trades": [trade(trade_status="")]}})
    assert (unpaid.event, unpaid.platform_status) == (ChannelEvent.PLACED, "")
    assert paid.event == ChannelEvent.PAID


@pytest.mark.parametrize("zero", [0, "0", 0.0])
def test_an_epoch_zero_time_is_no_time_not_1970(zero):
    # Douyin sends pay_time 0 for an unpaid order: not paid, not paid on 1970-01-01
    [unpaid] = reports({"data": {"trades": [trade(trade_status=None, pay_time=zero, last_ship_time="")]}})
    assert unpaid.draft.paid_at is None and unpaid.draft.platform_ship_by is None
    assert unpaid.event == ChannelEvent.PLACED
    [ms] = reports({"data": {"trades": [trade(pay_time=zero)]}}, {**THEIRS, "time_format": "unix_ms"})
    assert ms.draft.paid_at is None
    # a required time of 0 is refused, naming the field
    [refusal] = reports({"data": {"trades": [trade(created=zero)]}})
    assert isinstance(refusal, MappingRefusal) and refusal.field == "ordered_at" and "0" in refusal.message


def test_a_refund_status_code_in_the_refund_map_wins_over_the_order_status():
    mapping = {
        **THEIRS,
        "fields": {**THEIRS["fields"], "refund_status": "after_sale"},
        "refund_map": {"2": "refund_requested"},
    }
    assert mapping_check(mapping) == []
    asked, closed, none = reports(
        {"data": {"trades": [trade(tid="R1", after_sale=2), trade(tid="R2", after_sale=1), trade(tid="R3")]}}, mapping
    )
    assert (asked.event, asked.platform_status) == (ChannelEvent.REFUND_REQUESTED, "refund_status=2")
    assert closed.event == none.event == ChannelEvent.PAID  # the status map's WAIT_SELLER_SEND
    # the refund map is checked like the status map
    assert [key for key, _m in mapping_problems({**mapping, "refund_map": {}})] == ["refund_map"]
    [(key, message)] = mapping_problems({**mapping, "refund_map": {"2": "nonsense"}})
    assert key == "refund_map" and "nonsense" in message
    # PDD's default maps 2, 3, 4 (after-sale under way, refunding, refunded) and leaves 1 (none or closed)
    pdd = default_mapping("pdd")
    assert pdd["fields"]["refund_status"] == "refund_status" and set(pdd["refund_map"]) == {"2", "3", "4"}
