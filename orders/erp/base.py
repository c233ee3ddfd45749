"""What every push adapter speaks: the request it builds from an outbox row, the answer it reads, and one
keep-alive HTTP client per delivery batch (one connection per host, reused across the batch's messages)."""

import http.client
import urllib.parse
from dataclasses import dataclass, field

ANSWER_KEEP = 2000  # characters of a receiver's answer kept on the outbox row


class Unavailable(Exception):
    """The receiver could not be reached, timed out or broke the connection: try again later."""


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """What a receiver said. `ok`: delivered. `throttled`: it said "too frequent" (wait longer). `refused`: it said
    no in a way a retry will not change (e.g. a 4xx): dead letter at once. `error`: why not, for the row."""

    ok: bool
    text: str = ""
    error: str = ""
    throttled: bool = False
    refused: bool = False


def http_answer(status: int, text: str) -> Answer:
    """The answer of a receiver that speaks plain HTTP: 2xx delivered, 429 throttled, 408 and 5xx retried, any
    other 4xx refused."""
    if 200 <= status < 300:
        return Answer(ok=True, text=text)
    error = f"HTTP {status}: {text[:200]}"
    if status == 429:
        return Answer(ok=False, text=text, error=error, throttled=True)
    return Answer(ok=False, text=text, error=error, refused=400 <= status < 500 and status != 408)


class HttpClient:
    """POSTs with one kept-alive connection per (scheme, host, port); close() when the batch is done."""

    def __init__(self) -> None:
        self._connections: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def post(self, request: Request, *, timeout: float) -> tuple[int, str]:
        parts = urllib.parse.urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Unavailable(f"{request.url!r} is not an http(s) URL")
        key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Length": str(len(request.body)), **request.headers}
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: once more on a new one
            reused = key in self._connections
            connection = self._connection(key, timeout)
            try:
                connection.request("POST", path, body=request.body, headers=headers)
                response = connection.getresponse()
                text = response.read(1_000_000).decode("utf-8", errors="replace")
                if response.getheader("Connection", "").lower() == "close":
                    self._drop(key)
                return response.status, text
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self._drop(key)
                if attempt == 2 or not reused:
                    raise Unavailable(f"{request.url}: {exc}") from exc
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                self._drop(key)
                raise Unavailable(f"{request.url}: {exc or type(exc).__name__}") from exc
        raise Unavailable(request.url)  # not reached

    def _connection(self, key: tuple[str, str, int], timeout: float) -> http.client.HTTPConnection:
        connection = self._connections.get(key)
        if connection is None:
            scheme, host, port = key
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            connection = self._connections[key] = cls(host, port, timeout=timeout)
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        return connection

    def _drop(self, key: tuple[str, str, int]) -> None:
        connection = self._connections.pop(key, None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        for key in list(self._connections):
            self._drop(key)
