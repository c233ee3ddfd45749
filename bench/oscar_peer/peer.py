"""The oscar side of bench/peers.py: django-oscar 4.2's OrderCreator.place_order, in-process.

    cd bench && ../.venv-oscar/bin/python -m oscar_peer.peer setup
    cd bench && ../.venv-oscar/bin/python -m oscar_peer.peer run --n 100 [--wait-go] [--tag T]

setup: migrate oscar_bench and seed one partner, one stock-tracked product class, two products with a stock
record each (stock enough for every run), the country CN and a payment source type. run: per order, a basket
with the two products (1 and 2 units, built outside the clock, as the shopper's basket exists before checkout),
then timed: Free shipping, OrderTotalCalculator, the shipping address, OrderCreator().place_order (which
writes the order, its lines and prices, and allocates stock on the stock records), and the payment source
with the amount debited, as oscar's checkout records a paid order. Prints one `PEER-RESULT {json}` line.
"""

import argparse
import os
import sys
from decimal import Decimal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oscar_peer.settings")

import django

django.setup()

import peer_run  # noqa: E402
from django.core.management import call_command  # noqa: E402
from oscar.apps.address.models import Country  # noqa: E402
from oscar.apps.basket.models import Basket  # noqa: E402
from oscar.apps.catalogue.models import Product, ProductClass  # noqa: E402
from oscar.apps.checkout.calculators import OrderTotalCalculator  # noqa: E402
from oscar.apps.order.models import ShippingAddress  # noqa: E402
from oscar.apps.order.utils import OrderCreator  # noqa: E402
from oscar.apps.partner.models import Partner, StockRecord  # noqa: E402
from oscar.apps.partner.strategy import Selector  # noqa: E402
from oscar.apps.payment.models import Source, SourceType  # noqa: E402
from oscar.apps.shipping.methods import Free  # noqa: E402

STOCK = 10**9


def setup() -> None:
    call_command("migrate", interactive=False, verbosity=0)
    partner, _ = Partner.objects.get_or_create(code="bench", defaults={"name": "压测商家"})
    pclass, _ = ProductClass.objects.get_or_create(slug="bench", defaults={"name": "压测", "track_stock": True})
    for upc, title, price in (("OSC-1", "压测面膜", "99.00"), ("OSC-2", "压测精华", "199.00")):
        product, _ = Product.objects.get_or_create(upc=upc, defaults={"title": title, "product_class": pclass})
        StockRecord.objects.update_or_create(
            product=product,
            partner=partner,
            defaults={"partner_sku": upc, "price": Decimal(price), "num_in_stock": STOCK, "num_allocated": 0},
        )
    Country.objects.get_or_create(
        iso_3166_1_a2="CN", defaults={"iso_3166_1_a3": "CHN", "iso_3166_1_numeric": "156", "name": "中国"}
    )
    SourceType.objects.get_or_create(code="bench", defaults={"name": "压测支付"})


def run(n: int, wait_go: bool, tag: str) -> None:
    products = list(Product.objects.filter(upc__in=["OSC-1", "OSC-2"]).order_by("upc"))
    country = Country.objects.get(iso_3166_1_a2="CN")
    source_type = SourceType.objects.get(code="bench")
    strategy = Selector().strategy()
    baskets: dict[int, Basket] = {}

    def basket_for(i: int) -> Basket:
        basket = Basket.objects.create()
        basket.strategy = strategy
        basket.add_product(products[0], 1)
        basket.add_product(products[1], 2)
        return basket

    def create(i: int) -> None:
        basket = baskets.pop(i) if i in baskets else basket_for(i)
        shipping = Free()
        charge = shipping.calculate(basket)
        total = OrderTotalCalculator().calculate(basket, charge)
        address = ShippingAddress(
            first_name="三",
            last_name="张",
            line1="文三路 1 号",
            line4="杭州",
            state="浙江",
            postcode="310000",
            country=country,
        )
        address.save()  # oscar's checkout saves it before place_order (OrderPlacementMixin.create_shipping_address)
        order = OrderCreator().place_order(
            basket=basket,
            total=total,
            shipping_method=shipping,
            shipping_charge=charge,
            shipping_address=address,
            order_number=f"OB{tag}{i + 10:07d}",
            guest_email="buyer@example.com",
        )
        basket.submit()
        Source.objects.create(
            order=order, source_type=source_type, amount_allocated=total.incl_tax, amount_debited=total.incl_tax
        )

    for i in range(n):  # the baskets exist before checkout: built outside the clock
        baskets[i] = basket_for(i)
    result = peer_run.measure(create, n=n, wait_go=wait_go, key="oscar")
    peer_run.report(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["setup", "run"])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--wait-go", action="store_true", help="print READY when warm, start on a line of stdin")
    parser.add_argument("--tag", default="0")
    args = parser.parse_args()
    if args.command == "setup":
        setup()
    else:
        run(args.n, args.wait_go, args.tag)


if __name__ == "__main__":
    sys.exit(main())
