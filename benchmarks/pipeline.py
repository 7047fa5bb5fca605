"""The whole audit on N events against a bare DuckDB `GROUP BY ip` over the same Parquet, same run.

    python benchmarks/pipeline.py --scale 0.1            # simulate case2017 at that scale first
    python benchmarks/pipeline.py --data events.parquet  # or use a file you have

Prints events/s for both and the ratio (audit seconds / bare-scan seconds). The ratio is what to
compare across machines; the seconds are this machine's, this time.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq


def bare_scan(path: Path, repeats: int = 3) -> float:
    con = duckdb.connect()
    target = str(path).replace("'", "''")
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        con.execute(f"SELECT ip, count(*) FROM read_parquet('{target}') GROUP BY ip").fetchall()
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
    n = pq.ParquetFile(path).metadata.num_rows
    scan = bare_scan(path)
    took = audit(path, workdir / "out")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"events: {n:,}")
    print(f"bare DuckDB GROUP BY ip: {scan:.2f}s  ({n / scan:,.0f} events/s)")
    print(f"qinglang audit (ingest+detect+report): {took:.2f}s  ({n / took:,.0f} events/s)")
    print(f"ratio audit/bare scan: {took / scan:.1f}   peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
