"""The 2017 暗刷流量 case: a buyer paid for ~28M UV over 15 days (from 2017-09-01, Beijing time),
counted by a third-party stats platform, and claims 40% of it was fake. Organic visitors plus
six invalid schemes, mostly hidden injection.

Parameters (keyword arguments of `simulate`):

| name | default | meaning |
|---|---|---|
| invalid_share | 0.40 | share of all UV that is invalid |
| w_hidden, w_crawler, w_automation, w_datacenter, w_anomaly, w_forgery | 22, 2, 6, 3, 3, 4 | relative weights of the invalid schemes |
| organic_vpn_share | 0.015 | organic visitors on VPN / corporate proxies (cloud addresses) |
| organic_framed_share | 0.01 | organic visitors reading the page in a visible portal frame |
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qinglang.errors import ConfigError
from qinglang.reasons import Category

from . import automation, forgery, hidden, machine, organic
from .common import DAYS, WEEKDAY_FACTOR, scenario_params
from .runner import Population, Scenario

DEFAULTS: dict[str, float] = {
    "invalid_share": 0.40,
    "w_hidden": 22.0,
    "w_crawler": 2.0,
    "w_automation": 6.0,
    "w_datacenter": 3.0,
    "w_anomaly": 3.0,
    "w_forgery": 4.0,
    "organic_vpn_share": 0.015,
    "organic_framed_share": 0.01,
}


def _weekly(rng: np.random.Generator) -> np.ndarray:
    return WEEKDAY_FACTOR[np.arange(DAYS) % 7] * rng.uniform(0.97, 1.03, DAYS)


def _bought(rng: np.random.Generator) -> np.ndarray:
    """Delivered traffic: roughly even per day, with the seller's ups and downs."""
    return rng.uniform(0.9, 1.1, DAYS)


def _host_usage(rng: np.random.Generator) -> np.ndarray:
    return (0.5 + 0.5 * WEEKDAY_FACTOR[np.arange(DAYS) % 7]) * rng.uniform(0.95, 1.05, DAYS)


def scenario(**params: Any) -> Scenario:
    p = scenario_params("case2017", DEFAULTS, params)
    inv = p["invalid_share"]
    if not 0.0 <= inv <= 1.0:
        raise ConfigError(f"case2017: invalid_share must be within [0, 1], got {inv}")
    schemes = [
        ("hidden", Category.HIDDEN, hidden.generate, "w_hidden", _host_usage),
        ("crawler", Category.CRAWLER, machine.crawler, "w_crawler", _bought),
        ("automation", Category.AUTOMATION, automation.generate, "w_automation", _bought),
        ("datacenter", Category.DATACENTER, machine.datacenter, "w_datacenter", _bought),
        ("anomaly", Category.ANOMALY, machine.rotator, "w_anomaly", _bought),
        ("forgery", Category.FORGERY, forgery.generate, "w_forgery", _bought),
    ]
    total_w = sum(p[w] for *_, w, _ in schemes)
    pops = [Population("organic", "valid", organic.generate, 1.0 - inv, _weekly)]
    for name, cat, gen, w, daily in schemes:
        share = inv * p[w] / total_w if total_w > 0 else 0.0
        pops.append(Population(name, cat.value, gen, share, daily))
    shares = {f"{pop.name}_share": pop.share for pop in pops}
    return Scenario("case2017", tuple(pops), {**p, **shares})
