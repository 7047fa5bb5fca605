"""User-agent knowledge, applied to distinct values only: declared bots from several maintained
lists merged, shape rules for what is no browser at all, ua-parser for what browser and OS a UA
claims, and consistency between a UA and what the browser itself reported (client hints,
navigator.platform).

Declared bots, in this order (the first that matches names the match, `source` says which):
1. crawlerdetect's patterns (the installed package, with its exclusions removed first);
2. Matomo device-detector's bots.yml, client/libraries.yml and client/feed_readers.yml;
3. the crawler-user-agents list;
4. isbot's pattern;
5. shape rules: a URL or an e-mail address in the UA; one product name with at most a version
   and nothing else (`Potions/1.0.0`, `SparkShipping`); no browser or device token at all.
The lists 2-4 are bundled under `qinglang/data/ua/` with their licences, versions and dates
(`qinglang data show`; `qinglang data update` refreshes them). Every list is compiled once into
an RE2 set (linear time in the UA, whatever the patterns), so each distinct UA is read once per
list; the few patterns RE2 cannot run (look-arounds) run in Python's `re`.

A declared bot is then put in a class, each its own reason code: `crawler` (search engines,
SEO, archivers, scrapers), `monitor` (uptime, security scanners, validators, service agents and
webhooks), `feed_reader`, `link_preview` (social and chat link unfurlers), `http_library`
(libraries and command-line clients), `ai_agent` (AI crawlers, assistants and agents),
`mail_prefetch` (mail services fetching links and images). The class comes from the list's own
category where it has one (Matomo's category, crawler-user-agents' tags), else from words in the
UA. People's clients that the lists would catch stay browsers: Electron desktop apps, text
browsers, mail clients' in-app views.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import metadata, resources

import pyarrow as pa
import re2
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
BOT_WORDS_RE = re.compile(r"bot|spider|crawl|scrap|fetch|@|\+https?://", re.IGNORECASE)
CHROME_RE = re.compile(r"(?:Chrome|Chromium)/(\d+)")
BRAND_RE = re.compile(r'"([^"]+)"\s*;\s*v\s*=\s*"(\d+)')
# The made-up brand Chromium adds to the list ("Not A(Brand", "Not:A-Brand"...): no browser's name
GREASE_RE = re.compile(r"Not.?A.?Brand", re.IGNORECASE)
# Browsers whose user agent keeps a Chrome version of its own while the engine moves on: Huawei's
# ArkWeb names a fixed compatibility version (its documentation's table: Chrome/114 in the user
# agent over newer engines); UC Browser (which may run on the system's WebView), Sogou's MetaSr
# and desktop WeChat's built-in browser name old ones. Their engine version is never compared
# with the user agent's. (WeChat's XWEB on Android names its own kernel's version: compared.)
FROZEN_CHROME_RE = re.compile(r"ArkWeb/|UCBrowser/|\bMetaSr\b|WindowsWechat")
# A user agent of an engine that sends no client hints: Gecko (Firefox), Safari's WebKit, and
# every browser on iOS (all WebKit). One that names neither (a TV's browser, an app) is not judged.
NO_HINTS_RE = re.compile(
    r"\bGecko/\d|\bFirefox/|\b(?:iPhone|iPad|iPod)\b|\bVersion/[\d.]+ (?:Mobile/\S+ )?Safari/"
)
EMULATOR_RE = re.compile(r"sdk_gphone|Android SDK built for|\bEmulator\b|generic_x86|vbox86", re.I)

KINDS = (
    "crawler",
    "monitor",
    "feed_reader",
    "link_preview",
    "http_library",
    "ai_agent",
    "mail_prefetch",
)  # declared bots, each its own reason code `ua.<kind>`; `headless` goes to automation

UA_INFO_SCHEMA = pa.schema(
    [
        ("user_agent", pa.string()),
        ("kind", pa.string()),  # one of KINDS | headless | null (a browser)
        ("crawler", pa.string()),  # what matched: the bot's name or the matched text
        ("source", pa.string()),  # which list or rule matched (crawlerdetect, matomo, rule:url...)
        ("os_family", pa.string()),
        ("browser", pa.string()),
        ("chromium_major", pa.int32()),  # Chromium engine version the UA claims (not on iOS)
        ("mobile", pa.bool_()),
        ("emulator", pa.bool_()),
    ]
)

# ------------------------------------------------------------------------- classes of bots
MATOMO_CATEGORY = {
    "Search bot": "crawler",
    "Crawler": "crawler",
    "Search tools": "crawler",
    "Service bot": "crawler",
    "Read-it-later Service": "crawler",
    "Site Monitor": "monitor",
    "Network Monitor": "monitor",
    "Security Checker": "monitor",
    "Security search bot": "monitor",
    "Validator": "monitor",
    "Benchmark": "monitor",
    "Service Agent": "monitor",
    "AI Data Scraper": "ai_agent",
    "AI Assistant": "ai_agent",
    "AI Search Crawler": "ai_agent",
    "AI Agent": "ai_agent",
    "Feed Fetcher": "feed_reader",
    "Feed Reader": "feed_reader",
    "Feed Parser": "feed_reader",
    "Social Media Agent": "link_preview",
}
CUA_TAGS = (  # crawler-user-agents' tags, the first found decides
    ("ai-crawler", "ai_agent"),
    ("social-preview", "link_preview"),
    ("feed-reader", "feed_reader"),
    ("monitoring", "monitor"),
    ("scanner", "monitor"),
    ("http-library", "http_library"),
)
# Words that put a bot in a class when its list says nothing (checked in this order).
MAIL_PREFETCH_RE = re.compile(
    r"GoogleImageProxy|YahooMailProxy|Microsoft Office/[\d.]+ \([^)]*Microsoft Outlook"
    r"|\bOutlook-(?:iOS|Android)\b|ms-office; MSOffice|Mail\.ru.*Proxy|ProtonMail|FastMail"
    r"|Zimbra|YandexMail|mail-proxy|MailPrefetch|Superhuman|Barracuda|Mimecast|Proofpoint"
    r"|\bSafeLinks?\b",
    re.I,
)
CLASS_WORDS = (
    (
        "ai_agent",
        re.compile(
            r"GPTBot|ChatGPT|OAI-SearchBot|OpenAI|Claude|anthropic|Perplexity|cohere|"
            r"Google-Extended|GoogleAgent|Gemini|Bard|Meta-External|MistralAI|DuckAssist|"
            r"YouBot|Applebot-Extended|Bytespider|CCBot|ai2bot|Diffbot|Timpibot|omgili|"
            r"ImagesiftBot|img2dataset|Devin|Manus|\bOperator\b|\bLLM|\bAI[ -]?(?:Agent|Bot|"
            r"Crawler|Search|Assistant)|\bagent[ -]?ai\b|Amzn-User|Novellum|PhindBot|"
            r"Kangaroo Bot|iaskspider|Cotoyogi|\bgpt\b",
            re.I,
        ),
    ),
    (
        "link_preview",
        re.compile(
            r"facebookexternalhit|facebookcatalog|Facebot|Twitterbot|Slackbot|Slack-ImgProxy|"
            r"Discordbot|TelegramBot|WhatsApp|LinkedInBot|Pinterest|Embedly|redditbot|Skype|"
            r"Iframely|vkShare|Viber|Snapchat|Mastodon|Pleroma|Misskey|Bluesky|Cardyb|preview|"
            r"unfurl|XING-contenttabreceiver|TeamsBot|Microsoft Teams|LinkExpand|Tumblr|"
            r"Google-PageRenderer|Line(?:bot)?/|KakaoTalk-Scrap|Zalo|Yeti/|Quora Link|"
            r"Mattermost|RocketChat|Signal|Threema|W3C-checklink|oembed|opengraph|og-?scraper",
            re.I,
        ),
    ),
    (
        "feed_reader",
        re.compile(
            r"feed|\brss|\batom\b|podcast|Feedly|Feedbin|NewsBlur|Inoreader|Tiny Tiny RSS|"
            r"FreshRSS|NetNewsWire|Miniflux|theoldreader|Bloglovin|Superfeedr|Flipboard|"
            r"BazQux|Liferea|Akregator|NewsGator|Netvibes|\breader\b|syndicat|aggregat",
            re.I,
        ),
    ),
    (
        "monitor",
        re.compile(
            r"monitor|uptime|pingdom|statuscake|\bcheck|health|scan|security|nessus|nmap|"
            r"nikto|qualys|zgrab|censys|shodan|sqlmap|nuclei|acunetix|burp|openvas|wpscan|"
            r"site24x7|newrelic|datadog|synthetic|lighthouse|pagespeed|gtmetrix|webhook|"
            r"validator|W3C_|SSL ?Labs|hardenize|detectify|Expanse|measurement|probe|"
            r"Netcraft|Zabbix|Nagios|Icinga|prometheus|blackbox|HetrixTools|Freshping|updown|"
            r"\bping|audit|test(?:er|ing)?\b|status|alert|watch|observ|sentry|track",
            re.I,
        ),
    ),
)


def bot_class(user_agent: str, listed: str | None = None) -> str:
    """The class of a UA already known to be a bot: a mail service's fetcher first, then the
    list's own category (`listed`), then words in the UA, else crawler or (a plain client that
    names no bot) http_library."""
    if MAIL_PREFETCH_RE.search(user_agent):
        return "mail_prefetch"
    if listed:
        return listed
    for kind, words in CLASS_WORDS:
        if words.search(user_agent):
            return kind
    plain = not user_agent.startswith("Mozilla/") and not BOT_WORDS_RE.search(user_agent)
    return "http_library" if plain else "crawler"


# ------------------------------------------------------------------------- the merged lists
@dataclass
class PatternList:
    """One source's patterns, matched with the source's own semantics at a prefilter's cost.

    Every pattern goes into one RE2 set (linear time in the UA) in a loosened form: without the
    source's boundary wrapper and without look-arounds, which RE2 cannot run; a set hit on a
    loosened pattern is then confirmed with the exact pattern in Python's `re`. `labels[i]` =
    (name, class or None) of pattern i; the lowest matching index wins, as in the source
    (Matomo's order is meaningful)."""

    source: str
    patterns: list[str]
    labels: list[tuple[str, str | None]]
    case_sensitive: bool = False
    wrap: str = "{}"
    _set: object = None
    _index: list[int] = field(default_factory=list)  # set entry -> pattern index
    _exact: list[bool] = field(default_factory=list)  # pattern index -> the set entry is exact
    _always: list[int] = field(default_factory=list)  # patterns only Python's `re` can run

    def compile(self) -> PatternList:
        options = re2.Options()
        options.max_mem = 256 << 20
        options.case_sensitive = self.case_sensitive
        options.log_errors = False
        self._set = re2.Set.SearchSet(options)
        for i, pattern in enumerate(self.patterns):
            loose = _without_lookarounds(pattern)
            try:
                self._set.Add(loose)  # type: ignore[attr-defined]
                self._index.append(i)
                self._exact.append(loose == pattern and self.wrap == "{}")
            except Exception:  # noqa: BLE001  (RE2 cannot run it even loosened)
                self._always.append(i)
                self._exact.append(False)
        self._set.Compile()  # type: ignore[attr-defined]
        return self

    @cache  # noqa: B019  (a handful of lists, built once)
    def exact(self, i: int) -> re.Pattern[str] | None:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        try:
            return re.compile(_js_to_python(self.wrap.format(self.patterns[i])), flags)
        except re.error:
            return None  # a pattern Python cannot read either: never matches

    def first(self, user_agent: str) -> int | None:
        """The index of the first pattern that matches, or None."""
        hits = self._set.Match(user_agent)  # type: ignore[attr-defined]
        candidates = (
            sorted({self._index[h] for h in hits} | set(self._always)) if hits else (self._always)
        )
        for i in candidates:
            if self._exact[i]:
                return i
            rx = self.exact(i)
            if rx is not None and rx.search(user_agent):
                return i
        return None

    __hash__ = object.__hash__


_LOOKAROUND_RE = re.compile(r"\(\?<?[!=](?:[^()\\]|\\.|\[[^\]]*\])*\)")


def _without_lookarounds(pattern: str) -> str:
    """A pattern that matches wherever `pattern` does (look-arounds, which RE2 lacks, dropped)."""
    return _LOOKAROUND_RE.sub("", pattern)


def _data(name: str) -> object:
    return json.loads(resources.files("qinglang.data.ua").joinpath(name).read_text("utf-8"))


def _js_to_python(alternative: str) -> str:
    """JS and PCRE patterns (isbot's, Matomo's) in Python's dialect: `(?<!a|bc)` has no fixed
    width in `re`, `(?<!a)(?<!bc)` says the same."""

    def split(m: re.Match[str]) -> str:
        return "".join(f"(?<!{part})" for part in m.group(1).split("|"))

    # in JS a `-` after a class escape inside [...] is a literal; Python wants it escaped
    alternative = re.sub(r"(\\[wdsWDS])-(?=[^\]]*\])", r"\1\\-", alternative)
    return re.sub(r"\(\?<!((?:[^()\\]|\\.)*\|(?:[^()\\]|\\.)*)\)", split, alternative)


def _top_level_alternatives(pattern: str) -> list[str]:
    parts, depth, start, i = [], 0, 0, 0
    in_class = False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


@lru_cache(maxsize=1)
def bot_lists() -> tuple[PatternList, ...]:
    from crawlerdetect.providers.crawlers import data as crawlerdetect_patterns

    matomo = _data("matomo.json")
    cua = _data("crawler_user_agents.json")
    isbot = _data("isbot.json")
    assert isinstance(matomo, dict) and isinstance(cua, list) and isinstance(isbot, dict)
    matomo_rows = (
        [(r["regex"], r["name"], MATOMO_CATEGORY.get(r["category"])) for r in matomo["bots"]]
        + [(r["regex"], r["name"], "http_library") for r in matomo["libraries"]]
        + [(r["regex"], r["name"], "feed_reader") for r in matomo["feed_readers"]]
    )

    def cua_class(tags: list[str]) -> str | None:
        return next((kind for tag, kind in CUA_TAGS if tag in tags), None)

    isbot_parts = _top_level_alternatives(isbot["pattern"])
    return (
        PatternList(
            "crawlerdetect",
            list(crawlerdetect_patterns),
            [("", None)] * len(crawlerdetect_patterns),
        ).compile(),
        PatternList(
            "matomo",
            [r[0] for r in matomo_rows],
            [(r[1], r[2]) for r in matomo_rows],
            wrap=r"(?:^|[^A-Z0-9_-]|[^A-Z0-9-]_|sprd-|MZ-)(?:{})",
        ).compile(),
        PatternList(
            "crawler-user-agents",
            [r["pattern"] for r in cua],
            [("", cua_class(r["tags"])) for r in cua],
            case_sensitive=True,
        ).compile(),
        PatternList(
            "isbot", [_js_to_python(p) for p in isbot_parts], [("", None)] * len(isbot_parts)
        ).compile(),
    )


@lru_cache(maxsize=1)
def _crawlerdetect_exclusions() -> re.Pattern[str]:
    from crawlerdetect.providers.exclusions import data as exclusions

    return re.compile("|".join(exclusions), re.IGNORECASE)


def data_sources() -> dict[str, object]:
    """Versions and dates of what the classifier knows (for `qinglang data show`, reports)."""
    bundled = _data("sources.json")
    assert isinstance(bundled, dict)
    try:
        crawlerdetect = metadata.version("crawlerdetect")
    except metadata.PackageNotFoundError:  # pragma: no cover
        crawlerdetect = None
    return {
        "crawlerdetect": {"package": "crawlerdetect (PyPI)", "version": crawlerdetect},
        **bundled["sources"],
        "bundle_updated": bundled.get("updated"),
    }


# ------------------------------------------------------------------------- shape rules
# A URL or an e-mail address: browsers never carry one; bots name their home page or owner.
_RE2_I = re2.Options()
_RE2_I.case_sensitive = False
URL_RE = re2.compile(
    r"https?://|\bwww\.[a-z0-9-]+\.[a-z]{2,}|[\w.+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b"
    r"|\b[a-z0-9-]+\.(?:com|net|org|io|ai|dev|app|co|info|biz)(?:/|[^\w.-]|$)",
    _RE2_I,
)
# One product name, with at most a version, and nothing else.
NAME_VERSION_RE = re.compile(r"^[A-Za-z][\w.\- ]{0,60}?(?:\s*/\s*v?[\w.\- ]{0,40})?$")
# What browsers and devices (phones, TVs, consoles, apps' web views) carry, one at least.
BROWSER_TOKENS_RE = re2.compile(
    r"Mozilla|Opera|AppleWebKit|Gecko|Trident|Presto|MSIE|Safari|Chrome|Firefox|Browser|"
    r"MIDP|CLDC|WAP|UP\.|Obigo|NetFront|Dalvik|CFNetwork|Darwin|Android|iPhone|iPad|iPod|iOS|"
    r"Windows|Linux|Mac|BlackBerry|Symbian|Series ?[468]0|Nokia|Samsung|SonyEricsson|\bLGE?\b|"
    r"LG-|MOT-|HTC|Huawei|Tizen|KaiOS|webOS|SmartTV|Roku|PlayStation|Xbox|Nintendo|Kindle|"
    r"Silk|Puffin|Teleca|Openwave|Polaris|Dolfin|Jasmine|Maemo|Bada|BREW|Configuration|"
    r"Profile|ZTE|Alcatel|Sagem|SIE-|Panasonic|Sharp|KDDI|DoCoMo|SoftBank|Vodafone|"
    r"portalmmm|Mobile|Phone|TV|MAUI|MTK|Spreadtrum|SPRD|Qt/|NetSurf|Dillo|Konqueror|"
    r"iCab|OmniWeb|Amaya|Arora|Midori|Epiphany|Galeon|SeaMonkey|Camino|Lynx|Links|w3m|"
    r"Dooble|IBrowse|AWeb|Voyager|Charon|HotJava|Mosaic|NCSA|Avant|Maxthon|UCWEB|UCBrowser|"
    r"Opera Mini|Skyfire|Bolt|Teashark|Iris|Minimo|Fennec|Doris|Blazer|Palm|Hiptop|Danger|"
    r"Sonim|Vertu|Benq|Siemens|Philips|Haier|Lenovo|Xiaomi|Redmi|OPPO|vivo|Meizu|Coolpad|"
    r"Gionee|Infinix|TECNO|itel|Micromax|Karbonn|Lava|Spice|Intex|Zync|Celkon|Videocon",
    _RE2_I,
)


def shape_rule(user_agent: str) -> str | None:
    """Which shape rule says a UA is no browser (None when none does)."""
    if URL_RE.search(user_agent):
        return "rule:url"
    if NAME_VERSION_RE.match(user_agent) and not BROWSER_TOKENS_RE.search(user_agent):
        return "rule:name_version"
    if not BROWSER_TOKENS_RE.search(user_agent):
        return "rule:no_browser_token"
    return None


# ------------------------------------------------------------------------- classify
# The UA libraries' regexes are super-linear in the length of what they read (crawlerdetect took
# 8 s on an 8 KB user agent, minutes on 32 KB): only this much of a UA is classified. Real user
# agents, in-app ones with their long tails included, are well under it. (The lists run in RE2,
# linear; ua-parser and the few Python patterns still are not.)
MAX_UA_CLASSIFIED = 512


def classify(user_agent: str) -> dict[str, object]:
    """What a UA claims and whether it declares a bot, from its first MAX_UA_CLASSIFIED
    characters (bounded cost for any input). Callers must not mutate the result."""
    if len(user_agent) <= MAX_UA_CLASSIFIED:
        return _classify_cached(user_agent)
    return {**_classify_cached(user_agent[:MAX_UA_CLASSIFIED]), "user_agent": user_agent}


@lru_cache(maxsize=65_536)  # keyed on at most MAX_UA_CLASSIFIED characters: bounded memory
def _classify_cached(user_agent: str) -> dict[str, object]:
    return _classify(user_agent)


# A browser's shape: a Mozilla/Opera product with an engine. Such a UA is a bot when
# crawlerdetect or Matomo says so (their patterns are written against browser tokens), when two
# lists agree, or when it carries a URL; one broad list alone is not enough there.
BROWSER_SHAPE_RE = re.compile(r"^(?:Mozilla|Opera)/\d.*(?:AppleWebKit|Gecko|Trident|Presto|MSIE)")
# A phone's model in its platform comment names hardware, never a bot ("C Bot Tab 70",
# "SMART 4G Speedy", "XBot Junior"): blanked before the lists read a browser-shaped UA.
DEVICE_COMMENT_RE = re.compile(r"\((?:Linux; )?(?:U; )?Android[^)]*\)|\([^)]*Build/[^)]*\)")
STRONG_LISTS = ("crawlerdetect", "matomo")


def list_matches(user_agent: str) -> list[tuple[str, str, str | None]]:
    """(source, what matched, the list's class or None) for every list that matches."""
    lists = bot_lists()
    found = []
    # crawlerdetect reads what is left once browser tokens are taken out (its own algorithm);
    # only a UA in which one of its patterns occurs at all pays for that
    if lists[0].first(user_agent) is not None:
        rest = _crawlerdetect_exclusions().sub("", user_agent)
        if rest and (i := lists[0].first(rest)) is not None:
            hit = re.search(lists[0].patterns[i], rest, re.I)
            found.append(("crawlerdetect", hit.group(0) if hit else lists[0].patterns[i], None))
    for plist in lists[1:]:
        i = plist.first(user_agent)
        if i is not None:
            name, listed = plist.labels[i]
            if not name:  # an unnamed pattern: what it matched says more than the regex
                rx = plist.exact(i)
                hit = rx.search(user_agent) if rx is not None else None
                name = hit.group(0)[:64] if hit and hit.group(0) else plist.patterns[i][:64]
            found.append((plist.source, name, listed))
    return found


def _rule_evidence(rule: str, user_agent: str) -> str:
    """What a shape rule saw: the URL or address and what follows it, else the UA's start."""
    if rule == "rule:url" and (m := URL_RE.search(user_agent)):
        return user_agent[m.start() : m.start() + 64]
    return user_agent[:64]


def declared_bot(user_agent: str) -> tuple[str, str, str] | None:
    """(kind, what matched, source) when the lists or a shape rule say the UA is a bot."""
    stripped = user_agent.strip()
    if not stripped:
        return None
    shaped = bool(BROWSER_SHAPE_RE.search(stripped))
    found = list_matches(DEVICE_COMMENT_RE.sub("(Android)", stripped) if shaped else stripped)
    rule = shape_rule(stripped)
    strong = [f for f in found if f[0] in STRONG_LISTS]
    if shaped:
        accepted = strong or (found if len(found) >= 2 else [])
        if not accepted and rule == "rule:url":
            return bot_class(stripped), _rule_evidence(rule, stripped), rule
    else:
        # isbot's pattern alone reads some devices' own strings (`iPhone16ProMax`, feature
        # phones' MAUI strings) as bots: alone, it counts only where no browser token is
        accepted = [f for f in found if f[0] != "isbot"] or (
            found if not BROWSER_TOKENS_RE.search(stripped) else []
        )
        if not accepted and rule:
            return bot_class(stripped), _rule_evidence(rule, stripped), rule
    if not accepted:
        return None
    source, name, _ = accepted[0]
    # a list's own class, if one says a specific one ("crawler" is every list's generic bucket,
    # which words in the UA may refine)
    listed = next((f[2] for f in found if f[2] and f[2] != "crawler"), None)
    kind = bot_class(stripped, listed)
    if kind == "http_library" and any(f[2] == "crawler" for f in found):
        kind = "crawler"
    return kind, name, "+".join(f[0] for f in found)


def _classify(user_agent: str) -> dict[str, object]:
    parsed = ua_parse(user_agent)
    os_family = parsed.os.family if parsed.os else None
    browser = parsed.user_agent.family if parsed.user_agent else None
    kind = match = source = None
    if HEADLESS_RE.search(user_agent) or BARE_ELECTRON_RE.search(user_agent):
        kind, source = "headless", "rule:headless"
    elif (
        "Electron/" in user_agent  # a named desktop app (crawlerdetect reads Slack/ as Slackbot)
        or TEXT_BROWSER_RE.match(user_agent)
        or MAIL_VIEW_RE.search(user_agent)
    ):
        kind = None  # a person's browser, whatever the crawler lists say
    elif bot := declared_bot(user_agent):
        kind, match, source = bot
    chrome = CHROME_RE.search(user_agent)
    chromium_major = int(chrome.group(1)) if chrome and os_family != "iOS" else None
    mobile = os_family in ("iOS", "Android", "HarmonyOS") or "Mobile" in user_agent
    return {
        "user_agent": user_agent,
        "kind": kind,
        "crawler": match,
        "source": source,
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
    b = brands(ch_ua) if ch_ua else {}
    if any(not GREASE_RE.search(name) for name in b):  # a header that names a browser
        if "HeadlessChrome" in b:
            reasons.append("ua.headless")
        major = info["chromium_major"]
        if major is None:
            # Safari, Firefox and every iOS browser send no client hints at all.
            if NO_HINTS_RE.search(user_agent):
                reasons.append("ua.ch_mismatch")
        elif not FROZEN_CHROME_RE.search(user_agent):
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
