"""Generate REAL browser-bot access logs: Chromium driven by Playwright browses a local static site
served by nginx, and nginx writes the access log.

    .venv/bin/python scripts/realbots/make_logs.py --sessions-per-kit 12 --seed 20261206 \
        --out-dir /tmp/realbots-out

Nothing but 127.0.0.1 is contacted. nginx (a foreground child, its own prefix under a temp dir)
serves scripts/realbots/site on 127.0.0.1:--port. Every bot session is one fresh browser context
that goes through its own small HTTP proxy in this process (on 127.0.0.1): the proxy stands in for
the proxy exit a fraud operator would give each bot, and stamps every request of the session with
`X-Forwarded-For: <exit address>` (from the documentation ranges 198.51.100.0/24 and
203.0.113.0/24). The proxy only forwards to the nginx port; anything else is refused and counted.
The browser itself is launched with a refusing proxy too, so no browser-level request can leave.

(Why a proxy and not only `extra_http_headers`: Chromium does not apply a context's extra headers
to requests sent after a page is gone, such as the analytics beacon sent when a page is hidden, so
those log lines would lose the address. A proxy stamps them all, as a real exit would.)

Kits (each its own browser, each session its own context):
  headless         Playwright's headless Chromium, default user agent and viewport
  headless-stealth headless + playwright-stealth, a desktop Chrome user agent, common viewport
  headed           headed Chromium under Xvfb, a desktop Chrome user agent, common viewport
  headed-stealth   headed + playwright-stealth
  mobile-stealth   headless, Playwright's "Pixel 7" device descriptor + playwright-stealth
Only when named in --kits (not in the committed fixture):
  launch-ua-stealth headless + stealth, a desktop Chrome user agent set at launch (--user-agent)
  rotate-ua        headless, each session a user agent from a list of common browsers (Chrome,
                   Edge, Firefox, Safari, iPhone Safari), set on its context

--client-hints adds the Sec-CH-UA header to the log format (a last field, "$http_sec_ch_ua").

Behaviour (randomised per session from --seed): land on the home page or a deep page, sometimes
with a search-engine referrer; then a random walk of 4-25 page views by clicking links found on
the page (not goto), scrolling by mouse wheel in steps, moving the mouse, with lognormal waits;
sometimes the search form (typed key by key), the contact form (POST), or Back. Two modes:
"moderate" (median wait 3 s, straight mouse moves, Playwright's own click) and "advanced" (median
8 s with occasional 20-40 s reads, curved mouse paths, scrolling to the link before clicking).

The random draws are reproducible from --seed; timings, and therefore the log's timestamps and the
interleaving of concurrent sessions, are not.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import ipaddress
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import async_playwright

HERE = Path(__file__).resolve().parent
SITE = HERE / "site"
TEMPLATE = HERE / "nginx.conf.template"
CHROMIUM = "/usr/bin/chromium"

LOG_FORMAT = (
    '$http_x_forwarded_for - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" $cookie_vid "$http_user_agent"'
)
# --client-hints: the Sec-CH-UA header too (as nginx writes it: each " escaped as \x22)
HINTS_FORMAT = LOG_FORMAT + ' "$http_sec_ch_ua"'
LINE_RE = re.compile(
    r'^(?P<xff>\S+) - (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) '
    r'(?P<bytes>\d+) "(?P<referer>[^"]*)" (?P<vid>\S+) "(?P<ua>[^"]*)"(?: "(?P<ch>[^"]*)")?$'
)

KITS = ["headless", "headless-stealth", "headed", "headed-stealth", "mobile-stealth"]
# Kits run only when asked for by --kits (not in the committed fixture). `launch-ua-stealth`:
# headless + stealth, but the user agent is the browser's own (--user-agent at launch, one
# browser per session), so every request it makes carries it, the unload beacon's too.
# `rotate-ua`: headless, no stealth, each session a user agent of its own drawn from a list of
# common browsers (Chrome, Edge, Firefox, Safari; desktop and phone), set per context: the bot
# that rotates user agents from a list.
EXTRA_KITS = ["launch-ua-stealth", "rotate-ua"]
ALL_KITS = KITS + EXTRA_KITS

# Flags that keep Chromium from phoning home (update checks, field trials, sync, ...). They are
# invisible to the site's server log; the browser is also behind a refusing proxy (see above).
BASE_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--metrics-recording-only",
]
# What playwright-stealth's launch hook adds (Stealth().use_async): hide navigator.webdriver's
# blink feature, and the Accept-Language it reports.
STEALTH_ARGS = ["--disable-blink-features=AutomationControlled", "--accept-lang=en-US,en"]

VIEWPORTS = [  # common desktop viewports (screen minus browser chrome)
    ({"width": 1920, "height": 947}, {"width": 1920, "height": 1080}, 0.30),
    ({"width": 1536, "height": 730}, {"width": 1536, "height": 864}, 0.20),
    ({"width": 1366, "height": 641}, {"width": 1366, "height": 768}, 0.18),
    ({"width": 1440, "height": 789}, {"width": 1440, "height": 900}, 0.12),
    ({"width": 1280, "height": 649}, {"width": 1280, "height": 800}, 0.10),
    ({"width": 1680, "height": 937}, {"width": 1680, "height": 1050}, 0.10),
]

SEARCH_REFERERS = [  # what these engines send today (origin only), Baidu's link redirector
    ("https://www.google.com/", 0.55),
    ("https://www.bing.com/", 0.15),
    ("https://duckduckgo.com/", 0.10),
    ("https://www.baidu.com/link?url={token}", 0.12),
    ("https://yandex.ru/", 0.08),
]

QUERIES = [
    "cast iron",
    "seasoning skillet",
    "knife sharpening",
    "whetstone",
    "sourdough starter",
    "dutch oven",
    "pantry",
    "grill",
    "chef knife",
    "bread",
    "summer grilling",
    "sharpen angle",
]
FIRST = [
    "james",
    "maria",
    "wei",
    "anna",
    "david",
    "li",
    "sofia",
    "chen",
    "olga",
    "ahmed",
    "lucas",
    "emma",
]
LAST = [
    "smith",
    "garcia",
    "wang",
    "kim",
    "novak",
    "chen",
    "müller",
    "rossi",
    "ivanova",
    "lee",
    "brown",
]
MAIL = ["example.com", "example.net", "example.org"]
MESSAGE_BITS = [
    "Hello, I have a question about the",
    "Is the",
    "Do you ship the",
    "I would like to order the",
    "Could you tell me more about the",
    "Great article about the",
]
MESSAGE_THINGS = [
    "skillet",
    "chef knife",
    "dutch oven",
    "whetstone",
    "sourdough recipe",
    "grill guide",
]
MESSAGE_ENDS = [
    "Thanks!",
    "Please reply by email.",
    "Is it in stock?",
    "What is the delivery time to Europe?",
    "Best regards.",
    "Looking forward to your answer.",
]

DEEP_PAGES = [
    ("/articles/cast-iron-care", 3),
    ("/articles/sourdough-starter", 3),
    ("/articles/knife-sharpening", 3),
    ("/articles/pantry-basics", 2),
    ("/articles/summer-grilling", 2),
    ("/articles", 2),
    ("/products/skillet", 2),
    ("/products/chef-knife", 2),
    ("/products/dutch-oven", 2),
    ("/products/whetstone", 1),
    ("/products", 2),
    ("/about", 1),
]


def weighted(rng: random.Random, items):
    values = [i[:-1] if len(i) > 2 else i[0] for i in items]
    weights = [i[-1] for i in items]
    return rng.choices(values, weights=weights, k=1)[0]


def rotated_user_agent(rng: random.Random, major: str) -> tuple[str, str]:
    """One of a bot's list of common user agents (Chrome and Edge on this Chromium's major)."""
    win, mac = "Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7"
    webkit = "AppleWebKit/537.36 (KHTML, like Gecko)"
    return weighted(
        rng,
        [
            ((f"Mozilla/5.0 ({win}) {webkit} Chrome/{major}.0.0.0 Safari/537.36", "Win32"), 0.3),
            (
                (
                    f"Mozilla/5.0 ({win}) {webkit} Chrome/{major}.0.0.0 Safari/537.36 "
                    f"Edg/{major}.0.0.0",
                    "Win32",
                ),
                0.1,
            ),
            ((f"Mozilla/5.0 ({win}; rv:133.0) Gecko/20100101 Firefox/133.0", "Win32"), 0.2),
            ((f"Mozilla/5.0 ({mac}; rv:133.0) Gecko/20100101 Firefox/133.0", "MacIntel"), 0.1),
            (
                (
                    f"Mozilla/5.0 ({mac}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                    "Version/18.1 Safari/605.1.15",
                    "MacIntel",
                ),
                0.15,
            ),
            (
                (
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
                    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                    "iPhone",
                ),
                0.15,
            ),
        ],
    )


def desktop_user_agent(rng: random.Random, major: str) -> tuple[str, str]:
    """A Chrome desktop UA (reduced form, as Chrome sends it) on the running Chromium's major."""
    platform = weighted(rng, [("win", 0.70), ("mac", 0.25), ("linux", 0.05)])
    os_part, nav_platform = {
        "win": ("Windows NT 10.0; Win64; x64", "Win32"),
        "mac": ("Macintosh; Intel Mac OS X 10_15_7", "MacIntel"),
        "linux": ("X11; Linux x86_64", "Linux x86_64"),
    }[platform]
    ua = (
        f"Mozilla/5.0 ({os_part}) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36"
    )
    return ua, nav_platform


# --------------------------------------------------------------------------------------------
# nginx and Xvfb


class Nginx:
    def __init__(self, port: int, workdir: Path, log_format: str = LOG_FORMAT):
        self.port = port
        self.log_format = log_format
        self.prefix = workdir / "nginx"
        self.access_log = self.prefix / "access.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        (self.prefix / "tmp").mkdir(parents=True)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / "tmp" / sub).mkdir()
            os.chmod(self.prefix / "tmp" / sub, 0o777)  # the worker may run as nobody
        os.chmod(self.prefix, 0o755)
        conf = TEMPLATE.read_text()
        for key, value in {
            "@PREFIX@": str(self.prefix),
            "@ROOT@": str(SITE),
            "@PORT@": str(self.port),
            "@ACCESS_LOG@": str(self.access_log),
            "@LOG_FORMAT@": self.log_format,
        }.items():
            conf = conf.replace(key, value)
        (self.prefix / "nginx.conf").write_text(conf)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        env = {"PATH": os.environ.get("PATH", ""), "TZ": "UTC"}
        self.proc = subprocess.Popen(
            [nginx, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")],
            env=env,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = (
                    (self.prefix / "error.log").read_text()
                    if (self.prefix / "error.log").exists()
                    else ""
                )
                raise SystemExit(f"nginx exited with {self.proc.returncode}: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("nginx did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish requests, flush the log
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Xvfb:
    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.display: str | None = None

    def start(self) -> str:
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                "1920x1080x24",
                "-nolisten",
                "tcp",
            ],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as f:
            number = f.readline().strip()
        if not number:
            raise SystemExit("Xvfb did not report a display")
        self.display = f":{number}"
        return self.display

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------------------------
# the per-session proxy (the stand-in for each bot's proxy exit)


class ExitProxy:
    """A minimal HTTP/1.1 forward proxy on 127.0.0.1 that forwards only to the nginx port and adds
    `X-Forwarded-For: <address>`. One request per connection (Connection: close both ways)."""

    refused: Counter = Counter()  # host -> attempts, across all proxies

    def __init__(self, address: str | None, upstream_port: int):
        self.address = address
        self.upstream_port = upstream_port
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self.server:
            self.server.close()
            for w in list(self.writers):
                w.close()
            await self.server.wait_closed()

    async def _refuse(self, writer, host: str, code: str = "403 Forbidden") -> None:
        ExitProxy.refused[host] += 1
        writer.write(f"HTTP/1.1 {code}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            if method == "CONNECT" or self.address is None:
                await self._refuse(
                    writer,
                    target.split(":")[0]
                    if method == "CONNECT"
                    else urlsplit(target).hostname or "?",
                )
                return
            url = urlsplit(target)
            if (
                url.scheme != "http"
                or url.hostname not in ("127.0.0.1", "localhost")
                or url.port != self.upstream_port
            ):
                await self._refuse(writer, url.hostname or "?")
                return
            headers = []
            length = 0
            for line in lines[1:]:
                if not line:
                    continue
                name, _, value = line.partition(":")
                low = name.strip().lower()
                if low in (
                    "proxy-connection",
                    "proxy-authorization",
                    "connection",
                    "keep-alive",
                    "x-forwarded-for",
                ):
                    continue
                if low == "transfer-encoding":
                    await self._refuse(writer, "chunked-request", "411 Length Required")
                    return
                if low == "content-length":
                    length = int(value.strip())
                headers.append(f"{name.strip()}: {value.strip()}")
            body = await reader.readexactly(length) if length else b""
            path = url.path or "/"
            if url.query:
                path += "?" + url.query
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            try:
                out = [
                    f"{method} {path} HTTP/1.1",
                    *headers,
                    f"X-Forwarded-For: {self.address}",
                    "Connection: close",
                    "",
                    "",
                ]
                up_writer.write("\r\n".join(out).encode("latin-1") + body)
                await up_writer.drain()
                while chunk := await up_reader.read(65536):
                    writer.write(chunk)
                    await writer.drain()
            finally:
                up_writer.close()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self.writers.discard(writer)
            try:
                writer.close()
            except Exception:
                pass


# --------------------------------------------------------------------------------------------
# behaviour


@dataclass
class Session:
    sid: str
    kit: str
    index: int
    xff: str
    rng: random.Random
    mode: str = ""
    user_agent: str = ""
    viewport: str = ""
    landing: str = ""
    referer: str = ""
    planned: int = 0
    views: list[str] = field(default_factory=list)
    searches: int = 0
    contact_posts: int = 0
    backs: int = 0
    vid: str = ""
    start: str = ""
    end: str = ""
    status: str = "ok"
    own_browser: object | None = None  # launch-ua-stealth: the session's own browser


class Walker:
    """One session's behaviour on one page object."""

    def __init__(self, s: Session, page, base: str, mobile: bool, deadline: float):
        self.s = s
        self.rng = s.rng
        self.page = page
        self.base = base
        self.mobile = mobile
        self.deadline = deadline
        self.advanced = s.mode == "advanced"
        vp = page.viewport_size or {"width": 1280, "height": 720}
        self.w, self.h = vp["width"], vp["height"]
        self.mx = self.rng.uniform(0.2, 0.8) * self.w
        self.my = self.rng.uniform(0.2, 0.8) * self.h

    # --- timing
    def dwell_seconds(self) -> float:
        if self.advanced:
            if self.rng.random() < 0.12:
                return self.rng.uniform(20, 40)
            return min(self.rng.lognormvariate(math.log(8.0), 0.6), 60)
        return min(self.rng.lognormvariate(math.log(3.0), 0.8), 45)

    async def pause(self, lo: float, hi: float) -> None:
        await asyncio.sleep(self.rng.uniform(lo, hi))

    # --- mouse and wheel
    async def move_to(self, x: float, y: float) -> None:
        if self.mobile:
            self.mx, self.my = x, y
            return
        if self.advanced:
            # a curved path (quadratic Bezier with a random control point), eased, with jitter
            x0, y0 = self.mx, self.my
            dist = math.hypot(x - x0, y - y0)
            n = max(8, min(60, int(dist / 12)))
            cx = (x0 + x) / 2 + self.rng.uniform(-0.3, 0.3) * dist
            cy = (y0 + y) / 2 + self.rng.uniform(-0.3, 0.3) * dist
            for i in range(1, n + 1):
                t = i / n
                t = t * t * (3 - 2 * t)
                px = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t * t * x
                py = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t * t * y
                if i < n:
                    px += self.rng.gauss(0, 1.2)
                    py += self.rng.gauss(0, 1.2)
                await self.page.mouse.move(px, py)
                await asyncio.sleep(self.rng.uniform(0.006, 0.022))
        else:
            await self.page.mouse.move(x, y, steps=self.rng.randint(4, 15))
        self.mx, self.my = x, y

    async def wander(self) -> None:
        x = min(max(self.rng.gauss(self.w * 0.45, self.w * 0.2), 5), self.w - 5)
        y = min(max(self.rng.gauss(self.h * 0.5, self.h * 0.22), 5), self.h - 5)
        await self.move_to(x, y)

    async def wheel(self, dy: float) -> None:
        if self.mobile:
            # a touch device has no wheel; a flick is a smooth scroll of the page
            await self.page.evaluate("dy => window.scrollBy({top: dy, behavior: 'smooth'})", dy)
        else:
            await self.page.mouse.wheel(0, dy)

    async def scroll_y(self) -> tuple[float, float]:
        return tuple(
            await self.page.evaluate("[window.scrollY, document.documentElement.scrollHeight]")
        )

    # --- on a page: read it for the dwell time, scrolling and moving the mouse
    async def read_page(self) -> None:
        total = self.dwell_seconds()
        until = time.monotonic() + total
        while time.monotonic() < until and time.monotonic() < self.deadline:
            left = until - time.monotonic()
            r = self.rng.random()
            if self.advanced:
                if r < 0.55:
                    y, height = await self.scroll_y()
                    if y + self.h < height - 10 and self.rng.random() < 0.85:
                        for _ in range(self.rng.randint(1, 4)):
                            await self.wheel(
                                self.rng.choice([100, 100, 120, 200, 240])
                                * self.rng.choice([1, 1, 1, 2])
                            )
                            await self.pause(0.05, 0.25)
                    elif y > 0:
                        await self.wheel(-self.rng.choice([100, 200, 300]))
                elif r < 0.85:
                    await self.wander()
                await asyncio.sleep(min(left, self.rng.lognormvariate(math.log(1.2), 0.7)))
            else:
                if r < 0.45:
                    await self.wheel(self.rng.choice([300, 400, 500, 600, 800]))
                elif r < 0.7:
                    await self.wander()
                await asyncio.sleep(min(left, self.rng.uniform(0.5, 2.5)))

    # --- links
    async def links(self) -> list[dict]:
        return await self.page.evaluate(
            """() => Array.from(document.querySelectorAll('a[href]')).map((a, i) => {
                const r = a.getBoundingClientRect();
                const zone = a.closest('header') ? 'nav' : a.closest('footer') ? 'footer'
                           : (a.closest('main') || a.closest('aside')) ? 'content' : 'other';
                return {i, href: a.getAttribute('href'), path: new URL(a.href, location.href).pathname,
                        visible: r.width > 0 && r.height > 0, zone};
            })"""
        )

    async def pick_link(self, prefer: str | None = None) -> dict | None:
        here = urlsplit(self.page.url).path
        cands = [
            link
            for link in await self.links()
            if link["visible"] and link["href"].startswith("/") and link["path"] != here
        ]
        if prefer:
            wanted = [link for link in cands if link["path"] == prefer]
            if wanted:
                return self.rng.choice(wanted)
        if not cands:
            return None
        weights = [
            {"content": 3.0, "nav": 1.0, "footer": 0.4}.get(link["zone"], 1.0) for link in cands
        ]
        return self.rng.choices(cands, weights=weights, k=1)[0]

    async def click_locator(self, loc) -> None:
        """Click (tap) something that navigates, the way this mode does it."""
        if self.mobile:
            await loc.scroll_into_view_if_needed(timeout=10000)
            await self.pause(0.3, 1.2)
            async with self.page.expect_navigation(wait_until="load", timeout=20000):
                await loc.tap(timeout=10000)
            return
        if not self.advanced:
            async with self.page.expect_navigation(wait_until="load", timeout=20000):
                await loc.click(delay=self.rng.randint(20, 90), timeout=10000)
            return
        # advanced: wheel towards the element, curve the mouse onto it, press and release
        for _ in range(40):
            box = await loc.bounding_box()
            if box is None:
                break
            if box["y"] < self.h * 0.1:
                await self.wheel(-self.rng.choice([100, 120, 200]))
            elif box["y"] + box["height"] > self.h * 0.9:
                await self.wheel(self.rng.choice([100, 120, 200, 240]))
            else:
                break
            await self.pause(0.06, 0.3)
        await loc.scroll_into_view_if_needed(timeout=10000)
        await self.pause(0.1, 0.4)
        box = await loc.bounding_box()
        if box is None:
            raise RuntimeError("link has no box")
        x = box["x"] + box["width"] * self.rng.uniform(0.2, 0.8)
        y = box["y"] + box["height"] * self.rng.uniform(0.3, 0.7)
        await self.move_to(x, y)
        await self.pause(0.08, 0.5)
        async with self.page.expect_navigation(wait_until="load", timeout=20000):
            await self.page.mouse.down()
            await asyncio.sleep(self.rng.uniform(0.05, 0.15))
            await self.page.mouse.up()

    async def follow(self, link: dict) -> None:
        await self.click_locator(self.page.locator("a[href]").nth(link["i"]))

    async def type_text(self, text: str) -> None:
        if self.advanced:
            for ch in text:
                await self.page.keyboard.type(ch)
                d = self.rng.lognormvariate(math.log(0.14), 0.45)
                if self.rng.random() < 0.05:
                    d += self.rng.uniform(0.3, 0.9)
                await asyncio.sleep(d)
        else:
            await self.page.keyboard.type(text, delay=self.rng.randint(40, 110))

    async def focus_field(self, loc) -> None:
        if self.mobile:
            await loc.tap(timeout=10000)
        elif self.advanced:
            await loc.scroll_into_view_if_needed(timeout=10000)
            box = await loc.bounding_box()
            await self.move_to(
                box["x"] + box["width"] * self.rng.uniform(0.2, 0.7), box["y"] + box["height"] / 2
            )
            await self.page.mouse.click(self.mx, self.my)
        else:
            await loc.click(timeout=10000)

    async def search(self) -> None:
        q = self.rng.choice(QUERIES)
        box = self.page.locator("header form.search input[name=q]")
        await self.focus_field(box)
        await self.pause(0.2, 0.8)
        await self.type_text(q)
        await self.pause(0.3, 1.2)
        async with self.page.expect_navigation(wait_until="load", timeout=20000):
            if self.rng.random() < 0.7:
                await self.page.keyboard.press("Enter")
            else:
                await self.click_button(self.page.locator("header form.search button"))
        self.s.searches += 1

    async def click_button(self, loc) -> None:
        if self.mobile:
            await loc.tap(timeout=10000)
        elif self.advanced:
            await loc.scroll_into_view_if_needed(timeout=10000)
            box = await loc.bounding_box()
            await self.move_to(
                box["x"] + box["width"] * self.rng.uniform(0.3, 0.7), box["y"] + box["height"] * 0.5
            )
            await self.page.mouse.click(self.mx, self.my, delay=self.rng.randint(50, 140))
        else:
            await loc.click(timeout=10000)

    async def fill_contact(self) -> None:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        name = f"{first.title()} {last.title()}"
        email = f"{first}.{last}{self.rng.randint(1, 99)}@{self.rng.choice(MAIL)}".replace("ü", "u")
        message = f"{self.rng.choice(MESSAGE_BITS)} {self.rng.choice(MESSAGE_THINGS)}? {self.rng.choice(MESSAGE_ENDS)}"
        for sel, text in (("#name", name), ("#email", email)):
            await self.focus_field(self.page.locator(sel))
            await self.pause(0.2, 0.9)
            await self.type_text(text)
            await self.pause(0.3, 1.5)
        await self.page.locator("#subject").select_option(index=self.rng.randint(0, 2))
        await self.pause(0.3, 1.2)
        await self.focus_field(self.page.locator("#message"))
        await self.type_text(message)
        await self.pause(0.5, 2.5)
        async with self.page.expect_navigation(wait_until="load", timeout=20000):
            await self.click_button(self.page.locator("#send"))
        self.s.contact_posts += 1

    def record(self, how: str) -> None:
        u = urlsplit(self.page.url)
        self.s.views.append(how + (u.path + ("?" + u.query if u.query else "")))

    # --- the walk
    async def run(self) -> None:
        s = self.s
        await self.page.goto(
            self.base + s.landing, referer=s.referer or None, wait_until="load", timeout=30000
        )
        self.record("")
        while len(s.views) < s.planned:
            if time.monotonic() > self.deadline:
                s.status = "cut-by-deadline"
                return
            await self.read_page()
            path = urlsplit(self.page.url).path
            r = self.rng.random()
            p_back = (0.15 if self.advanced else 0.08) if len(s.views) > 1 else 0.0
            if path == "/contact" and s.contact_posts == 0 and r < 0.6:
                await self.fill_contact()
                self.record("post:")
            elif r < p_back:
                await self.page.go_back(wait_until="load", timeout=20000)
                s.backs += 1
                self.record("back:")
            elif r < p_back + 0.09 and s.searches < 2:
                await self.search()
                self.record("search:")
            else:
                prefer = None
                if s.contact_posts == 0 and self.rng.random() < 0.05:
                    prefer = "/contact"
                link = await self.pick_link(prefer)
                if link is None:
                    await self.page.go_back(wait_until="load", timeout=20000)
                    s.backs += 1
                    self.record("back:")
                    continue
                await self.follow(link)
                self.record("")
        # often a last look at the final page before the browser is closed
        if self.rng.random() < 0.5:
            await self.read_page()


# --------------------------------------------------------------------------------------------
# orchestration


class Runner:
    def __init__(self, args):
        self.args = args
        self.base = f"http://127.0.0.1:{args.port}"
        self.browsers: dict[str, object] = {}
        self.locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.display: str | None = None
        self.major = ""
        self.pw = None
        self.sink: ExitProxy | None = None
        self.deadline = 0.0

    async def browser(self, kit: str, user_agent: str | None = None):
        """The kit's shared browser; with `user_agent`, a browser of its own launched with it
        (the caller closes it)."""
        async with self.locks[kit]:
            if kit in self.browsers and user_agent is None:
                return self.browsers[kit]
            headless = kit not in ("headed", "headed-stealth")
            args = list(BASE_ARGS)
            if "stealth" in kit:
                args += STEALTH_ARGS
            if user_agent is not None:
                args.append(f"--user-agent={user_agent}")
            env = dict(os.environ)
            if not headless:
                env["DISPLAY"] = self.display
            b = await self.pw.chromium.launch(
                executable_path=self.args.chromium,
                headless=headless,
                args=args,
                env=env,
                proxy={"server": f"http://127.0.0.1:{self.sink.port}"},
            )
            if user_agent is None:
                self.browsers[kit] = b
            return b

    def plan(self, s: Session) -> None:
        rng = s.rng
        s.mode = "advanced" if rng.random() < 0.5 else "moderate"
        s.planned = int(min(25, max(4, round(rng.lognormvariate(math.log(7), 0.5)))))
        if rng.random() < 0.45:
            s.landing = "/"
            search_ref = rng.random() < 0.35
        else:
            s.landing = weighted(rng, DEEP_PAGES)
            search_ref = rng.random() < 0.65
        if search_ref:
            ref = weighted(rng, SEARCH_REFERERS)
            s.referer = ref.replace(
                "{token}",
                "".join(
                    rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
                    for _ in range(40)
                ),
            )

    async def context_for(self, s: Session, proxy_port: int):
        rng = s.rng
        opts: dict = {"proxy": {"server": f"http://127.0.0.1:{proxy_port}"}}
        stealth = None
        if s.kit == "launch-ua-stealth":
            ua, nav_platform = desktop_user_agent(rng, self.major)
            viewport, screen = weighted(rng, VIEWPORTS)
            opts.update(viewport=viewport, screen=screen, locale="en-US")
            s.own_browser = b = await self.browser(s.kit, user_agent=ua)
        else:
            b = await self.browser(s.kit)
        if s.kit == "launch-ua-stealth":
            pass  # the user agent is the browser's own (above)
        elif s.kit == "mobile-stealth":
            device = dict(self.pw.devices["Pixel 7"])
            device.pop("default_browser_type", None)
            opts.update(device)
            ua, nav_platform = device["user_agent"], "Linux armv81"
        elif s.kit == "headless":
            ua, nav_platform = None, None
        elif s.kit == "rotate-ua":
            ua, nav_platform = rotated_user_agent(rng, self.major)
            viewport, screen = weighted(rng, VIEWPORTS)
            opts.update(user_agent=ua, viewport=viewport, screen=screen, locale="en-US")
        else:
            ua, nav_platform = desktop_user_agent(rng, self.major)
            viewport, screen = weighted(rng, VIEWPORTS)
            opts.update(user_agent=ua, viewport=viewport, screen=screen, locale="en-US")
        if "stealth" in s.kit:
            from playwright_stealth import Stealth

            stealth = Stealth(
                navigator_user_agent_override=ua, navigator_platform_override=nav_platform
            )
            opts["extra_http_headers"] = (
                {"sec-ch-ua": stealth.sec_ch_ua_override} if stealth.sec_ch_ua_override else {}
            )
        ctx = await b.new_context(**opts)
        if stealth:
            await stealth.apply_stealth_async(ctx)
        return ctx

    async def run_session(self, s: Session, sem: asyncio.Semaphore, stagger: float) -> None:
        await asyncio.sleep(stagger)
        async with sem:
            if time.monotonic() > self.deadline - 90:
                s.status = "skipped-by-deadline"
                return
            proxy = ExitProxy(s.xff, self.args.port)
            port = await proxy.start()
            ctx = None
            s.start = now_iso()
            try:
                ctx = await self.context_for(s, port)
                page = await ctx.new_page()
                vp = page.viewport_size
                s.viewport = f"{vp['width']}x{vp['height']}" if vp else ""
                s.user_agent = await page.evaluate("navigator.userAgent")
                walker = Walker(s, page, self.base, s.kit == "mobile-stealth", self.deadline)
                await walker.run()
            except Exception as e:  # a failed action ends the session; what it did stays logged
                s.status = f"error: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
            finally:
                if ctx is not None:
                    try:
                        for c in await ctx.cookies():
                            if c["name"] == "vid":
                                s.vid = c["value"]
                        await ctx.close()
                    except Exception:
                        pass
                if s.own_browser is not None:
                    await s.own_browser.close()
                s.end = now_iso()
                await asyncio.sleep(0.5)
                await proxy.stop()
            print(
                f"[{s.end}] {s.sid} {s.kit:16} {s.mode:8} {s.xff:15} views={len(s.views):2}/{s.planned:2} "
                f"search={s.searches} post={s.contact_posts} back={s.backs} {s.status}",
                flush=True,
            )

    async def main(self, sessions: list[Session]) -> None:
        self.deadline = time.monotonic() + self.args.max_minutes * 60
        self.sink = ExitProxy(None, self.args.port)
        await self.sink.start()
        async with async_playwright() as pw:
            self.pw = pw
            probe = await pw.chromium.launch(
                executable_path=self.args.chromium,
                headless=True,
                args=BASE_ARGS,
                proxy={"server": f"http://127.0.0.1:{self.sink.port}"},
            )
            self.major = probe.version.split(".")[0]
            self.version = probe.version
            await probe.close()
            sem = asyncio.Semaphore(self.args.concurrency)
            order_rng = random.Random(f"{self.args.seed}:order")
            staggers, t = [], 0.0
            for _ in sessions:
                staggers.append(t)
                t += order_rng.uniform(0.5, 4.0)
            await asyncio.gather(
                *(self.run_session(s, sem, st) for s, st in zip(sessions, staggers, strict=True))
            )
            for b in self.browsers.values():
                await b.close()
        await self.sink.stop()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def address_pool() -> list[str]:
    out = []
    for net in ("198.51.100.0/24", "203.0.113.0/24"):
        out += [str(h) for h in ipaddress.ip_network(net).hosts()]
    return out


def check_log(log: Path, sessions: list[Session]) -> dict:
    """Every line parses; every line's address is a session's; a vid never spans two addresses."""
    by_xff = {s.xff: s for s in sessions}
    bad, unknown = [], Counter()
    vid_xff: dict[str, set] = defaultdict(set)
    per = defaultdict(Counter)
    lines = log.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        m = LINE_RE.match(line)
        if not m:
            bad.append((n, line[:160]))
            continue
        xff = m["xff"]
        if xff not in by_xff:
            unknown[xff] += 1
            continue
        if m["vid"] != "-":
            vid_xff[m["vid"]].add(xff)
        s = by_xff[xff]
        method, path = (m["request"].split(" ") + ["", ""])[:2]
        key = (s.kit, s.mode)
        per[key]["lines"] += 1
        if path.startswith("/static/") or path == "/favicon.ico":
            per[key]["assets"] += 1
        elif path == "/collect":
            per[key]["beacons"] += 1
        elif method == "GET" and m["status"] == "200":
            per[key]["page_gets"] += 1
        else:
            per[key]["other"] += 1
        if path == "/favicon.ico":
            per[key]["favicon"] += 1
    split_vids = {v: x for v, x in vid_xff.items() if len(x) > 1}
    for s in sessions:
        if s.vid and s.vid in vid_xff and vid_xff[s.vid] != {s.xff}:
            split_vids[s.vid] = vid_xff[s.vid]
    return {
        "lines": len(lines),
        "bad": bad,
        "unknown": unknown,
        "split_vids": split_vids,
        "per": per,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions-per-kit", type=int, default=12)
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--max-minutes", type=float, default=25.0)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument(
        "--kits", default=",".join(KITS), help="comma-separated subset of " + ",".join(ALL_KITS)
    )
    ap.add_argument("--chromium", default=CHROMIUM)
    ap.add_argument(
        "--client-hints",
        action="store_true",
        help='log the Sec-CH-UA header too (a last field, "$http_sec_ch_ua")',
    )
    args = ap.parse_args()
    log_format = HINTS_FORMAT if args.client_hints else LOG_FORMAT
    kits = [k for k in args.kits.split(",") if k]
    for k in kits:
        if k not in ALL_KITS:
            ap.error(f"unknown kit {k}")

    master = random.Random(args.seed)
    pool = address_pool()
    addresses = master.sample(pool, args.sessions_per_kit * len(kits))
    sessions = []
    for ki, kit in enumerate(kits):
        for i in range(args.sessions_per_kit):
            s = Session(
                sid=f"{kit}-{i:02d}",
                kit=kit,
                index=i,
                xff=addresses[ki * args.sessions_per_kit + i],
                rng=random.Random(f"{args.seed}:{kit}:{i}"),
            )
            sessions.append(s)
    random.Random(f"{args.seed}:shuffle").shuffle(sessions)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="realbots-"))
    nginx = Nginx(args.port, workdir, log_format)
    xvfb = Xvfb()
    runner = Runner(args)
    for s in sessions:
        runner.plan(s)
    t0 = time.monotonic()
    started = now_iso()
    nginx.start()
    try:
        if any(k.startswith("headed") for k in kits):
            runner.display = xvfb.start()
        asyncio.run(runner.main(sessions))
    finally:
        xvfb.stop()
        nginx.stop()
    elapsed = time.monotonic() - t0

    log_out = args.out_dir / "access.log"
    shutil.copyfile(nginx.access_log, log_out)
    skipped = [s.sid for s in sessions if s.status == "skipped-by-deadline"]
    sessions = sorted(
        (s for s in sessions if s.status != "skipped-by-deadline"),
        key=lambda s: (ALL_KITS.index(s.kit), s.index),
    )
    with open(args.out_dir / "sessions.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "session",
                "kit",
                "mode",
                "xff",
                "vid",
                "user_agent",
                "viewport",
                "landing",
                "referer",
                "pages_planned",
                "pages_visited",
                "searches",
                "contact_posts",
                "backs",
                "start_utc",
                "end_utc",
                "status",
                "pages",
            ]
        )
        for s in sessions:
            w.writerow(
                [
                    s.sid,
                    s.kit,
                    s.mode,
                    s.xff,
                    s.vid,
                    s.user_agent,
                    s.viewport,
                    s.landing,
                    s.referer,
                    s.planned,
                    len(s.views),
                    s.searches,
                    s.contact_posts,
                    s.backs,
                    s.start,
                    s.end,
                    s.status,
                    " ".join(s.views),
                ]
            )

    report = check_log(log_out, sessions)
    print()
    print(
        f"started {started}, took {elapsed / 60:.1f} min; Chromium {getattr(runner, 'version', '?')}"
    )
    print(f"log: {log_out} ({report['lines']} lines, {log_out.stat().st_size} bytes)")
    print(f"log format: {log_format}")
    print(
        f"unparsed lines: {len(report['bad'])}; lines with an unknown address: {sum(report['unknown'].values())}"
        f" {dict(report['unknown'])}; vids seen under two addresses: {len(report['split_vids'])}"
    )
    print(
        f"requests the proxies refused (would have left localhost or were CONNECT): {dict(ExitProxy.refused)}"
    )
    print(
        f"{'kit':16} {'mode':8} {'sess':>4} {'views':>5} {'lines':>6} {'pages':>5} {'assets':>6} {'beacons':>7} {'other':>5} {'favicon':>7}"
    )
    by_km = defaultdict(list)
    for s in sessions:
        by_km[(s.kit, s.mode)].append(s)
    for key in sorted(by_km, key=lambda k: (ALL_KITS.index(k[0]), k[1])):
        c = report["per"][key]
        ss = by_km[key]
        print(
            f"{key[0]:16} {key[1]:8} {len(ss):4} {sum(len(s.views) for s in ss):5} {c['lines']:6} {c['page_gets']:5} "
            f"{c['assets']:6} {c['beacons']:7} {c['other']:5} {c['favicon']:7}"
        )
    statuses = Counter(s.status.split(":")[0] for s in sessions)
    print(f"session status: {dict(statuses)}; not started (deadline): {skipped or 'none'}")
    shutil.rmtree(workdir, ignore_errors=True)
    if report["bad"] or report["unknown"] or report["split_vids"]:
        for n, line in report["bad"][:5]:
            print(f"  bad line {n}: {line}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
