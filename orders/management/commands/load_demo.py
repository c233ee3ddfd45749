from django.core.management.base import BaseCommand

from orders.services.demo import DEMO_PASSWORD, DEMO_USERS, demo_load


class Command(BaseCommand):
    help = (
        "Load demo data (idempotent): 3 channels, ~50 SKUs, 2 warehouses, ~500 orders in every state, staff per role."
    )

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=500)

    def handle(self, *args, **options):
        result = demo_load(orders=options["orders"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {result['orders_created']} new orders, {result['orders_total']} in all, "
                f"{result['skus']} SKUs."
            )
        )
        self.stdout.write(f"Logins (password for all: {DEMO_PASSWORD}):")
        for username, full_name, role in DEMO_USERS:
            self.stdout.write(f"  {username:8s} {role} ({full_name})")
