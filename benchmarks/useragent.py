"""Cost of classifying 100k distinct user agents: the merged classifier (detect/useragent.py:
crawlerdetect, Matomo, crawler-user-agents and isbot in RE2 sets, shape rules, ua-parser) against
the one it replaced (crawlerdetect + ua-parser, kept below as it was in git before issue 14),
same machine, same run, alternating rounds.

    python benchmarks/useragent.py                  # 100k UAs, 3 rounds
    python benchmarks/useragent.py --n 20000 --rounds 5

The UAs: the labelled test set (tests/fixtures/ua/, 60k real bots and browsers) and, to reach
--n distinct values, copies of its browsers with their version numbers varied (as new browser
releases make new distinct UAs); 90% browsers, 10% bots, like a site's traffic would be at most.
Both classifiers are called uncached (the audit classifies each distinct UA once), after one
warm-up call (compiling the lists is a one-time cost, printed apart). Prints µs per UA for
each and the ratio new/old (issue 14: no more than today, i.e. ratio <= 1).
"""

from __future__ import annotations

import argparse
import gzip
import random
import re
import statistics
import threading
import time
from pathlib import Path

TESTSET = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ua" / "labelled.tsv.gz"


# ---- the baseline: detect/useragent.py's classification before issue 14 (git HEAD d6204e7)
def old_classifier():
    from crawlerdetect import CrawlerDetect
    from ua_parser import parse as ua_parse

    headless_re = re.compile(r"HeadlessChrome|PhantomJS|SlimerJS|Puppeteer|Playwright|Selenium")
    bare_electron_re = re.compile(r"\(KHTML, like Gecko\)\s+(?:Chrome/\S+\s+)?Electron/")
    text_browser_re = re.compile(r"^(?:Lynx|Links|ELinks|w3m)/")
    mail_view_re = re.compile(
        r"AppleWebKit/\S+ \(KHTML, like Gecko\).*(?:Chrome|Version)/\S+.*Microsoft Outlook"
    )
    bot_words_re = re.compile(r"bot|spider|crawl|\+https?://", re.IGNORECASE)
    chrome_re = re.compile(r"(?:Chrome|Chromium)/(\d+)")
    emulator_re = re.compile(
        r"sdk_gphone|Android SDK built for|\bEmulator\b|generic_x86|vbox86", re.I
    )
    detector = CrawlerDetect()
    lock = threading.Lock()

    def _classify(user_agent: str) -> dict[str, object]:
        parsed = ua_parse(user_agent)
        os_family = parsed.os.family if parsed.os else None
        browser = parsed.user_agent.family if parsed.user_agent else None
        kind = None
        match = None
        if headless_re.search(user_agent) or bare_electron_re.search(user_agent):
            kind = "headless"
        elif (
            "Electron/" in user_agent
            or text_browser_re.match(user_agent)
            or mail_view_re.search(user_agent)
        ):
            kind = None
        elif detector.isCrawler(user_agent):
            match = detector.getMatches()
            plain = not user_agent.startswith("Mozilla/") and not bot_words_re.search(user_agent)
            kind = "http_library" if plain else "crawler"
        chrome = chrome_re.search(user_agent)
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
            "emulator": bool(emulator_re.search(user_agent)),
        }

    def classify(user_agent: str) -> dict[str, object]:  # as before: the lock, 512 characters
        with lock:
            return _classify(user_agent[:512])

    return classify


def new_classifier():
    from qinglang.detect import useragent

    def classify(user_agent: str) -> dict[str, object]:
        return useragent._classify(user_agent[:512])  # uncached, like the baseline

    return classify


def user_agents(n: int, seed: int = 14) -> list[str]:
    with gzip.open(TESTSET, "rt", encoding="utf-8") as f:
        next(f)
        rows = [line.rstrip("\n").split("\t") for line in f]
    bots = [ua for label, _, _, ua in rows if label == "bot"]
    browsers = [ua for label, _, _, ua in rows if label == "browser"]
    rng = random.Random(seed)
    picked = set(rng.sample(bots, min(len(bots), n // 10)))
    version = re.compile(r"(?<=/)(\d+)\.(\d+)")
    while len(picked) < n:
        ua = rng.choice(browsers)
        if rng.random() < 0.5:  # a new release: another distinct UA of the same shape
            ua = version.sub(lambda m: f"{m.group(1)}.{rng.randrange(1000)}", ua, count=1)
        picked.add(ua)
    out = sorted(picked)
    rng.shuffle(out)
    return out


def run(fn, uas: list[str]) -> float:
    started = time.perf_counter()
    for ua in uas:
        fn(ua)
    return (time.perf_counter() - started) / len(uas) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    uas = user_agents(args.n)
    old, new = old_classifier(), new_classifier()
    started = time.perf_counter()
    new(uas[0])  # compiles the merged lists
    compile_s = time.perf_counter() - started
    old(uas[0])
    olds, news = [], []
    for _ in range(args.rounds):
        olds.append(run(old, uas))
        news.append(run(new, uas))
    o, n = statistics.median(olds), statistics.median(news)
    print(f"{len(uas):,} distinct user agents, {args.rounds} rounds (median)")
    print(f"old (crawlerdetect + ua-parser):           {o:8.1f} µs per UA")
    print(f"new (merged lists in RE2 + shape rules):   {n:8.1f} µs per UA")
    print(f"one-time compile of the merged lists:      {compile_s:8.2f} s")
    print(f"ratio new/old: {n / o:.2f}")


if __name__ == "__main__":
    main()
