"""Traffic simulator with ground truth: one module per scheme, scenarios compose them.

    simulate("case2017", scale=0.01, seed=1, out=Path("events.parquet"))

writes one Parquet file of `events.EVENT_SCHEMA` (a row group per day; `truth` filled) and returns
a :class:`SimSummary`. Scale 1 ≈ 28M UV over 15 days. UV = distinct `visitor_id` per Beijing day,
summed over days; rows without a cookie (crawlers, bare pixel hits) count by ip + user agent.

The engagement scenarios `hosting`, `crowd`, `farm` and `bulk` (qinglang.simulate.engagement) write
a week of platform actions instead, over an organic background (qinglang.simulate.social), with
their own runner; their summary counts accounts where case2017 counts UV.

The simulator never shares code with the detectors (qinglang.detect): it models the schemes as
they exist, and the detectors must find them from the signals alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qinglang.errors import ConfigError

from . import case2017, engagement
from .runner import Population, Scenario, SimSummary, run, uv_keys

SCENARIOS: dict[str, Callable[..., Any]] = {
    "case2017": case2017.scenario,
    **engagement.SCENARIOS,  # hosting, crowd, farm, bulk: their own runner (accounts, not UV)
}


def simulate(scenario: str, scale: float, seed: int, out: Path,
             on_progress: Callable[[int, int], None] | None = None,
             **params: Any) -> SimSummary:  # fmt: skip
    if scenario not in SCENARIOS:
        raise ConfigError(f"unknown scenario {scenario!r}; known: {', '.join(sorted(SCENARIOS))}")
    if not (scale > 0 and math.isfinite(scale)):
        raise ConfigError(f"--scale {scale}: expected a number above 0 (1.0 = the full case)")
    built = SCENARIOS[scenario](**params)
    if isinstance(built, Scenario):
        return run(built, scale, seed, Path(out), on_progress)
    return built.run(scale, seed, Path(out), on_progress)  # type: ignore[no-any-return]


__all__ = ["SCENARIOS", "Population", "Scenario", "SimSummary", "simulate", "uv_keys"]
