"""A generic paged JSON "modified since" pull, for connectors, B2B portals and POS back offices:

    GET <base URL>?modified_from=<ISO 8601>&modified_to=<ISO 8601>&page=<1…>&page_size=<n>
    Authorization: Bearer <access token>
    X-OrderHub-Timestamp: <unix seconds>
    X-OrderHub-Signature: sha256=<hex HMAC-SHA256(app secret, "<timestamp>.<query string>")>

answers {"orders": [...], "has_next": true|false, "total": n (optional)}, sorted by modification time, oldest
first; an error is a non-2xx answer with {"message", "code"}."""

import hashlib
import hmac
import time
import urllib.parse
from datetime import datetime, timedelta

from orders.channels.base import PlatformError, PullAdapter, PullConfig, PullPage, PullUnavailable, http_json


def generic_sign(*, secret: str, timestamp: str, query: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.{query}".encode(), hashlib.sha256).hexdigest()


class Generic(PullAdapter):
    kind = "generic"
    window_max = timedelta(days=7)
    window_default = timedelta(hours=1)
    page_size_max = 500
    page_size_default = 100
    clock_margin_default = timedelta(minutes=1)

    def page(self, *, config: PullConfig, start: datetime, end: datetime, page_no: int) -> PullPage:
        query = {
            "modified_from": start.isoformat(),
            "modified_to": end.isoformat(),
            "page": page_no,
            "page_size": config.page_size,
        }
        timestamp = str(int(time.time()))
        headers = {
            "X-OrderHub-Timestamp": timestamp,
            "X-OrderHub-Signature": generic_sign(
                secret=config.app_secret, timestamp=timestamp, query=urllib.parse.urlencode(query)
            ),
        }
        if config.access_token:
            headers["Authorization"] = f"Bearer {config.access_token}"
        answer = http_json(config.base_url, config=config, query=query, headers=headers)
        if answer.get("error"):
            raise PlatformError(str(answer.get("message") or answer["error"]), code=str(answer.get("code") or ""))
        orders = answer.get("orders")
        if not isinstance(orders, list):
            raise PullUnavailable("the answer has no orders list")
        return PullPage(orders=orders, has_next=bool(answer.get("has_next")), total=answer.get("total"))
