"""The measuring loop both sides of bench/peers.py run in their own process (ours in .venv, oscar in
.venv-oscar): only the standard library and Django, so either virtualenv can import it.

A side calls `measure(create, n=..., wait_go=...)` after django.setup(), then `report(result)`: one
`PEER-RESULT {json}` line on stdout.
"""

import json
import sys
import time
from collections.abc import Callable

from django.db import connection

WRITES = ("INSERT", "UPDATE", "DELETE")


def measure(create: Callable[[int], object], *, n: int, warmup: int = 3, wait_go: bool = False, key: str = "") -> dict:
    """create(i) makes order i. Timed: n calls (after `warmup` untimed ones, which warm imports and caches);
    counted: SQL statements sent, rows written (INSERT/UPDATE/DELETE rowcount), deadlocks, other errors."""
    for i in range(warmup):
        create(-1 - i)
    counts = {"statements": 0, "rows": 0, "locks": 0}

    def count(execute, sql, params, many, context):
        counts["statements"] += 1
        result = execute(sql, params, many, context)
        head = sql.lstrip()[:6].upper()
        if head in WRITES:
            counts["rows"] += max(context["cursor"].rowcount, 0)
        elif head == "SELECT" and " FOR UPDATE" in sql:
            counts["locks"] += 1
        return result

    if wait_go:  # the concurrent phase: say READY when warm, start when the parent says GO to every process
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        sys.stdin.readline()
    latencies, deadlocks, errors, first_error = [], 0, 0, ""
    with connection.execute_wrapper(count):
        t0 = time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            try:
                create(i)
            except Exception as exc:
                if "deadlock detected" in str(exc):
                    deadlocks += 1
                else:
                    errors += 1
                    first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
                continue
            latencies.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
    return {
        "key": key,
        "n": n,
        "ok": len(latencies),
        "wall": wall,
        "latencies": latencies,
        "statements": counts["statements"],
        "rows": counts["rows"],
        "locks": counts["locks"],
        "deadlocks": deadlocks,
        "errors": errors,
        "first_error": first_error,
    }


def report(result: dict) -> None:
    sys.stdout.write("PEER-RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
