import django_rq
import pytest


@pytest.fixture(autouse=True)
def channels_queue():
    """The channels queue on the test Redis, empty at the start of each test."""
    queue = django_rq.get_queue("channels")
    queue.empty()
    return queue
