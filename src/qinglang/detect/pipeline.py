"""Run the registered detectors, in order, over the `events` table and combine their findings.

    DETECTORS = (forgery, subresources, probes, hidden, entry, datacenter, anomaly, behaviour,
                 spoofing, farm, lockstep, bulk, crawler, automation)

Each detector returns SQL selecting (rid, reason, score), rid being the engine's integer row id.
The pipeline unions them into `findings`, ORs each event's reasons together as bits (`verdicts`),
spells out the few distinct bit sets in Python (`reason_sets`, `reason_names`), and gives one
label per event in `labels`:

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
    behaviour,
    bulk,
    crawler,
    datacenter,
    entry,
    farm,
    forgery,
    hidden,
    lockstep,
    probes,
    spoofing,
    subresources,
)
from qinglang.detect.base import INVALID_AT, Context
from qinglang.engine import Engine
from qinglang.events import PRESENCE_NAMES, visitor_key_sql
from qinglang.features.visitors import materialize_visitor_links
from qinglang.reasons import CATEGORY_PRIORITY, REASONS

# Order only decides when each runs (categories rank by reasons.CATEGORY_PRIORITY): the user-agent
# detectors go last, so that their prefetched Python lookups overlap the others' SQL.
DETECTORS: tuple[ModuleType, ...] = (
    forgery,
    subresources,
    probes,
    hidden,
    entry,
    datacenter,
    anomaly,
    behaviour,
    spoofing,
    farm,
    lockstep,
    bulk,
    crawler,
    automation,
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


def present_columns(engine: Engine, known: dict[str, bool] | None = None) -> frozenset[str]:
    """Columns (and client keys) that hold at least one value; `known` answers are not asked."""
    known = known or {}
    ask = [n for n in PRESENCE_NAMES if n not in known]
    row: dict[str, object] = {}
    if ask:
        exprs = ", ".join(f'count({n}) AS "{n}"' for n in ask)
        row = engine.query(f"SELECT {exprs} FROM events").to_pylist()[0]
    return frozenset(n for n in PRESENCE_NAMES if known.get(n, row.get(n)))


# Each reason code is one bit, so combining findings per event is an integer OR, not a list.
REASON_BITS: dict[str, int] = {code: 1 << i for i, code in enumerate(sorted(REASONS))}
assert len(REASON_BITS) <= 63, "reason codes must fit the bits of a BIGINT"


def _reason_info_table() -> pa.Table:
    return pa.table({"reason": list(REASON_BITS), "bit": list(REASON_BITS.values())})


# Per event with findings: the highest score, every reason's bit, and the decisive reasons' bits.
VERDICTS_SQL = f"""
SELECT f.rid, max(f.score) AS score, bit_or(r.bit) AS bits,
       bit_or(CASE WHEN f.score >= {INVALID_AT} THEN r.bit ELSE 0 END) AS decisive
FROM findings f JOIN reason_info r ON f.reason = r.reason
GROUP BY f.rid
"""

# What the audit counts by (UV key, day, source, truth) travels with each label, so counting
# never joins millions of labels back to the events.
COUNTED_COLUMNS = ("event_id", "ts", "event", "source", "truth")

LABEL_ROWS_SQL = f"""
SELECT e.rid, {", ".join(f"e.{c}" for c in COUNTED_COLUMNS)},
       {visitor_key_sql("e", link="vl")} AS visitor,
       CASE WHEN v.score >= {INVALID_AT} THEN 'invalid' ELSE 'valid' END AS verdict,
       s.category, s.prio, coalesce(v.score, 0.0) AS score, coalesce(v.bits, 0) AS bits
FROM events e
LEFT JOIN visitor_links vl ON vl.rid = e.rid
LEFT JOIN verdicts v ON e.rid = v.rid
LEFT JOIN reason_sets s ON s.bits = v.bits AND s.decisive = v.decisive
"""

# One label per event, as the label contract has it (plus rid): reasons spelled out from the bits.
# Queries that need only verdicts and categories read the narrower `label_rows`.
LABELS_SQL = """
SELECT l.rid, l.event_id, l.verdict, l.category,
       coalesce(n.reasons, CAST([] AS VARCHAR[])) AS reasons, l.score
FROM label_rows l LEFT JOIN reason_names n ON n.bits = l.bits
"""


def _reason_sets(pairs: list[dict[str, int]]) -> tuple[pa.Table, pa.Table]:
    """For the (bits, decisive) pairs that occur: the category (and its place in
    CATEGORY_PRIORITY); for each bits: the reason list."""
    prio = {c: i for i, c in enumerate(CATEGORY_PRIORITY)}

    def codes(mask: int) -> list[str]:
        return sorted(code for code, bit in REASON_BITS.items() if mask & bit)

    prios = []
    for pair in pairs:
        decisive = [prio[REASONS[c].category] for c in codes(pair["decisive"])]
        prios.append(min(decisive) if decisive else None)
    sets = pa.table(
        {
            "bits": pa.array([p["bits"] for p in pairs], pa.int64()),
            "decisive": pa.array([p["decisive"] for p in pairs], pa.int64()),
            "category": pa.array(
                [CATEGORY_PRIORITY[p] if p is not None else None for p in prios], pa.string()
            ),
            "prio": pa.array(prios, pa.int32()),
        }
    )
    masks = sorted({p["bits"] for p in pairs})
    names = pa.table(
        {
            "bits": pa.array(masks, pa.int64()),
            "reasons": pa.array([codes(m) for m in masks], pa.list_(pa.string())),
        }
    )
    return sets, names


def run_pipeline(
    engine: Engine,
    settings: dict[str, object] | None = None,
    detectors: tuple[ModuleType, ...] = DETECTORS,
    on_step: Callable[[str], None] | None = None,
    known_present: dict[str, bool] | None = None,
    model: object | None = None,
) -> PipelineResult:
    """Detect over `events`; leaves `findings` (rid, reason, score) and `labels` in the engine.

    With a trained `model` (learn.model.Model), detect/model.py runs after the others."""
    started = time.perf_counter()
    result = PipelineResult(present=present_columns(engine, known_present))
    ctx = Context(engine=engine, present=result.present, settings=dict(settings or {}), model=model)
    if model is not None:
        from qinglang.detect import model as model_detector

        detectors = (*detectors, model_detector)
    materialize_visitor_links(ctx)  # the UV key and the sessions read it
    tables: list[str] = []
    for module in detectors:
        if hasattr(module, "prepare"):
            module.prepare(ctx)
    for module in detectors:
        if on_step:
            on_step(module.NAME)
        t0 = time.perf_counter()
        found = module.detect(ctx)
        if found.queries:
            union = " UNION ALL ".join(f"({q})" for q in found.queries)
            engine.materialize(
                f"findings_{module.NAME}",
                f"SELECT rid, reason, CAST(score AS DOUBLE) AS score FROM ({union})",
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
    if on_step:
        on_step("combine")
    union = " UNION ALL ".join(f"SELECT * FROM {t}" for t in tables) or (
        "SELECT CAST(NULL AS BIGINT) AS rid, CAST(NULL AS VARCHAR) AS reason, "
        "CAST(0.0 AS DOUBLE) AS score LIMIT 0"
    )
    engine.materialize("findings", union)
    engine.materialize("verdicts", VERDICTS_SQL)
    pairs = engine.query("SELECT DISTINCT bits, decisive FROM verdicts").to_pylist()
    sets, names = _reason_sets(pairs)
    engine.register("reason_sets", sets)
    engine.register("reason_names", names)
    engine.materialize("label_rows", LABEL_ROWS_SQL)
    engine.create_view("labels", LABELS_SQL)
    result.seconds = time.perf_counter() - started
    return result
