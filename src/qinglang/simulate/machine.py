"""Machine traffic without automation tells:

* declared crawlers and HTTP libraries (`givt.crawler`): no JavaScript, so no tracker signals,
  no token and no cookie — server-log rows only, many pages per address;
* ordinary headful browsers on rented cloud machines (`givt.datacenter`);
* proxy rotators (`sivt.anomaly`): a traffic tool whose workers loop round-robin over a pool of
  residential proxies, a random user agent per visit, a fixed dwell, around the clock.

Headless and scripted browsers are in automation.py.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .botkit import emit, fresh_ids, start_times
from .common import (
    DAY_MS,
    PAGES,
    SOURCES,
    assemble,
    cdf_of,
    expand,
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
from .devices import DESKTOP, TZS, profiles
from .network import networks

# (user agent, share of crawler (ip, ua) pairs, own blocks or None = cloud, mean pages per pair)
CRAWLERS = [
    ("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", 0.10, "baidu", 12),
    ("Mozilla/5.0 (Linux;u;Android 4.2.2;zh-cn;) AppleWebKit/534.46 (KHTML,like Gecko) Version/5.1 Mobile Safari/10600.6.3 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", 0.08, "baidu", 10),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0.03, "google", 8),
    ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.199 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0.03, "google", 8),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 0.04, "bing", 6),
    ("Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)", 0.06, "sogou", 8),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.198 Safari/537.36 360Spider", 0.06, "360", 6),
    ("Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/69.0.3497.81 YisouSpider/5.0 Safari/537.36", 0.06, "yisou", 6),
    ("Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)", 0.09, "bytedance", 10),
    ("Mozilla/5.0 (compatible;PetalBot;+https://webmaster.petalsearch.com/site/petalbot)", 0.04, "petal", 6),
    ("python-requests/2.31.0", 0.09, None, 3), ("python-requests/2.18.4", 0.04, None, 3),
    ("curl/7.81.0", 0.04, None, 2), ("curl/8.4.0", 0.02, None, 2),
    ("Go-http-client/1.1", 0.06, None, 3), ("Go-http-client/2.0", 0.02, None, 3),
    ("Scrapy/2.11.0 (+https://scrapy.org)", 0.04, None, 6),
    ("okhttp/4.11.0", 0.02, None, 2), ("Apache-HttpClient/4.5.14 (Java/17.0.8)", 0.02, None, 2),
    ("Java/1.8.0_392", 0.01, None, 2), ("Wget/1.21.2", 0.01, None, 2),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 0.02, None, 8),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", 0.01, None, 6),
    ("Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", 0.01, None, 4),
]  # fmt: skip
SCRAPER_CLOUDS = {"aws": 0.25, "gcp": 0.1, "azure": 0.1, "digitalocean": 0.15, "oracle": 0.05,
                  "aliyun": 0.2, "tencent": 0.12, "huawei": 0.03}  # fmt: skip
BOT_CLOUDS = {"aws": 0.18, "azure": 0.1, "gcp": 0.07, "oracle": 0.05, "digitalocean": 0.1,
              "aliyun": 0.28, "tencent": 0.17, "huawei": 0.05}  # fmt: skip


def _crawler_kinds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Kind of each (ip, ua) pair. A search engine has only so many addresses: pairs beyond ~70% of
    its blocks go to scrapers on cloud machines, whose address space is practically unlimited."""
    kinds = pick(cdf_of([c[1] for c in CRAWLERS]), rng.random(n))
    net = networks()
    scrapers = np.array([k for k, c in enumerate(CRAWLERS) if c[2] is None])
    scraper_cdf = cdf_of([CRAWLERS[k][1] for k in scrapers])
    for k, (_, _, block, _) in enumerate(CRAWLERS):  # loop over crawler kinds, not events
        if block is None:
            continue
        cap = int(0.7 * net.crawler[block].sizes.sum())
        sel = np.flatnonzero(kinds == k)[cap:]
        kinds[sel] = scrapers[pick(scraper_cdf, rng.random(len(sel)))]
    return kinds


def crawler(ctx: DayContext, n: int) -> pa.Table:
    """n distinct (ip, user agent) pairs, each fetching pages at its crawl delay."""
    rng = ctx.rng("crawler")
    net = networks()
    kinds = _crawler_kinds(rng, n)
    ip = np.empty(n, dtype=np.uint32)
    for k, (_, _, block, _) in enumerate(CRAWLERS):  # loop over crawler kinds, not events
        sel = np.flatnonzero(kinds == k)
        if len(sel) == 0:
            continue
        if block is None:
            ip[sel] = net.cloud_mix(rng, len(sel), SCRAPER_CLOUDS)
        else:
            pool = net.crawler[block]
            size = int(pool.sizes.sum())
            offs = rng.choice(size, min(len(sel), size), replace=False)
            offs = np.resize(offs, len(sel))  # more pairs than addresses: reuse (rare)
            ends = np.cumsum(pool.sizes)
            b = np.searchsorted(ends, offs, side="right")
            ip[sel] = (pool.starts[b] + offs - (ends[b] - pool.sizes[b])).astype(np.uint32)
    mean = np.array([c[3] for c in CRAWLERS], dtype=np.float64)[kinds]
    pages = np.minimum(rng.geometric(1.0 / (0.5 * mean)), 400)
    idx, rank = expand(pages)
    m = len(idx)
    delay = rng.uniform(1_000, 60_000, n)[idx] * rng.uniform(0.8, 1.2, m)
    start = rng.integers(0, DAY_MS, n)[idx]
    cs = np.cumsum(delay) - delay
    offset = cs - cs[rank == 0][np.cumsum(rank == 0) - 1]
    ts = ctx.start_ms + np.mod(start + offset, DAY_MS).astype(np.int64)
    cols = {
        "ts": ts,
        "event": pa.array(np.full(m, "pageview", dtype=object), pa.string()),
        "ip": ipv4_strings(ip[idx]),
        "user_agent": take(str_pool(c[0] for c in CRAWLERS), kinds[idx]),
        "url": take(PAGES, rng.integers(0, len(PAGES), m)),
        "token": pa.array(np.full(m, "missing", dtype=object), pa.string()),
    }
    return assemble(m, cols, None, None, "givt.crawler")


def _desktop_windows() -> np.ndarray:
    p = profiles()
    plat = np.array(p.platform.to_pylist())
    return (p.os == DESKTOP) & (plat == "Win32")


_VM_SCREENS = np.array([(1024, 768), (1280, 800), (1280, 1024), (1920, 1080), (1366, 768),
                        (1440, 900), (1600, 900)])  # fmt: skip


def datacenter(ctx: DayContext, n: int) -> pa.Table:
    """Ordinary browsers on cloud VMs: no tells, no input, fresh cookies, several visits per VM."""
    rng = ctx.rng("datacenter")
    vms = max(1, n // 12)
    vrng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([ctx.seed, 77, ctx.day // 4]))
    )
    vm_ip = networks().cloud_mix(vrng, vms * 2, BOT_CLOUDS)
    vm_prof = profiles().sampler(_desktop_windows())(vrng, vms * 2)
    vm_screen = _VM_SCREENS[vrng.integers(0, len(_VM_SCREENS), vms * 2)]
    vm_tz = np.where(vrng.random(vms * 2) < 0.6, 0, 4)
    vm_fp = vrng.integers(0, np.iinfo(np.uint64).max, vms * 2, dtype=np.uint64)
    vm_rhythm = vrng.random(vms * 2) < 0.5
    vm = rng.permutation(vms * 2)[:vms][pick(cdf_of(rng.lognormal(0, 0.8, vms)), rng.random(n))]
    p = profiles()
    prof = vm_prof[vm]
    pidx = pa.array(prof)
    sw, sh = vm_screen[vm, 0], vm_screen[vm, 1]
    start = start_times(rng, ~vm_rhythm[vm])
    dwell = rng.uniform(5_000, 60_000, n)
    visits = {
        "start": start,
        "page": sample_pages(rng, n),
        "visitor_id": fresh_ids(rng, n),
        "device_id": hex_strings(vm_fp[vm]),
        "ip": ipv4_strings(vm_ip[vm]),
        "user_agent": p.ua.take(pidx),
        "source": take(SOURCES, sample_sources(rng, n)),
        "referrer": where_str(rng.random(n) < 0.5, search_referrers(rng, n), null_str(n)),
        "token": pa.array(np.full(n, "valid", dtype=object), pa.string()),
        "framed": np.zeros(n),
        "screen_w": sw.astype(np.float64),
        "screen_h": sh.astype(np.float64),
        "viewport_w": sw.astype(np.float64),
        "viewport_h": (sh - rng.integers(100, 140, n)).astype(np.float64),
        "dwell_ms": dwell,
        "visible_ms": dwell,
        "interactions": np.zeros(n),
        "webdriver": np.zeros(n),
        "tz": take(TZS, vm_tz[vm]),
        "lang": take(str_pool(["zh-CN", "en-US"]), (vm_tz[vm] == 4).astype(int)),
        "platform": p.platform.take(pidx),
        "ch_ua": p.ch_ua.take(pidx),
    }
    counts = 1 + (rng.random(n) < 0.25)
    return emit(ctx, rng, visits, counts, "givt.datacenter", jitter=0.3)


def rotator(ctx: DayContext, n: int) -> pa.Table:
    """Proxy rotators: per tool, evenly spaced visits, proxy = pool[k mod M], random UA each."""
    rng = ctx.rng("rotator")
    tools = max(1, int(round(n / 3_000)))
    share = rng.uniform(0.5, 1.5, tools)
    per = np.maximum(1, (n * share / share.sum()).astype(np.int64))
    per[-1] += n - per.sum()
    per = np.maximum(per, 1)
    tool = np.repeat(np.arange(tools), per)[:n]
    k = np.arange(n) - (np.cumsum(per) - per)[tool]
    m_pool = np.maximum(3, per // rng.integers(8, 40, tools))
    spacing = DAY_MS / per
    t0 = rng.uniform(0, DAY_MS, tools)
    start = np.mod(t0[tool] + k * spacing[tool] + rng.normal(0, 800, n), DAY_MS)
    # each tool has its own proxy list (residential: home broadband and mobile lines)
    slot = (k % m_pool[tool]).astype(np.uint64)
    key = mix64(slot + (tool.astype(np.uint64) << np.uint64(32)), ctx.seed * 13 + ctx.day)
    net = networks()
    mobile = (key % np.uint64(4)) == np.uint64(0)
    u1, u2 = (
        (key >> np.uint64(11)).astype(np.float64) / 2**53,
        mix64(key, 5).astype(np.float64) / 2**64,
    )
    ip = np.where(mobile, net.mobile.at(u1, u2), net.broadband.at(u1, u2))
    # each tool's user-agent list: real profiles, spoofed consistently (platform, screen, hints)
    p = profiles()
    lists = profiles().sampler(p.app != "webview")(rng, tools * 30).reshape(tools, 30)
    prof = lists[tool, rng.integers(0, 30, n)]
    pidx = pa.array(prof)
    dwell = rng.choice([15_000, 20_000, 30_000, 45_000, 60_000], tools)[tool] + rng.normal(
        0, 400, n
    )
    pages = np.stack([sample_pages(rng, tools) for _ in range(3)], axis=1)
    visits = {
        "start": start,
        "page": pages[tool, rng.integers(0, 3, n)],
        "visitor_id": fresh_ids(rng, n),
        "device_id": hex_strings(
            mix64(tool.astype(np.uint64) * np.uint64(1000) + prof.astype(np.uint64), ctx.seed)
        ),
        "ip": ipv4_strings(ip),
        "user_agent": p.ua.take(pidx),
        "source": take(SOURCES, sample_sources(rng, tools)[tool]),
        "referrer": where_str(
            (rng.random(tools) < 0.5)[tool], search_referrers(rng, n), null_str(n)
        ),
        "token": pa.array(np.full(n, "valid", dtype=object), pa.string()),
        "framed": np.zeros(n),
        **p.screens(prof),
        "dwell_ms": dwell,
        "visible_ms": dwell,
        "interactions": np.zeros(n),
        "webdriver": np.zeros(n),
        "tz": take(TZS, np.zeros(n, dtype=np.int64)),
        "lang": take(str_pool(["zh-CN"]), np.zeros(n, dtype=np.int64)),
        "platform": p.platform.take(pidx),
        "ch_ua": p.ch_ua.take(pidx),
    }
    counts = 1 + (rng.random(n) < 0.2)
    return emit(ctx, rng, visits, counts, "sivt.anomaly", jitter=0.01)
