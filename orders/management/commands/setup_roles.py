from django.core.management.base import BaseCommand

from orders.services.roles import roles_sync


class Command(BaseCommand):
    help = (
        "Create or update the role groups (客服, 仓库, 采购, 运营主管, 财务, 管理员, 系统对接) and their permissions."
    )

    def handle(self, *args, **options):
        for name, count in roles_sync().items():
            self.stdout.write(f"{name}: {count} permissions")
