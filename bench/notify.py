"""Notifications delivered per second to local robot servers, within their limits (issue 13's Show item).

    .venv/bin/python bench/notify.py [--robots 10] [--alerts 400] [--seconds 70]

Setup (not timed): the bench database (BENCH_DB_NAME, migrated), R WeCom-style robots, each a real local HTTP
server on its own port that enforces the robots' published limit: more than 20 messages within any 60 s answers
HTTP 200 with errcode 45009 (as WeCom does). Each robot is a NotificationChannel at its default rate (18 a
minute). A alerts are raised (alert_raise), each naming one robot (round robin, notify_channel).

Measured: alert_notifications_plan once (the sweep's set-based planning), then notifications_deliver_due in a loop
(as the minute sweep and the on-commit job run it) until every row is sent or --seconds pass. Reported: rows
delivered per second (sent alone or folded into a digest), HTTP messages each robot got, and how many times a
robot said "too many" (must be 0: the token bucket holds the rate, a burst folds into one digest). Exit 1 when a
robot was pushed over its limit or a row is left unsent.
"""

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import common
from common import log, table

LIMIT_PER_MINUTE = 20


class Robot(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RobotHandler)
        self.lock = threading.Lock()
        self.times: deque[float] = deque()
        self.received = 0
        self.refused = 0
        threading.Thread(target=self.serve_forever, daemon=True).start()


class RobotHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        robot: Robot = self.server
        now = time.monotonic()
        with robot.lock:
            while robot.times and now - robot.times[0] > 60:
                robot.times.popleft()
            if len(robot.times) >= LIMIT_PER_MINUTE:
                robot.refused += 1
                answer = {"errcode": 45009, "errmsg": "api freq out of limit"}
            else:
                robot.times.append(now)
                robot.received += 1
                answer = {"errcode": 0, "errmsg": "ok"}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def main() -> int:
    parser = common.cli(__doc__)
    parser.add_argument("--robots", type=int, default=10)
    parser.add_argument("--alerts", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=70.0)
    args = parser.parse_args()
    common.database_ensure()
    common.django_setup()
    from orders.models import Alert, Notification, NotificationChannel, NotificationSweep
    from orders.services.alerts import alert_raise
    from orders.services.notify import alert_notifications_plan
    from orders.services.notify_delivery import notifications_deliver_due

    Notification.objects.all().delete()
    NotificationSweep.objects.all().delete()
    Alert.objects.filter(dedupe_key__startswith="bench-notify-").delete()
    NotificationChannel.objects.filter(name__startswith="bench robot").delete()
    robots = [Robot() for _ in range(args.robots)]
    channels = [
        NotificationChannel.objects.create(
            name=f"bench robot {n}",
            kind="wecom",
            url=f"http://127.0.0.1:{robot.server_address[1]}/cgi-bin/webhook/send",
        )
        for n, robot in enumerate(robots)
    ]
    run = time.time_ns()
    for n in range(args.alerts):
        alert_raise(
            kind=Alert.Kind.OTHER,
            message=f"订单 BENCH{n} 超时未发货",
            notify_channel=channels[n % len(channels)],
            dedupe_key=f"bench-notify-{run}-{n}",
        )
    log(f"{args.alerts} alerts for {args.robots} robots; planning and delivering")
    started = time.monotonic()
    planned = alert_notifications_plan()
    rows = Notification.objects.filter(is_digest=False)
    while time.monotonic() - started < args.seconds:
        notifications_deliver_due()
        if not rows.exclude(state=Notification.State.SENT).exists():
            break
        time.sleep(1)
    elapsed = time.monotonic() - started
    sent = rows.filter(state=Notification.State.SENT).count()
    folded = rows.filter(digest__isnull=False).count()
    table(
        ["robot", "messages received", "refused (too many)"],
        [(channel.name, robot.received, robot.refused) for channel, robot in zip(channels, robots, strict=True)],
    )
    log(
        f"planned {planned} rows; delivered {sent} ({folded} folded into digests) in {elapsed:.2f} s = "
        f"{sent / elapsed:.0f} notifications/s; robot messages {sum(r.received for r in robots)}, "
        f"most to one robot {max(r.received for r in robots)} (limit {LIMIT_PER_MINUTE}/min)"
    )
    over = sum(r.refused for r in robots)
    if over or sent < planned:
        log(f"FAILED: {over} 'too many' answers, {planned - sent} rows unsent")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
