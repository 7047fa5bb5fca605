"""Server-log traffic for the detector tests: people who load pages with their assets and click
through, an injected entry whose visitors never do, a script that asks for pages alone, and a
fast, link-less session."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.conftest import WIN_CHROME

T0 = dt.datetime(2017, 9, 2, 1, 0, tzinfo=dt.UTC)
LINUX_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Mobile Safari/537.36"
)
SITE = "https://shop.example"


def request(n: int, at: dt.datetime, ip: str, path: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": f"log{n:05d}",
        "ts": at,
        "site": "shop.example",
        "event": "pageview",
        "ip": ip,
        "user_agent": WIN_CHROME,
        "url": path,
        "referrer": None,
        "method": "GET",
        "status": 200,
        "bytes": 2000,
    }
    row.update(overrides)
    return row


def visit(
    n: int, start: dt.datetime, ip: str, entry_ref: str | None, pages: list[str],
    pause_s: float = 40.0, assets: bool = True, ua: str = WIN_CHROME,
) -> list[dict[str, Any]]:  # fmt: skip
    """One visit: each page, its stylesheet a moment later, the next page by a link."""
    rows = []
    at = start
    ref = entry_ref
    for page in pages:
        rows.append(request(n + len(rows), at, ip, page, referrer=ref, user_agent=ua))
        if assets:
            rows.append(
                request(n + len(rows), at + dt.timedelta(milliseconds=300), ip, "/site.css",
                        event="request", asset=True, referrer=SITE + page, user_agent=ua)
            )  # fmt: skip
        ref = SITE + page
        at += dt.timedelta(seconds=pause_s)
    return rows


def log_rows(sessions: int = 120) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(sessions):  # people from search: two in five read a second page
        start = T0 + dt.timedelta(minutes=11 * i)
        pages = ["/a", "/b"] if i % 5 < 2 else ["/a"]
        rows += visit(len(rows), start, f"198.18.{i // 200}.{i % 200 + 1}",
                      "https://www.baidu.com/s?wd=shop", pages)  # fmt: skip
    for i in range(sessions):  # an injected entry: real browsers, one page, never a second
        start = T0 + dt.timedelta(minutes=11 * i, seconds=17)
        rows += visit(len(rows), start, f"198.19.{i // 200}.{i % 200 + 1}",
                      "https://inject.example/", ["/a"])  # fmt: skip
    for i in range(3):  # a script that asks for pages and nothing they need
        start = T0 + dt.timedelta(minutes=29 * i, seconds=5)
        rows += visit(len(rows), start, "203.0.113.50", None, ["/a"], assets=False)
    # a session of ten pages 0.2 s apart, none reached by a link
    fast = visit(len(rows), T0 + dt.timedelta(hours=3), "203.0.113.60", None,
                 [f"/p{k}" for k in range(10)], pause_s=0.2)  # fmt: skip
    for row in fast:
        row["referrer"] = None
    rows += fast
    # one visitor cookie whose pages say Windows and whose page-hide beacon says Linux
    spoof = visit(len(rows), T0 + dt.timedelta(hours=5), "203.0.113.70",
                  "https://www.baidu.com/s?wd=shop", ["/a", "/b"])  # fmt: skip
    for row in spoof:
        row["visitor_id"] = "spoofed-cookie"
    spoof.append(request(len(rows) + len(spoof), T0 + dt.timedelta(hours=5, seconds=90),
                         "203.0.113.70", "/collect", event="request", method="POST", status=204,
                         visitor_id="spoofed-cookie", user_agent=LINUX_CHROME))  # fmt: skip
    # a person on a phone who asks for the desktop site on the second page: not a spoofer
    phone = visit(len(rows) + len(spoof), T0 + dt.timedelta(hours=6), "203.0.113.80", None,
                  ["/a", "/b"], ua=ANDROID_CHROME)  # fmt: skip
    for row in phone:
        row["visitor_id"] = "desktop-site-cookie"
        if row["url"] != "/a" and row["ts"] > phone[0]["ts"] + dt.timedelta(seconds=5):
            row["user_agent"] = LINUX_CHROME  # Chrome 156 on Android, desktop site: X11 Linux
    # a scanner: the home page, then the site's secrets (a catch-all route answers 200)
    n = len(rows) + len(spoof) + len(phone)
    at = T0 + dt.timedelta(hours=7)
    scanner = [
        request(
            n + k,
            at + dt.timedelta(seconds=k),
            "203.0.113.90",
            path,
            status=status,
            user_agent=WIN_CHROME,
        )  # fmt: skip
        for k, (path, status) in enumerate([("/", 200), ("/.env", 200), ("/.git/config", 404)])
    ]
    return rows + spoof + phone + scanner
