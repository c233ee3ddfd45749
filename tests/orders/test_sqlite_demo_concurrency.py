"""The embedded demo (SQLite, config.settings.local) under concurrent writes, served by a real runserver."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SETUP = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from orders.models import Channel
from orders.services.nodes import status_nodes_ensure_defaults
from orders.services.roles import roles_sync
from warehouse.models import Sku
roles_sync()
status_nodes_ensure_defaults()
Channel.objects.create(code="tmall", name="天猫旗舰店", kind="taobao")
Sku.objects.create(code="MASK-001", name="补水面膜", category="面膜")
user = get_user_model().objects.create(username="api")
user.groups.add(Group.objects.get(name="系统对接"))
print("TOKEN=" + Token.objects.create(user=user).key)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _wait_until_up(url: str, server: subprocess.Popen) -> None:
    for _ in range(100):
        assert server.poll() is None, "runserver exited"
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is serving
        except OSError:
            time.sleep(0.1)
    pytest.fail("runserver did not answer within 10 seconds")


def test_order_create_concurrent_replays_on_sqlite_demo_no_5xx(tmp_path):
    # given: a fresh SQLite database with the demo settings, served by runserver (threaded, like `make run`)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DB_NAME")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DEBUG="false",
    )
    _manage(env, "migrate", "--noinput")
    token = _manage(env, "shell", stdin=SETUP).split("TOKEN=")[1].strip()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/orders/"
        _wait_until_up(url, server)
        # when: three rounds of ten posts of the same order at once (one round alone may get lucky)
        rounds = [_post_ten_at_once(url, token, f"TM-CONCURRENT-{n}") for n in range(3)]
    finally:
        server.terminate()
        server.wait(timeout=10)

    # then: each round created one order and answered nine replays; no "database is locked"
    assert rounds == [[200] * 9 + [201]] * 3, rounds


def _post_ten_at_once(url: str, token: str, channel_order_no: str) -> list[int]:
    body = json.dumps(
        {
            "channel": "tmall",
            "channel_order_no": channel_order_no,
            "buyer_id": "buyer-1",
            "ordered_at": (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0).isoformat(),
            "customer": {"name": "张三", "phone": "13812345678", "member_level": "gold"},
            "shipping_address": {
                "receiver": "张三",
                "phone": "13812345678",
                "province": "浙江",
                "city": "杭州",
                "district": "西湖区",
                "detail": "文三路 100 号",
            },
            "lines": [{"sku": "MASK-001", "quantity": 2, "unit_price": "99.00"}],
            "paid_amount": "198.00",
        }
    ).encode()
    statuses: list[int] = []
    start = threading.Barrier(10)

    def post() -> None:
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json", "Authorization": f"Token {token}"}
        )
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)
