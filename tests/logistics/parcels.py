"""Orders with a printed label, through the real services (paid, allocated at SH01, label printed)."""

from logistics.models import Carrier
from orders.models import Order, Source
from orders.services.transitions import order_transition
from tests.factories import make_order


def printed(carrier: Carrier, number: str = "SF1000000001", phone: str = "13812345678") -> Order:
    order = make_order(
        shipping_address={
            "receiver": "张三",
            "phone": phone,
            "province": "浙江",
            "city": "杭州",
            "district": "西湖区",
            "detail": "文三路 100 号",
        }
    )
    for name, changes in (
        ("pay", {}),
        ("start_allocation", {}),
        ("allocate", {}),
        ("print_label", {"carrier": carrier.code, "tracking_number": number}),
    ):
        order = order_transition(order=order, transition=name, actor=None, source=Source.SCAN, changes=changes)
    return order
