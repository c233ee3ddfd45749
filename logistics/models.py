from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class Carrier(models.Model):
    """A parcel carrier. Adapters, keys and the tracking registry come with the logistics issue."""

    code = models.CharField(_("carrier code"), max_length=32, unique=True, help_text=_("e.g. shunfeng, zhongtong"))
    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("carrier")
        verbose_name_plural = _("carriers")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name
