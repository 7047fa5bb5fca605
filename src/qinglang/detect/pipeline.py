"""Run the registered detectors, in order, over the `events` table and combine their findings.

    DETECTORS = (crawler, forgery, automation, hidden, datacenter, anomaly)

Each detector returns SQL selecting (event_id, reason, score). The pipeline unions them into
`findings`, then writes one label per event into `labels`:

* verdict  - `invalid` when any finding scores >= 0.5 (a decisive reason), else `valid`;
* category - of the decisive reason whose category comes first in reasons.CATEGORY_PRIORITY;
* reasons  - every reason code found, decisive or supporting, sorted;
* score    - the highest score.

The same SQL runs on DuckDB and (transpiled) on Spark.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import pyarrow as pa

from qinglang.detect import (
    anomaly,
    automation,
    bulk,
    crawler,
    datacenter,
    farm,
    forgery,
    hidden,
    lockstep,
)
from qinglang.detect.base import INVALID_AT, Context
from qinglang.engine import Engine
from qinglang.events import CLIENT_KEYS, EVENT_COLUMNS
from qinglang.reasons import CATEGORY_PRIORITY, REASONS

DETECTORS: tuple[ModuleType, ...] = (
    crawler,
    forgery,
    automation,
    hidden,
    datacenter,
    anomaly,
    farm,
    lockstep,
    bulk,
)


@dataclass
class DetectorRun:
    name: str
    category: str
    checks_run: list[str]
    checks_skipped: list[dict[str, object]]
    queries: list[str]
    seconds: float


@dataclass
class PipelineResult:
    runs: list[DetectorRun] = field(default_factory=list)
    present: frozenset[str] = frozenset()
    seconds: float = 0.0


def present_columns(engine: Engine) -> frozenset[str]:
    """Columns (and client keys) that hold at least one value."""
    names = [c for c in EVENT_COLUMNS if c not in ("client", "truth")]
    exprs = [f"count({c}) AS {c}" for c in names] + ["count(client) AS client"]
    exprs += [f'count(client.{k}) AS "client.{k}"' for k in CLIENT_KEYS]
    row = engine.query(f"SELECT {', '.join(exprs)} FROM events").to_pylist()[0]
    return frozenset(k for k, v in row.items() if v)


def _reason_info_table() -> pa.Table:
    prio = {c: i for i, c in enumerate(CATEGORY_PRIORITY)}
    return pa.table(
        {
            "reason": [r.code for r in REASONS.values()],
            "prio": [prio[r.category] for r in REASONS.values()],
        }
    )


def _category_table() -> pa.Table:
    return pa.table({"prio": list(range(len(CATEGORY_PRIORITY))), "category": CATEGORY_PRIORITY})


LABELS_SQL = f"""
SELECT e.event_id,
       CASE WHEN a.score >= {INVALID_AT} THEN 'invalid' ELSE 'valid' END AS verdict,
       c.category,
       coalesce(a.reasons, CAST([] AS VARCHAR[])) AS reasons,
       coalesce(a.score, 0.0) AS score
FROM events e
LEFT JOIN (
    SELECT f.event_id, max(f.score) AS score, list_sort(list(DISTINCT f.reason)) AS reasons,
           min(CASE WHEN f.score >= {INVALID_AT} THEN r.prio END) AS prio
    FROM findings f JOIN reason_info r ON f.reason = r.reason
    GROUP BY f.event_id
) a ON e.event_id = a.event_id
LEFT JOIN categories c ON c.prio = a.prio
"""


def run_pipeline(
    engine: Engine,
    settings: dict[str, object] | None = None,
    detectors: tuple[ModuleType, ...] = DETECTORS,
    on_step: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Detect over `events`; leaves tables `findings` and `labels` in the engine."""
    started = time.perf_counter()
    result = PipelineResult(present=present_columns(engine))
    ctx = Context(engine=engine, present=result.present, settings=dict(settings or {}))
    tables: list[str] = []
    for module in detectors:
        if on_step:
            on_step(module.NAME)
        t0 = time.perf_counter()
        found = module.detect(ctx)
        if found.queries:
            union = " UNION ALL ".join(f"({q})" for q in found.queries)
            engine.materialize(
                f"findings_{module.NAME}",
                f"SELECT event_id, reason, CAST(score AS DOUBLE) AS score FROM ({union})",
            )
            tables.append(f"findings_{module.NAME}")
        result.runs.append(
            DetectorRun(
                name=module.NAME,
                category=module.CATEGORY,
                checks_run=found.checks_run,
                checks_skipped=[{"check": c, "missing": m} for c, m in found.checks_skipped],
                queries=found.queries,
                seconds=0.0,
            )
        )
        result.runs[-1].seconds = time.perf_counter() - t0
    engine.register("reason_info", _reason_info_table())
    engine.register("categories", _category_table())
    if on_step:
        on_step("combine")
    union = " UNION ALL ".join(f"SELECT * FROM {t}" for t in tables) or (
        "SELECT CAST(NULL AS VARCHAR) AS event_id, CAST(NULL AS VARCHAR) AS reason, "
        "CAST(0.0 AS DOUBLE) AS score LIMIT 0"
    )
    engine.materialize("findings", union)
    engine.materialize("labels", LABELS_SQL)
    result.seconds = time.perf_counter() - started
    return result
