"""报表设置: one row of thresholds and recipients, 运营主管 edits it (with history), the others read it; a bad
address is refused naming it and changes nothing."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from reports.models import ReportSettings, email_list
from reports.services.settings import report_settings, report_settings_save

pytestmark = pytest.mark.django_db


def test_defaults_and_the_list_page_opens_the_one_row(client, yunying):
    settings = report_settings()
    assert (settings.pickup_within_hours, settings.breakpoint_grace_minutes, settings.yearly_report_customers) == (
        4,
        15,
        100,
    )
    client.force_login(yunying)
    response = client.get("/admin/reports/reportsettings/")
    assert response.status_code == 302 and response["Location"].endswith(f"/reportsettings/{settings.pk}/change/")


def test_manager_edits_with_history_and_a_bad_address_is_named(client, yunying):
    settings = report_settings()
    client.force_login(yunying)
    url = f"/admin/reports/reportsettings/{settings.pk}/change/"
    data = {
        "pickup_within_hours": 6,
        "breakpoint_grace_minutes": 30,
        "rarely_hit_below": 3,
        "consistency_recipients": "boss@example.com，ops@example.com\nnot-an-address",
        "yearly_report_customers": 50,
    }
    with translation.override("zh-hans"):
        response = client.post(url, data)
    assert response.status_code == 200 and "not-an-address" in response.content.decode()
    assert ReportSettings.objects.get().pickup_within_hours == 4  # nothing saved

    data["consistency_recipients"] = "boss@example.com，ops@example.com"
    assert client.post(url, data).status_code == 302
    saved = ReportSettings.objects.get()
    assert (saved.pickup_within_hours, email_list(saved.consistency_recipients)) == (
        6,
        ["boss@example.com", "ops@example.com"],
    )
    assert saved.history.first().history_user == yunying


def test_others_read_only(client, kefu, caiwu):
    settings = report_settings()
    for user in (kefu, caiwu):
        client.force_login(user)
        page = client.get(f"/admin/reports/reportsettings/{settings.pk}/change/")
        assert page.status_code == 200 and b'name="_save"' not in page.content
        url = f"/admin/reports/reportsettings/{settings.pk}/change/"
        assert client.post(url, {"pickup_within_hours": 9}).status_code == 403


def test_service_refuses_out_of_range():
    settings = report_settings()
    settings.pickup_within_hours = 0
    with pytest.raises(ValidationError) as caught:
        report_settings_save(settings=settings)
    assert "pickup_within_hours" in caught.value.message_dict
    assert ReportSettings.objects.get().pickup_within_hours == 4
