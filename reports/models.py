from django.db import models
from django.utils.translation import gettext_lazy as _


class Dashboard(models.Model):
    """No table: carries the permission to open 报表 → 经营看板 and its entry on the admin index."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_dashboard", "Can view the business dashboard")]
        verbose_name = _("business dashboard")
        verbose_name_plural = _("business dashboard")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
