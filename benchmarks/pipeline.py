"""The whole audit on N events against bare DuckDB scans of the same Parquet, in the same run.

    python benchmarks/pipeline.py --scale 0.1            # simulate case2017 at that scale first
    python benchmarks/pipeline.py --data events.parquet  # or use a file you have

Two baselines, best of three each:

* full scan - one DuckDB pass over every contract column in the file (`GROUP BY ip` with a
  `count` of each column): what reading the data once costs. The ratio the README reports;
* GROUP BY ip - the same over the `ip` column alone: the cheapest query there is.

* bare session split - the textbook sessionization of the same file in one DuckDB statement
  (each visitor's pauses by `lag`, a running sum for the session number, one GROUP BY for a
  session's size, span and median pause; the visitor keyed by a 64-bit hash of cookie, else IP +
  user agent): the least that "sessions for any input, split by an inactivity gap" can cost,
  before any of the features, the entry, the scoring. Parquet only.

A third baseline is the audit itself without the detectors that read sessions and subresources
(`BEHAVIOUR`), run in turn with the full audit (best of `--rounds` each), so their cost is a
ratio measured in the same run.

A fourth, with `--before REV`: the audit of an earlier commit of this repository (checked out
into a temporary git worktree), e.g. the one before the behaviour features were added
(``--before 9805c9c``: "the current audit" of the issue that asked for them). It and today's
audit then each run in a fresh interpreter, in turn, best of `--rounds`, timing `run_audit` alone.

Prints seconds, events/s, the ratios (audit seconds / baseline seconds) and the peak RSS. The
ratios are what to compare across machines; the seconds are this machine's, this time.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from qinglang.events import EVENT_COLUMNS


def best_of(sql: str, repeats: int = 3) -> float:
    """The best seconds of `sql` in a fresh DuckDB connection."""
    con = duckdb.connect()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        con.execute(sql).fetchall()
        best = min(best, time.perf_counter() - t0)
    con.close()
    return best


def bare_scan(path: Path, columns: list[str], repeats: int = 3) -> float:
    target = str(path).replace("'", "''")
    counts = "".join(f', count("{c}")' for c in columns)
    return best_of(
        f"SELECT ip, count(*){counts} FROM read_parquet('{target}') GROUP BY ip", repeats
    )


def bare_sessions(path: Path, gap_minutes: float = 30, repeats: int = 3) -> float:
    target = str(path).replace("'", "''")
    visitor = "hash(coalesce(visitor_id, ip || ' ' || user_agent))"
    sql = f"""
WITH paused AS (
  SELECT {visitor} AS visitor, ts,
         epoch_ms(ts) - epoch_ms(lag(ts) OVER (PARTITION BY {visitor} ORDER BY ts)) AS pause
  FROM read_parquet('{target}') WHERE coalesce(visitor_id, ip, user_agent) IS NOT NULL),
numbered AS (
  SELECT visitor, ts, pause,
         sum(CASE WHEN pause IS NULL OR pause > {int(gap_minutes * 60_000)} THEN 1 ELSE 0 END)
           OVER (PARTITION BY visitor ORDER BY ts ROWS UNBOUNDED PRECEDING) AS session
  FROM paused)
SELECT count(*) FROM (
  SELECT visitor, session, count(*) AS n, max(ts) - min(ts) AS span, median(pause) AS pause
  FROM numbered GROUP BY visitor, session)"""
    return best_of(sql, repeats)


BEHAVIOUR = ("subresources", "entry", "behaviour", "spoofing")


def text_scan(path: Path, repeats: int = 3) -> tuple[int, float]:
    """Lines of a text file and the best time to read them all once with DuckDB."""
    con = duckdb.connect()
    target = str(path).replace("'", "''")
    sql = (
        f"SELECT count(*), count(DISTINCT line) FROM read_csv('{target}', columns = "
        "{'line': 'VARCHAR'}, delim = '\x01', quote = '', escape = '', header = false)"
    )
    best, lines = float("inf"), 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        lines = con.execute(sql).fetchall()[0][0]
        best = min(best, time.perf_counter() - t0)
    con.close()
    return lines, best


def audit(path: Path, out: Path, fmt: str = "auto", without: tuple[str, ...] = ()) -> float:
    from qinglang.audit.run import AuditOptions, run_audit
    from qinglang.detect.pipeline import DETECTORS

    detectors = tuple(d for d in DETECTORS if d.NAME not in without)
    t0 = time.perf_counter()
    options = AuditOptions(fmt=fmt, tz="Asia/Shanghai", unit_price=1.1, detectors=detectors)
    run_audit([path], out, options)
    return time.perf_counter() - t0


# Times run_audit of whichever qinglang is first on PYTHONPATH; prints the seconds.
TIME_ONE_AUDIT = """
import sys, time
from pathlib import Path
from qinglang.audit.run import AuditOptions, run_audit
options = AuditOptions(fmt=sys.argv[3], tz="Asia/Shanghai", unit_price=1.1)
t0 = time.perf_counter()
run_audit([Path(sys.argv[1])], Path(sys.argv[2]), options)
print(time.perf_counter() - t0)
"""


def audit_in_fresh_interpreter(src: Path, path: Path, out: Path, fmt: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", TIME_ONE_AUDIT, str(path), str(out), fmt],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        sys.exit(f"the audit of {src} failed:\n{done.stderr[-4000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def audit_before(rev: str, path: Path, workdir: Path, fmt: str, rounds: int) -> tuple[float, float]:
    """(best seconds of the audit at `rev`, best seconds of today's), in turn, fresh interpreters."""
    repo = Path(__file__).resolve().parents[1]
    tree = workdir / "before"
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", "-q", str(tree), rev], check=True
    )
    try:
        # both trees compiled before any timing, so neither round pays for it
        for src in (tree / "src", repo / "src"):
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)
        then, now = float("inf"), float("inf")
        for _ in range(rounds):
            then = min(then, audit_in_fresh_interpreter(tree / "src", path, workdir / "o1", fmt))
            now = min(now, audit_in_fresh_interpreter(repo / "src", path, workdir / "o2", fmt))
        return then, now
    finally:
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], check=False
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="events Parquet (default: simulate case2017)")
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="full and reduced audits, in turn")
    parser.add_argument("--format", default="auto", help="input format (e.g. nginx for a log)")
    parser.add_argument("--before", metavar="REV", help="also time the audit at this git commit")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="qinglang-bench-"))
    path = args.data
    if path is None:
        from qinglang.simulate import simulate

        path = workdir / f"case2017-{args.scale:g}.parquet"
        t0 = time.perf_counter()
        simulate("case2017", args.scale, args.seed, path)
        print(f"simulated scale {args.scale:g} in {time.perf_counter() - t0:.1f}s")
    if args.format == "auto":
        pf = pq.ParquetFile(path)
        n = pf.metadata.num_rows
        columns = [c for c in pf.schema_arrow.names if c in EVENT_COLUMNS]
        full = bare_scan(path, columns)
        by_ip = bare_scan(path, [])
        split = bare_sessions(path)
    else:  # a log: the bare scans read it once as text (DuckDB's CSV reader, one column)
        n, full = text_scan(path)
        by_ip = full
        split = None
    took, reduced = float("inf"), float("inf")
    for _ in range(args.rounds):
        reduced = min(reduced, audit(path, workdir / "out", args.format, without=BEHAVIOUR))
        took = min(took, audit(path, workdir / "out", args.format))
    before = (
        audit_before(args.before, path, workdir, args.format, args.rounds) if args.before else None
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"events: {n:,}")
    print(f"audit without the behaviour detectors: {reduced:.2f}s")
    print(f"full scan (every column, GROUP BY ip): {full:.2f}s  ({n / full:,.0f} events/s)")
    print(f"bare GROUP BY ip (one column): {by_ip:.2f}s  ({n / by_ip:,.0f} events/s)")
    if split is not None:
        print(f"bare session split (lag, running sum, GROUP BY): {split:.2f}s")
    print(f"qinglang audit (ingest+detect+report): {took:.2f}s  ({n / took:,.0f} events/s)")
    print(f"ratio audit/full scan: {took / full:.1f}")
    print(f"ratio audit/GROUP BY ip: {took / by_ip:.1f}")
    print(f"ratio audit/audit without the behaviour detectors: {took / reduced:.2f}")
    if before is not None:
        then, now = before
        print(
            f"audit at {args.before} (fresh interpreter): {then:.2f}s; today's, the same way: {now:.2f}s"
        )
        print(f"ratio audit/audit at {args.before}: {now / then:.2f}")
        if split is not None:
            print(f"ratio bare session split/audit at {args.before}: {split / then:.2f}")
    print(f"peak RSS {peak:,.0f} MiB (this process)")


if __name__ == "__main__":
    main()
