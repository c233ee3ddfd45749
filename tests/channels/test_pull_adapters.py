"""The pull adapters against a local platform that signs, limits, masks and pages as the real ones do."""

from datetime import UTC, datetime, timedelta

import pytest

from orders.channels.base import PlatformError, PullConfig, PullUnavailable
from orders.channels.douyin import Douyin
from orders.channels.generic import Generic
from orders.channels.pdd import Pdd
from orders.channels.taobao import Taobao
from tests.channels.platforms import (  # noqa: F401 - the fixture
    APP_KEY,
    APP_SECRET,
    TOKEN,
    douyin_order,
    pdd_order,
    platforms_fixture,
    taobao_trade,
)

NOW = datetime.now(UTC).replace(microsecond=0)


def config_for(platform, *, page_size=100, secret=APP_SECRET, timeout=5) -> PullConfig:
    return PullConfig(
        base_url=platform.url,
        app_key=APP_KEY,
        app_secret=secret,
        access_token=TOKEN,
        page_size=page_size,
        timeout_seconds=timeout,
    )


def fill(platform, make, count: int, *, start: datetime, prefix: str) -> list[str]:
    ids = []
    for n in range(count):
        order_id = f"{prefix}{n:04d}"
        platform.put(order_id, start + timedelta(seconds=5 * n), make(order_id))
        ids.append(order_id)
    return ids


def pulled(adapter, config, start, end) -> list[tuple[int, list[dict]]]:
    return [(page_no, page.orders) for page_no, page in adapter.pages(config=config, start=start, end=end)]


def test_taobao_pages_back_to_front_with_full_detail_and_masked_receivers(platforms):
    platform = platforms("taobao")
    start = NOW - timedelta(hours=1)
    ids = fill(platform, taobao_trade, 25, start=start, prefix="40")

    pages = pulled(Taobao(), config_for(platform, page_size=10), start, start + timedelta(minutes=30))

    assert [page_no for page_no, _ in pages] == [3, 2, 1]
    assert platform.pages_served == [1, 3, 2, 1]  # the count, then from the last page back to the first
    trades = [trade for _, orders in pages for trade in orders]
    assert sorted(trade["tid"] for trade in trades) == sorted(ids)
    # fullinfo: the whole trade, its receiver masked as the platform gives it, with the OAID
    assert trades[0]["receiver_mobile"] == "138****5678" and trades[0]["oaid"].endswith("OAID")
    assert trades[0]["orders"]["order"][0]["outer_sku_id"] == "MASK-001"
    assert platform.refusals == []


def test_taobao_order_modified_while_paging_does_not_slip(platforms):
    # given 30 trades in the window, the newest on page 1 (modified descending)
    platform = platforms("taobao")
    start = NOW - timedelta(hours=1)
    end = start + timedelta(minutes=30)
    ids = fill(platform, taobao_trade, 30, start=start, prefix="41")
    newest = ids[-1]

    def modify_after_first_page(platform, request):
        if len(platform.pages_served) == 2:  # the count, then the first page read
            platform.modify(newest, NOW, status="TRADE_CLOSED")  # now belongs to a later window

    platform.on_request = modify_after_first_page

    # when the adapter pages back to front
    got = {
        trade["tid"]
        for _, orders in pulled(Taobao(), config_for(platform, page_size=10), start, end)
        for trade in orders
    }

    # then every trade still in the window was read (the modified one comes with its later window)
    assert set(ids) - {newest} <= got

    # and front to back, the same change makes a trade slip between pages
    platform.modify(newest, start + timedelta(seconds=5 * 29), status="WAIT_SELLER_SEND_GOODS")
    platform.pages_served.clear()
    front_to_back = Taobao()
    front_to_back.back_to_front = False
    got = {
        trade["tid"]
        for _, orders in pulled(front_to_back, config_for(platform, page_size=10), start, end)
        for trade in orders
    }
    assert set(ids) - {newest} - got, "front-to-back paging should have missed a trade"


def test_taobao_window_over_a_day_is_refused_with_the_platforms_message(platforms):
    platform = platforms("taobao")
    with pytest.raises(PlatformError) as refused:
        Taobao().page(config=config_for(platform), start=NOW - timedelta(days=2), end=NOW, page_no=1)
    assert "间隔不能超过一天" in str(refused.value)
    assert refused.value.code == "isv.invalid-parameter"


def test_taobao_wrong_secret_is_the_platforms_signature_error(platforms):
    platform = platforms("taobao")
    with pytest.raises(PlatformError, match="Invalid signature"):
        Taobao().page(config=config_for(platform, secret="wrong"), start=NOW - timedelta(hours=1), end=NOW, page_no=1)


def test_adapter_limits_cut_overrides_to_what_the_platform_allows():
    assert Taobao().window_size(timedelta(days=3)) == timedelta(days=1)
    assert Taobao().window_size(None) == timedelta(minutes=30)
    assert Pdd().window_size(timedelta(hours=2)) == timedelta(minutes=30)
    assert Pdd().clock_margin(timedelta(seconds=30)) == timedelta(minutes=3)
    assert Douyin().page_size(500) == 100 and Generic().page_size(500) == 500


def test_pdd_window_ending_within_three_minutes_of_its_clock_is_refused(platforms):
    platform = platforms("pdd")
    now = datetime.now(UTC)  # not the module's NOW: that is minutes old when a long run reaches this test
    with pytest.raises(PlatformError) as refused:
        Pdd().page(
            config=config_for(platform), start=now - timedelta(minutes=20), end=now - timedelta(minutes=1), page_no=1
        )
    assert "3分钟" in refused.value.platform_message


def test_pdd_window_over_30_minutes_is_refused(platforms):
    platform = platforms("pdd")
    with pytest.raises(PlatformError, match="30分钟"):
        Pdd().page(config=config_for(platform), start=NOW - timedelta(hours=2), end=NOW - timedelta(hours=1), page_no=1)


def test_pdd_pages_encrypted_orders_with_ship_by(platforms):
    platform = platforms("pdd")
    start = NOW - timedelta(hours=1)
    ids = fill(platform, pdd_order, 12, start=start, prefix="2612")

    pages = pulled(Pdd(), config_for(platform, page_size=5), start, start + timedelta(minutes=30))

    assert [page_no for page_no, _ in pages] == [3, 2, 1]
    orders = [order for _, page in pages for order in page]
    assert sorted(order["order_sn"] for order in orders) == sorted(ids)
    assert orders[0]["receiver_phone"].startswith("~AgAAAA") and orders[0]["last_ship_time"]


def test_douyin_signs_pages_from_zero_and_refuses_a_large_page(platforms):
    platform = platforms("douyin")
    start = NOW - timedelta(hours=1)
    ids = fill(platform, douyin_order, 7, start=start, prefix="69")

    pages = pulled(Douyin(), config_for(platform, page_size=3), start, start + timedelta(minutes=30))

    assert [page_no for page_no, _ in pages] == [2, 1, 0]
    assert sorted(order["order_id"] for _, page in pages for order in page) == sorted(ids)
    with pytest.raises(PlatformError, match="size不能超过100"):
        Douyin().page(config=config_for(platform, page_size=200), start=start, end=NOW, page_no=0)


def test_generic_pull_pages_forward_signed(platforms):
    platform = platforms("generic")
    start = NOW - timedelta(hours=1)
    for n in range(5):
        platform.put(f"B{n}", start + timedelta(minutes=n), {"channel_order_no": f"B{n}"})

    pages = pulled(Generic(), config_for(platform, page_size=2), start, start + timedelta(hours=1))

    assert [page_no for page_no, _ in pages] == [1, 2, 3]
    assert [o["channel_order_no"] for _, page in pages for o in page] == ["B0", "B1", "B2", "B3", "B4"]
    with pytest.raises(PlatformError, match="bad signature"):
        Generic().page(config=config_for(platform, secret="nope"), start=start, end=NOW, page_no=1)


@pytest.mark.parametrize("fault", [500, 503, "hang"])
def test_platform_down_or_silent_is_unavailable(platforms, fault):
    platform = platforms("pdd")
    platform.faults = [fault]
    with pytest.raises(PullUnavailable) as failed:
        Pdd().page(
            config=config_for(platform, timeout=1),
            start=NOW - timedelta(minutes=40),
            end=NOW - timedelta(minutes=10),
            page_no=1,
        )
    assert not isinstance(failed.value, PlatformError)
    assert ("timed out" in str(failed.value)) if fault == "hang" else f"HTTP {fault}" in str(failed.value)
