"""Real Chromium (Debian's) in the five bot kits of `scripts/realbots/make_logs.py`, running
qinglang's own tracker: which automation tells each kit shows, and that the automation detector
still invalidates every kit now that `swiftshader` is a weak tell (issue 14: real people on
virtual machines and GPU-less Linux render WebGL with SwiftShader too).

The kits are launched as make_logs.py launches them (same flags, Playwright's per-context user
agent, playwright-stealth 2 for the stealth kits, Xvfb for the headed ones). The page is served
from 127.0.0.1 and the tracker's beacons are captured in the browser (nothing leaves the
machine); the captured measurements, with the user agent the beacon request carried, become
events for the detector. Measured with Chromium 156 in a container without a GPU:

| kit | tells | caught by |
|---|---|---|
| headless | webdriver, headless_ua, swiftshader | client.webdriver, client.tell, ua.headless |
| headless-stealth | worker_platform_mismatch (renderer spoofed as Intel Iris) | client.tell |
| headed (Xvfb) | webdriver, swiftshader | client.webdriver, client.tell, ua.platform_mismatch |
| headed-stealth | worker_platform_mismatch (renderer spoofed) | client.tell |
| mobile-stealth | worker_platform_mismatch (renderer spoofed) | client.tell, ua.ch_mismatch |

SwiftShader shows only in the kits that also show `navigator.webdriver`; the stealth kits
replace the WebGL renderer string, so the tell never caught them. The desktop stealth kits hang on
one tell (`worker_platform_mismatch`: stealth patches navigator.platform in the page, not in a
worker). Each test asserts the kit is caught with `swiftshader` taken out of its tells as well.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading

import pytest

from qinglang.collect.app import TRACKER
from qinglang.detect import automation
from tests.conftest import engine_with
from tests.detect.helpers import findings_of

pytestmark = pytest.mark.slow
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
KITS = ["headless", "headless-stealth", "headed", "headed-stealth", "mobile-stealth"]
BASE_ARGS = [  # scripts/realbots/make_logs.py: BASE_ARGS (without its refusing proxy)
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
STEALTH_ARGS = ["--disable-blink-features=AutomationControlled", "--accept-lang=en-US,en"]
PAGE = (
    '<!doctype html><html><head><meta charset="utf-8"><title>shop</title></head><body>'
    '<h1>Spring sale</h1><div style="height:3000px"></div><script src="/t.js"></script>'
    "</body></html>"
)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("kits")
    config = json.dumps({"site": "shop", "token": "t"})
    (root / "t.js").write_text(TRACKER.replace("__QL_CONFIG__", config))
    (root / "index.html").write_text(PAGE)
    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.fixture(scope="module")
def display():
    """An Xvfb display for the headed kits (None when Xvfb is not installed)."""
    if not shutil.which("Xvfb"):
        yield None
        return
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    try:
        yield f":{number}" if number else None
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_kit(kit: str, site: str, display: str | None) -> tuple[dict, str]:
    """One page view in the kit, with trusted input; the tracker's last beacon and its UA."""
    headless = kit not in ("headed", "headed-stealth")
    if not headless and display is None:
        pytest.skip("the headed kits need Xvfb (apt-get install xvfb)")
    stealth_mod = None
    if "stealth" in kit:
        stealth_mod = pytest.importorskip("playwright_stealth")
    env = dict(os.environ)
    if display:
        env["DISPLAY"] = display
    args = BASE_ARGS + (STEALTH_ARGS if "stealth" in kit else [])
    beacons: list[tuple[dict, str]] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=headless, args=args, env=env)
        major = browser.version.split(".")[0]
        opts: dict = {}
        if kit == "mobile-stealth":
            device = dict(p.devices["Pixel 7"])
            device.pop("default_browser_type", None)
            opts.update(device)
            ua, platform = device["user_agent"], "Linux armv81"
        elif kit == "headless":
            ua, platform = None, None
        else:  # make_logs.py's most common draw: Chrome on Windows, a 1366x768 screen
            ua = (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                f"Gecko) Chrome/{major}.0.0.0 Safari/537.36"
            )
            platform = "Win32"
            opts.update(
                user_agent=ua,
                viewport={"width": 1366, "height": 641},
                screen={"width": 1366, "height": 768},
                locale="en-US",
            )
        stealth = None
        if stealth_mod is not None:
            stealth = stealth_mod.Stealth(
                navigator_user_agent_override=ua, navigator_platform_override=platform
            )
            if stealth.sec_ch_ua_override:
                opts["extra_http_headers"] = {"sec-ch-ua": stealth.sec_ch_ua_override}
        ctx = browser.new_context(**opts)
        if stealth is not None:
            stealth.apply_stealth_sync(ctx)
        page = ctx.new_page()

        def keep(route, *_) -> None:  # type: ignore[no-untyped-def]
            request = route.request
            beacons.append((json.loads(request.post_data), request.headers.get("user-agent")))
            route.fulfill(status=204)

        page.route("**/b", keep)
        page.goto(f"{site}/index.html")
        page.mouse.move(120, 140)
        page.mouse.move(380, 260, steps=6)
        page.mouse.wheel(0, 400)
        page.wait_for_timeout(1500)  # the worker and permission tells arrive asynchronously
        page.evaluate("window.qinglang.flush()")
        page.wait_for_timeout(500)
        ctx.close()
        browser.close()
    assert beacons, f"{kit}: no beacon captured"
    client, user_agent = beacons[-1][0]["client"], beacons[-1][1]
    print(kit, json.dumps(client.get("tells")), client.get("webdriver"), user_agent)
    return client, user_agent


def verdict(client: dict, user_agent: str) -> dict[str, set[str]]:
    row = {
        "event_id": "e0000",
        "ts": dt.datetime(2026, 12, 6, 3, tzinfo=dt.UTC),
        "site": "shop",
        "event": "pageview",
        "visitor_id": "v0",
        "ip": "52.94.76.1",
        "user_agent": user_agent,
        "url": "http://127.0.0.1/index.html",
        "token": "valid",
        "client": client,
    }
    engine = engine_with([row])
    try:
        return findings_of(automation, engine)
    finally:
        engine.close()


WHAT_CATCHES = {  # reasons each kit must get (at least), with swiftshader weak
    "headless": {"client.webdriver", "ua.headless"},
    "headless-stealth": {"client.tell"},
    "headed": {"client.webdriver"},
    "headed-stealth": {"client.tell"},
    "mobile-stealth": {"client.tell"},
}


@pytest.mark.parametrize("kit", KITS)
def test_every_kit_is_caught_without_swiftshader(kit, site, display):
    client, user_agent = run_kit(kit, site, display)
    tells = set(client.get("tells") or [])
    assert client["interactions"] > 0  # Playwright's input is trusted: input proves nothing here
    found = verdict(client, user_agent).get("e0000", set())
    print(kit, "caught by", sorted(found))
    assert WHAT_CATCHES[kit] <= found, (kit, tells, found)
    # the same beacon without the SwiftShader tell: still invalid, by the same other tells
    stripped = dict(client, tells=sorted(tells - {"swiftshader"}) or None)
    again = verdict(stripped, user_agent).get("e0000", set())
    assert WHAT_CATCHES[kit] <= again, (kit, tells, again)
    if "stealth" in kit:
        # stealth replaces the WebGL renderer string: SwiftShader never showed
        assert "swiftshader" not in tells and client["webdriver"] is False
    else:
        assert client["webdriver"] is True
