"""Automated browsers (truth `sivt.automation`): plain headless Chrome, WebDriver-driven browsers
(Selenium, Puppeteer, Playwright), stealth kits that patch the obvious flags but leave subtler
traces, and Android emulators. They run the real tracker (valid token), clear cookies between
visits, and come from cloud machines or residential proxies. About one visit in eight shows a
single subtle tell and nothing else.
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
    pick,
    sample_pages,
    sample_sources,
    search_referrers,
    social_referrers,
    str_pool,
    take,
    where_str,
)
from .context import DayContext
from .devices import ch_ua
from .machine import BOT_CLOUDS
from .network import networks

HEADLESS, WEBDRIVER, STEALTH, EMULATOR = range(4)
VARIANT_MIX = [0.20, 0.30, 0.35, 0.15]

_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
_LNX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
_HDL = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/{v}.0.0.0 Safari/537.36"
_IPH = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1"
_AND = "Mozilla/5.0 (Linux; Android {a}; {m} Build/{b}; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/{v}.0.0.0 Mobile Safari/537.36"

# A "kit" = one tool configuration: (ua, platform, ch_ua, screen w, h, viewport w, h, webdriver,
# tells, weight within its variant). Screens of headless kits are their defaults.
_V = (116, 118, 119, 120)


def _kits() -> list[tuple]:
    k: list[tuple] = []
    for v in _V:
        hl = f'"HeadlessChrome";v="{v}", "Chromium";v="{v}", "Not_A Brand";v="8"'
        k += [
            (
                HEADLESS,
                _HDL.format(v=v),
                "Linux x86_64",
                hl,
                800,
                600,
                800,
                600,
                1.0,
                ("headless_window",),
                0.5,
            ),
            (
                HEADLESS,
                _HDL.format(v=v),
                "Linux x86_64",
                hl,
                1920,
                1080,
                1920,
                1080,
                1.0,
                ("headless_window", "no_plugins"),
                0.3,
            ),
            (
                HEADLESS,
                _HDL.format(v=v).replace("X11; Linux x86_64", "Windows NT 10.0; Win64; x64"),
                "Win32",
                hl,
                800,
                600,
                800,
                600,
                1.0,
                (),
                0.2,
            ),
            (
                WEBDRIVER,
                _WIN.format(v=v),
                "Win32",
                ch_ua(v, "Google Chrome"),
                1920,
                1080,
                1920,
                947,
                1.0,
                (),
                0.35,
            ),
            (
                WEBDRIVER,
                _WIN.format(v=v),
                "Linux x86_64",
                ch_ua(v, "Google Chrome"),
                1280,
                720,
                1280,
                720,
                1.0,
                ("cdp_runtime",),
                0.25,
            ),
            (
                WEBDRIVER,
                _LNX.format(v=v),
                "Linux x86_64",
                ch_ua(v, "Google Chrome"),
                1366,
                768,
                1366,
                641,
                1.0,
                (),
                0.2,
            ),
            (WEBDRIVER, _IPH, "Linux x86_64", ch_ua(v, None), 390, 844, 390, 844, 1.0, (), 0.2),
            # stealth: several traces
            (
                STEALTH,
                _WIN.format(v=v),
                "Linux x86_64",
                ch_ua(v, None),
                1920,
                1080,
                1920,
                1080,
                0.0,
                ("cdp_runtime", "no_plugins"),
                0.25,
            ),
            (
                STEALTH,
                _WIN.format(v=v),
                "Linux x86_64",
                ch_ua(v, "Google Chrome"),
                1920,
                1080,
                1920,
                1080,
                0.0,
                ("no_plugins", "permissions_mismatch", "headless_window"),
                0.22,
            ),
            (
                STEALTH,
                _IPH,
                "Linux x86_64",
                ch_ua(v, None),
                390,
                844,
                390,
                844,
                0.0,
                ("worker_ua_mismatch",),
                0.15,
            ),
            (
                STEALTH,
                _IPH,
                "iPhone",
                ch_ua(v, None),
                390,
                844,
                390,
                844,
                0.0,
                ("worker_ua_mismatch", "cdp_runtime"),
                0.06,
            ),
            # stealth: exactly one subtle trace
            (
                STEALTH,
                _WIN.format(v=v),
                "Win32",
                ch_ua(v, "Google Chrome"),
                1920,
                1080,
                1920,
                937,
                0.0,
                ("cdp_runtime",),
                0.13,
            ),
            (
                STEALTH,
                _WIN.format(v=v),
                "Win32",
                ch_ua(v - 4, "Google Chrome"),
                1536,
                864,
                1536,
                731,
                0.0,
                (),
                0.11,
            ),
            (
                STEALTH,
                _WIN.format(v=v),
                "Win32",
                ch_ua(v, "Google Chrome"),
                1920,
                1080,
                1920,
                961,
                0.0,
                ("worker_ua_mismatch",),
                0.04,
            ),
            (
                STEALTH,
                _WIN.format(v=v),
                "Win32",
                ch_ua(v, "Google Chrome"),
                1366,
                768,
                1366,
                625,
                0.0,
                ("permissions_mismatch",),
                0.04,
            ),
        ]
    for a, b, mdl in (("13", "TE1A.220922.034", "sdk_gphone64_x86_64"), ("11", "RSR1.201013.001", "sdk_gphone_x86"),
                      ("12", "SKQ1.211006.001", "V2243A"), ("9", "PQ3A.190801.002", "SM-G9810"), ("7.1.2", "N2G48H", "SM-G977N")):  # fmt: skip
        for v in (114, 119):
            ua = _AND.format(a=a, m=mdl, b=b, v=v)
            wv = ch_ua(v, "Android WebView")
            generic = mdl.startswith("sdk")
            k += [
                # BlueStacks / LDPlayer style: desktop-like screen, x86 platform
                (
                    EMULATOR,
                    ua,
                    "Linux x86_64",
                    wv,
                    1280,
                    720,
                    1280,
                    648,
                    0.0,
                    (),
                    0.25 if not generic else 0.1,
                ),
                (EMULATOR, ua, "Linux i686", wv, 900, 1600, 900, 1540, 0.0, (), 0.1),
                # phone-sized emulator: x86 platform is the one trace (Chinese model string)
                (
                    EMULATOR,
                    ua,
                    "Linux x86_64",
                    wv,
                    360,
                    800,
                    360,
                    736,
                    0.0,
                    (),
                    0.2 if not generic else 0.02,
                ),
                (EMULATOR, ua, "Linux x86_64", wv, 411, 731, 411, 659, 1.0, (), 0.05),
            ]
    return k


KITS = _kits()
_KIT_VARIANT = np.array([k[0] for k in KITS])
_RAW_W = np.array([k[10] for k in KITS])
# each variant gets its VARIANT_MIX share, split among its kits by their weights
_KIT_W = (
    _RAW_W
    / np.array([_RAW_W[_KIT_VARIANT == v].sum() for v in range(4)])[_KIT_VARIANT]
    * np.array(VARIANT_MIX)[_KIT_VARIANT]
)
UA = str_pool(k[1] for k in KITS)
PLATFORM = str_pool(k[2] for k in KITS)
CH_UA = str_pool(k[3] for k in KITS)
SCREEN = np.array([k[4:8] for k in KITS], dtype=np.float64)
WEBDRIVER_FLAG = np.array([k[8] for k in KITS])
TELLS = pa.array([list(k[9]) if k[9] else None for k in KITS], pa.list_(pa.string()))


def generate(ctx: DayContext, n: int) -> pa.Table:
    rng = ctx.rng("automation")
    # bot machines: each runs one kit, from a cloud address or through residential proxies
    machines = max(1, n // 25)
    kit_m = pick(cdf_of(_KIT_W), rng.random(machines))
    cloud_m = rng.random(machines) < 0.6
    ip_m = networks().cloud_mix(rng, machines, BOT_CLOUDS)
    flat_m = rng.random(machines) < 0.5
    fp_m = rng.integers(0, np.iinfo(np.uint64).max, machines, dtype=np.uint64)
    mach = pick(cdf_of(rng.lognormal(0, 0.7, machines)), rng.random(n))
    kit = kit_m[mach]
    net = networks()
    proxy = net.proxies(rng, n, 0.2)
    ip = np.where(cloud_m[mach], ip_m[mach], proxy)
    # stealth kits spoof canvas/audio fingerprints per visit; others keep the machine's
    spoof = (_KIT_VARIANT[kit] == STEALTH) & (rng.random(n) < 0.6)
    fp = np.where(spoof, rng.integers(0, np.iinfo(np.uint64).max, n, dtype=np.uint64), fp_m[mach])
    start = start_times(rng, flat_m[mach])
    dwell = np.where(
        rng.random(n) < 0.5, rng.uniform(3_000, 30_000, n), rng.choice([5_000, 10_000, 15_000], n)
    )
    # CDP-dispatched input is trusted: some scripts scroll or click
    acts = rng.random(n) < 0.25
    inter = np.where(acts, rng.integers(1, 4, n), 0).astype(np.float64)
    first = np.where(acts, rng.choice([500, 1_000, 2_000, 3_000], n) + rng.normal(0, 30, n), np.nan)
    ref = where_str(rng.random(n) < 0.5, search_referrers(rng, n), social_referrers(rng, n))
    ref = where_str(rng.random(n) < 0.35, pa.nulls(n, pa.string()), ref)
    tz = np.where(cloud_m[mach] & (rng.random(n) < 0.5), "UTC", "Asia/Shanghai")
    kidx = pa.array(kit)
    visits = {
        "start": start,
        "page": sample_pages(rng, n),
        "visitor_id": fresh_ids(rng, n),
        "device_id": hex_strings(fp),
        "ip": ipv4_strings(ip),
        "user_agent": UA.take(kidx),
        "source": take(SOURCES, sample_sources(rng, n)),
        "referrer": ref,
        "token": pa.array(np.full(n, "valid", dtype=object), pa.string()),
        "framed": np.zeros(n),
        "screen_w": SCREEN[kit, 0],
        "screen_h": SCREEN[kit, 1],
        "viewport_w": SCREEN[kit, 2],
        "viewport_h": SCREEN[kit, 3],
        "dwell_ms": dwell,
        "visible_ms": dwell,
        "interactions": inter,
        "first_interaction_ms": np.round(first),
        "webdriver": WEBDRIVER_FLAG[kit],
        "tells": TELLS.take(kidx),
        "tz": pa.array(tz, pa.string()),
        "lang": pa.array(np.where(tz == "UTC", "en-US", "zh-CN"), pa.string()),
        "platform": PLATFORM.take(kidx),
        "ch_ua": CH_UA.take(kidx),
    }
    counts = pick(cdf_of([0.75, 0.17, 0.08]), rng.random(n)) + 1
    clicks = acts & (rng.random(n) < 0.5)
    conv = rng.random(n) < 0.003
    last = np.where(conv, 2, np.where(clicks, 1, 0))
    counts = counts + (last > 0)
    return emit(ctx, rng, visits, counts, "sivt.automation", jitter=0.05, last=last)
