"""User-agent knowledge, applied to distinct values only: crawlerdetect for bots, ua-parser for
what browser and OS a UA claims, and consistency between a UA and what the browser itself reported
(client hints, navigator.platform).
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import pyarrow as pa
from crawlerdetect import CrawlerDetect
from ua_parser import parse as ua_parse

HEADLESS_RE = re.compile(r"HeadlessChrome|PhantomJS|SlimerJS|Puppeteer|Playwright|Selenium")
# Electron with no app of its own before the engine tokens (Nightmare and other Electron
# automation); desktop apps name themselves (Slack/4.33, discord/1.0, Code/1.85): people.
BARE_ELECTRON_RE = re.compile(r"\(KHTML, like Gecko\)\s+(?:Chrome/\S+\s+)?Electron/")
# Text-mode browsers a person drives (crawlerdetect lists Lynx's libwww as a library).
TEXT_BROWSER_RE = re.compile(r"^(?:Lynx|Links|ELinks|w3m)/")
# A full browser engine UA with a mail client's name after it: the client's in-app view of a
# link a person opened (Outlook's); a mail prefetcher sends no engine tokens.
MAIL_VIEW_RE = re.compile(
    r"AppleWebKit/\S+ \(KHTML, like Gecko\).*(?:Chrome|Version)/\S+.*Microsoft Outlook"
)
BOT_WORDS_RE = re.compile(r"bot|spider|crawl|\+https?://", re.IGNORECASE)
CHROME_RE = re.compile(r"(?:Chrome|Chromium)/(\d+)")
BRAND_RE = re.compile(r'"([^"]+)"\s*;\s*v\s*=\s*"(\d+)')
EMULATOR_RE = re.compile(r"sdk_gphone|Android SDK built for|\bEmulator\b|generic_x86|vbox86", re.I)

UA_INFO_SCHEMA = pa.schema(
    [
        ("user_agent", pa.string()),
        ("kind", pa.string()),  # crawler | http_library | headless | null (a browser)
        ("crawler", pa.string()),  # what crawlerdetect matched
        ("os_family", pa.string()),
        ("browser", pa.string()),
        ("chromium_major", pa.int32()),  # Chromium engine version the UA claims (not on iOS)
        ("mobile", pa.bool_()),
        ("emulator", pa.bool_()),
    ]
)


@lru_cache(maxsize=1)
def _crawler_detect() -> CrawlerDetect:
    return CrawlerDetect()


_LOCK = threading.Lock()  # crawlerdetect keeps its last match on the instance


# The UA libraries' regexes are super-linear in the length of what they read (crawlerdetect took
# 8 s on an 8 KB user agent, minutes on 32 KB): only this much of a UA is classified. Real user
# agents, in-app ones with their long tails included, are well under it.
MAX_UA_CLASSIFIED = 512


def classify(user_agent: str) -> dict[str, object]:
    """What a UA claims and whether it declares a bot, from its first MAX_UA_CLASSIFIED
    characters (bounded cost for any input). Callers must not mutate the result."""
    if len(user_agent) <= MAX_UA_CLASSIFIED:
        return _classify_cached(user_agent)
    return {**_classify_cached(user_agent[:MAX_UA_CLASSIFIED]), "user_agent": user_agent}


@lru_cache(maxsize=65_536)  # keyed on at most MAX_UA_CLASSIFIED characters: bounded memory
def _classify_cached(user_agent: str) -> dict[str, object]:
    with _LOCK:
        return _classify(user_agent)


def _classify(user_agent: str) -> dict[str, object]:
    detector = _crawler_detect()
    parsed = ua_parse(user_agent)
    os_family = parsed.os.family if parsed.os else None
    browser = parsed.user_agent.family if parsed.user_agent else None
    kind = None
    match = None
    if HEADLESS_RE.search(user_agent) or BARE_ELECTRON_RE.search(user_agent):
        kind = "headless"
    elif (
        "Electron/" in user_agent  # a named desktop app (crawlerdetect reads Slack/ as Slackbot)
        or TEXT_BROWSER_RE.match(user_agent)
        or MAIL_VIEW_RE.search(user_agent)
    ):
        kind = None  # a person's browser, whatever the crawler list says
    elif detector.isCrawler(user_agent):
        match = detector.getMatches()
        plain = not user_agent.startswith("Mozilla/") and not BOT_WORDS_RE.search(user_agent)
        kind = "http_library" if plain else "crawler"
    chrome = CHROME_RE.search(user_agent)
    chromium_major = int(chrome.group(1)) if chrome and os_family != "iOS" else None
    mobile = os_family in ("iOS", "Android", "HarmonyOS") or "Mobile" in user_agent
    return {
        "user_agent": user_agent,
        "kind": kind,
        "crawler": match if isinstance(match, str) else None,
        "os_family": os_family,
        "browser": browser,
        "chromium_major": chromium_major,
        "mobile": mobile,
        "emulator": bool(EMULATOR_RE.search(user_agent)),
    }


def classify_many(user_agents: list[str]) -> pa.Table:
    return pa.Table.from_pylist([classify(ua) for ua in user_agents], schema=UA_INFO_SCHEMA)


# ------------------------------------------------------------ UA vs what the browser reported
PLATFORMS = {  # OS a UA claims -> prefixes navigator.platform may start with on that OS
    "iOS": ("iPhone", "iPad", "iPod", "MacIntel"),
    "Android": ("Linux arm", "Linux aarch", "Linux armv", "Android", "Linux"),
    "HarmonyOS": ("Linux", "HarmonyOS"),
    "Windows": ("Win32", "Win64", "Windows"),
    "Mac OS X": ("MacIntel", "MacPPC", "Macintosh"),
    "Linux": ("Linux",),
    "Chrome OS": ("Linux", "CrOS"),
    "Ubuntu": ("Linux",),
}


def brands(ch_ua: str) -> dict[str, int]:
    return {name: int(version) for name, version in BRAND_RE.findall(ch_ua)}


def consistency(user_agent: str | None, ch_ua: str | None, platform: str | None) -> list[str]:
    """Reason codes for contradictions between the UA and the browser's own reports."""
    if not user_agent:
        return []
    info = classify(user_agent)
    reasons = []
    if ch_ua:
        b = brands(ch_ua)
        if "HeadlessChrome" in b:
            reasons.append("ua.headless")
        major = info["chromium_major"]
        if major is None:
            # Safari, Firefox and every iOS browser send no client hints at all.
            reasons.append("ua.ch_mismatch")
        elif b:
            engine = b.get("Chromium") or b.get("HeadlessChrome") or b.get("Google Chrome")
            # Brand lists differ between Chromium browsers (360, QQ, Huawei...), so only the
            # engine version is compared, never the presence of a particular brand.
            if engine is not None and engine != major:
                reasons.append("ua.ch_mismatch")
    if platform:
        os_family = info["os_family"]
        allowed = PLATFORMS.get(str(os_family))
        if allowed and not platform.startswith(allowed):
            reasons.append("ua.platform_mismatch")
        if os_family == "Android" and re.match(r"Linux (x86_64|i686)", platform):
            reasons.append("client.emulator")
    if info["emulator"]:
        reasons.append("client.emulator")
    return sorted(set(reasons))


CONSISTENCY_SCHEMA = pa.schema(
    [
        ("user_agent", pa.string()),
        ("ch_ua", pa.string()),
        ("platform", pa.string()),
        ("reason", pa.string()),
    ]
)


def consistency_many(triples: list[tuple[str | None, str | None, str | None]]) -> pa.Table:
    rows = []
    for ua, ch, platform in triples:
        for reason in consistency(ua, ch, platform):
            rows.append({"user_agent": ua, "ch_ua": ch, "platform": platform, "reason": reason})
    return pa.Table.from_pylist(rows, schema=CONSISTENCY_SCHEMA)
