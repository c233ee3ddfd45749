"""A real local HTTP server standing in for an ERP or a channel's connector: it records every request (path,
query, headers, body), counts deliveries per idempotency key (it dedupes by key, as receivers must), and answers
what the test tells it to (accept, 500, a timeout, QiMen `failure`, Jushuitan 199, a refusal …)."""

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

QIMEN_SUCCESS = (
    '<?xml version="1.0" encoding="utf-8"?><response><flag>success</flag><code>0</code><message>ok</message></response>'
)
QIMEN_FAILURE = (
    '<?xml version="1.0" encoding="utf-8"?><response><flag>failure</flag><code>W001</code>'
    "<message>仓库编码不存在</message></response>"
)


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def key(self) -> str:
        return self.headers.get("webhook-id", "")


class ErpPeer:
    def __init__(self, respond: Callable[[Seen], tuple[int, str]] | None = None) -> None:
        self.respond = respond or (lambda seen: (200, '{"ok": true}'))
        self.seen: list[Seen] = []
        self.delivered: Counter[str] = Counter()  # accepted deliveries per key (duplicates deduped by the key)
        self.lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the delivery client uses it
            # Buffered: the status line, headers and body leave in one segment (unbuffered, the body waits ~40 ms
            # for the delayed ACK of the headers: Nagle).
            wbufsize = -1

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                seen = Seen(
                    path=parts.path,
                    query={k: v[0] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with peer.lock:
                    peer.seen.append(seen)
                status, text = peer.respond(seen)
                if 200 <= status < 300 and seen.key:
                    with peer.lock:
                        peer.delivered[seen.key] += 1
                data = text.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/push"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def slow(seconds: float, then: tuple[int, str] = (200, '{"ok": true}')) -> Callable[[Seen], tuple[int, str]]:
    def respond(seen: Seen) -> tuple[int, str]:
        time.sleep(seconds)
        return then

    return respond
