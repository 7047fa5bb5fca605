"""Organic visitors (truth `valid`): real people on real devices, with the traps a careless detector
falls into — bouncers, carrier NAT, VPN and corporate proxies on cloud addresses, portals that
frame the page visibly, look-alike iPhone fingerprints, lost cookies and expired tokens of tabs
left open for hours.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .common import (
    CONVERSION_URL,
    DAY_MS,
    ORGANIC_HOURLY,
    PAGES,
    SOURCES,
    assemble,
    cdf_of,
    expand,
    hex_strings,
    ipv4_strings,
    minute_cdf,
    mix64,
    nan_where,
    null_str,
    page_client,
    pick,
    sample_ms_of_day,
    sample_pages,
    sample_sources,
    search_referrers,
    social_referrers,
    str_pool,
    take,
    take_cols,
    where_str,
)
from .context import DayContext
from .devices import DESKTOP, GECKO, profiles
from .hidden import host_origins
from .network import VPN_CLOUDS, networks
from .people import device_columns, residential_ips

TRUTH = "valid"
_CDF = minute_cdf(ORGANIC_HOURLY)
PORTALS = str_pool(["https://cpu.baidu.com", "https://m.sohu.com", "https://feed.mix.sina.com.cn",
                    "https://www.360doc.com", "https://news.hao123.com"])  # fmt: skip
RETURNING_SHARE = 0.18


def people(ctx: DayContext, n: int) -> tuple[np.ndarray, int]:
    """Person ids for today's n visitors: some from a pool of regulars, the rest first-timers."""
    rng = ctx.rng("organic.people")
    mean_n = max(1.0, ctx.daily_uv * ctx.params.get("organic_share", 0.6))
    loyal = max(10, int(mean_n * RETURNING_SHARE * 3))
    n_ret = min(int(n * RETURNING_SHARE), loyal)
    ret = rng.choice(loyal, n_ret, replace=False).astype(np.uint64)
    new = (
        (np.uint64(1) << np.uint64(40))
        + np.uint64(ctx.day << 30)
        + np.arange(n - n_ret, dtype=np.uint64)
    )
    return np.concatenate([ret, new]), loyal


def generate(ctx: DayContext, n: int) -> pa.Table:
    rng = ctx.rng("organic")
    uid, loyal = people(ctx, n)
    ph = mix64(uid, ctx.seed * 7919 + 1)
    prof = pick(profiles().sampler().cdf, (ph >> np.uint64(11)).astype(np.float64) / float(1 << 53))
    dev = device_columns(ph, prof, ctx.day)
    # cookies: regulars keep theirs unless they clear them (private mode, in-app jars)
    lost = (uid < np.uint64(loyal)) & ((mix64(ph, 31) % np.uint64(100)) < np.uint64(15))
    cookie = np.where(lost, mix64(ph, 500 + ctx.day), mix64(ph, 32))
    ip = residential_ips(rng, ph, dev["os"], ctx.day, ctx.carriers)
    # VPN / corporate proxy users on cloud addresses (with real interaction)
    vpn = rng.random(n) < ctx.params.get("organic_vpn_share", 0.015)
    if vpn.any():
        cloud = ipv4_strings(networks().cloud_mix(rng, int(vpn.sum()), VPN_CLOUDS))
        ip = where_str(vpn, take(cloud, np.maximum(np.cumsum(vpn) - 1, 0)), ip)
    framed = rng.random(n) < ctx.params.get("organic_framed_share", 0.01)
    bouncer = rng.random(n) < 0.25
    pv = np.where(bouncer, 1, pick(cdf_of([0.78, 0.14, 0.05, 0.03]), rng.random(n)) + 1)
    convert = ~bouncer & (rng.random(n) < 0.04)
    click = ~bouncer & (rng.random(n) < 0.08)
    start = sample_ms_of_day(rng, _CDF, n)
    visits = {
        "visitor_id": hex_strings(cookie),
        "device_id": dev["device_id"],
        "ip": ip,
        "user_agent": dev["user_agent"],
        "source": take(SOURCES, sample_sources(rng, n), rng.random(n) < 0.7),
        "first_ref": _first_referrers(rng, n, framed, dev),
        "start": start,
        "bouncer": bouncer,
        "framed": framed,
        "desktop": dev["os"] == DESKTOP,
        "anc_ok": dev["engine"] != GECKO,
    }
    for k in ("platform", "ch_ua", "lang", "tz", "screen_w", "screen_h", "viewport_w",
              "viewport_h", "webdriver"):  # fmt: skip
        visits[k] = dev[k]
    counts = pv + click + convert
    idx, rank = expand(counts)
    ev = take_cols(visits, idx)
    m = len(idx)
    kind = np.zeros(m, dtype=np.int8)  # 0 pageview, 1 click, 2 conversion
    last = rank == counts[idx] - 1
    kind[(rank >= pv[idx]) & convert[idx] & last] = 2
    kind[(rank >= pv[idx]) & (kind != 2)] = 1
    return _events(ctx, rng, ev, idx, rank, kind)


def _first_referrers(rng: np.random.Generator, n: int, framed: np.ndarray, dev: dict) -> pa.Array:
    ch = pick(
        cdf_of([0.32, 0.15, 0.35, 0.08, 0.10]), rng.random(n)
    )  # search social direct referral
    out = search_referrers(rng, n)
    out = where_str(ch == 1, social_referrers(rng, n), out)
    hosts = host_origins()
    referral = take(hosts, rng.integers(0, len(hosts), n))
    out = where_str(ch == 3, pa.compute.binary_join_element_wise(referral, pa.scalar("/"), ""), out)
    out = where_str((ch == 2) | (ch == 4), null_str(n), out)
    portal = pa.compute.binary_join_element_wise(take(PORTALS, rng.integers(0, len(PORTALS), n)),
                                                 pa.scalar("/"), "")  # fmt: skip
    return where_str(framed, portal, out)


def _events(ctx: DayContext, rng: np.random.Generator, ev: dict, idx: np.ndarray, rank: np.ndarray,
            kind: np.ndarray) -> pa.Table:  # fmt: skip
    m = len(idx)
    bouncer = ev["bouncer"]
    dwell = np.clip(rng.lognormal(np.log(28_000), 1.1, m), 1_500, 1_800_000)
    dwell = np.where(bouncer, rng.uniform(500, 5_000, m), dwell)
    away = rng.random(m) < 0.2  # switched tabs / locked the phone for a while
    visible = np.where(away, dwell * rng.uniform(0.3, 0.95, m), dwell * rng.uniform(0.97, 1.0, m))
    inter = np.where(bouncer, 0, 1 + rng.geometric(0.18, m))
    first = np.minimum(np.clip(rng.lognormal(np.log(2_500), 0.8, m), 300, 20_000), dwell * 0.9)
    first = nan_where(bouncer, first)
    # tabs left open for hours: the next beacon carries an expired token
    expired = rng.random(m) < 0.003
    dwell = np.where(expired, rng.uniform(2, 9, m) * 3_600_000, dwell)
    gap = rng.uniform(1_000, 12_000, m)
    step = np.where(kind == 0, dwell + gap, 3_000)
    cs = np.cumsum(step)
    first_pos = np.flatnonzero(rank == 0)
    base = (cs - step)[first_pos][idx]
    offset = (cs - step) - base
    ts = ctx.start_ms + np.mod(ev["start"] + offset, DAY_MS).astype(np.int64)
    pages = sample_pages(rng, m)
    prev_page = np.roll(pages, 1)
    url = take(PAGES, pages)
    url = where_str(kind == 2, pa.scalar(CONVERSION_URL), url)
    # a click stays on its page: reuse the previous event's page
    url = where_str(kind == 1, take(PAGES, prev_page), url)
    internal = take(PAGES, prev_page)
    ref = where_str(rank == 0, ev["first_ref"], internal)
    pvid = mix64(np.arange(m, dtype=np.uint64) + np.uint64(ctx.day << 36), ctx.seed * 31 + 5)
    pvid = np.where(kind == 0, pvid, np.roll(pvid, 1))
    framed = ev["framed"]
    fw = np.where(ev["desktop"], rng.integers(760, 1100, m), ev["viewport_w"])
    fh = np.where(
        ev["desktop"], rng.integers(560, 900, m), ev["viewport_h"] - rng.integers(0, 60, m)
    )
    portal_origin = pa.compute.utf8_slice_codeunits(ev["first_ref"], 0, -1)
    client = page_client(ev, framed, fw, fh, portal_origin, visible, dwell, inter,
                         np.round(first), pvid)  # fmt: skip
    event = take(str_pool(["pageview", "click", "conversion"]), kind)
    token = where_str(expired, pa.scalar("expired"), pa.scalar("valid"))
    cols = {"ts": ts, "event": event, "visitor_id": ev["visitor_id"], "device_id": ev["device_id"],
            "ip": ev["ip"], "user_agent": ev["user_agent"], "url": url, "referrer": ref,
            "source": ev["source"], "token": token}  # fmt: skip
    return assemble(m, cols, client, None, TRUTH)
