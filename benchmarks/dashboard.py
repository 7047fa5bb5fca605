"""The dashboard's pages on a site with N stored events, against the same figures computed
without rollups and a bare scan of the lake, in the same run.

    python benchmarks/dashboard.py                # 10M events, 30 day files, 50 requests a page
    python benchmarks/dashboard.py --events 1e6 --requests 20

The lake is made synthetically with DuckDB (fast): one site, 30 compacted day files of
contract-typed Parquet, plus one part of the last day (not compacted yet: the live tail,
read on every request), and a finished audit's labels.parquet (10% of the events invalid, in
three categories; an audit of 10M events is what benchmarks/pipeline.py times). Then each page
is requested `--requests` times in process (Starlette's TestClient, signed in), after one
request that builds the rollups (timed apart).

Baselines, measured here:
* bare count: `SELECT count(*)` over the lake's files (best of 3);
* no rollups: the figures' own query (web/rollups.py) over every event joined with the labels,
  which is what a page would cost if it scanned events (best of 3).
Prints p50 and p95 of each page in ms and as ratios to the baselines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import duckdb

from qinglang.collect.sites import SiteRegistry, lake_dir
from qinglang.web.accounts import Accounts
from qinglang.web.audits import audits_root
from qinglang.web.rollups import _list, rollup_sql

DAYS = 30
PASSWORD = "benchmark password"
CATEGORIES = ("givt.crawler", "sivt.hidden", "sivt.automation")


def build_lake(db: Path, events: int) -> tuple[list[Path], Path]:
    SiteRegistry(db).add("shop", ["https://shop.example"])
    site_dir = lake_dir(db) / "site=shop"
    site_dir.mkdir(parents=True)
    per_day = events // DAYS
    con = duckdb.connect()
    files = []
    for d in range(DAYS):
        rows = per_day if d < DAYS - 1 else per_day - per_day // 20
        files.append(_day(con, site_dir / f"day=2026-11-{d + 1:02d}.parquet", d, 0, rows))
    tail = per_day // 20  # the last day's newest 5%: a part, not compacted yet
    files.append(_day(con, site_dir / "part-seg-bench-000001.parquet", DAYS - 1, per_day, tail))
    audit = audits_root(db) / "site=shop" / "20261201T000000Z-scheduled-bench"
    (audit / "inputs").mkdir(parents=True)
    for f in files:  # what an audit of the lake keeps: links of the files it read
        os.link(f, audit / "inputs" / f.name)
    labels = audit / "labels.parquet"
    con.execute(
        f"COPY (SELECT event_id, CASE WHEN h % 10 = 0 THEN 'invalid' ELSE 'valid' END AS verdict, "
        f"CASE WHEN h % 10 = 0 THEN ['{CATEGORIES[0]}', '{CATEGORIES[1]}', '{CATEGORIES[2]}']"
        f"[CAST(1 + (h // 10) % 3 AS BIGINT)] END AS category FROM (SELECT event_id, hash(event_id) AS h "
        f"FROM read_parquet({_list(files)}))) TO '{labels}' (FORMAT parquet)"
    )
    (audit / "audit.json").write_text('{"totals": {}, "categories": [], "reasons": []}')
    (audit / "web-status.json").write_text(
        '{"state": "done", "created": "2026-12-01T00:00:00Z", "options": {}}'
    )
    con.close()
    return files, labels


def _day(con: duckdb.DuckDBPyConnection, path: Path, day: int, start: int, n: int) -> Path:
    con.execute(
        f"""COPY (SELECT 'e{day}-' || i AS event_id,
          TIMESTAMPTZ '2026-11-01 00:00:00+00' + INTERVAL (86400 * {day}) SECOND
            + INTERVAL (i * 86399 // {start + n + 1}) SECOND AS ts,
          'shop' AS site, CASE WHEN i % 10 = 9 THEN 'heartbeat' ELSE 'pageview' END AS event,
          'v' || (hash(i + {day} * 7919) % {max(n // 4, 1)}) AS visitor_id,
          '10.' || (i % 250) || '.' || (i % 200) || '.1' AS ip,
          'Mozilla/5.0 bench ' || (i % 40) AS user_agent,
          'https://shop.example/p' || (i % 500) AS url,
          'https://ref' || (i % 300) || '.example/' AS referrer,
          CASE WHEN i % 3 = 0 THEN 'pub' || (i % 60) END AS source
        FROM range({start}, {start + n}) t(i)) TO '{path}' (FORMAT parquet)"""
    )
    return path


def best_of(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=float, default=10e6)
    ap.add_argument("--requests", type=int, default=50)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

    from qinglang.web.app import UiConfig, build_app

    with tempfile.TemporaryDirectory(prefix="qinglang-dash-") as tmp:
        db = Path(tmp) / "q.db"
        started = time.perf_counter()
        files, labels = build_lake(db, int(args.events))
        rows = duckdb.sql(f"SELECT count(*) FROM read_parquet({_list(files)})").fetchall()[0][0]
        print(f"lake: {rows:,} events in {len(files)} files, built in "
              f"{time.perf_counter() - started:.1f}s")  # fmt: skip
        acc = Accounts(db)
        acc.add_user("bench", PASSWORD)
        acc.grant("bench", "shop", "owner")

        def bare() -> None:
            duckdb.sql(f"SELECT count(*) FROM read_parquet({_list(files)})").fetchall()

        def no_rollups() -> None:
            con = duckdb.connect()
            con.execute(f"SELECT kind, count(*), sum(n) FROM ({rollup_sql(files, [labels], False)}) "
                        "GROUP BY kind").fetchall()  # fmt: skip
            con.close()

        base = {"bare count": best_of(bare), "no rollups": best_of(no_rollups)}
        for name, s in base.items():
            print(f"baseline {name}: {s * 1000:.1f} ms")

        app = build_app(UiConfig(db=db))
        client = TestClient(app, base_url="http://127.0.0.1")
        page = client.get("/login").text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        client.post("/login", data={"user": "bench", "password": PASSWORD, "csrf": csrf})
        started = time.perf_counter()
        first = client.get("/s/shop")
        assert first.status_code == 200, first.text[:300]
        print(f"first page (splits the labels, builds the rollups of {len(files) - 1} day files): "
              f"{time.perf_counter() - started:.2f}s")  # fmt: skip
        pages = {
            "sites": "/sites",
            "site, by day": "/s/shop",
            "site, by hour": "/s/shop?grain=hour",
            "API figures": "/api/v1/sites/shop/figures",
            "audits": "/s/shop/audits",
        }
        print(f"{'page':<16}{'p50 ms':>9}{'p95 ms':>9}{'p95/no rollups':>16}{'p95/bare count':>16}")
        worst = 0.0
        for name, path in pages.items():
            times = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                r = client.get(path)
                times.append(time.perf_counter() - t0)
                assert r.status_code == 200, (path, r.status_code)
            times.sort()
            p50 = statistics.median(times)
            p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
            worst = max(worst, p95)
            print(f"{name:<16}{p50 * 1000:>9.1f}{p95 * 1000:>9.1f}"
                  f"{p95 / base['no rollups']:>16.4f}{p95 / base['bare count']:>16.2f}")  # fmt: skip
        print(f"slowest p95: {worst * 1000:.1f} ms ({'under' if worst < 0.3 else 'OVER'} 300 ms)")
        app.state.runner.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
