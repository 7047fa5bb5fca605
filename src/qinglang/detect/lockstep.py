"""sivt.lockstep: groups of accounts acting on the same targets in the same time windows.

The graph: accounts x cells, a cell being one target in one time window
(``lockstep_window_minutes``); an edge when the account acted on the target in that window.
Column weights ``1 / log(degree + 5)`` discount popular cells (FRAUDAR), so camouflage on popular
posts does not hide a group and people who all read the same viral post are no group. Dense
blocks are found either

* greedily on one machine (default): FRAUDAR-style peeling with a priority structure in Numba,
  O(E log V) per block (qinglang.detect.greedy), or
* relationally (``lockstep_relational = 1``): D-Cube-style batch peeling, a few GROUP BYs per round,
  unchanged on DuckDB and Spark (qinglang.detect.dcube).

Several blocks are found: after each, its edges are removed and the search repeats. A block counts
when its weighted density (edges per node) is at least ``lockstep_min_lift`` times that of the
graph without the blocks already accepted, and its members share its cells: at least
``lockstep_min_density`` of all (account, cell) pairs of the block are edges. People who follow
what is popular form a "core" of popular posts too, but a thin one: each acts on a few of its
thousands of cells. Its members are the accounts that acted on at least ``lockstep_min_targets`` of its
targets within its windows (this also takes in the group's less eager members); the block must
keep ``lockstep_min_accounts`` members. Their actions in the block's cells are flagged, and the
evidence (members, targets, windows, density) goes to table ``lockstep_blocks``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from qinglang.detect import dcube, greedy
from qinglang.detect.base import Check, Context, Findings, window_sql

NAME = "lockstep"
CATEGORY = "sivt.lockstep"
CHECKS = (Check("lockstep.block", ("account_id", "target", "ts")),)

ACTIONS = "event = 'action' AND account_id IS NOT NULL AND target IS NOT NULL AND ts IS NOT NULL"


def bucket_sql(ctx: Context, alias: str = "") -> str:
    window_ms = int(ctx.setting("lockstep_window_minutes") * 60_000)
    return window_sql(window_ms, alias=alias)


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    if "lockstep.block" not in run:
        return findings
    ctx.engine.materialize(
        "lockstep_edges",
        f"SELECT account_id, target, {bucket_sql(ctx)} AS bucket, count(*) AS n "
        f"FROM events WHERE {ACTIONS} GROUP BY 1, 2, 3",
    )
    if ctx.setting("lockstep_relational") >= 0.5:
        cells, rows = _relational(ctx)
    else:
        cells, rows = _greedy(ctx)
    ctx.engine.register("lockstep_cells", cells)
    ctx.engine.register("lockstep_rows", rows)
    _members_and_evidence(ctx)
    findings.queries.append(
        f"SELECT DISTINCT e.rid, 'lockstep.block' AS reason, 0.9 AS score FROM events e "
        f"JOIN lockstep_hits h ON e.account_id = h.account_id AND e.target = h.target "
        f"AND {bucket_sql(ctx, 'e.')} = h.bucket WHERE e.event = 'action'"
    )
    return findings


def _empty_cells() -> pa.Table:
    return pa.table(
        {
            "block": pa.array([], pa.int64()),
            "target": pa.array([], pa.string()),
            "bucket": pa.array([], pa.int64()),
            "score": pa.array([], pa.float64()),
        }
    )


def _rows_table(blocks: list[int], accounts: list[str]) -> pa.Table:
    return pa.table(
        {"block": pa.array(blocks, pa.int64()), "account_id": pa.array(accounts, pa.string())}
    )


def _greedy(ctx: Context) -> tuple[pa.Table, pa.Table]:
    t = ctx.engine.query("SELECT account_id, target, bucket FROM lockstep_edges")
    if t.num_rows == 0:
        return _empty_cells(), _rows_table([], [])
    accounts, rows = greedy.codes(t["account_id"])
    targets, target_code = greedy.codes(t["target"])
    tgt = targets[target_code]
    bkt = t["bucket"].to_numpy()
    span = int(bkt.max()) - int(bkt.min()) + 1
    cells, cols = greedy.codes(target_code * span + (bkt - bkt.min()))  # = np.unique, linear
    first_cell = np.zeros(len(cells), dtype=np.int64)
    first_cell[cols] = np.arange(len(cols))
    w = greedy.log_weights(np.bincount(cols))
    found = greedy.blocks(
        rows, cols, len(accounts), len(cells), int(ctx.setting("lockstep_max_blocks"))
    )
    out: dict[str, list] = {"block": [], "target": [], "bucket": [], "score": []}
    rb: list[int] = []
    ra: list[str] = []
    # the background: the graph without the blocks already accepted (their mass is no baseline)
    bg_rows = np.ones(len(accounts), dtype=bool)
    bg_cols = np.ones(len(cells), dtype=bool)
    g_all = float(w[cols].sum() / (len(accounts) + len(cells)))
    min_accounts = ctx.setting("lockstep_min_accounts")
    for k, b in enumerate(found):
        if len(b.rows) < min_accounts:  # a part too small to be a group: no need to judge it
            continue
        if not _significant(ctx, b.score, g_all, b.edges, len(b.rows) * len(b.cols)):
            continue
        bg_rows[b.rows] = False
        bg_cols[b.cols] = False
        keep = bg_rows[rows] & bg_cols[cols]
        nodes = int(bg_rows.sum() + bg_cols.sum())
        lift_base = g_all
        g_all = float(w[cols[keep]].sum() / nodes) if nodes else 0.0
        rb += [k + 1] * len(b.rows)
        ra += accounts[b.rows].tolist()
        idx = first_cell[b.cols]
        out["block"] += [k + 1] * len(idx)
        out["target"] += tgt[idx].tolist()
        out["bucket"] += bkt[idx].tolist()
        out["score"] += [b.score / lift_base] * len(idx)
    return _cells_table(out), _rows_table(rb, ra)


def _cells_table(out: dict[str, list]) -> pa.Table:
    if not out["block"]:
        return _empty_cells()
    return pa.table(
        {
            "block": pa.array(out["block"], pa.int64()),
            "target": pa.array(out["target"], pa.string()),
            "bucket": pa.array(out["bucket"], pa.int64()),
            "score": pa.array(out["score"], pa.float64()),
        }
    )


def _relational(ctx: Context) -> tuple[pa.Table, pa.Table]:
    e = ctx.engine
    e.materialize(
        "lockstep_ac",
        "SELECT account_id AS a, target || '|' || CAST(bucket AS VARCHAR) AS c, target, bucket "
        "FROM lockstep_edges",
    )
    live = "lockstep_ac"
    accepted: list[str] = []
    out: dict[str, list] = {"block": [], "target": [], "bucket": [], "score": []}
    rb: list[int] = []
    ra: list[str] = []
    for k in range(1, int(ctx.setting("lockstep_max_blocks")) + 1):
        e.materialize(
            f"lockstep_w{k}",
            f"SELECT l.a, l.c, 1.0 / ln(d.n + 5.0) AS w FROM {live} l "
            f"JOIN (SELECT c, count(*) AS n FROM {live} GROUP BY c) d ON l.c = d.c",
        )
        found = dcube.densest(e, f"lockstep_w{k}", f"lockstep_p{k}")
        if found is None:
            break
        g_all = _background(e, accepted)
        n_edges = int(e.query(f"SELECT count(*) AS n FROM {found.table}").to_pylist()[0]["n"])
        if _significant(ctx, found.score, g_all, n_edges, found.accounts * found.cells):
            accepted.append(found.table)
            cells = e.query(
                f"SELECT DISTINCT x.target, x.bucket FROM lockstep_ac x "
                f"JOIN (SELECT DISTINCT c FROM {found.table}) b ON x.c = b.c ORDER BY 1, 2"
            )
            out["block"] += [k] * cells.num_rows
            out["target"] += cells["target"].to_pylist()
            out["bucket"] += cells["bucket"].to_pylist()
            out["score"] += [found.score / g_all] * cells.num_rows
            members = e.query(f"SELECT DISTINCT a FROM {found.table} ORDER BY 1")["a"].to_pylist()
            rb += [k] * len(members)
            ra += members
        e.materialize(
            f"lockstep_live{k}",
            f"SELECT l.* FROM {live} l LEFT JOIN (SELECT DISTINCT a FROM {found.table}) ba "
            f"ON l.a = ba.a LEFT JOIN (SELECT DISTINCT c FROM {found.table}) bc ON l.c = bc.c "
            f"WHERE ba.a IS NULL OR bc.c IS NULL",
        )
        live = f"lockstep_live{k}"
    return _cells_table(out), _rows_table(rb, ra)


def _significant(ctx: Context, score: float, background: float, edges: int, area: int) -> bool:
    """Dense against the rest of the graph, and a real group: members share many of its cells."""
    return (
        area > 0
        and score >= ctx.setting("lockstep_min_lift") * background
        and edges / area >= ctx.setting("lockstep_min_density")
    )


def _background(e, accepted: list[str]) -> float:  # type: ignore[no-untyped-def]
    """Weighted density of the whole graph without the blocks already accepted."""
    if not accepted:
        m, na, nc = dcube._stats(e, "lockstep_w1")
        return m / (na + nc) if na + nc else 0.0
    rows = " UNION ".join(f"SELECT DISTINCT a FROM {t}" for t in accepted)
    cols = " UNION ".join(f"SELECT DISTINCT c FROM {t}" for t in accepted)
    r = e.query(
        f"SELECT coalesce(sum(CASE WHEN xa.a IS NULL AND xc.c IS NULL THEN l.w ELSE 0.0 END), 0.0) "
        f"AS m, count(DISTINCT CASE WHEN xa.a IS NULL THEN l.a END) AS na, "
        f"count(DISTINCT CASE WHEN xc.c IS NULL THEN l.c END) AS nc FROM lockstep_w1 l "
        f"LEFT JOIN ({rows}) xa ON l.a = xa.a LEFT JOIN ({cols}) xc ON l.c = xc.c"
    ).to_pylist()[0]
    nodes = int(r["na"]) + int(r["nc"])
    return float(r["m"]) / nodes if nodes else 0.0


def _members_and_evidence(ctx: Context) -> None:
    min_targets = int(ctx.setting("lockstep_min_targets"))
    min_accounts = int(ctx.setting("lockstep_min_accounts"))
    # a cell stays in its block when the block's accounts make up most of those acting in it
    # (so popular cells the group also used as camouflage do not pull people in)
    ctx.engine.materialize(
        "lockstep_owned",
        "SELECT c.block, c.target, c.bucket FROM lockstep_cells c JOIN lockstep_edges e "
        "ON e.target = c.target AND e.bucket = c.bucket LEFT JOIN lockstep_rows r "
        "ON r.block = c.block AND r.account_id = e.account_id GROUP BY 1, 2, 3 "
        "HAVING avg(CASE WHEN r.account_id IS NULL THEN 0.0 ELSE 1.0 END) >= 0.5",
    )
    # targets the block owns: its accounts make up most of all who ever acted on them
    ctx.engine.materialize(
        "lockstep_owned_targets",
        "SELECT c.block, e.target FROM (SELECT DISTINCT block, target FROM lockstep_owned) c "
        "JOIN lockstep_edges e ON e.target = c.target LEFT JOIN lockstep_rows r "
        "ON r.block = c.block AND r.account_id = e.account_id GROUP BY 1, 2 "
        "HAVING avg(CASE WHEN r.account_id IS NULL THEN 0.0 ELSE 1.0 END) >= 0.5",
    )
    # the block's own accounts count every owned cell; others (its less eager members) only the
    # cells of targets it owns, so a popular post the group used as cover pulls nobody in
    ctx.engine.materialize(
        "lockstep_touch",
        "SELECT c.block, e.account_id, e.target, e.bucket FROM lockstep_edges e "
        "JOIN lockstep_owned c ON e.target = c.target AND e.bucket = c.bucket "
        "LEFT JOIN lockstep_rows r ON r.block = c.block AND r.account_id = e.account_id "
        "LEFT JOIN lockstep_owned_targets o ON o.block = c.block AND o.target = e.target "
        "WHERE r.account_id IS NOT NULL OR o.target IS NOT NULL",
    )
    members = (
        f"SELECT block, account_id FROM lockstep_touch GROUP BY 1, 2 "
        f"HAVING count(DISTINCT target) >= {min_targets}"
    )
    big = f"SELECT block FROM ({members}) GROUP BY block HAVING count(*) >= {min_accounts}"
    ctx.engine.materialize(
        "lockstep_hits",
        f"SELECT DISTINCT t.block, t.account_id, t.target, t.bucket FROM ("
        # a member's actions in the block's cells, and on the targets the block owns at any
        # time (a crowd task's stragglers act hours after the rush)
        f"SELECT block, account_id, target, bucket FROM lockstep_touch UNION ALL "
        f"SELECT o.block, e.account_id, e.target, e.bucket FROM lockstep_edges e "
        f"JOIN lockstep_owned_targets o ON e.target = o.target) t "
        f"JOIN ({members}) m ON t.block = m.block AND t.account_id = m.account_id "
        f"JOIN ({big}) b ON t.block = b.block",
    )
    ctx.engine.materialize(
        "lockstep_blocks",
        f"SELECT h.block, count(DISTINCT h.account_id) AS accounts, "
        f"count(DISTINCT h.target) AS targets, count(*) AS actions, count(DISTINCT h.bucket) AS windows, "
        f"min(e.ts) AS first_ts, max(e.ts) AS last_ts, max(c.score) AS lift, "
        f"count(DISTINCT h.account_id || '|' || h.target || '|' || CAST(h.bucket AS VARCHAR)) "
        f"* 1.0 / (count(DISTINCT h.account_id) * "
        f"count(DISTINCT h.target || '|' || CAST(h.bucket AS VARCHAR))) AS density "
        f"FROM lockstep_hits h JOIN events e ON e.account_id = h.account_id "
        f"AND e.target = h.target AND {bucket_sql(ctx, 'e.')} = h.bucket AND e.event = 'action' "
        f"LEFT JOIN lockstep_cells c ON c.block = h.block AND c.target = h.target "
        f"AND c.bucket = h.bucket GROUP BY h.block",
    )
