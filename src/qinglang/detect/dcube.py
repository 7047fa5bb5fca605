"""Relational dense-block search (D-Cube / M-Zoom style batch peeling), a few GROUP BYs a round.

Over an edge table ``(a, c, w)`` (account, cell, weight) in the engine: each round removes every
slice of one mode (all accounts, or all cells) whose mass is at most the average slice mass of
that mode, alternating to the mode with more slices; the state with the highest mass per node is
the block. It is plain SQL, so it runs unchanged on DuckDB and (transpiled) on Spark; the rounds
are O(log V) because each removes at least the lighter-than-average slices.

Reference: Shin et al., "D-Cube: Dense-Block Detection in Terabyte-Scale Tensors", WSDM 2017.
"""

from __future__ import annotations

from dataclasses import dataclass

from qinglang.engine import Engine

TIE = 1 + 1e-9  # a slice exactly at the average is removed, whatever the float summation order


@dataclass(frozen=True)
class Found:
    table: str  # engine table holding the block's edges (a, c, w)
    score: float
    accounts: int
    cells: int


def _stats(engine: Engine, table: str) -> tuple[float, int, int]:
    r = engine.query(
        f"SELECT coalesce(sum(w), 0.0) AS m, count(DISTINCT a) AS na, count(DISTINCT c) AS nc "
        f"FROM {table}"
    ).to_pylist()[0]
    return float(r["m"]), int(r["na"]), int(r["nc"])


def densest(engine: Engine, edges: str, prefix: str) -> Found | None:
    """Peel `edges` (a table of a, c, w) in batches; the densest state is materialized."""
    mass, na, nc = _stats(engine, edges)
    if na == 0:
        return None
    best = Found(edges, mass / (na + nc), na, nc)
    cur, k = edges, 0
    while na and nc:
        mode = "a" if na >= nc else "c"
        avg = mass / (na if mode == "a" else nc)
        k += 1
        nxt = f"{prefix}_{k}"
        engine.materialize(
            nxt,
            f"SELECT e.a, e.c, e.w FROM {cur} e JOIN (SELECT {mode} FROM {cur} GROUP BY {mode} "
            f"HAVING sum(w) > {avg * TIE!r}) s ON e.{mode} = s.{mode}",
        )
        cur = nxt
        mass, na, nc = _stats(engine, cur)
        if na and nc and mass / (na + nc) > best.score * (1 + 1e-12):
            best = Found(cur, mass / (na + nc), na, nc)
    return best
