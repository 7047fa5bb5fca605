"""Protocol forgery (truth `sivt.forgery`): scripts that send the tracker's beacon (or just hit the
stats pixel) without running the tracker. Each operator captured a few real beacons once and
now sends them again and again: no token, a forged one (fails verification), the captured one
replayed, or an old captured one (expired). The client signals are either absent or copied
verbatim from a captured beacon, so identical values repeat across thousands of "visitors";
user agents come from a list, addresses from proxies or clouds, and every hit a new cookie.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .botkit import emit, fresh_ids, start_times
from .common import (
    SOURCES,
    cdf_of,
    hex_strings,
    ipv4_strings,
    mix64,
    null_str,
    pick,
    sample_pages,
    sample_sources,
    search_referrers,
    str_pool,
    take,
    where_str,
)
from .context import DayContext
from .devices import LANG_CDF, LANGS, TZS, profiles
from .machine import SCRAPER_CLOUDS
from .network import networks

TRUTH = "sivt.forgery"
MISSING, INVALID, REPLAYED, EXPIRED = range(4)
VARIANT_MIX = [0.30, 0.25, 0.25, 0.20]
TOKENS = str_pool(["missing", "invalid", "replayed", "expired"])
CAPTURED = 6  # beacons each operator captured


def generate(ctx: DayContext, n: int) -> pa.Table:
    rng = ctx.rng("forgery")
    # operators persist across days (their captures too): seed them per run, not per day
    ops = max(12, int(ctx.daily_uv * ctx.params.get("forgery_share", 0.04) / 4_000))
    orng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([ctx.seed, 4711, ops])))
    # every method is in use (by at least a few operators), in roughly VARIANT_MIX proportions
    variant_o = orng.permutation(pick(cdf_of(VARIANT_MIX), (np.arange(ops) + 0.5) / ops))
    cloud_o = orng.random(ops) < 0.35
    flat_o = orng.random(ops) < 0.5
    source_o = sample_sources(orng, ops * 2).reshape(ops, 2)
    pages_o = np.stack([sample_pages(orng, ops) for _ in range(3)], axis=1)
    beacons = _captured(orng, ops)
    op = pick(cdf_of(rng.lognormal(0, 0.6, ops)), rng.random(n))
    variant = variant_o[op]
    cap = op * CAPTURED + rng.integers(0, CAPTURED, n)
    copied = (variant != MISSING) & (rng.random(n) < 0.8)
    # beacon-less pixel hits carry no cookie half of the time
    has_cookie = (variant != MISSING) | (rng.random(n) < 0.5)
    p = profiles()
    ua_prof = p.sampler(p.app != "webview")(rng, n)
    own_ua = copied & (rng.random(n) < 0.4)
    ua = where_str(own_ua, p.ua.take(pa.array(beacons["prof"][cap])), p.ua.take(pa.array(ua_prof)))
    net = networks()
    proxy = net.proxies(rng, n, 0.3)
    ip = np.where(cloud_o[op], net.cloud_mix(rng, n, SCRAPER_CLOUDS), proxy)
    start = start_times(rng, flat_o[op])
    ref = where_str(rng.random(n) < 0.5, search_referrers(rng, n), null_str(n))
    visits = {
        "start": start,
        "page": pages_o[op, rng.integers(0, 3, n)],
        "visitor_id": fresh_ids(rng, n, has_cookie),
        "device_id": take(beacons["device_id"], cap, copied),
        "ip": ipv4_strings(ip),
        "user_agent": ua,
        "source": take(SOURCES, source_o[op, rng.integers(0, 2, n)]),
        "referrer": ref,
        "token": take(TOKENS, variant),
    }
    for k, v in beacons.items():
        if k in ("prof", "device_id"):
            continue
        visits[k] = v.take(pa.array(cap)) if isinstance(v, pa.Array) else v[cap]
    return emit(ctx, rng, visits, np.ones(n, dtype=np.int64), TRUTH, client_present=copied)


def _captured(rng: np.random.Generator, ops: int) -> dict:
    """CAPTURED real-looking beacons per operator (values then replayed verbatim)."""
    k = ops * CAPTURED
    p = profiles()
    prof = p.sampler()(rng, k)
    pidx = pa.array(prof)
    dwell = np.round(np.clip(rng.lognormal(np.log(25_000), 0.9, k), 2_000, 600_000))
    inter = np.where(rng.random(k) < 0.7, 1 + rng.geometric(0.2, k), 0).astype(np.float64)
    first = np.where(inter > 0, np.round(rng.uniform(400, 8_000, k)), np.nan)
    pv = mix64(np.arange(k, dtype=np.uint64), int(rng.integers(1, 1 << 30)))
    return {
        "prof": prof,
        "device_id": hex_strings(rng.integers(0, np.iinfo(np.uint64).max, k, dtype=np.uint64)),
        "framed": np.zeros(k),
        **p.screens(prof),
        "dwell_ms": dwell,
        "visible_ms": np.round(dwell * rng.uniform(0.8, 1.0, k)),
        "interactions": inter,
        "first_interaction_ms": first,
        "webdriver": np.zeros(k),
        "tz": take(TZS, np.zeros(k, dtype=np.int64)),
        "lang": take(LANGS, pick(LANG_CDF, rng.random(k))),
        "platform": p.platform.take(pidx),
        "ch_ua": p.ch_ua.take(pidx),
        "pv_id": hex_strings(pv, 12),
    }
