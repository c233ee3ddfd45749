"""导出 Excel of the order list: seconds and peak memory for 10,000 and 100,000 orders.

    .venv/bin/python bench/export.py [--orders 100000] [--small 10000] [--rebuild]

Builds orderhub_bench with N generated orders (bulk SQL, dataset.history_ensure) unless it already holds exactly N.
Each measurement runs in a fresh process (so ru_maxrss is its own peak) that downloads the admin's export through
the Django test client as a superuser, reading the streamed file in blocks and throwing them away, exactly as
the browser gets it: GET /admin/orders/order/export-xlsx/ (the whole list, through the ChangeList), and for the
small figure the same export of the first M orders (OrderAdmin.export_response on the ChangeList's queryset, cut
to M). A third process only iterates the same 100,000 rows (queryset.iterator, the export's column values)
without writing a workbook: the baseline of Django + the rows. Memory that stays flat shows as an RSS ratio
100k/10k near 1 while the time grows about 10x.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import common
import dataset
from common import log

EXPORT_URL = "/admin/orders/order/export-xlsx/"
BENCH_ADMIN = "bench-export-admin"


def child(mode: str, limit: int) -> None:
    """One measurement in this process; prints a JSON line."""
    common.django_setup()
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.test import Client, RequestFactory

    from orders.admin import OrderAdmin
    from orders.models import Order

    user = get_user_model().objects.filter(username=BENCH_ADMIN).first()
    if user is None:
        user = get_user_model().objects.create_superuser(BENCH_ADMIN, password="bench-pw-12345")
    started = time.monotonic()
    size = rows = 0
    if mode == "view":
        client = Client(HTTP_HOST=common.HOST)
        client.force_login(user)
        response = client.get(EXPORT_URL)
        assert response.status_code == 200, response.status_code
        for block in response.streaming_content:
            size += len(block)
        response.close()
        rows = Order.objects.count()
    else:
        model_admin: OrderAdmin = admin.site._registry[Order]
        request = RequestFactory().get(EXPORT_URL)
        request.user = user
        queryset = model_admin.get_changelist_instance(request).queryset[:limit]
        if mode == "slice":
            response = model_admin.export_response(request, queryset)
            for block in response.streaming_content:
                size += len(block)
            response.close()
            rows = limit
        else:  # "rows": the column values only, no workbook
            columns = model_admin.export_columns(request)
            for _row in model_admin.export_rows(columns, queryset):
                rows += 1
    seconds = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "rows": rows, "seconds": seconds, "peak_rss_mb": peak_mb, "bytes": size}))


def measure(mode: str, limit: int) -> dict:
    proc = subprocess.run(
        [str(common.PYTHON), __file__, "--child", mode, "--limit", str(limit)],
        cwd=common.ROOT,
        env=common.bench_env(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"export child {mode} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = common.cli(__doc__)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="connections for the bulk build")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.limit)
        return
    n = args.orders
    dataset.history_ensure(n, min(5000, max(10, n // 20)), args.workers, rebuild=args.rebuild)
    dataset.master_data_ensure()
    common.django_close_connections()
    log(common.load_average())
    small = measure("slice", args.small)
    log(f"small: {small}")
    full = measure("view", n)
    log(f"full: {full}")
    baseline = measure("rows", n)
    log(f"rows only: {baseline}")
    print()
    print(f"{'what':<62} {'rows':>9} {'seconds':>8} {'rows/s':>8} {'peak RSS MB':>12} {'file MB':>8}")
    for label, r in (
        (f"export of the first {args.small:,} (ChangeList queryset)", small),
        (f"export of all {n:,} (GET {EXPORT_URL})", full),
        (f"rows only, no workbook ({n:,})", baseline),
    ):
        print(
            f"{label:<62} {r['rows']:>9,} {r['seconds']:>8.1f} {r['rows'] / r['seconds']:>8,.0f} "
            f"{r['peak_rss_mb']:>12.1f} {r['bytes'] / 1e6:>8.1f}"
        )
    print()
    sizes = f"{n // 1000}k / {args.small // 1000}k export"
    print(f"peak RSS ratio {sizes}: {full['peak_rss_mb'] / small['peak_rss_mb']:.2f}")
    print(f"time ratio {sizes}: {full['seconds'] / small['seconds']:.1f}")
    print(f"export / rows-only time ({n // 1000}k): {full['seconds'] / baseline['seconds']:.1f}")


if __name__ == "__main__":
    main()
