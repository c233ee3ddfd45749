"""Real processes for the recovery tests: rqworker, gunicorn and a private redis-server, all on loopback,
pointed at the test database. Each is started in its own session so a SIGKILL takes its children too; RQ's
work-horse starts a session of its own, so kill9 finds and kills the descendants by parent id as well."""

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, *, timeout: float = 60.0, step: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def env_for(*, redis_url: str | None = None) -> dict[str, str]:
    """The environment of a subprocess using the test database (the one this test runs on) and Redis."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL=redis_url or settings.RQ_QUEUES["channels"]["URL"],
    )
    return env


class Process:
    def __init__(self, cmd: list[str], *, env: dict[str, str], name: str):
        self.cmd, self.env, self.name = cmd, env, name
        self.proc: subprocess.Popen | None = None
        self.log = ""

    def start(self) -> "Process":
        fd, self.log = tempfile.mkstemp(prefix=f"orderhub-test-{self.name}-", suffix=".log")
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=fd, stderr=fd, start_new_session=True)
        os.close(fd)
        return self

    def descendants(self) -> list[int]:
        """Pids of the processes this one forked, and theirs (RQ's work-horse while it runs a job)."""
        found, parents = [], [self.proc.pid] if self.proc else []
        while parents:
            answer = subprocess.run(["pgrep", "-P", str(parents.pop())], capture_output=True, text=True).stdout
            children = [int(pid) for pid in answer.split()]
            found += children
            parents += children
        return found

    def kill9(self) -> list[int]:
        """SIGKILL the process and everything it forked, RQ's work-horse too (it runs in a session of its own, so
        killing the process group alone would leave it to finish its job). Returns the descendants' pids."""
        if not self.proc or self.proc.poll() is not None:
            return []
        descendants = self.descendants()
        for pid in descendants:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it ended on its own meanwhile
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        return descendants

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def wait(self, timeout: float = 120) -> int:
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return Path(self.log).read_text(errors="replace") if self.log else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self.log:
            os.remove(self.log)


def rqworker(*, burst: bool = False, redis_url: str | None = None) -> Process:
    cmd = [str(BIN / "python"), "manage.py", "rqworker", "channels"]
    if burst:
        cmd.append("--burst")
    return Process(cmd, env=env_for(redis_url=redis_url), name="rqworker")


def gunicorn(*, port: int, redis_url: str | None = None, workers: int = 1) -> Process:
    cmd = [
        str(BIN / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    return Process(cmd, env=env_for(redis_url=redis_url), name="gunicorn")


def wait_http(port: int, timeout: float = 60) -> None:
    def up():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/channels/none/webhook/")
            return conn.getresponse().status == 405
        except OSError:
            return False

    wait_until(up, timeout=timeout, what=f"HTTP on port {port}")


def redis_server(*, port: int) -> Process:
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return Process(cmd, env=dict(os.environ), name="redis")


def wait_redis(port: int, timeout: float = 20) -> None:
    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_until(up, timeout=timeout, what=f"redis on port {port}")


def manage_shell(code: str, *, redis_url: str | None = None, timeout: float = 120) -> str:
    """Run `code` in `manage.py shell` (a separate process, like the scheduler running a sweep)."""
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env_for(redis_url=redis_url),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def post(port: int, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data
