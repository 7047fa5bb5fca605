"""Device/browser profiles of a Chinese audience: user agent, navigator.platform, client hints and
screen that a real device of that kind reports, consistently, with a realistic market weight.

The table is "the world", built once and identical for every seed. Each population samples rows
with its own weights (hidden-injection hosts lean on in-app web views, desktop bots on Windows...).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa

from .common import cdf_of, pick

IOS, ANDROID, DESKTOP = 0, 1, 2
WEBKIT, CHROMIUM, GECKO = 0, 1, 2


def _grease(v: int) -> str:
    if v < 100:
        return '" Not A;Brand";v="99"'
    if v < 110:
        return '"Not/A)Brand";v="99"' if v % 2 else '"Not?A_Brand";v="24"'
    return '"Not_A Brand";v="8"' if v % 2 == 0 else '"Not A(Brand";v="24"'


def ch_ua(v: int, brand: str | None) -> str:
    parts = [_grease(v), f'"Chromium";v="{v}"']
    if brand:
        parts.append(f'"{brand}";v="{v}"')
    return ", ".join(parts)


_CHROME_FULL = {99: "99.0.4844.88", 100: "100.0.4896.127", 103: "103.0.5060.129",
                107: "107.0.5304.105", 108: "108.0.5359.125", 111: "111.0.5563.116",
                112: "112.0.5615.136", 114: "114.0.5735.196", 116: "116.0.5845.163",
                117: "117.0.5938.153", 118: "118.0.5993.111", 119: "119.0.6045.193",
                120: "120.0.6099.144"}  # fmt: skip

# (model label, css screen w, h, weight)
_IPHONES = [
    ("iPhone 8", 375, 667, 0.05), ("iPhone 8 Plus", 414, 736, 0.04), ("iPhone X", 375, 812, 0.09),
    ("iPhone 11", 414, 896, 0.16), ("iPhone 13", 390, 844, 0.25), ("iPhone 14 Pro", 393, 852, 0.16),
    ("iPhone 13 Pro Max", 428, 926, 0.12), ("iPhone 15 Pro Max", 430, 932, 0.13),
]  # fmt: skip
_IOS_VERSIONS = [("15_8", 0.06), ("16_6_1", 0.12), ("16_7_2", 0.14), ("17_0_3", 0.10),
                 ("17_1_1", 0.16), ("17_1_2", 0.30), ("17_2", 0.12)]  # fmt: skip
# (brand, model code, css w, h, weight, vendor browser)
_ANDROIDS = [
    ("HUAWEI", "NOH-AN00", 384, 792, 0.07, "huawei"), ("HUAWEI", "ANA-AN00", 360, 780, 0.07, "huawei"),
    ("HONOR", "ANY-AN00", 360, 800, 0.06, "huawei"), ("HUAWEI", "JAD-AL50", 395, 857, 0.04, "huawei"),
    ("Xiaomi", "2211133C", 393, 873, 0.07, "xiaomi"), ("Redmi", "M2012K11AC", 393, 873, 0.08, "xiaomi"),
    ("Redmi", "23013RK75C", 393, 873, 0.05, "xiaomi"), ("Xiaomi", "22081212C", 393, 873, 0.04, "xiaomi"),
    ("OPPO", "PGJM10", 360, 800, 0.08, "oppo"), ("OPPO", "PHM110", 360, 780, 0.05, "oppo"),
    ("OnePlus", "PJD110", 412, 915, 0.03, "oppo"), ("vivo", "V2243A", 360, 800, 0.08, "vivo"),
    ("vivo", "V2199A", 393, 873, 0.06, "vivo"), ("iQOO", "V2217A", 388, 842, 0.04, "vivo"),
    ("samsung", "SM-S9180", 384, 832, 0.03, "samsung"), ("Meizu", "MEIZU 20", 412, 915, 0.02, "none"),
]  # fmt: skip
_ANDROID_VERSIONS = [("10", 0.14), ("11", 0.16), ("12", 0.24), ("13", 0.32), ("14", 0.14)]
_BUILDS = {"10": "QKQ1.190910.002", "11": "RKQ1.200826.002", "12": "SKQ1.211006.001",
           "13": "TKQ1.220905.001", "14": "UKQ1.230804.001"}  # fmt: skip

_DESKTOP_SCREENS = [(1920, 1080, 0.35), (1366, 768, 0.15), (1536, 864, 0.15), (1440, 900, 0.07),
                    (2560, 1440, 0.07), (1600, 900, 0.06), (1280, 720, 0.04), (1680, 1050, 0.04),
                    (1280, 1024, 0.03), (1360, 768, 0.04)]  # fmt: skip
_MAC_SCREENS = [(1440, 900, 0.3), (1512, 982, 0.25), (1728, 1117, 0.15), (1680, 1050, 0.1),
                (1920, 1080, 0.2)]  # fmt: skip


@dataclass(frozen=True)
class Profiles:
    ua: pa.Array
    platform: pa.Array
    ch_ua: pa.Array
    screen_w: np.ndarray
    screen_h: np.ndarray
    vp_w: np.ndarray
    vp_h: np.ndarray
    os: np.ndarray
    engine: np.ndarray
    inapp: np.ndarray
    app: np.ndarray  # str labels (small vocabulary)
    weight: np.ndarray
    major: np.ndarray  # Chromium major version (0 if not Chromium)

    def __len__(self) -> int:
        return len(self.weight)

    def sampler(self, mask: np.ndarray | None = None, boost: dict[str, float] | None = None):
        """cdf over rows (restricted to mask; app weights multiplied by boost)."""
        w = self.weight.copy()
        if mask is not None:
            w = np.where(mask, w, 0.0)
        for app, f in (boost or {}).items():
            w = np.where(self.app == app, w * f, w)
        return Sampler(cdf_of(w))

    def screens(self, prof: np.ndarray) -> dict[str, np.ndarray]:
        """Screen and viewport sizes as the browsers of rows `prof` report them, unaltered (floats,
        as the `client` columns take them)."""
        return {
            "screen_w": self.screen_w[prof].astype(np.float64),
            "screen_h": self.screen_h[prof].astype(np.float64),
            "viewport_w": self.vp_w[prof].astype(np.float64),
            "viewport_h": self.vp_h[prof].astype(np.float64),
        }

    @property
    def io_v2(self) -> np.ndarray:
        """IntersectionObserver v2 (trackVisibility) is Chromium only."""
        return self.engine == CHROMIUM

    @property
    def ancestor_origins(self) -> np.ndarray:
        """location.ancestorOrigins: Chromium and WebKit, not Firefox."""
        return self.engine != GECKO


@dataclass(frozen=True)
class Sampler:
    cdf: np.ndarray

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return pick(self.cdf, rng.random(n))


def _ios_rows(rows: list, rng: np.random.Generator) -> None:
    apps = [("safari", 0.55), ("wechat", 0.13), ("douyin", 0.04), ("weibo", 0.02), ("qq", 0.02),
            ("baidu", 0.03), ("webview", 0.04), ("qqbrowser", 0.07), ("uc", 0.04), ("crios", 0.04),
            ("toutiao", 0.02)]  # fmt: skip
    for model, w, h, mw in _IPHONES:
        for ver, vw in _IOS_VERSIONS:
            short = ver.replace("_", ".")
            base = f"Mozilla/5.0 (iPhone; CPU iPhone OS {ver} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
            for app, aw in apps:
                wk = f"{base} Mobile/15E148"
                nav = int(rng.integers(80, 100))
                if app == "safari":
                    ua, nav = (
                        f"{base} Version/{short} Mobile/15E148 Safari/604.1",
                        int(rng.integers(150, 200)),
                    )
                elif app == "wechat":
                    v = rng.choice(
                        ["8.0.42(0x18002a2f)", "8.0.44(0x18002c2d)", "8.0.45(0x18002d2a)"]
                    )
                    net = rng.choice(["WIFI", "4G", "5G"])
                    ua = f"{wk} MicroMessenger/{v} NetType/{net} Language/zh_CN"
                elif app == "douyin":
                    v = rng.choice(["27.9.0", "28.1.0", "28.3.0"])
                    ua = f"{wk} aweme_{v} JsSdk/2.0 NetType/WIFI Channel/App Store ByteLocale/zh Region/CN WKWebView/1"
                elif app == "weibo":
                    ua = f"{wk} Weibo (iPhone15,2__weibo__13.11.{rng.integers(0, 3)}__iphone__os{short})"
                elif app == "qq":
                    ua = f"{wk} QQ/8.9.{rng.integers(80, 96)}.635 V1_IPH_SQ_8.9.88_1_APP_A Core/WKWebView Device/Apple({model}) NetType/WIFI QBWebViewType/1 WKType/1"
                elif app == "baidu":
                    ua = f"{wk} SP-engine/2.{rng.integers(70, 80)}.0 main/1.0 baiduboxapp/13.{rng.integers(40, 50)}.0.10 (Baidu; P2 {short}) NABar/1.0"
                elif app == "toutiao":
                    ua = f"{wk} NewsArticle/9.{rng.integers(4, 9)}.0 JsSdk/2.0 NetType/WIFI (NewsLite 9.4.0 {short} 3.0)"
                elif app == "qqbrowser":
                    ua = f"{base} Version/{short} MQQBrowser/14.{rng.integers(0, 4)}.0 Mobile/15E148 Safari/604.1 QBWebViewUA/2 QBWebViewType/1 WKType/1"
                    nav = int(rng.integers(140, 180))
                elif app == "uc":
                    ua = f"{base} Version/{short} Mobile/15E148 Safari/604.1 UCBrowser/15.{rng.integers(5, 9)}.0.2{rng.integers(100, 999)}"
                    nav = int(rng.integers(140, 180))
                elif app == "crios":
                    ua = f"{base} CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1"
                    nav = int(rng.integers(150, 190))
                else:
                    ua = wk
                inapp = app not in ("safari", "qqbrowser", "uc", "crios")
                rows.append((ua, "iPhone", None, w, h, w, h - nav, IOS, WEBKIT, inapp, app,
                             0.6 * mw * vw * aw, 0))  # fmt: skip
    # iPads identify as Macs since iPadOS 13
    ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"
    rows.append(
        (ua, "MacIntel", None, 820, 1180, 820, 1106, IOS, WEBKIT, False, "safari", 0.006, 0)
    )


def _android_rows(rows: list, rng: np.random.Generator) -> None:
    vendor = {"huawei": ("HuaweiBrowser/14.0.{}.300", 99), "xiaomi": ("XiaoMi/MiuiBrowser/17.{}.30", 100),
              "vivo": ("VivoBrowser/13.{}.10.0", 103), "oppo": ("HeyTapBrowser/40.8.{}.1", 107),
              "samsung": ("SamsungBrowser/23.0", 114)}  # fmt: skip
    apps = [("vendor", 0.30), ("chrome", 0.06), ("uc", 0.09), ("qqbrowser", 0.10), ("quark", 0.08),
            ("wechat", 0.14), ("douyin", 0.05), ("weibo", 0.02), ("qq", 0.03), ("baidu", 0.03),
            ("toutiao", 0.02), ("webview", 0.04)]  # fmt: skip
    for brand, model, w, h, mw, vend in _ANDROIDS:
        for ver, vw in _ANDROID_VERSIONS:
            build = _BUILDS[ver]
            plat = str(
                rng.choice(["Linux armv8l", "Linux aarch64", "Linux armv81"], p=[0.6, 0.33, 0.07])
            )
            hos = "HarmonyOS; " if vend == "huawei" and rng.random() < 0.7 else ""
            for app, aw in apps:
                nav = int(rng.integers(60, 110))
                hints: str | None
                wv = int(rng.choice([107, 111, 114, 116, 119]))
                wvfull = _CHROME_FULL[wv]
                wvbase = f"Mozilla/5.0 (Linux; Android {ver}; {model} Build/{build}; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/{wvfull} Mobile Safari/537.36"
                hints, major, inapp = ch_ua(wv, "Android WebView"), wv, True
                if app == "vendor":
                    if vend not in vendor:
                        continue
                    fmt, core = vendor[vend]
                    tag = fmt.format(rng.integers(1, 9))
                    if vend == "xiaomi":
                        ua = f"Mozilla/5.0 (Linux; U; Android {ver}; zh-cn; {model} Build/{build}) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/{_CHROME_FULL[core]} Mobile Safari/537.36 {tag}"
                    else:
                        ua = f"Mozilla/5.0 (Linux; Android {ver}; {hos}{model}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{_CHROME_FULL[core]} {tag}Mobile Safari/537.36".replace(
                            f"{tag}Mobile", f"{tag} Mobile"
                        )
                    hints, major, inapp, nav = (
                        ch_ua(core, None),
                        core,
                        False,
                        int(rng.integers(110, 150)),
                    )
                elif app == "chrome":
                    v = int(rng.choice([116, 118, 119, 120]))
                    ua = f"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36"
                    hints, major, inapp, nav = (
                        ch_ua(v, "Google Chrome"),
                        v,
                        False,
                        int(rng.integers(110, 150)),
                    )
                elif app == "uc":
                    ua = f"Mozilla/5.0 (Linux; U; Android {ver}; zh-CN; {model} Build/{build}) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 UCBrowser/15.{rng.integers(5, 9)}.0.1{rng.integers(100, 999)} Mobile Safari/537.36"
                    hints, major, inapp, nav = None, 78, False, int(rng.integers(110, 150))
                elif app == "qqbrowser":
                    ua = f"Mozilla/5.0 (Linux; U; Android {ver}; zh-cn; {model} Build/{build}) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/109.0.5414.86 MQQBrowser/14.{rng.integers(0, 6)} Mobile Safari/537.36 COVC/046701"
                    hints, major, inapp, nav = (
                        ch_ua(109, None),
                        109,
                        False,
                        int(rng.integers(110, 150)),
                    )
                elif app == "quark":
                    ua = f"Mozilla/5.0 (Linux; U; Android {ver}; zh-CN; {model} Build/{build}) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.58 Quark/6.{rng.integers(5, 9)}.5.3{rng.integers(10, 99)} Mobile Safari/537.36"
                    hints, major, inapp, nav = (
                        ch_ua(100, None),
                        100,
                        False,
                        int(rng.integers(110, 150)),
                    )
                elif app == "wechat":
                    net = rng.choice(["WIFI", "4G", "5G"])
                    ua = f"{wvbase} XWEB/{rng.integers(1100, 1200)}{rng.integers(10, 99)} MMWEBSDK/20231202 MMWEBID/{rng.integers(1000, 9999)} MicroMessenger/8.0.{rng.integers(42, 46)}.2{rng.integers(400, 599)}(0x28002D{rng.integers(10, 99)}) WeChat/arm64 Weixin NetType/{net} Language/zh_CN ABI/arm64"
                elif app == "douyin":
                    ua = f"{wvbase} aweme/28.{rng.integers(0, 4)}.0 ToutiaoMicroApp/3.1{rng.integers(0, 9)}.0 PluginVersion/28{rng.integers(100, 999)}00"
                elif app == "weibo":
                    ua = f"{wvbase} Weibo ({brand}-{model}__weibo__13.11.{rng.integers(0, 3)}__android__android{ver})"
                elif app == "qq":
                    ua = f"{wvbase} V1_AND_SQ_8.9.{rng.integers(80, 96)}_4{rng.integers(100, 999)}_YYB_D QQ/8.9.88.14000 NetType/WIFI WebP/0.4.1 AppId/537187{rng.integers(100, 999)} Pixel/1080 StatusBarHeight/110 SimpleUISwitch/0 QQTheme/1000 StudyMode/0 CurrentMode/0 CurrentFontScale/1.0"
                elif app == "baidu":
                    ua = f"{wvbase} lite baiduboxapp/13.{rng.integers(40, 50)}.0.10 (Baidu; P1 {ver}) NABar/1.0"
                elif app == "toutiao":
                    ua = f"{wvbase} NewsArticle/9.{rng.integers(4, 9)}.0 ToutiaoMicroApp/3.1{rng.integers(0, 9)}.0"
                else:
                    ua = wvbase
                rows.append((ua, plat, hints, w, h, w, h - nav, ANDROID, CHROMIUM, inapp, app,
                             0.3 * mw * vw * aw, major))  # fmt: skip


def _desktop_rows(rows: list, rng: np.random.Generator) -> None:
    win = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko)"
    for sw, sh, ssw in _DESKTOP_SCREENS:
        for v in (116, 118, 119, 120):
            vw = {116: 0.15, 118: 0.2, 119: 0.3, 120: 0.35}[v]
            bar = int(rng.integers(120, 160))
            rows.append(
                (
                    f"{win} Chrome/{v}.0.0.0 Safari/537.36",
                    "Win32",
                    ch_ua(v, "Google Chrome"),
                    sw,
                    sh,
                    sw,
                    sh - bar,
                    DESKTOP,
                    CHROMIUM,
                    False,
                    "chrome",
                    0.1 * ssw * 0.40 * vw,
                    v,
                )
            )
            rows.append((f"{win} Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.2210.{rng.integers(60, 140)}", "Win32",
                         ch_ua(v, "Microsoft Edge"), sw, sh, sw, sh - bar, DESKTOP, CHROMIUM, False, "edge",
                         0.1 * ssw * 0.18 * vw, v))  # fmt: skip
        for v in (118, 119, 120, 121):
            rows.append((f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
                         "Win32", None, sw, sh, sw, sh - 130, DESKTOP, GECKO, False, "firefox",
                         0.1 * ssw * 0.05 / 4, 0))  # fmt: skip
        rows.append((f"{win} Chrome/108.0.0.0 Safari/537.36 QIHU 360SE", "Win32", ch_ua(108, None), sw, sh, sw,
                     sh - 140, DESKTOP, CHROMIUM, False, "360se", 0.1 * ssw * 0.12, 108))  # fmt: skip
        rows.append((f"{win} Chrome/107.0.0.0 Safari/537.36 Core/1.94.{rng.integers(200, 230)}.400 QQBrowser/12.{rng.integers(0, 3)}.5548.400",
                     "Win32", ch_ua(107, None), sw, sh, sw, sh - 150, DESKTOP, CHROMIUM, False, "qqbrowser",
                     0.1 * ssw * 0.10, 107))  # fmt: skip
        rows.append(("Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.198 Safari/537.36 SE 2.X MetaSr 1.0",
                     "Win32", None, sw, sh, sw, sh - 150, DESKTOP, CHROMIUM, False, "sogou", 0.1 * ssw * 0.05, 86))  # fmt: skip
        if sw >= 1366:
            rows.append(("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
                         "Linux x86_64", ch_ua(119, "Google Chrome"), sw, sh, sw, sh - 110, DESKTOP, CHROMIUM,
                         False, "chrome", 0.1 * ssw * 0.01, 119))  # fmt: skip
    for sw, sh, ssw in _MAC_SCREENS:
        rows.append(("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
                     "MacIntel", None, sw, sh, sw, sh - 110, DESKTOP, WEBKIT, False, "safari", 0.1 * ssw * 0.06, 0))  # fmt: skip
        rows.append((f"{mac} Chrome/120.0.0.0 Safari/537.36", "MacIntel", ch_ua(120, "Google Chrome"), sw, sh,
                     sw, sh - 120, DESKTOP, CHROMIUM, False, "chrome", 0.1 * ssw * 0.04, 120))  # fmt: skip


@lru_cache(maxsize=1)
def profiles() -> Profiles:
    rng = np.random.default_rng(20170901)  # the world is the same for every seed
    rows: list = []
    _ios_rows(rows, rng)
    _android_rows(rows, rng)
    _desktop_rows(rows, rng)
    cols = list(zip(*rows, strict=True))
    return Profiles(
        ua=pa.array(cols[0], pa.string()),
        platform=pa.array(cols[1], pa.string()),
        ch_ua=pa.array(cols[2], pa.string()),
        screen_w=np.array(cols[3]),
        screen_h=np.array(cols[4]),
        vp_w=np.array(cols[5]),
        vp_h=np.array(cols[6]),
        os=np.array(cols[7]),
        engine=np.array(cols[8]),
        inapp=np.array(cols[9], dtype=bool),
        app=np.array(cols[10]),
        weight=np.array(cols[11], dtype=np.float64),
        major=np.array(cols[12]),
    )


LANGS = pa.array(["zh-CN", "zh-CN", "zh-TW", "en-US", "zh-HK", "en-GB"], pa.string())
LANG_CDF = cdf_of([0.93, 0.0, 0.015, 0.045, 0.006, 0.004])
TZS = pa.array(["Asia/Shanghai", "Asia/Chongqing", "Asia/Hong_Kong", "Asia/Urumqi", "UTC",
                "America/Los_Angeles", "Asia/Tokyo"], pa.string())  # fmt: skip
TZ_ORGANIC_CDF = cdf_of([0.975, 0.012, 0.006, 0.003, 0.002, 0.001, 0.001])
