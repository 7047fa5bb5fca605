"""Real people's devices, shared by every population that runs on real phones and PCs (organic
visitors, and the host-app users whose devices hidden injection borrows): the same profiles, the
same carrier networks, the same fingerprints. Attributes derive from a per-person hash, so a
returning person keeps their device, fingerprint and home line across days without stored state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .common import (
    cdf_of,
    concat_str,
    hex_strings,
    ipv4_strings,
    ipv6_strings,
    mix64,
    pick,
    str_pool,
    take,
    unit,
    where_str,
)
from .devices import CHROMIUM, DESKTOP, IOS, LANG_CDF, LANGS, TZ_ORGANIC_CDF, TZS, profiles
from .network import IPV6_PREFIXES, cgn_gateways, networks


@dataclass(frozen=True)
class Carriers:
    """Per-run network state: the mobile NAT gateways and the number of home lines."""

    gateways: np.ndarray
    gateway_cdf: np.ndarray
    households: int

    @classmethod
    def for_run(cls, seed: int, daily_uv: float) -> Carriers:
        # ~35 site visitors a day behind an average mobile gateway at full scale
        k = max(40, int(daily_uv * 0.5 / 35))
        ips, cdf = cgn_gateways(seed, k)
        return cls(ips, cdf, max(5_000, int(daily_uv * 1.6)))


def device_columns(ph: np.ndarray, prof: np.ndarray, day: int) -> dict:
    """What a person's browser reports, from person hash `ph` and profile row `prof`."""
    p = profiles()
    n = len(ph)
    os_ = p.os[prof]
    # desktop windows are not always maximized
    shrink = np.where(
        (os_ == DESKTOP) & (unit(mix64(ph, 11)) < 0.25), 0.6 + 0.35 * unit(mix64(ph, 12)), 1.0
    )
    vp_w = np.round(p.vp_w[prof] * shrink)
    vp_h = np.round(p.vp_h[prof] * np.where(shrink < 1, 0.7 + 0.3 * shrink, 1.0))
    # fingerprints: iPhones of one model and version look alike (few distinguishing bits)
    bits = np.where(os_ == IOS, ph % np.uint64(4096), ph)
    fp = mix64(bits ^ (prof.astype(np.uint64) << np.uint64(40)), 13)
    drift = unit(mix64(ph, 14 + day)) < 0.03  # a browser update or settings change that day
    fp = np.where(drift, mix64(ph, 1000 + day), fp)
    webdriver = np.where(unit(mix64(ph, 15)) < 0.02, np.nan, 0.0)  # old/odd browsers: undefined
    return {
        "user_agent": p.ua.take(pa.array(prof)),
        "device_id": hex_strings(fp),
        "platform": p.platform.take(pa.array(prof)),
        "ch_ua": p.ch_ua.take(pa.array(prof)),
        "screen_w": p.screen_w[prof].astype(np.float64),
        "screen_h": p.screen_h[prof].astype(np.float64),
        "viewport_w": vp_w,
        "viewport_h": vp_h,
        "webdriver": webdriver,
        "lang": take(LANGS, pick(LANG_CDF, unit(mix64(ph, 16)))),
        "tz": take(TZS, pick(TZ_ORGANIC_CDF, unit(mix64(ph, 17)))),
        "os": os_,
        "engine": p.engine[prof],
        "chromium": p.engine[prof] == CHROMIUM,
        "n": n,
    }


def residential_ips(rng: np.random.Generator, ph: np.ndarray, os_: np.ndarray, day: int,
                    carriers: Carriers) -> pa.Array:  # fmt: skip
    """Mobile data (behind a shared carrier NAT gateway), home Wi-Fi/broadband, or IPv6."""
    n = len(ph)
    net = networks()
    cellular = (os_ != DESKTOP) & (rng.random(n) < 0.55)
    home = mix64(ph, 21) % np.uint64(carriers.households)
    lease = np.where(unit(mix64(home, 22)) < 0.5, 1, 7).astype(np.uint64)
    epoch = np.uint64(day) // lease
    line = mix64(home * np.uint64(64) + epoch, 23)
    ip = net.broadband.at(unit(line), unit(mix64(line, 24)))
    gw = carriers.gateways[pick(carriers.gateway_cdf, rng.random(n))]
    ip = np.where(cellular, gw, ip)
    out = ipv4_strings(ip)
    v6 = (os_ != DESKTOP) & (unit(mix64(ph, 25)) < 0.04)
    if v6.any():
        k = np.flatnonzero(v6)
        pre = pick(cdf_of(np.ones(len(IPV6_PREFIXES))), unit(mix64(ph[k], 26)))
        addr = ipv6_strings("", mix64(ph[k], 27), mix64(ph[k], 28 + day))
        full = concat_str(take(str_pool(IPV6_PREFIXES), pre), addr)
        v6_all = take(full, np.maximum(np.cumsum(v6) - 1, 0))
        out = where_str(v6, v6_all, out)
    return out
