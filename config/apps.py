"""App configs that give third-party apps a Chinese name in the admin (their own names are English only)."""

from django.utils.translation import gettext_lazy as _
from django_rq.apps import DjangoRqAdminConfig


class JobQueuesConfig(DjangoRqAdminConfig):
    # django-rq's pages are hard-coded English templates; its app name on the admin home is what it lets us translate.
    verbose_name = _("Job queues")
