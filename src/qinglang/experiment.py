"""The FRAUDAR injection experiment: F-measure of the dense-block search as density and
camouflage vary (qinglang.simulate.injection makes the graphs).

F-measure is over the block's nodes, accounts and targets together (as in the paper): precision
is the share of the found block's nodes that were injected, recall the share of injected nodes
found. The greedy variant (FRAUDAR-style) and the relational one (D-Cube style, on DuckDB) each
report their densest block.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from qinglang.detect import dcube, greedy
from qinglang.simulate.injection import Injected, graph

DENSITIES = (0.05, 0.1, 0.15, 0.2)
CAMOUFLAGE = ("random", "biased")


def f_measure(rows: np.ndarray, cols: np.ndarray, g: Injected) -> float:
    pred = set(rows.tolist()) | {("c", int(c)) for c in cols}
    actual = set(g.fraud_rows.tolist()) | {("c", int(c)) for c in g.fraud_cols}
    tp = len(pred & actual)
    if not tp:
        return 0.0
    p, r = tp / len(pred), tp / len(actual)
    return 2 * p * r / (p + r)


def run_greedy(g: Injected) -> tuple[float, float]:
    t0 = time.perf_counter()
    b = greedy.densest(g.rows, g.cols, g.n_rows, g.n_cols)
    secs = time.perf_counter() - t0
    return (f_measure(b.rows, b.cols, g) if b else 0.0), secs


def run_relational(g: Injected) -> tuple[float, float]:
    from qinglang.engine import DuckDBEngine

    engine = DuckDBEngine()
    try:
        t0 = time.perf_counter()
        engine.register("inj", pa.table({"a": g.rows, "c": g.cols}))
        engine.materialize(
            "inj_w",
            "SELECT l.a, l.c, 1.0 / ln(d.n + 5.0) AS w FROM inj l "
            "JOIN (SELECT c, count(*) AS n FROM inj GROUP BY c) d ON l.c = d.c",
        )
        found = dcube.densest(engine, "inj_w", "inj_p")
        secs = time.perf_counter() - t0
        if found is None:
            return 0.0, secs
        rows = engine.query(f"SELECT DISTINCT a FROM {found.table}")["a"].to_numpy()
        cols = engine.query(f"SELECT DISTINCT c FROM {found.table}")["c"].to_numpy()
        return f_measure(rows, cols, g), secs
    finally:
        engine.close()


def injection(seeds: tuple[int, ...] = (1,), edges: int = 1_000_000,
              densities: tuple[float, ...] = DENSITIES,
              camouflages: tuple[str, ...] = CAMOUFLAGE, relational: bool = True,
              on_step: Callable[[str], None] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One row per (camouflage, density): mean F-measure and seconds over the seeds."""
    out = []
    for camo in camouflages:
        for d in densities:
            if on_step:
                on_step(f"{camo} camouflage, density {d:g}")
            fg, tg, fr, tr = [], [], [], []
            for seed in seeds:
                g = graph(seed, edges=edges, density=d, camouflage=camo)
                f, t = run_greedy(g)
                fg.append(f)
                tg.append(t)
                if relational:
                    f, t = run_relational(g)
                    fr.append(f)
                    tr.append(t)
            row: dict[str, Any] = {
                "camouflage": camo,
                "density": d,
                "edges": int(len(g.rows)),
                "greedy_f": round(float(np.mean(fg)), 4),
                "greedy_seconds": round(float(np.mean(tg)), 3),
            }
            if relational:
                row["relational_f"] = round(float(np.mean(fr)), 4)
                row["relational_seconds"] = round(float(np.mean(tr)), 3)
            out.append(row)
    return out
