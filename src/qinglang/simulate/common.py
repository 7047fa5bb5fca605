"""Shared machinery of the simulator: calendar, rhythm, seeded randomness, vectorized strings,
the audited site's pages and channels, and assembly of contract tables.

Nothing here knows about fraud: the schemes live one per module and only use these tools.
Everything is vectorized (NumPy + pyarrow); there is no Python loop per event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from qinglang.errors import ConfigError
from qinglang.events import CLIENT_FIELDS, EVENT_SCHEMA

SITE = "target-site.example"
ORIGIN = "https://" + SITE
DAYS = 15
DAY_MS = 86_400_000
# 2017-09-01 00:00 Asia/Shanghai (UTC+8) = 2017-08-31 16:00 UTC
START_MS = 1_504_195_200_000
UV_PER_SCALE = 28_000_000


def scenario_params(name: str, defaults: Mapping[str, float], params: Mapping[str, Any]) -> dict:
    """A scenario's parameters: its defaults overridden by `params`, all as floats; an unknown
    name is refused with the list of known ones."""
    unknown = set(params) - set(defaults)
    if unknown:
        raise ConfigError(
            f"{name}: unknown parameter(s) {sorted(unknown)}; known: {sorted(defaults)}"
        )
    return {**defaults, **{k: float(v) for k, v in params.items()}}


# ----------------------------------------------------------------------------- randomness
_STREAMS: dict = {}


def stream_id(name: str) -> int:
    """A stable small integer per stream name (no Python hash(), which is salted per process)."""
    if name not in _STREAMS:
        _STREAMS[name] = int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little") ^ len(name)
    return _STREAMS[name]


def rng_for(seed: int, name: str, *keys: int) -> np.random.Generator:
    """An independent generator for (seed, stream, keys...): days and populations never interact."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([seed, stream_id(name), *keys]))
    )


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def mix64(x: Any, salt: int = 0) -> np.ndarray:
    """splitmix64 finaliser: a stable pseudo-random uint64 per input value (vectorized)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x).astype(np.uint64) + np.uint64(salt & 0xFFFFFFFFFFFFFFFF) * _GOLD + _GOLD
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def unit(h: np.ndarray) -> np.ndarray:
    """uint64 hash -> float in [0, 1)."""
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def pick(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF pick of indices for uniforms u (cdf ends with 1.0)."""
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


def cdf_of(weights: Any) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    c = np.cumsum(w / w.sum())
    c[-1] = 1.0
    return c


def zipf_weights(n: int, a: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** a
    return w / w.sum()


def split_counts(total: int, weights: Any) -> np.ndarray:
    """Split an integer total by weights exactly (largest remainder)."""
    w = np.asarray(weights, dtype=np.float64)
    raw = total * w / w.sum()
    base = np.floor(raw).astype(np.int64)
    rest = int(total - base.sum())
    if rest > 0:
        order = np.argsort(-(raw - base), kind="stable")
        base[order[:rest]] += 1
    return base


# ----------------------------------------------------------------------------- strings
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_B36 = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)


def _fixed(chars: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    n, w = chars.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    bitmap = None
    nulls = 0
    if valid is not None and not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid.astype(np.uint8), bitorder="little").tobytes())
        nulls = int((~valid).sum())
    data = pa.py_buffer(np.ascontiguousarray(chars).tobytes())
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), data, bitmap, nulls)


def hex_strings(h: np.ndarray, width: int = 16, valid: np.ndarray | None = None) -> pa.Array:
    """uint64 values -> lowercase hex strings of a fixed width (≤16)."""
    h = np.asarray(h, dtype=np.uint64)
    shifts = (np.arange(width - 1, -1, -1, dtype=np.uint64) * np.uint64(4))[None, :]
    chars = _HEX[((h[:, None] >> shifts) & np.uint64(0xF)).astype(np.intp)]
    return _fixed(chars, valid)


def base36_strings(x: np.ndarray, prefix: str, width: int) -> pa.Array:
    x = np.asarray(x, dtype=np.int64)
    digits = np.empty((len(x), width), dtype=np.uint8)
    v = x.copy()
    for i in range(width - 1, -1, -1):  # loop over digit positions, not events
        digits[:, i] = _B36[v % 36]
        v //= 36
    pre = np.frombuffer(prefix.encode(), dtype=np.uint8)
    chars = np.hstack([np.broadcast_to(pre, (len(x), len(pre))), digits])
    return _fixed(chars)


_OCTETS = pa.array([str(i) for i in range(256)])
_HEXTETS = pa.array([format(i, "x") for i in range(65536)])


def ipv4_strings(ip: np.ndarray) -> pa.Array:
    ip = np.asarray(ip, dtype=np.uint32)
    parts = [
        _OCTETS.take(((ip >> np.uint32(s)) & np.uint32(255)).astype(np.int32))
        for s in (24, 16, 8, 0)
    ]
    return pc.binary_join_element_wise(*parts, ".")


def ipv6_strings(prefix: str, h1: np.ndarray, h2: np.ndarray) -> pa.Array:
    """prefix (e.g. '240e:3b4') + six hextets from two hashes."""
    parts = []
    for h in (h1, h2):
        h = np.asarray(h, dtype=np.uint64)
        for s in (48, 32, 16):
            parts.append(_HEXTETS.take(((h >> np.uint64(s)) & np.uint64(0xFFFF)).astype(np.int32)))
    pre = pa.array(np.full(len(h1), prefix, dtype=object), pa.string())
    return pc.binary_join_element_wise(pre, *parts, ":")


def concat_str(*parts: Any) -> pa.Array:
    """Element-wise concatenation of string arrays / scalars (nulls propagate)."""
    arrays = [p if isinstance(p, pa.Array | pa.ChunkedArray) else pa.scalar(p) for p in parts]
    return pc.binary_join_element_wise(*arrays, "")


def str_pool(values: Any) -> pa.Array:
    return pa.array(list(values), pa.string())


def take(pool: pa.Array, idx: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    idx = np.asarray(idx, dtype=np.int32)
    if valid is None:
        return pool.take(idx)
    return pool.take(pa.array(idx, mask=~np.asarray(valid, dtype=bool)))


def where_str(cond: np.ndarray, a: Any, b: Any) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(cond, dtype=bool)), a, b)


def null_str(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


# ----------------------------------------------------------------------------- rhythm (Beijing time)
# Relative traffic per local hour of a Chinese mobile audience: quiet 2-6h, lunch peak, evening peak.
ORGANIC_HOURLY = np.array(
    [3.0, 1.8, 1.1, 0.7, 0.55, 0.6, 1.2, 2.6, 3.9, 4.4, 4.7, 5.0,
     5.6, 5.2, 4.7, 4.6, 4.6, 4.5, 4.9, 5.6, 6.4, 6.8, 6.2, 4.6]
)  # fmt: skip
FLAT_HOURLY = np.ones(24)
# 2017-09-01 was a Friday; index = day % 7 from the campaign start.
WEEKDAY_FACTOR = np.array([1.0, 1.09, 1.11, 0.95, 0.94, 0.96, 0.97])


def minute_cdf(hourly: np.ndarray) -> np.ndarray:
    """Smooth per-minute density (linear between hour midpoints, circular)."""
    h = np.asarray(hourly, dtype=np.float64)
    x = (np.arange(1440) + 0.5) / 60.0 - 0.5
    dens = np.interp(x, np.arange(-1, 25), np.concatenate([[h[-1]], h, [h[0]]]))
    return cdf_of(dens)


def sample_ms_of_day(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    minute = pick(cdf, rng.random(n))
    return minute * 60_000 + rng.integers(0, 60_000, n)


def day_start(day: int) -> int:
    return START_MS + day * DAY_MS


def wrap_day(ms_of_day: np.ndarray) -> np.ndarray:
    return np.mod(ms_of_day, DAY_MS)


# ----------------------------------------------------------------------------- the audited site
_PAGE_PATHS = [
    "/", "/index.html", "/news/", "/activity/2017-autumn", "/product/list", "/download",
    "/about", "/product/a1", "/product/a2", "/product/b7", "/topic/finance", "/topic/game",
    "/topic/travel", "/topic/car", "/topic/health", "/article/10231", "/article/10248",
    "/article/10277", "/article/10305", "/article/10312", "/article/10356", "/article/10391",
    "/help", "/help/faq", "/user/login", "/user/register", "/search", "/m/landing",
    "/m/landing?c=a", "/m/landing?c=b", "/video/889", "/video/902", "/promo/coupon",
    "/shop", "/shop/cart", "/contact",
]  # fmt: skip
PAGES = str_pool(ORIGIN + p for p in _PAGE_PATHS)
PAGE_CDF = cdf_of(zipf_weights(len(_PAGE_PATHS), 1.05))
CONVERSION_URL = ORIGIN + "/user/register?done=1"


def sample_pages(rng: np.random.Generator, n: int) -> np.ndarray:
    return pick(PAGE_CDF, rng.random(n))


# Channels the traffic was bought from (publisher networks, app unions, agencies). Shared by all.
SOURCES = str_pool(
    [
        "wm-union-01", "wm-union-02", "juliang-cpc", "guangdiantong", "baidu-union", "sm-union",
        "360-dianjing", "sogou-union", "kuaishou-ads", "weibo-fensitong", "youmi", "duomeng",
        "wanpu", "ruanlian-a", "ruanlian-b", "tuiguang-07", "tuiguang-12", "tuiguang-19",
        "xinxiliu-a", "xinxiliu-b", "xinxiliu-c", "app-union-hz", "app-union-sz", "app-union-bj",
        "media-buy-1", "media-buy-2", "media-buy-3", "dsp-lanxun", "dsp-qianqi", "dsp-yuanhang",
        "cps-taoke", "cps-jingke", "mini-prog-net", "h5-game-net", "reader-net", "wifi-portal",
        "video-union", "news-union", "sms-push", "email-edm",
    ]
)  # fmt: skip
N_SOURCES = len(SOURCES)
SOURCE_CDF = cdf_of(zipf_weights(N_SOURCES, 0.8))


def sample_sources(rng: np.random.Generator, n: int) -> np.ndarray:
    return pick(SOURCE_CDF, rng.random(n))


# percent-encoded Chinese search terms
_KEYWORDS = [
    "%E4%BC%98%E6%83%A0%E5%88%B8", "%E6%B4%BB%E5%8A%A8", "%E4%B8%8B%E8%BD%BD", "%E5%AE%98%E7%BD%91",
    "%E6%80%8E%E4%B9%88%E6%B3%A8%E5%86%8C", "%E7%90%86%E8%B4%A2", "%E6%B8%B8%E6%88%8F",
    "%E6%97%85%E6%B8%B8%E6%94%BB%E7%95%A5", "%E6%B1%BD%E8%BD%A6%E6%8A%A5%E4%BB%B7",
    "%E5%81%A5%E5%BA%B7", "%E6%96%B0%E9%97%BB", "%E8%A7%86%E9%A2%91", "%E7%99%BB%E5%BD%95",
    "%E5%AE%A2%E6%9C%8D%E7%94%B5%E8%AF%9D", "%E4%BB%B7%E6%A0%BC", "%E8%AF%84%E4%BB%B7",
    "target+site", "target-site", "%E4%BC%98%E6%83%A0", "%E7%A7%8B%E5%AD%A3%E6%B4%BB%E5%8A%A8",
]  # fmt: skip
_SEARCH = [
    ("https://www.baidu.com/link?url=", 0.22, True),
    ("https://www.baidu.com/", 0.10, False),
    ("https://m.baidu.com/s?word=", 0.25, True),
    ("https://m.sm.cn/s?q=", 0.12, True),
    ("https://www.so.com/s?q=", 0.10, True),
    ("https://www.sogou.com/web?query=", 0.08, True),
    ("https://wap.sogou.com/", 0.05, False),
    ("https://cn.bing.com/", 0.05, False),
    ("https://www.google.com/", 0.03, False),
]
_SOCIAL = [
    ("https://mp.weixin.qq.com/", 0.30),
    ("https://weixin.qq.com/", 0.08),
    ("https://m.weibo.cn/", 0.18),
    ("https://weibo.com/", 0.07),
    ("https://www.douyin.com/", 0.12),
    ("https://www.zhihu.com/", 0.10),
    ("https://tieba.baidu.com/", 0.08),
    ("https://www.xiaohongshu.com/", 0.07),
]


def search_referrers(rng: np.random.Generator, n: int) -> pa.Array:
    eng = pick(cdf_of([w for _, w, _ in _SEARCH]), rng.random(n))
    base = take(str_pool(p for p, _, _ in _SEARCH), eng)
    has_kw = np.array([k for _, _, k in _SEARCH])[eng]
    kw = take(str_pool(_KEYWORDS), rng.integers(0, len(_KEYWORDS), n))
    link = hex_strings(rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64), 16)
    is_link = eng == 0
    tail = where_str(is_link, link, kw)
    return where_str(has_kw, concat_str(base, tail), base)


def social_referrers(rng: np.random.Generator, n: int) -> pa.Array:
    return take(
        str_pool(p for p, _ in _SOCIAL), pick(cdf_of([w for _, w in _SOCIAL]), rng.random(n))
    )


# ----------------------------------------------------------------------------- assembly
def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Visit index of every event and the event's rank within its visit."""
    counts = np.asarray(counts, dtype=np.int64)
    idx = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(idx)) - starts[idx]
    return idx, rank


def take_cols(cols: Mapping[str, Any], idx: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pidx = None
    for k, v in cols.items():
        if isinstance(v, pa.Array):
            if pidx is None:
                pidx = pa.array(np.asarray(idx, dtype=np.int64))
            out[k] = v.take(pidx)
        elif v is None:
            out[k] = None
        else:
            out[k] = np.asarray(v)[idx]
    return out


def _num(values: Any, typ: pa.DataType, n: int) -> pa.Array:
    if values is None:
        return pa.nulls(n, typ)
    if isinstance(values, pa.Array):
        return values.cast(typ)
    v = np.asarray(values, dtype=np.float64)
    if len(v) != n:
        v = np.broadcast_to(v, (n,))
    mask = np.isnan(v)
    filled = np.where(mask, 0, v)
    if pa.types.is_boolean(typ):
        return pa.array(filled.astype(bool), type=typ, mask=mask)
    return pa.array(filled.astype(np.int64), type=typ, mask=mask).cast(typ)


def client_array(n: int, fields: Mapping[str, Any], present: np.ndarray | None) -> pa.Array:
    """Build the `client` struct. Numeric/bool fields: float arrays with NaN for null."""
    children = []
    for name, typ in CLIENT_FIELDS:
        v = fields.get(name)
        if pa.types.is_integer(typ) or pa.types.is_boolean(typ):
            children.append(_num(v, typ, n))
        elif v is None:
            children.append(pa.nulls(n, typ))
        else:
            children.append(v.cast(typ) if not v.type.equals(typ) else v)
    mask = None if present is None else pa.array(~np.asarray(present, dtype=bool))
    return pa.StructArray.from_arrays(
        children, fields=[pa.field(n_, t) for n_, t in CLIENT_FIELDS], mask=mask
    )


def assemble(n: int, cols: Mapping[str, Any], client: Mapping[str, Any] | None,
             client_present: np.ndarray | None, truth: str) -> pa.Table:  # fmt: skip
    """A contract table (event_id left null: the writer numbers events after sorting by time)."""
    arrays = []
    for field in EVENT_SCHEMA:
        name = field.name
        if name == "client":
            arrays.append(
                client_array(n, client, client_present)
                if client is not None
                else pa.nulls(n, field.type)
            )
        elif name == "truth":
            arrays.append(pa.array(np.full(n, truth, dtype=object), pa.string()))
        elif name == "site":
            arrays.append(pa.array(np.full(n, SITE, dtype=object), pa.string()))
        elif name == "ts":
            arrays.append(pa.array(np.asarray(cols["ts"], dtype=np.int64)).cast(field.type))
        elif name == "signature_ok":
            arrays.append(pa.nulls(n, field.type))
        else:
            v = cols.get(name)
            arrays.append(pa.nulls(n, field.type) if v is None else v)
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def nan_where(cond: np.ndarray, values: Any) -> np.ndarray:
    v = np.array(values, dtype=np.float64, copy=True)
    v[np.asarray(cond, dtype=bool)] = np.nan
    return v


def page_client(ev: dict, framed: np.ndarray, fw: np.ndarray, fh: np.ndarray, origins: Any,
                visible: np.ndarray, dwell: np.ndarray, interactions: np.ndarray, first: Any,
                pv_ids: np.ndarray) -> dict:  # fmt: skip
    """What the tracker reports of one page view (the `client` struct's columns): frame and
    screen sizes, times and input, the device's settings and the framing page's origin."""
    m = len(framed)
    anc_valid = framed & ev["anc_ok"]
    ancestors = pa.ListArray.from_arrays(pa.array(np.arange(m + 1, dtype=np.int32)), origins,
                                         mask=pa.array(~anc_valid))  # fmt: skip
    return {
        "framed": framed.astype(np.float64),
        "frame_w": nan_where(~framed, fw),
        "frame_h": nan_where(~framed, fh),
        "viewport_w": np.where(framed, fw, ev["viewport_w"]),
        "viewport_h": np.where(framed, fh, ev["viewport_h"]),
        "screen_w": ev["screen_w"],
        "screen_h": ev["screen_h"],
        "visible_ms": np.round(visible),
        "dwell_ms": np.round(dwell),
        "interactions": interactions.astype(np.float64),
        "first_interaction_ms": first,
        "webdriver": ev["webdriver"],
        "tz": ev["tz"],
        "lang": ev["lang"],
        "platform": ev["platform"],
        "ch_ua": ev["ch_ua"],
        "ancestor_origins": ancestors,
        "pv_id": hex_strings(pv_ids, 12),
    }
