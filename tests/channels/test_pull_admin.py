"""The pull on a channel's admin page (客服 sees, 运营主管 sets it up) and backfills started from the admin."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.models import Channel, ChannelBackfill, ChannelPull
from tests.channels.platforms import APP_SECRET, TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def tmall(db):
    channel = Channel.objects.create(code="tmall", name="天猫旗舰店", kind=Channel.Kind.TAOBAO, arrival="pull")
    ChannelPull.objects.create(
        channel=channel,
        enabled=True,
        app_key="12345678",
        app_secret=APP_SECRET,
        access_token=TOKEN,
        last_error="HTTP 500",
    )
    return channel


def change_url(channel) -> str:
    return reverse("admin:orders_channel_change", args=[channel.pk])


def test_kefu_sees_the_pull_state_but_never_its_keys_nor_a_backfill_button(client, kefu, tmall):
    client.force_login(kefu)
    page = client.get(change_url(tmall))
    assert page.status_code == 200
    html = page.content.decode()
    assert APP_SECRET not in html and TOKEN not in html
    assert "HTTP 500" in html  # the last error, read-only
    assert 'id="start-backfill"' not in html
    assert 'name="pull-0-app_secret"' not in html
    assert client.get(reverse("admin:orders_channelbackfill_add")).status_code == 403


def test_manager_page_has_the_pull_form_with_empty_key_inputs_and_the_backfill_button(client, yunying, tmall):
    client.force_login(yunying)
    html = client.get(change_url(tmall)).content.decode()
    assert 'name="pull-0-app_secret"' in html and 'name="pull-0-window_minutes"' in html
    assert APP_SECRET not in html and TOKEN not in html
    assert 'id="start-backfill"' in html
    assert "1440" in html  # Taobao's window limit, shown


def backfill_post(client, channel, start, end):
    start, end = timezone.localtime(start), timezone.localtime(end)
    return client.post(
        reverse("admin:orders_channelbackfill_add"),
        {
            "channel": channel.pk,
            "start_0": start.strftime("%Y-%m-%d"),
            "start_1": start.strftime("%H:%M:%S"),
            "end_0": end.strftime("%Y-%m-%d"),
            "end_1": end.strftime("%H:%M:%S"),
        },
    )


def test_manager_starts_a_backfill_that_is_enqueued(
    client, yunying, tmall, django_capture_on_commit_callbacks, channels_queue
):
    client.force_login(yunying)
    now = timezone.now().replace(microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        answer = backfill_post(client, tmall, now - timedelta(days=3), now - timedelta(days=2))
    assert answer.status_code == 302
    backfill = ChannelBackfill.objects.get()
    assert (backfill.channel, backfill.started_by, backfill.state) == (tmall, yunying, "pending")
    assert backfill.end - backfill.start == timedelta(days=1)
    jobs = channels_queue.get_jobs()
    assert [(job.func_name, job.kwargs) for job in jobs] == [("orders.jobs.run_backfill", {"backfill_id": backfill.pk})]
    # its page shows progress, nothing to edit
    html = client.get(reverse("admin:orders_channelbackfill_change", args=[backfill.pk])).content.decode()
    assert 'name="start_0"' not in html


def test_backfill_beyond_taobaos_three_months_is_refused_on_the_form(client, yunying, tmall):
    client.force_login(yunying)
    now = timezone.now()
    answer = backfill_post(client, tmall, now - timedelta(days=120), now - timedelta(days=100))
    assert answer.status_code == 200
    assert "90" in answer.content.decode()
    assert answer.context["adminform"].form.errors["start"]
    assert not ChannelBackfill.objects.exists()


def test_backfill_ending_in_the_future_is_refused(client, yunying, tmall):
    client.force_login(yunying)
    now = timezone.now()
    answer = backfill_post(client, tmall, now - timedelta(hours=2), now + timedelta(hours=1))
    assert answer.context["adminform"].form.errors["end"]
    assert not ChannelBackfill.objects.exists()
