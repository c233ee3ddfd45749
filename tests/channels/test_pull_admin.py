"""The pull on a channel's admin page (客服 sees, 运营主管 sets it up) and backfills started from the admin."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.channels.pdd import DEFAULT_MAPPING
from orders.models import Channel, ChannelBackfill, ChannelPull
from tests.channels.platforms import APP_SECRET, TOKEN
from tests.channels.test_inbox_admin import form_data

# The PDD default mapping, as the channel form's inputs (one per our field)
SAMPLE_MAPPING = {
    "orders_path": DEFAULT_MAPPING["orders_path"],
    "amounts": DEFAULT_MAPPING["amounts"],
    "time_format": DEFAULT_MAPPING["time_format"],
    "status_map": "\n".join(f"{code} = {event}" for code, event in DEFAULT_MAPPING["status_map"].items()),
    "refund_map": "\n".join(f"{code} = {event}" for code, event in DEFAULT_MAPPING["refund_map"].items()),
    **{f"map_{name}": path for name, path in DEFAULT_MAPPING["fields"].items()},
}

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


def pull_form(channel, **pull) -> dict:
    data = form_data(code=channel.code, name=channel.name, kind=channel.kind, arrival="pull", **SAMPLE_MAPPING)
    existing = ChannelPull.objects.filter(channel=channel).first()
    data.update({"pull-TOTAL_FORMS": "1", "pull-INITIAL_FORMS": "1" if existing else "0", "pull-MAX_NUM_FORMS": "1"})
    if existing:
        data.update({"pull-0-id": existing.pk, "pull-0-channel": channel.pk})
    fields = {"enabled": "on", "base_url": "", "app_key": "12345678", "app_secret": "", "access_token": ""}
    fields |= {"interval_minutes": "5", "window_minutes": "", "page_size": "", "clock_margin_seconds": ""}
    fields |= pull
    data.update({f"pull-0-{name}": value for name, value in fields.items() if value is not None})
    return data


def test_manager_saves_the_pull_keeping_keys_and_never_overwriting_the_runs_cursor(client, yunying):
    channel = Channel.objects.create(code="pdd-shop", name="拼多多店", kind=Channel.Kind.PDD, arrival="api")
    client.force_login(yunying)
    url = change_url(channel)

    # pull switched on while orders arrive by the API only: refused, nothing saved
    data = pull_form(channel, app_secret=APP_SECRET, access_token=TOKEN)
    data["arrival"] = "api"
    answer = client.post(url, data)
    assert answer.status_code == 200 and not ChannelPull.objects.exists()
    pull_forms = [
        inline.formset for inline in answer.context["inline_admin_formsets"] if inline.formset.prefix == "pull"
    ]
    assert pull_forms[0].forms[0].errors["enabled"]

    # with arrival "pull": saved, keys stored; a window over PDD's 30 minutes is refused first
    assert client.post(url, pull_form(channel, app_secret=APP_SECRET, window_minutes="60")).status_code == 200
    assert not ChannelPull.objects.exists()
    assert client.post(url, pull_form(channel, app_secret=APP_SECRET, access_token=TOKEN)).status_code == 302
    pull = ChannelPull.objects.get(channel=channel)
    assert (pull.enabled, pull.app_secret, pull.access_token) == (True, APP_SECRET, TOKEN)

    # a run moves the cursor while the manager's form is open; she saves with the keys left empty
    moment = timezone.now() - timedelta(minutes=7)
    backing_off = timezone.now() + timedelta(minutes=30)
    ChannelPull.objects.filter(pk=pull.pk).update(cursor=moment, consecutive_failures=2, next_attempt_at=backing_off)
    assert client.post(url, pull_form(channel, interval_minutes="10")).status_code == 302
    pull.refresh_from_db()
    assert (pull.interval_minutes, pull.app_secret, pull.access_token) == (10, APP_SECRET, TOKEN)
    assert (pull.cursor, pull.consecutive_failures) == (moment, 2)
    assert pull.next_attempt_at is None  # her change is tried on the next minute, not after the backoff
    assert pull.history.first().history_user == yunying
