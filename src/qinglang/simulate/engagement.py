"""Engagement scenarios: `hosting`, `crowd`, `farm` and `bulk`, each one scheme over the organic week.

    simulate("hosting", scale=0.01, seed=1, out=Path("hosting.parquet"))

Scale 1 matches the reports (300k rented accounts, 50k crowd workers, 400 device farms, 170k bulk
controllers driving 30M small accounts, over 2M organic accounts and 500k posts); the default 0.01
runs in seconds. One row group per day.

Parameters (keyword arguments of `simulate`; all scenarios accept all):

| name | default | meaning |
|---|---|---|
| hosting_accounts | 300000 | rented accounts of the hosting platform (scale 1) |
| hosting_groups | 3 | account groups the platform runs separately (one block each) |
| hosting_tasks | 300 | purchased posts in the week (any scale: a task employs a share of a group) |
| crowd_workers | 50000 | recruited workers (scale 1) |
| crowd_tasks | 120 | crowd tasks in the week (any scale) |
| task_min_share, task_max_share | 0.1, 0.4 | share of a group that one task employs |
| camouflage | 0.5 | camouflage actions on popular posts per bought action |
| farms | 400 | device farms (scale 1), 50-500 phones each |
| bulk_controllers | 170000 | controllers of the bulk app (scale 1) |
| bulk_accounts_per_controller | 176 | median small accounts per controller |
| bulk_tasks | 3000 | posts on the bulk app's task market (scale 1) |
| bulk_forged_share | 0.7 | requests with a forged (failing) client signature |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qinglang.errors import ConfigError
from qinglang.events import EVENT_SCHEMA

from . import engaged
from .common import DAY_MS, START_MS, base36_strings, rng_for, scenario_params
from .social import DAYS, World, organic_background

DEFAULTS: dict[str, float] = {
    "hosting_accounts": 300_000,
    "hosting_groups": 3,
    "hosting_tasks": 300,
    "crowd_workers": 50_000,
    "crowd_tasks": 120,
    "task_min_share": 0.1,
    "task_max_share": 0.4,
    "camouflage": 0.5,
    "farms": 400,
    "bulk_controllers": 170_000,
    "bulk_accounts_per_controller": 176,
    "bulk_tasks": 3_000,
    "bulk_forged_share": 0.7,
}
SCHEMES: dict[str, Callable[[World, np.random.Generator], pa.Table]] = {
    "hosting": engaged.hosting,
    "crowd": engaged.crowd,
    "farm": engaged.farm,
    "bulk": engaged.bulk,
}


@dataclass(frozen=True)
class EngagementScenario:
    name: str
    params: dict[str, float]

    def run(self, scale: float, seed: int, out: Path,
            on_progress: Callable[[int, int], None] | None = None) -> Any:  # fmt: skip
        from .runner import SimSummary

        world = World.make(seed, scale, self.params)
        organic, _ = organic_background(world)
        if on_progress:
            on_progress(1, 3)
        scheme = SCHEMES[self.name](world, rng_for(seed, "engagement." + self.name))
        table = pa.concat_tables([organic, scheme])
        del organic, scheme
        if on_progress:
            on_progress(2, 3)
        ts = table["ts"].cast(pa.int64()).to_numpy()
        order = np.lexsort((rng_for(seed, "order").random(len(ts)), ts))
        table = table.take(pa.array(order))
        table = table.set_column(0, "event_id", base36_strings(np.arange(len(ts)), f"g{seed}-", 7))
        summary = SimSummary(self.name, seed, scale, Path(out))
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        day = (np.sort(ts) - START_MS) // DAY_MS
        bounds = np.searchsorted(day, np.arange(1, DAYS + 8))
        with pq.ParquetWriter(out, EVENT_SCHEMA, compression="zstd") as writer:
            lo = 0
            for hi in [*bounds, len(ts)]:
                if hi > lo:
                    writer.write_table(table.slice(lo, hi - lo), row_group_size=hi - lo)
                lo = max(lo, hi)
        summary.rows = table.num_rows
        agg = table.group_by("truth").aggregate([("account_id", "count"),
                                                 ("account_id", "count_distinct")])  # fmt: skip
        for t, n, a in zip(agg["truth"].to_pylist(), agg["account_id_count"].to_pylist(),
                           agg["account_id_count_distinct"].to_pylist(), strict=True):  # fmt: skip
            summary.events[t] = n
            summary.visitor_days[t] = a
        summary.uv_total = len(pc.unique(table["account_id"]))  # accounts, for engagement
        if on_progress:
            on_progress(3, 3)
        return summary


def _factory(name: str) -> Callable[..., EngagementScenario]:
    def scenario(**params: Any) -> EngagementScenario:
        p = scenario_params(name, DEFAULTS, params)
        if not 0 < p["task_min_share"] <= p["task_max_share"] <= 1:
            raise ConfigError(f"{name}: need 0 < task_min_share <= task_max_share <= 1")
        return EngagementScenario(name, p)

    scenario.__doc__ = f"The `{name}` engagement scenario (see qinglang.simulate.engagement)."
    return scenario


SCENARIOS = {name: _factory(name) for name in SCHEMES}
