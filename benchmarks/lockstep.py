"""Lockstep dense-block search against a bare DuckDB GROUP BY over the same edges, same run.

    python benchmarks/lockstep.py                      # 10^5, 10^6, 10^7 actions (a few minutes)
    python benchmarks/lockstep.py --sizes 1e5 1e6      # quicker
    python benchmarks/lockstep.py --no-reference       # without the FRAUDAR authors' code

For each size N, a FRAUDAR-style injected graph of N actions (qinglang.simulate.injection) is
written to Parquet; then, each in its own process (so peak memory is its own):

* groupby    - the baseline: DuckDB ``SELECT target, count(*) ... GROUP BY target`` over the file;
* greedy     - load the edges from DuckDB, encode them (``greedy.codes``: the codes of ``np.unique``,
  in linear time for integer ids), FRAUDAR-style peeling (Numba), one block; its phases are timed too;
* relational - D-Cube-style batch peeling in DuckDB SQL, one block.

Printed as ratios to the baseline (seconds and peak memory), which is what compares across
machines. Then, on the ~1M-edge injected graph (200 x 200 block, density 0.05, camouflage as large
as the attack), the FRAUDAR authors' own code (PyPI ``rgmining-fraudar``; a benchmark-only extra:
``pip install -e ".[bench]"``) against the greedy variant: both F-measures and the speed ratio.
The curve goes to docs/lockstep-benchmark.png and the figures to docs/lockstep-benchmark.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DOCS = Path(__file__).resolve().parent.parent / "docs"


def make_graph(n: int, path: Path, density: float = 0.05) -> None:
    from qinglang.simulate.injection import graph

    g = graph(1, edges=n, n_rows=max(1000, n // 2), n_cols=max(500, n // 5), density=density)
    pq.write_table(pa.table({"account": g.rows, "target": g.cols}), path)
    np.savez(path.with_suffix(".truth.npz"), rows=g.fraud_rows, cols=g.fraud_cols,
             n_rows=g.n_rows, n_cols=g.n_cols)  # fmt: skip


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it is not inherited from the
    parent across exec, so each measuring process reports only its own)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(method: str, path: Path) -> dict:
    import duckdb

    from qinglang.detect import dcube, greedy
    from qinglang.engine import DuckDBEngine, sql_string

    src = sql_string(path)
    if method == "groupby":
        con = duckdb.connect()
        t0 = time.perf_counter()
        con.execute(f"SELECT target, count(*) FROM read_parquet({src}) GROUP BY target").fetchall()
        secs = time.perf_counter() - t0
        return {"seconds": secs, "peak_mb": peak_mb()}
    if method == "greedy":
        greedy.densest(np.array([0, 1]), np.array([0, 0]), 2, 1)  # compiled (cached) beforehand
        greedy.codes(np.array([0, 1]))  # a column of several chunks comes as a writable copy,
        ids = np.array([0, 1])
        ids.flags.writeable = False  # one chunk as Arrow's read-only array (compiled apart)
        greedy.codes(ids)
        con = duckdb.connect()
        t0 = time.perf_counter()
        t = con.sql(f"SELECT account, target FROM read_parquet({src})").to_arrow_table()
        t1 = time.perf_counter()
        accounts, rows = greedy.codes(t["account"].to_numpy())
        targets, cols = greedy.codes(t["target"].to_numpy())
        t2 = time.perf_counter()
        b = greedy.densest(rows, cols, len(accounts), len(targets))
        t3 = time.perf_counter()
        assert b is not None
        # for scale: one pass over the edges with one random access each (a row's weighted degree),
        # the least any peeling does; how it grows is what the memory hierarchy allows
        w = greedy.log_weights(np.bincount(cols, minlength=len(targets)))
        t4 = time.perf_counter()
        greedy._row_weights(rows, cols, w, len(accounts))
        random_pass = time.perf_counter() - t4
        return {
            "seconds": t3 - t0,
            "peak_mb": peak_mb(),
            "f": _f(accounts[b.rows], targets[b.cols], path),
            # where the time goes: DuckDB to Arrow, encoding the ids, weights + lists + peeling
            "phases": {"load": t1 - t0, "encode": t2 - t1, "peel": t3 - t2},
            "random_pass": random_pass,
        }
    if method == "relational":
        engine = DuckDBEngine()
        t0 = time.perf_counter()
        engine.materialize("e", f"SELECT account AS a, target AS c FROM read_parquet({src})")
        engine.materialize(
            "w", "SELECT e.a, e.c, 1.0 / ln(d.n + 5.0) AS w FROM e "
            "JOIN (SELECT c, count(*) AS n FROM e GROUP BY c) d ON e.c = d.c",
        )  # fmt: skip
        found = dcube.densest(engine, "w", "p")
        secs = time.perf_counter() - t0
        assert found is not None
        a = engine.query(f"SELECT DISTINCT a FROM {found.table}")["a"].to_numpy()
        c = engine.query(f"SELECT DISTINCT c FROM {found.table}")["c"].to_numpy()
        return {"seconds": secs, "peak_mb": peak_mb(), "f": _f(a, c, path)}
    if method == "fraudar":
        from fraudar import logWeightedAveDegree
        from scipy import sparse

        t = pq.read_table(path)
        r, c = t["account"].to_numpy(), t["target"].to_numpy()
        m = sparse.coo_matrix((np.ones(len(r)), (r, c))).tocsc()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
            (rows, cols), _score = logWeightedAveDegree(m)
        secs = time.perf_counter() - t0
        return {"seconds": secs, "peak_mb": peak_mb(),
                "f": _f(np.array(sorted(rows)), np.array(sorted(cols)), path)}  # fmt: skip
    raise SystemExit(f"unknown method {method}")


def _f(rows: np.ndarray, cols: np.ndarray, path: Path) -> float:
    truth = np.load(path.with_suffix(".truth.npz"))
    pred = {("r", int(x)) for x in rows} | {("c", int(x)) for x in cols}
    actual = {("r", int(x)) for x in truth["rows"]} | {("c", int(x)) for x in truth["cols"]}
    tp = len(pred & actual)
    if not tp:
        return 0.0
    p, rc = tp / len(pred), tp / len(actual)
    return round(2 * p * rc / (p + rc), 4)


def in_subprocess(method: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", method, "--data", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{method} on {path} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    n = [r["actions"] for r in rows]
    for key, label in (("groupby", "bare DuckDB GROUP BY"), ("greedy", "greedy (FRAUDAR-style, Numba)"),
                       ("relational", "relational (D-Cube-style, DuckDB SQL)")):  # fmt: skip
        ax.plot(n, [r[key]["seconds"] for r in rows], marker="o", label=label)
    ref = rows[0]["greedy"]["seconds"]
    ax.plot(
        n, [ref * x / n[0] for x in n], ls=":", color="grey", label="linear (from greedy at 10^5)"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("actions (edges)")
    ax.set_ylabel("seconds")
    ax.set_title("Lockstep dense-block search vs a bare GROUP BY")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=float, default=[1e5, 1e6, 1e7])
    parser.add_argument("--no-reference", action="store_true", help="skip rgmining-fraudar")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.data)))
        return
    work = Path(tempfile.mkdtemp(prefix="qinglang-lockstep-"))
    rows = []
    for size in args.sizes:
        n = int(size)
        path = work / f"edges-{n}.parquet"
        make_graph(n, path)
        row = {"actions": pq.read_metadata(path).num_rows}
        for method in ("groupby", "greedy", "relational"):
            row[method] = in_subprocess(method, path)
            print(f"  {row['actions']:>11,} actions  {method:<10} {row[method]['seconds']:8.2f} s "
                  f"{row[method]['peak_mb']:8.0f} MB", flush=True)  # fmt: skip
        rows.append(row)
    print("\nactions       greedy/groupby  relational/groupby  (time; peak memory)")
    for r in rows:
        g, gr, rel = r["groupby"], r["greedy"], r["relational"]
        print(f"{r['actions']:>11,}   {gr['seconds'] / g['seconds']:8.1f}x {gr['peak_mb'] / g['peak_mb']:5.1f}x"
              f"   {rel['seconds'] / g['seconds']:8.1f}x {rel['peak_mb'] / g['peak_mb']:5.1f}x")  # fmt: skip
    for r in rows:
        ph = r["greedy"]["phases"]
        print(f"{r['actions']:>11,}   greedy phases: load {ph['load']:.3f} s, encode {ph['encode']:.3f} s, "
              f"weights + lists + peeling {ph['peel']:.3f} s; one random pass over the edges "
              f"{r['greedy']['random_pass']:.4f} s")  # fmt: skip
    for r in rows:  # near-linear: the cost of one action should hardly grow with the count
        print(f"{r['actions']:>11,}   per action: greedy {r['greedy']['seconds'] / r['actions'] * 1e6:.3f} us, "
              f"groupby {r['groupby']['seconds'] / r['actions'] * 1e6:.3f} us, "
              f"one random pass {r['greedy']['random_pass'] / r['actions'] * 1e9:.1f} ns")  # fmt: skip
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        span = np.log(last["actions"] / first["actions"])
        print("log-log slope of time against actions (1 = linear): " + ", ".join(
            f"{m} {np.log(last[m]['seconds'] / first[m]['seconds']) / span:.2f}"
            for m in ("greedy", "relational", "groupby")
        ) + f", one random pass {np.log(last['greedy']['random_pass'] / first['greedy']['random_pass']) / span:.2f}")  # fmt: skip
    for a, b in zip(rows, rows[1:], strict=False):
        k = b["actions"] / a["actions"]
        print(f"growth x{k:.0f} in actions: greedy x{b['greedy']['seconds'] / a['greedy']['seconds']:.1f}, "
              f"relational x{b['relational']['seconds'] / a['relational']['seconds']:.1f}, "
              f"groupby x{b['groupby']['seconds'] / a['groupby']['seconds']:.1f}, "
              f"one random pass x{b['greedy']['random_pass'] / a['greedy']['random_pass']:.1f}")  # fmt: skip
    result: dict = {"sizes": rows}
    if not args.no_reference:
        try:
            import fraudar  # noqa: F401
        except ImportError:
            raise SystemExit(
                "the FRAUDAR reference needs rgmining-fraudar: pip install -e '.[bench]' "
                "(or run with --no-reference)"
            ) from None
        path = work / "edges-ref.parquet"
        make_graph(1_000_000, path, density=0.05)
        ref = in_subprocess("fraudar", path)
        ours = in_subprocess("greedy", path)
        result["reference"] = {"actions": pq.read_metadata(path).num_rows, "fraudar": ref,
                               "greedy": ours, "speedup": round(ref["seconds"] / ours["seconds"], 1)}  # fmt: skip
        print(f"\nFRAUDAR reference (rgmining-fraudar) on {result['reference']['actions']:,} edges, "
              f"200x200 block at density 0.05 + equal camouflage:")  # fmt: skip
        print(f"  rgmining-fraudar  F = {ref['f']:.3f}  {ref['seconds']:.2f} s")
        print(f"  qinglang greedy   F = {ours['f']:.3f}  {ours['seconds']:.2f} s  "
              f"({result['reference']['speedup']}x faster)")  # fmt: skip
    DOCS.mkdir(exist_ok=True)
    chart(rows, DOCS / "lockstep-benchmark.png")
    (DOCS / "lockstep-benchmark.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nchart: {DOCS / 'lockstep-benchmark.png'}")


if __name__ == "__main__":
    main()
