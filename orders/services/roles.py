from django.contrib.auth.models import Group, Permission
from django.db import transaction

from orders.roles import ROLES

# "axes": the administrator unlocks logins locked out after wrong passwords (Access attempts).
HUB_APPS = ("orders", "rules", "warehouse", "logistics", "reports", "authtoken", "auth", "axes")


def roles_sync() -> dict[str, int]:
    """Create or update the role groups so each holds exactly its listed permissions."""
    counts = {}
    with transaction.atomic():
        for name, perms in ROLES.items():
            group, _ = Group.objects.get_or_create(name=name)
            if perms == ["*"]:
                wanted = Permission.objects.filter(content_type__app_label__in=HUB_APPS)
            else:
                wanted = Permission.objects.none()
                for perm in perms:
                    app_label, codename = perm.split(".")
                    wanted = wanted | Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            wanted = list(wanted.distinct())
            missing = len(set(perms) - {"*"}) - len(wanted) if perms != ["*"] else 0
            if missing > 0:
                raise RuntimeError(f"Role {name}: {missing} permission(s) do not exist; run migrate first.")
            group.permissions.set(wanted)
            counts[name] = len(wanted)
    return counts
