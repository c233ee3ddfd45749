"""Orders ready for their waybill, and the carriers that issue them: Kuaidi100 against the local provider server of
tests/logistics/test_waybills.py (real HTTP, its signature and fields checked), or a manual number range (号段)."""

from logistics.models import Carrier, WaybillNumberRange
from orders.models import Order, OrderLine, Source
from orders.services.transitions import order_transition
from tests.factories import make_order
from tests.logistics.test_waybills import KEY, PARTNER_ID, PARTNER_KEY, SECRET, Kuaidi100WaybillServer
from warehouse.models import Sku, Warehouse

__all__ = ["Kuaidi100WaybillServer", "allocated_for", "kuaidi100_carrier", "manual_carrier", "with_sender"]


def with_sender(code: str = "SH01") -> Warehouse:
    Warehouse.objects.filter(code=code).update(
        sender_name="上海青浦仓",
        sender_phone="021-61234567",
        sender_address="上海市青浦区华新镇华志路1688号",
        sender_company="美肤旗舰店",
    )
    return Warehouse.objects.get(code=code)


def kuaidi100_carrier(url: str, *, code: str = "shunfeng", partner_id: str = PARTNER_ID) -> Carrier:
    return Carrier.objects.create(
        code=code,
        name="顺丰速运",
        adapter=Carrier.Adapter.KUAIDI100,
        provider_code="shunfeng",
        api_base_url="http://127.0.0.1:9/",  # tracking polls are not part of these tests
        api_key=KEY,
        callback_secret="push-salt",
        waybill_api_url=url,
        waybill_secret=SECRET,
        waybill_partner_id=partner_id,
        waybill_partner_key=PARTNER_KEY,
        label_paper="76x130",
    )


def manual_carrier(*, code: str = "zhongtong", first: int | None = 1, last: int = 100, prefix: str = "ZT") -> Carrier:
    carrier = Carrier.objects.create(code=code, name="中通快递", adapter=Carrier.Adapter.MANUAL, label_paper="100x150")
    if first is not None:
        WaybillNumberRange.objects.create(
            carrier=carrier, prefix=prefix, first_number=first, next_number=first, last_number=last, width=10
        )
    return carrier


def allocated_for(carrier: Carrier, *, gift_note: str | None = None, **payload) -> Order:
    """An order in 仓单已生成 at SH01 with this carrier and no tracking number yet."""
    order = make_order(**payload)
    if gift_note is not None:
        OrderLine.objects.create(
            order=order, sku=Sku.objects.get(code="SAMPLE-3"), quantity=3, unit_price=0, is_gift=True, note=gift_note
        )
    order = order_transition(order=order, transition="pay", actor=None, source=Source.API)
    order = order_transition(order=order, transition="start_allocation", actor=None, source=Source.SYSTEM)
    changes = {"warehouse": "SH01", "carrier": carrier.code}
    return order_transition(order=order, transition="allocate", actor=None, source=Source.SYSTEM, changes=changes)
