import pytest

from orders.models import LegacyStatusMapping, Status
from tests.factories import ChannelFactory, SkuFactory
from warehouse.models import SkuAlias


@pytest.fixture
def catalogue(db):
    """The hub's SKUs (one known by an old system's alias), the channel, the legacy status codes A01 and B02."""
    SkuFactory(code="MASK-001", name="补水面膜")
    sample = SkuFactory(code="SAMPLE-3", name="面膜试用装")
    SkuFactory(code="CREAM-02", name="面霜")
    SkuAlias.objects.create(sku=sample, alias="面膜小样")
    LegacyStatusMapping.objects.create(code="A01", status=Status.ON_HOLD, label="待人工复核")
    LegacyStatusMapping.objects.create(code="B02", status=Status.ALLOCATED, label="已质检待发货")
    return ChannelFactory()
