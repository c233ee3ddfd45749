"""Reports of the same new order racing each other (a webhook retry and a pull page, say) make one order."""

import threading

import pytest
from django.db import connection

from orders.models import Order
from orders.services.channel_intake import Outcome
from tests.channels.reports import channel_no, later, report, take
from tests.factories import ChannelFactory


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("stocked")
def test_concurrent_reports_with_different_content_make_one_order_updated_by_the_later():
    ChannelFactory()
    no = channel_no()
    reports = [report(no, detail=f"文三路 {100 + i} 号", modified=later(i)) for i in range(6)]
    outcomes = []
    barrier = threading.Barrier(len(reports))

    def send(r):
        try:
            barrier.wait()
            outcomes.append(take(r, source="pull").outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(r,)) for r in reports]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Outcome.REJECTED not in outcomes, outcomes
    assert outcomes.count(Outcome.CREATED) == 1
    order = Order.objects.get(channel_order_no=no)
    # whatever order they ran in, the newest report's address is the one kept (older ones are stale)
    assert order.address_detail == "文三路 105 号" and order.channel_modified_at == later(5)
