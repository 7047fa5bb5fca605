"""session.ua_switch: one visitor cookie, one session, two user agents; a phone's browser asking
for the desktop site is the one switch a person makes, and is left alone."""

from __future__ import annotations

import datetime as dt

import pytest

from qinglang.detect import spoofing
from qinglang.detect.base import Context
from qinglang.detect.pipeline import present_columns
from tests.conftest import WIN_CHROME, engine_with
from tests.detect.log_rows import ANDROID_CHROME, LINUX_CHROME, request

T0 = dt.datetime(2017, 9, 2, 1, 0, tzinfo=dt.UTC)
# Real user agents: each phone's browser, and what it sends once asked for the desktop site.
ANDROID_CHROME_DESKTOP = LINUX_CHROME  # Chrome 156's desktop-site request: X11 Linux
ANDROID_SAMSUNG = (
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36"
)
ANDROID_SAMSUNG_DESKTOP = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36"
)
IOS_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1.1 Mobile/15E148 Safari/604.1"
)
IOS_SAFARI_DESKTOP = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1.1 Safari/605.1.15"
)
PIXEL_DESCRIPTOR = (  # Playwright's Pixel 7 descriptor, as the mobile-stealth kit sent it
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/159.0.8154.6 Mobile Safari/537.36"
)
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/156.0.0.0 Safari/537.36"
)
ANDROID_CHROME_OLDER_DESKTOP = LINUX_CHROME.replace("156.0.0.0", "150.0.0.0")
ANDROID_FIREFOX = "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0"
LINUX_FIREFOX_OLDER = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0"
WECHAT_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2d) NetType/WIFI Language/zh_CN"
)


def session(n: int, cookie: str, agents: list[str], ip: str = "198.18.0.9") -> list[dict]:
    """One visit under one cookie: a page view per user agent given, a minute apart."""
    return [
        request(
            n + k,
            T0 + dt.timedelta(minutes=k),
            ip,
            f"/p{k}",
            visitor_id=cookie,
            user_agent=ua,
            event_id=f"{cookie}-{k}",
        )  # fmt: skip
        for k, ua in enumerate(agents)
    ]


def flagged(rows: list[dict]) -> set[str]:
    engine = engine_with(rows)
    try:
        ctx = Context(engine=engine, present=present_columns(engine))
        spoofing.prepare(ctx)
        found = spoofing.detect(ctx)
        out: set[str] = set()
        for q in found.queries:
            q = f"SELECT e.event_id FROM ({q}) f JOIN events e ON e.rid = f.rid"
            out |= {r["event_id"] for r in engine.query(q).to_pylist()}
        return out
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("phone", "desktop"),
    [(ANDROID_CHROME, ANDROID_CHROME_DESKTOP), (ANDROID_SAMSUNG, ANDROID_SAMSUNG_DESKTOP),
     (IOS_SAFARI, IOS_SAFARI_DESKTOP)],
)  # fmt: skip
def test_a_phone_asking_for_the_desktop_site_is_not_charged(phone, desktop):
    rows = session(0, "person", [phone, phone, desktop, desktop])
    assert flagged(rows) == set()
    # and back again: still the same two user agents
    assert flagged(session(0, "person", [phone, desktop, phone])) == set()


@pytest.mark.parametrize(
    "agents",
    [
        [WIN_CHROME, WIN_CHROME, LINUX_CHROME],  # headed-stealth kit: Windows pages, Linux beacon
        [PIXEL_DESCRIPTOR, PIXEL_DESCRIPTOR, HEADLESS],  # mobile-stealth kit: headless beacon
        [ANDROID_CHROME, ANDROID_CHROME_OLDER_DESKTOP],  # not the same Chromium
        [ANDROID_CHROME, IOS_SAFARI_DESKTOP],  # an Android phone does not become a Mac
        [ANDROID_CHROME, ANDROID_CHROME_DESKTOP, WIN_CHROME],  # three user agents
    ],
)
def test_other_switches_are_charged(agents):
    rows = session(0, "bot", agents)
    assert flagged(rows) == {r["event_id"] for r in rows}


def beacons(rows: list[dict], agent: str) -> list[dict]:
    """The page-hide beacon of each page view, sent under `agent` (a framework's leak)."""
    return [
        {**r, "event_id": r["event_id"] + "-beacon", "ts": r["ts"] + dt.timedelta(seconds=30),
         "event": "request", "url": "/collect", "method": "POST", "status": 204,
         "user_agent": agent}
        for r in rows
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("claimed", "real"),
    [(ANDROID_CHROME, ANDROID_CHROME_DESKTOP),  # a phone preset of the browser's own version
     (ANDROID_FIREFOX, LINUX_FIREFOX_OLDER),  # Firefox: no Chromium version to compare
     (IOS_SAFARI, IOS_SAFARI_DESKTOP)],
)  # fmt: skip
def test_pages_under_one_user_agent_and_beacons_under_the_other_are_charged(claimed, real):
    """The pair a desktop-site request makes, but the desktop one never asked for a page: the
    browser's own requests under its real user agent, the pages under the one it claims."""
    pages = session(0, "bot", [claimed] * 3)
    rows = pages + beacons(pages, real)
    assert flagged(rows) == {r["event_id"] for r in rows}


def test_an_in_app_browser_changing_network_is_not_charged():
    on_4g = WECHAT_IOS.replace("NetType/WIFI", "NetType/4G")
    rows = session(0, "person", [WECHAT_IOS, WECHAT_IOS, on_4g])
    assert flagged(rows) == set()
    # but the network token does not excuse a different app version
    other = WECHAT_IOS.replace("8.0.44", "8.0.45")
    rows = session(0, "bot", [WECHAT_IOS, other])
    assert flagged(rows) == {r["event_id"] for r in rows}


def test_one_user_agent_or_two_sessions_are_not_a_switch():
    same = session(0, "a", [ANDROID_CHROME] * 3)
    later = session(10, "b", [WIN_CHROME])
    for row in session(20, "b", [LINUX_CHROME]):  # the same cookie, two hours later
        row["ts"] += dt.timedelta(hours=2)
        later.append(row)
    assert flagged(same + later) == set()
