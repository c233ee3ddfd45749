"""Test data. Orders are made through the intake service, as in production."""

import itertools
from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from logistics.models import Carrier
from orders.drafts import OrderDraft
from orders.models import Channel, Source
from orders.services.intake import order_create
from warehouse.models import Sku, Warehouse

_seq = itertools.count(1)


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel
        django_get_or_create = ("code",)

    code = "tmall"
    name = "天猫旗舰店"
    kind = Channel.Kind.TAOBAO


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"商品{n}")
    category = "面膜"


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse
        django_get_or_create = ("code",)

    code = "SH01"
    name = "上海仓"


class CarrierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Carrier
        django_get_or_create = ("code",)

    code = "shunfeng"
    name = "顺丰速运"


def stock_in(sku: Sku, warehouse: Warehouse, quantity: int = 100):
    """Book inbound stock through the real service, as a clerk would."""
    from warehouse.services import stock_adjust

    return stock_adjust(
        sku=sku, warehouse=warehouse, kind="inbound", quantity=quantity, reason="test stock", actor=None
    )


def user_with_role(role: str, username: str | None = None):
    user = get_user_model().objects.create_user(
        username=username or f"{role}-{next(_seq)}", password="pw-12345", is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def order_payload(**overrides) -> dict:
    n = next(_seq)
    sku = overrides.pop("sku", None) or SkuFactory(code="MASK-001", name="补水面膜")
    ChannelFactory()
    data = {
        "channel": "tmall",
        "channel_order_no": f"TM{1000000 + n}",
        "buyer_id": f"buyer-{n}",
        "ordered_at": (timezone.now() - timedelta(minutes=5)).replace(microsecond=0).isoformat(),
        "customer": {"name": "张三", "phone": "13812345678", "member_level": "gold"},
        "shipping_address": {
            "receiver": "张三",
            "phone": "13812345678",
            "province": "浙江",
            "city": "杭州",
            "district": "西湖区",
            "detail": "文三路 100 号",
        },
        "lines": [{"sku": sku.code, "quantity": 2, "unit_price": "99.00"}],
        "paid_amount": "198.00",
    }
    data.update(overrides)
    return data


def make_order(**overrides):
    """An order created through the real intake service (validated the same way as the API)."""
    from orders.api import OrderIn

    serializer = OrderIn(data=order_payload(**overrides))
    serializer.is_valid(raise_exception=True)
    return order_create(draft=OrderDraft.from_api(serializer.validated_data), actor=None, source=Source.API).order


def money(value: str) -> Decimal:
    return Decimal(value)
