"""What every platform pull adapter speaks: the pull settings it reads, one page of orders, its failures, and the
adapter interface (window, page size, page order, clock margin as the platform demands; like
logistics/carriers/base.py for carriers). Adapters do HTTP and signing only: no ORM, no mapping."""

import hashlib
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta


class PullUnavailable(Exception):
    """The platform timed out, failed (5xx) or answered something we cannot read. The run stops and is retried
    later with backoff; the cursor stays where it was."""


class PlatformError(PullUnavailable):
    """The platform answered with an error of its own (rate limit, window too large, bad signature, expired
    token): the message is the platform's, as it gave it."""

    def __init__(self, message: str, *, code: str = ""):
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.platform_message = message


@dataclass(frozen=True)
class PullConfig:
    """A channel's pull settings as the adapter needs them (orders.models.ChannelPull.config())."""

    base_url: str
    app_key: str = ""
    app_secret: str = ""
    access_token: str = ""  # Taobao session / PDD access_token / Douyin access_token / generic bearer token
    page_size: int = 100
    timeout_seconds: float = 15


@dataclass(frozen=True)
class PullPage:
    orders: list[dict]  # each order in full, as the platform gave it
    has_next: bool = False
    total: int | None = None  # how many orders the whole window holds, when the platform says


class PullAdapter:
    """The base adapter pulls nothing. A platform module sets the limits and implements `page`."""

    kind = ""
    default_base_url = ""
    window_max = timedelta(days=1)  # the platform refuses a larger window
    window_default = timedelta(minutes=30)
    page_size_max = 100
    page_size_default = 100
    clock_margin_min = timedelta(0)  # the window must end at least this far behind the platform's clock
    clock_margin_default = timedelta(minutes=2)
    history_max: timedelta | None = None  # how far back the platform lets us ask (Taobao: 3 months)
    back_to_front = False  # page from the last page back to the first (a modified order shifts pages forward)
    first_page = 1  # Douyin counts pages from 0
    # The stored page body: {"orders": [...]} plus where it came from. DEFAULT_MAPPING reads it.
    DEFAULT_MAPPING: dict = {}

    def window_size(self, override: timedelta | None) -> timedelta:
        return min(override or self.window_default, self.window_max)

    def page_size(self, override: int | None) -> int:
        return max(1, min(override or self.page_size_default, self.page_size_max))

    def clock_margin(self, override: timedelta | None) -> timedelta:
        return max(self.clock_margin_default if override is None else override, self.clock_margin_min)

    def page(self, *, config: PullConfig, start: datetime, end: datetime, page_no: int) -> PullPage:
        """One page of the orders modified in [start, end). Raises PullUnavailable / PlatformError."""
        raise PullUnavailable(f"{self.kind or 'this channel kind'} cannot be pulled")

    def pages(self, *, config: PullConfig, start: datetime, end: datetime) -> Iterator[tuple[int, PullPage]]:
        """(page number, page) for the whole window, in the order the platform needs so that nothing slips."""
        if not self.back_to_front:
            page_no = self.first_page
            while True:
                page = self.page(config=config, start=start, end=end, page_no=page_no)
                yield page_no, page
                if not page.has_next or not page.orders:
                    return
                page_no += 1
        # Sorted by modification time, an order modified while we page leaves the window (it now belongs to a
        # later one) and every order behind it moves one place forward. Walking back from the last page, such an
        # order lands on a page still to be read, so it is read twice at worst, never missed.
        total = self.window_total(config=config, start=start, end=end)
        last = self.first_page + max(math.ceil(total / config.page_size), 1) - 1
        for page_no in range(last, self.first_page - 1, -1):
            yield page_no, self.page(config=config, start=start, end=end, page_no=page_no)

    def window_total(self, *, config: PullConfig, start: datetime, end: datetime) -> int:
        """How many orders the window holds now (to know its last page)."""
        first = self.page(config=config, start=start, end=end, page_no=self.first_page)
        if first.total is None:
            raise PullUnavailable("the platform did not say how many orders the window holds")
        return first.total


def http_json(
    url: str,
    *,
    config: PullConfig,
    query: dict | None = None,
    form: dict | None = None,
    body: bytes | None = None,
    headers: dict | None = None,
) -> dict:
    """One request to a platform; its JSON object answer. A GET without form/body, else a POST. Timeouts, 5xx,
    refused connections and unreadable answers raise PullUnavailable; a 4xx raises PlatformError with what the
    platform said."""
    if not url.startswith(("http://", "https://")):
        raise PullUnavailable(f"{url!r} is not an http(s) URL: set the channel's pull base URL")
    if query:
        url = f"{url}?{urllib.parse.urlencode(query)}"
    headers = dict(headers or {})
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body is not None else "GET")  # noqa: S310 - http(s) checked above
    try:
        with urllib.request.urlopen(request, timeout=config.timeout_seconds) as response:  # noqa: S310 - URL from admin
            text = response.read(20_000_000).decode("utf-8")
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode("utf-8", "replace")
        if exc.code >= 500 or exc.code == 429:
            raise PullUnavailable(f"HTTP {exc.code}: {detail[:200]}") from exc
        try:
            answer = json.loads(detail)
            message = str(answer.get("message") or answer.get("msg") or detail)
            code = str(answer.get("code") or exc.code)
        except (ValueError, AttributeError):
            message, code = detail[:200], str(exc.code)
        raise PlatformError(message, code=code) from exc
    except (urllib.error.URLError, TimeoutError, OSError, UnicodeDecodeError) as exc:
        raise PullUnavailable(f"{url.split('?')[0]}: {exc}") from exc
    try:
        answer = json.loads(text)
    except ValueError as exc:
        raise PullUnavailable(f"not JSON: {text[:80]!r}") from exc
    if not isinstance(answer, dict):
        raise PullUnavailable("the answer is not a JSON object")
    return answer


def md5_sorted_sign(params: dict[str, str], secret: str) -> str:
    """The md5 signature Taobao's TOP and PDD both use: MD5(secret + k1v1k2v2… over the parameters sorted by name,
    the sign itself left out + secret), upper-case hex."""
    text = secret + "".join(f"{key}{value}" for key, value in sorted(params.items()) if key != "sign") + secret
    return hashlib.md5(text.encode()).hexdigest().upper()  # noqa: S324 - the platforms' scheme


def md5_form_call(*, config: PullConfig, params: dict[str, str]) -> dict:
    """POST the parameters md5-signed with the app secret (TOP and PDD); the platform's error_response is raised
    as PlatformError in its own words (Taobao: code / msg / sub_code / sub_msg; PDD: error_code / error_msg)."""
    answer = http_json(
        config.base_url, config=config, form={**params, "sign": md5_sorted_sign(params, config.app_secret)}
    )
    error = answer.get("error_response")
    if error is not None:
        message = error.get("sub_msg") or error.get("msg") or error.get("error_msg") or "error"
        raise PlatformError(
            str(message), code=str(error.get("sub_code") or error.get("code") or error.get("error_code") or "")
        )
    return answer


def count(value) -> int:
    """A platform's count field (int or numeric string)."""
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise PullUnavailable(f"not a count: {value!r}") from exc
