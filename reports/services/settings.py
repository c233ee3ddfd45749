"""The one row of report settings (报表设置)."""

from reports.models import ReportSettings


def report_settings() -> ReportSettings:
    """The one row of report settings (created with the defaults on first use)."""
    return ReportSettings.objects.get_or_create(pk=1)[0]


def report_settings_save(*, settings: ReportSettings) -> ReportSettings:
    settings.full_clean()
    settings.save()
    return settings
