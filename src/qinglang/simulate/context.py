"""What a population generator gets for one day of one run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .common import DAY_MS, START_MS, rng_for
from .people import Carriers


@dataclass
class DayContext:
    seed: int
    day: int
    scale: float
    daily_uv: float  # mean UV per day of the whole run (all populations)
    carriers: Carriers
    params: dict[str, Any] = field(default_factory=dict)

    def rng(self, name: str, *keys: int) -> np.random.Generator:
        return rng_for(self.seed, name, self.day, *keys)

    @property
    def start_ms(self) -> int:
        return START_MS + self.day * DAY_MS
