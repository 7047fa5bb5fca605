"""Run a scenario day by day and write one Parquet file (a row group per day, zstd)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qinglang.events import EVENT_SCHEMA

from .common import DAYS, UV_PER_SCALE, base36_strings, rng_for, split_counts
from .context import DayContext
from .people import Carriers

Generator = Callable[[DayContext, int], pa.Table]


@dataclass(frozen=True)
class Population:
    """One scheme in a scenario: its truth label, generator and share of all UV."""

    name: str
    truth: str
    generate: Generator
    share: float
    daily: Callable[[np.random.Generator], np.ndarray]  # relative volume per day


@dataclass(frozen=True)
class Scenario:
    name: str
    populations: tuple[Population, ...]
    params: dict[str, Any]


@dataclass
class SimSummary:
    scenario: str
    seed: int
    scale: float
    path: Path
    rows: int = 0
    uv_total: int = 0
    events: dict[str, int] = field(default_factory=dict)  # per truth category
    visitor_days: dict[str, int] = field(default_factory=dict)  # per truth category
    populations: dict[str, int] = field(default_factory=dict)  # UV asked of each population

    @property
    def invalid_uv_share(self) -> float:
        bad = sum(v for k, v in self.visitor_days.items() if k != "valid")
        return bad / self.uv_total if self.uv_total else 0.0


def uv_keys(table: pa.Table) -> pa.ChunkedArray:
    """The UV key: the visitor cookie; without one (crawlers, bare pixel hits), ip + user agent."""
    fallback = pc.binary_join_element_wise(
        pc.fill_null(table["ip"], ""), pc.fill_null(table["user_agent"], ""), "|"
    )
    return pc.coalesce(table["visitor_id"], fallback)


def run(scenario: Scenario, scale: float, seed: int, out: Path,
        on_progress: Callable[[int, int], None] | None = None) -> SimSummary:  # fmt: skip
    total_uv = int(round(UV_PER_SCALE * scale))
    shares = np.array([p.share for p in scenario.populations])
    per_pop = split_counts(total_uv, shares)
    per_day = {}
    for k, pop in enumerate(scenario.populations):
        w = pop.daily(rng_for(seed, "daily." + pop.name))
        per_day[pop.name] = split_counts(int(per_pop[k]), w)
    daily_uv = total_uv / DAYS
    carriers = Carriers.for_run(seed, daily_uv)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = SimSummary(scenario.name, seed, scale, out,
                         populations={p.name: int(c) for p, c in zip(scenario.populations, per_pop, strict=True)})  # fmt: skip
    next_id = 0
    with pq.ParquetWriter(out, EVENT_SCHEMA, compression="zstd") as writer:
        for day in range(DAYS):
            ctx = DayContext(seed, day, scale, daily_uv, carriers, scenario.params)
            parts = [
                pop.generate(ctx, int(per_day[pop.name][day]))
                for pop in scenario.populations
                if per_day[pop.name][day] > 0
            ]
            table = pa.concat_tables(parts) if parts else EVENT_SCHEMA.empty_table()
            del parts
            table = _order(table, rng_for(seed, "order", day))
            ids = base36_strings(np.arange(next_id, next_id + table.num_rows), f"s{seed}-", 7)
            table = table.set_column(0, "event_id", ids)
            next_id += table.num_rows
            writer.write_table(table, row_group_size=max(1, table.num_rows))
            _tally(summary, table)
            del table, ids
            pa.default_memory_pool().release_unused()
            if on_progress is not None:
                on_progress(day + 1, DAYS)
    return summary


def _order(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    """Sort by time; ties in random order, so row order says nothing about the scheme."""
    ts = table["ts"].cast(pa.int64()).to_numpy()
    order = np.lexsort((rng.random(len(ts)), ts))
    return table.take(pa.array(order))


def _tally(summary: SimSummary, table: pa.Table) -> None:
    summary.rows += table.num_rows
    keyed = pa.table({"truth": table["truth"], "key": uv_keys(table)})
    agg = keyed.group_by("truth").aggregate([("key", "count"), ("key", "count_distinct")])
    for truth, events, uv in zip(agg["truth"].to_pylist(), agg["key_count"].to_pylist(),
                                 agg["key_count_distinct"].to_pylist(), strict=True):  # fmt: skip
        summary.events[truth] = summary.events.get(truth, 0) + events
        summary.visitor_days[truth] = summary.visitor_days.get(truth, 0) + uv
        summary.uv_total += uv
