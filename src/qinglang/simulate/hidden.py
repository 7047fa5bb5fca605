"""Hidden injection (暗刷, truth `sivt.hidden`): a snippet on ~200 host sites and apps loads the
target page where nobody sees it — zero-size, tiny, off-screen or transparent iframes, or a link
clicked by script into a background tab — on the real devices of the hosts' own users.

Everything the device reports is real (UA, carrier IP, fingerprint, a valid signed token: the
real tracker runs). What gives it away is how the page was shown: frame size, visibility, no
trusted input, no conversions. Visibility follows the browser: IntersectionObserver v2 exists
only in Chromium, so a transparent full-size frame on WebKit can report visible time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa

from .common import (
    DAY_MS,
    N_SOURCES,
    ORGANIC_HOURLY,
    PAGES,
    SOURCES,
    assemble,
    cdf_of,
    concat_str,
    expand,
    hex_strings,
    minute_cdf,
    mix64,
    null_str,
    page_client,
    pick,
    sample_ms_of_day,
    sample_pages,
    take,
    take_cols,
    unit,
    where_str,
    zipf_weights,
)
from .context import DayContext
from .devices import GECKO, IOS, profiles
from .people import device_columns, residential_ips

TRUTH = "sivt.hidden"
ZERO, TINY, OFFSCREEN, OPACITY, POPUNDER = range(5)
VARIANT_MIX = [0.30, 0.25, 0.20, 0.15, 0.10]
N_HOSTS = 200
_SYL = ["kan", "du", "shu", "xiao", "shuo", "wan", "you", "xi", "mei", "tu", "kuai", "le", "zhi",
        "hui", "tian", "qi", "yun", "ying", "shi", "pin", "jia", "le", "bao", "dian", "ji", "cai",
        "hao", "wen", "zi", "xun", "ge", "qu", "yue", "man", "hua", "lian", "bo", "fang", "che"]  # fmt: skip
_FRAME_SIZES = np.array([(300, 250), (320, 50), (320, 480), (640, 360), (360, 640), (728, 90),
                         (375, 667), (414, 736)])  # fmt: skip


@dataclass(frozen=True)
class Hosts:
    origin: pa.Array
    weight: np.ndarray
    app: np.ndarray  # host is an app (its own web view) rather than a web site
    source: np.ndarray
    primary: np.ndarray
    secondary: np.ndarray
    shift_ms: np.ndarray
    ios_p: np.ndarray
    in_view: np.ndarray  # probability a tiny/transparent frame sits inside the viewport


@lru_cache(maxsize=1)
def hosts() -> Hosts:
    rng = np.random.default_rng(20170902)  # the hosts are part of the world, like the devices
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < N_HOSTS:
        k = int(rng.integers(2, 4))
        word = "".join(rng.choice(_SYL, k))
        tld = rng.choice([".com", ".cn", ".net", ".com.cn", ".cc"], p=[0.55, 0.2, 0.1, 0.1, 0.05])
        sub = rng.choice(["m.", "www.", "h5.", "wap.", ""], p=[0.35, 0.2, 0.2, 0.1, 0.15])
        host = f"https://{sub}{word}{tld}"
        if word not in seen:
            seen.add(word)
            names.append(host)
    night = rng.random(N_HOSTS) < 0.15
    shift_h = np.where(night, rng.uniform(1.5, 3.0, N_HOSTS), rng.normal(0, 1.2, N_HOSTS))
    src_w = zipf_weights(N_SOURCES, 0.8)[rng.permutation(N_SOURCES)]
    return Hosts(
        origin=pa.array(names, pa.string()),
        weight=zipf_weights(N_HOSTS, 1.1)[rng.permutation(N_HOSTS)],
        app=rng.random(N_HOSTS) < 0.55,
        source=pick(cdf_of(src_w), rng.random(N_HOSTS)),
        primary=pick(cdf_of(VARIANT_MIX), rng.random(N_HOSTS)),
        secondary=pick(cdf_of(VARIANT_MIX), rng.random(N_HOSTS)),
        shift_ms=(shift_h * 3_600_000).astype(np.int64),
        ios_p=np.clip(0.63 * rng.uniform(0.7, 1.35, N_HOSTS), 0.3, 0.88),
        in_view=rng.uniform(0.05, 0.45, N_HOSTS),
    )


def host_origins() -> pa.Array:
    return hosts().origin


@lru_cache(maxsize=1)
def _samplers():
    p = profiles()
    ios = p.os == IOS
    webview = p.app == "webview"
    return {
        (True, True): p.sampler(ios & (webview | p.inapp), boost={"webview": 6.0}),
        (True, False): p.sampler(~ios & (webview | p.inapp), boost={"webview": 6.0}),
        (False, True): p.sampler(ios, boost={"wechat": 1.5}),
        (False, False): p.sampler(~ios, boost={"wechat": 1.5}),
    }


def _profiles_for(ph: np.ndarray, is_app: np.ndarray, ios: np.ndarray) -> np.ndarray:
    u = unit(mix64(ph, 1))
    prof = np.zeros(len(ph), dtype=np.int64)
    for (app, io), s in _samplers().items():  # four device pools, not per event
        sel = (is_app == app) & (ios == io)
        prof[sel] = pick(s.cdf, u[sel])
    return prof


def _host_users(rng: np.random.Generator, host: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Distinct users of each host today, drawn from the host's user base (`pool` per host)."""
    order = np.argsort(host, kind="stable")
    counts = np.bincount(host, minlength=len(pool))
    starts = np.cumsum(counts) - counts
    rank = np.empty(len(host), dtype=np.int64)
    rank[order] = np.arange(len(host)) - starts[host[order]]
    pool = np.maximum(pool, counts)
    offset = rng.integers(0, pool)
    # a stride coprime with the pool walks it without repeats
    idx = (offset[host] + rank * 2_147_483_647) % pool[host]
    return (host.astype(np.uint64) << np.uint64(32)) + idx.astype(np.uint64)


def generate(ctx: DayContext, n: int) -> pa.Table:
    rng = ctx.rng("hidden")
    h = hosts()
    host = pick(cdf_of(h.weight), rng.random(n))
    # the host's users: a pool per host, ~3x its daily load, so people come back day after day
    person = _host_users(rng, host, np.maximum(20, (h.weight * n * 3).astype(np.int64)))
    ph = mix64(person, ctx.seed * 104729 + 3)
    is_app = h.app[host]
    prof = _profiles_for(ph, is_app, unit(mix64(ph, 2)) < h.ios_p[host])
    dev = device_columns(ph, prof, ctx.day)
    p = profiles()
    variant = np.where(rng.random(n) < 0.75, h.primary[host], h.secondary[host])
    framed = variant != POPUNDER
    fresh_jar = (framed & (dev["engine"] != 1)) | (p.inapp[prof] & (rng.random(n) < 0.6))
    salt = rng.integers(0, 1 << 62, n).astype(np.uint64)
    cookie = np.where(fresh_jar, mix64(ph ^ salt, 40), mix64(ph, 41))
    origin = take(h.origin, host)
    ref = concat_str(origin, "/")
    page = concat_str(origin, "/", pa.array(rng.integers(10_000, 99_999, n).astype(str)), ".html")
    r = rng.random(n)
    ref = where_str(~is_app & (r > 0.75) & (r < 0.85), page, ref)
    ref = where_str(np.where(is_app, r < 0.7, r >= 0.85), null_str(n), ref)
    start = np.mod(sample_ms_of_day(rng, minute_cdf(ORGANIC_HOURLY), n) + h.shift_ms[host], DAY_MS)
    visits = {
        "visitor_id": hex_strings(cookie),
        "device_id": dev["device_id"],
        "ip": residential_ips(rng, ph, dev["os"], ctx.day, ctx.carriers),
        "user_agent": dev["user_agent"],
        "source": take(SOURCES, h.source[host]),
        "referrer": ref,
        "origin": origin,
        "start": start,
        "variant": variant,
        "in_view": rng.random(n) < h.in_view[host],
        "io_v2": dev["chromium"],
        "anc_ok": dev["engine"] != GECKO,
    }
    for k in ("platform", "ch_ua", "lang", "tz", "screen_w", "screen_h", "viewport_w",
              "viewport_h", "webdriver"):  # fmt: skip
        visits[k] = dev[k]
    counts = pick(cdf_of([0.88, 0.09, 0.03]), rng.random(n)) + 1  # the snippet may reload
    idx, rank = expand(counts)
    return _events(ctx, rng, take_cols(visits, idx), rank)


def _frame(rng: np.random.Generator, v: np.ndarray, ev: dict) -> tuple[np.ndarray, np.ndarray]:
    m = len(v)
    sz = _FRAME_SIZES[rng.integers(0, len(_FRAME_SIZES), m)]
    fw, fh = sz[:, 0].astype(np.float64), sz[:, 1].astype(np.float64)
    full = rng.random(m) < 0.2  # 100% x 100% of the host page
    fw = np.where(full, ev["viewport_w"], fw)
    fh = np.where(full, ev["viewport_h"], fh)
    zero = [(0, 0), (0, 0), (0, 0), (1, 0), (0, 1), (300, 0), (0, 250), (0, 90)]
    z = np.array(zero)[rng.integers(0, len(zero), m)]
    fw = np.where(v == ZERO, z[:, 0], fw)
    fh = np.where(v == ZERO, z[:, 1], fh)
    t = np.minimum(rng.geometric(0.45, m), 10)
    square = rng.random(m) < 0.7
    fw = np.where(v == TINY, t, fw)
    fh = np.where(v == TINY, np.where(square, t, np.minimum(rng.geometric(0.45, m), 10)), fh)
    return fw, fh


def _events(ctx: DayContext, rng: np.random.Generator, ev: dict, rank: np.ndarray) -> pa.Table:
    m = len(rank)
    v = ev["variant"]
    framed = v != POPUNDER
    dwell = np.clip(rng.lognormal(np.log(45_000), 1.0, m), 800, 1_200_000)
    dwell = np.where(v == POPUNDER, rng.uniform(1_000, 15_000, m), dwell)
    fw, fh = _frame(rng, v, ev)
    seen_v1 = ((v == TINY) | (v == OPACITY)) & ev["in_view"]
    visible = np.where(
        seen_v1 & ((v == TINY) | ~ev["io_v2"]), dwell * rng.uniform(0.9, 1.0, m), 0.0
    )
    offset = np.cumsum(dwell) - dwell
    offset = offset - (offset[rank == 0])[np.cumsum(rank == 0) - 1]
    ts = ctx.start_ms + np.mod(ev["start"] + offset, DAY_MS).astype(np.int64)
    pvid = mix64(np.arange(m, dtype=np.uint64) + np.uint64(ctx.day << 36), ctx.seed * 37 + 9)
    client = page_client(ev, framed, fw, fh, ev["origin"], visible, dwell, np.zeros(m), None, pvid)
    token = where_str(rng.random(m) < 0.001, pa.scalar("expired"), pa.scalar("valid"))
    cols = {"ts": ts, "event": pa.array(np.full(m, "pageview", dtype=object), pa.string()),
            "visitor_id": ev["visitor_id"], "device_id": ev["device_id"], "ip": ev["ip"],
            "user_agent": ev["user_agent"], "url": take(PAGES, sample_pages(rng, m)),
            "referrer": ev["referrer"], "source": ev["source"], "token": token}  # fmt: skip
    return assemble(m, cols, client, None, TRUTH)
