"""The Excel history import at the size of a seller's quarter (issue 14, "Show").

Builds a --rows row xlsx (default 100,000: about 35,000 orders of 1–4 lines each, three months of a 1,000-orders-
a-day seller) with realistic Chinese values and some faults (unreadable dates and phones, unknown SKUs, exact
repeats, order numbers Excel rounded), in the bench database a fresh channel, 200 SKUs (some known by an alias) and
the legacy status codes of the file. Then it measures, each in a subprocess of its own (peak RSS = its ru_maxrss):

  calamine  reading every row of the file with python-calamine alone
  copy      COPYing the same rows (as text) into a PostgreSQL table (the rows read first, not timed)
  dryrun    our upload (guards, stored in PostgreSQL) and dry run (orders.services.imports.import_dry_run)
  commit    our commit (orders.services.imports.import_commit: legacy orders in batches of 1,000)

and prints seconds, ratios and whether the targets hold (dry run ≤ 60 s, commit ≤ 3 min, peak RSS ≤ 500 MB).
Run:

  BENCH_DB_NAME=orderhub_bench_imcore BENCH_REDIS_URL=redis://127.0.0.1:6379/6 .venv/bin/python bench/import.py
"""

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import common

HEADER = ["订单编号", "买家会员名", "收货人姓名", "联系手机", "收货地址", "商品编码", "数量", "单价", "实付金额",
          "订单状态", "物流单号", "快递公司", "下单时间"]  # fmt: skip
STATUS_CODES = {"A01": ("on_hold", "待人工复核"), "B02": ("allocated", "已质检待发货"), "C03": ("delivered", "已签收"),
                "D04": ("cancelled", "已关闭"), "E05": ("returned", "已退货")}  # fmt: skip
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鑫斌宇浩凯健俊帆帅旭宁龙林欣怡佳琪"
PLACES = [("浙江省", "杭州市", "西湖区"), ("浙江省", "宁波市", "鄞州区"), ("江苏省", "南京市", "鼓楼区"),
          ("江苏省", "苏州市", "工业园区"), ("广东省", "广州市", "天河区"), ("广东省", "深圳市", "南山区"),
          ("上海市", "", "浦东新区"), ("北京市", "", "朝阳区"), ("四川省", "成都市", "武侯区"),
          ("湖北省", "武汉市", "洪山区"), ("山东省", "青岛市", "市南区"), ("福建省", "厦门市", "思明区")]  # fmt: skip
STREETS = ["文三路", "中山路", "人民路", "解放路", "建国路", "长江路", "学院路", "新华路", "和平路", "天府大道"]
CARRIERS = ["顺丰速运", "中通快递", "圆通速递", "韵达快递", "申通快递", "京东物流", "邮政EMS"]
SKU_COUNT = 200
TARGET_DRY_RUN_S, TARGET_COMMIT_S, TARGET_RSS_MB = 60, 180, 500


def _sku_code(i: int) -> str:
    return f"BI-{i:04d}"


def _alias(i: int) -> str:
    return f"老编码{i:04d}"


def workbook_build(path: Path, rows: int, seed: int = 14) -> dict:
    """The legacy export: ≈ rows / 2.86 orders of 1–4 lines, ordered over three months; about 1 % faulty rows."""
    import openpyxl

    rng = random.Random(seed)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("订单导出")
    ws.append(["某某旗舰店 历史订单导出 2025-01-01 至 2025-03-31"])  # a title row, as the old systems write
    ws.append(HEADER)
    start = datetime(2025, 1, 1, 8, 0)
    written, orders, faults = 0, 0, {}

    def fault(name: str) -> None:
        faults[name] = faults.get(name, 0) + 1

    while written < rows:
        orders += 1
        no = f"{rng.randint(10**17, 10**18 - 1)}"  # Taobao-like 18 digits, as text
        if rng.random() < 0.001:
            no = float(no)  # Excel turned it into 1.23E+17
            fault("mangled_order_no")
        when = start + timedelta(minutes=orders * 3.7 + rng.random())
        when_cell = when if rng.random() < 0.7 else when.strftime(rng.choice(["%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M:%S"]))
        if rng.random() < 0.003:
            when_cell = "双十一前后"
            fault("bad_date")
        phone = f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"
        if rng.random() < 0.1:
            phone = f"{phone[:3]}****{phone[7:]}"  # masked by the platform
        elif rng.random() < 0.1:
            phone = f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
        if rng.random() < 0.003:
            phone = "0571-8888"
            fault("bad_phone")
        province, city, district = rng.choice(PLACES)
        address = f"{province}{city}{district}{rng.choice(STREETS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}幢"
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
        buyer = f"tb{rng.randint(10**6, 10**9)}"
        status = rng.choices(list(STATUS_CODES), weights=[2, 3, 80, 10, 5])[0]
        tracking = f"SF{rng.randint(10**11, 10**12 - 1)}" if status in ("B02", "C03", "E05") else ""
        carrier = rng.choice(CARRIERS) if tracking else ""
        count = rng.choices([1, 2, 3, 4], weights=[10, 25, 34, 31])[0]
        skus = rng.sample(range(SKU_COUNT), count)
        lines = []
        for i in skus:
            sku = _alias(i) if i % 10 == 0 else _sku_code(i)
            if rng.random() < 0.002:
                sku = "UNKNOWN-" + str(rng.randint(1, 99))
                fault("unknown_sku")
            price = round(rng.uniform(9.9, 1299), 2)
            lines.append((sku, rng.randint(1, 5), price))
        paid = sum(q * p for _s, q, p in lines)
        for sku, quantity, price in lines:
            price_cell = f"¥{price:,.2f}" if rng.random() < 0.3 else price
            values = [no, buyer, name, phone, address, sku, quantity, price_cell, round(paid, 2), status, tracking,
                      carrier, when_cell]  # fmt: skip
            ws.append(values)
            written += 1
            if rng.random() < 0.002:
                ws.append(values)  # an exact repeat
                written += 1
                fault("duplicate_row")
            if written >= rows:
                break
    wb.save(path)
    return {"rows": written, "orders": orders, "faults": faults}


def master_ensure(channel_code: str) -> int:
    from orders.models import Channel, LegacyStatusMapping
    from warehouse.models import Sku, SkuAlias

    channel, _created = Channel.objects.get_or_create(
        code=channel_code, defaults={"name": "历史导入压测店", "kind": Channel.Kind.TAOBAO}
    )
    for i in range(SKU_COUNT):
        defaults = {"name": f"压测商品{i}", "category": "面膜"}
        sku, _created = Sku.objects.get_or_create(code=_sku_code(i), defaults=defaults)
        if i % 10 == 0 and not SkuAlias.objects.filter(sku=sku).exists():
            SkuAlias.objects.create(sku=sku, alias=_alias(i))
    for code, (status, label) in STATUS_CODES.items():
        LegacyStatusMapping.objects.update_or_create(code=code, defaults={"status": status, "label": label})
    return channel.pk


# --- the phases, each run in a subprocess of its own -------------------------------------------------------
def phase_calamine(path: Path) -> dict:
    from python_calamine import CalamineWorkbook

    start = time.perf_counter()
    workbook = CalamineWorkbook.from_path(str(path))
    rows = sum(1 for _row in workbook.get_sheet_by_name("订单导出").iter_rows())
    return {"seconds": time.perf_counter() - start, "rows": rows}


def phase_copy(path: Path) -> dict:
    from python_calamine import CalamineWorkbook

    rows = [
        ["" if cell is None else str(cell) for cell in row]
        for row in CalamineWorkbook.from_path(str(path)).get_sheet_by_name("订单导出").iter_rows()
    ][2:]
    with common.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS bench_import_copy")
        conn.execute("CREATE UNLOGGED TABLE bench_import_copy (" + ", ".join(f"c{i} text" for i in range(13)) + ")")
        start = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy("COPY bench_import_copy FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row[:13])
        seconds = time.perf_counter() - start
        conn.execute("DROP TABLE bench_import_copy")
    return {"seconds": seconds, "rows": len(rows)}


def phase_dryrun(path: Path, channel_id: int) -> dict:
    common.django_setup()
    from orders.models import Channel, ImportJob
    from orders.services.imports import import_dry_run, import_dry_run_start, import_upload

    data = path.read_bytes()
    start = time.perf_counter()
    job = import_upload(
        file_name=path.name, data=data, content_type="", channel=Channel.objects.get(pk=channel_id), actor=None
    )
    upload_s = time.perf_counter() - start
    import_dry_run_start(job=job, actor=None)
    import_dry_run(job_id=job.pk)
    seconds = time.perf_counter() - start
    job = ImportJob.objects.get(pk=job.pk)
    return {"seconds": seconds, "upload_seconds": upload_s, "job": job.pk, "state": job.state, "summary": job.summary,
            "header_row": job.header_row, "error": job.error}  # fmt: skip


def phase_commit(job_id: int) -> dict:
    common.django_setup()
    from orders.models import ImportJob
    from orders.services.imports import import_commit, import_commit_start

    job = ImportJob.objects.get(pk=job_id)
    start = time.perf_counter()
    import_commit_start(job=job, actor=None)
    import_commit(job_id=job.pk)
    seconds = time.perf_counter() - start
    job = ImportJob.objects.get(pk=job_id)
    return {"seconds": seconds, "state": job.state, "orders_created": job.orders_created, "error": job.error}


def _child(argv: list[str]) -> None:
    phase, *args = argv
    if phase == "calamine":
        result = phase_calamine(Path(args[0]))
    elif phase == "copy":
        result = phase_copy(Path(args[0]))
    elif phase == "dryrun":
        result = phase_dryrun(Path(args[0]), int(args[1]))
    else:
        result = phase_commit(int(args[0]))
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result, default=str), flush=True)


def run_phase(*args: str) -> dict:
    common.log(f"phase {args[0]} …")
    proc = subprocess.run(
        [str(common.PYTHON), __file__, "--child", *args],
        cwd=common.ROOT,
        env=common.bench_env(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    line = next((line for line in proc.stdout.splitlines() if line.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
        raise SystemExit(f"phase {args[0]} failed (exit {proc.returncode})")
    result = json.loads(line[len("RESULT ") :])
    common.log(f"phase {args[0]}: {result['seconds']:.1f} s, peak RSS {result['rss_mb']:.0f} MB")
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    parser = common.cli(__doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the workbook (default 100,000)")
    parser.add_argument("--file", help="an xlsx to reuse (else one is built in the temp folder)")
    args = parser.parse_args()
    common.database_ensure()
    common.django_setup()
    channel_id = master_ensure(f"bench-import-{int(time.time())}")  # a fresh channel: nothing of it in the hub yet
    common.django_close_connections()
    path = Path(args.file) if args.file else Path(tempfile.gettempdir()) / f"{common.DB_NAME}-{args.rows}.xlsx"
    if not args.file or not path.exists():
        start = time.perf_counter()
        built = workbook_build(path, args.rows)
        common.log(f"built {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - start:.0f} s: "
                   f"{built['rows']:,} rows, {built['orders']:,} orders, faults {built['faults']}")  # fmt: skip
    calamine = run_phase("calamine", str(path))
    copy = run_phase("copy", str(path))
    dry = run_phase("dryrun", str(path), str(channel_id))
    if dry["state"] != "checked":
        raise SystemExit(f"dry run did not finish: {dry['state']} {dry['error']}")
    commit = run_phase("commit", str(dry["job"]))
    summary = dry["summary"]
    peak = max(dry["rss_mb"], commit["rss_mb"])
    load_line = common.load_average()

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print()
    print(f"file                 {path.name}: {path.stat().st_size / 1e6:.1f} MB, {summary['rows']:,} rows, "
          f"{summary['orders']:,} orders, {summary['lines']:,} lines")  # fmt: skip
    print(f"dry run found        will create {summary['will_create']:,} orders ({summary['will_create_lines']:,} "
          f"lines), {summary['problem_count']:,} problems {summary['problems']}")  # fmt: skip
    print(f"calamine read        {calamine['seconds']:7.1f} s   peak RSS {calamine['rss_mb']:6.0f} MB")
    print(f"COPY into PostgreSQL {copy['seconds']:7.1f} s   peak RSS {copy['rss_mb']:6.0f} MB")
    print(f"upload (guards+store){dry['upload_seconds']:7.1f} s")
    print(f"dry run (with upload){dry['seconds']:7.1f} s   peak RSS {dry['rss_mb']:6.0f} MB   "
          f"= {dry['seconds'] / calamine['seconds']:.1f} × calamine   "
          f"target ≤ {TARGET_DRY_RUN_S} s → {verdict(dry['seconds'] <= TARGET_DRY_RUN_S)}")  # fmt: skip
    print(f"commit               {commit['seconds']:7.1f} s   peak RSS {commit['rss_mb']:6.0f} MB   "
          f"= {commit['seconds'] / copy['seconds']:.1f} × COPY   "
          f"target ≤ {TARGET_COMMIT_S} s → {verdict(commit['seconds'] <= TARGET_COMMIT_S)}")  # fmt: skip
    print(f"orders created       {commit['orders_created']:,} (dry run said {summary['will_create']:,}: "
          f"{'match' if commit['orders_created'] == summary['will_create'] else 'MISMATCH'})")  # fmt: skip
    print(f"peak RSS             {peak:.0f} MB   target ≤ {TARGET_RSS_MB} MB → {verdict(peak <= TARGET_RSS_MB)}")
    print(f"({load_line})")


if __name__ == "__main__":
    main()
