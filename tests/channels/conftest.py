"""Fixtures of the channel and outbox tests: a local ERP peer, retries due at once."""

import django_rq
import pytest

from tests.channels.erp_peer import ErpPeer


@pytest.fixture
def peer():
    server = ErpPeer()
    yield server
    server.stop()


@pytest.fixture
def fast_retries(settings):
    """Failed rows are due again at once (the backoff's figures are tested on their own)."""
    settings.OUTBOX_BACKOFF_SECONDS = 0
    settings.OUTBOX_THROTTLED_SECONDS = 0
    return settings


@pytest.fixture(autouse=True)
def channels_queue():
    """The channels queue on the test Redis, empty at the start of each test."""
    queue = django_rq.get_queue("channels")
    queue.empty()
    return queue
