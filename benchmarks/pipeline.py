"""The whole audit on N events against bare DuckDB scans of the same Parquet, in the same run.

    python benchmarks/pipeline.py --scale 0.1            # simulate case2017 at that scale first
    python benchmarks/pipeline.py --data events.parquet  # or use a file you have

Two baselines, best of three each:

* full scan - one DuckDB pass over every contract column in the file (`GROUP BY ip` with a
  `count` of each column): what reading the data once costs. The ratio the README reports;
* GROUP BY ip - the same over the `ip` column alone: the cheapest query there is.

Prints seconds, events/s, both ratios (audit seconds / baseline seconds) and the peak RSS. The
ratios are what to compare across machines; the seconds are this machine's, this time.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from qinglang.events import EVENT_COLUMNS


def bare_scan(path: Path, columns: list[str], repeats: int = 3) -> float:
    con = duckdb.connect()
    target = str(path).replace("'", "''")
    counts = "".join(f', count("{c}")' for c in columns)
    sql = f"SELECT ip, count(*){counts} FROM read_parquet('{target}') GROUP BY ip"
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        con.execute(sql).fetchall()
        best = min(best, time.perf_counter() - t0)
    con.close()
    return best


def audit(path: Path, out: Path) -> float:
    from qinglang.audit.run import AuditOptions, run_audit

    t0 = time.perf_counter()
    run_audit([path], out, AuditOptions(tz="Asia/Shanghai", unit_price=1.1))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="events Parquet (default: simulate case2017)")
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="qinglang-bench-"))
    path = args.data
    if path is None:
        from qinglang.simulate import simulate

        path = workdir / f"case2017-{args.scale:g}.parquet"
        t0 = time.perf_counter()
        simulate("case2017", args.scale, args.seed, path)
        print(f"simulated scale {args.scale:g} in {time.perf_counter() - t0:.1f}s")
    pf = pq.ParquetFile(path)
    n = pf.metadata.num_rows
    columns = [c for c in pf.schema_arrow.names if c in EVENT_COLUMNS]
    full = bare_scan(path, columns)
    by_ip = bare_scan(path, [])
    took = audit(path, workdir / "out")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"events: {n:,}")
    print(f"full scan (every column, GROUP BY ip): {full:.2f}s  ({n / full:,.0f} events/s)")
    print(f"bare GROUP BY ip (one column): {by_ip:.2f}s  ({n / by_ip:,.0f} events/s)")
    print(f"qinglang audit (ingest+detect+report): {took:.2f}s  ({n / took:,.0f} events/s)")
    print(f"ratio audit/full scan: {took / full:.1f}")
    print(f"ratio audit/GROUP BY ip: {took / by_ip:.1f}")
    print(f"peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
