"""The pull adapter of each channel kind, chosen by the channel's kind through PULL_ADAPTERS (never an if/elif on
it): the platforms' own APIs for Taobao/Tmall, PDD and Douyin, the generic paged JSON pull for the others."""

from orders.channels.base import PullAdapter
from orders.channels.douyin import Douyin
from orders.channels.generic import Generic
from orders.channels.pdd import Pdd
from orders.channels.taobao import Taobao

PULL_ADAPTERS: dict[str, PullAdapter] = {"taobao": Taobao(), "pdd": Pdd(), "douyin": Douyin()}
GENERIC = Generic()


def pull_adapter_for(kind: str) -> PullAdapter:
    return PULL_ADAPTERS.get(kind, GENERIC)
