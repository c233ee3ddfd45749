from django.core.management.base import BaseCommand, CommandError

from warehouse.selectors import stock_check


class Command(BaseCommand):
    help = (
        "Rebuild every stock level from the movement ledger and compare; also check that locked and reserved "
        "units match the active order locks and quotas. Exits with an error listing every difference."
    )

    def handle(self, *args, **options):
        problems = stock_check()
        if problems:
            for line in problems:
                self.stderr.write(line)
            raise CommandError(f"{len(problems)} stock figures do not match the ledger.")
        self.stdout.write(self.style.SUCCESS("Every stock level matches its movement ledger, locks and quotas."))
