"""Reading an nginx access log: the block SQL against the per-line reader, in the same run.

    python benchmarks/nginx_reader.py --scale 0.01          # simulate case2017 as a log first
    python benchmarks/nginx_reader.py --log access.log [--log-format '...']

Baselines, best of `--rounds` each:

* per-line reader - every line through ``nginx.to_record`` and the contract's converter (what
  reading a log cost before the block SQL, and what it still costs for a format it does not read);
* line scan - DuckDB reading the file's lines once and counting them: what touching every byte
  costs.

Both readers must give the same table (checked here too). Prints seconds, lines/s and the ratios;
the ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qinglang.ingest import nginx, read_events


def read(path: Path, log_format: str | None, per_line: bool):
    original = nginx.block_parser_for
    if per_line:
        nginx.block_parser_for = lambda *a, **k: None
    try:
        t0 = time.perf_counter()
        table = read_events([path], fmt="nginx", log_format=log_format).to_reader().read_all()
        return time.perf_counter() - t0, table
    finally:
        nginx.block_parser_for = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, help="an access log (default: simulate case2017)")
    parser.add_argument("--log-format", help="its nginx log_format (default: combined)")
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qinglang-bench-") as tmp:
        log = args.log
        if log is None:
            log = Path(tmp) / "case.log"
            exe = Path(sys.executable).with_name("qinglang")
            subprocess.run(
                [str(exe), "simulate", "case2017", "--scale", str(args.scale),
                 "--out", str(Path(tmp) / "case.parquet"), "--access-log", str(log)],
                check=True, capture_output=True,
            )  # fmt: skip
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from pipeline import text_scan

        lines, scan = text_scan(log)
        block = per_line = float("inf")
        for _ in range(args.rounds):
            seconds, fast = read(log, args.log_format, per_line=False)
            block = min(block, seconds)
            seconds, slow = read(log, args.log_format, per_line=True)
            per_line = min(per_line, seconds)
        if not fast.equals(slow):
            sys.exit("the two readers gave different tables: a bug")
        print(f"lines: {lines:,}  rows: {fast.num_rows:,}")
        print(f"line scan (DuckDB, every line once): {scan:.2f}s")
        print(f"per-line reader: {per_line:.2f}s  ({lines / per_line:,.0f} lines/s)")
        print(f"block SQL reader: {block:.2f}s  ({lines / block:,.0f} lines/s)")
        print(f"ratio per-line/block: {per_line / block:.1f}")
        print(f"ratio block/line scan: {block / scan:.1f}")


if __name__ == "__main__":
    main()
