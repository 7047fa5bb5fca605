"""Real Chromium (Debian's, driven by Playwright) on two localhost origins: the audited site
(http://localhost:A, with the README's snippet pasted into its page) and a host site
(http://127.0.0.1:B) that injects it. The collector is a real `qinglang serve` process; every
assertion goes through the real detectors: `qinglang audit --db --site` on what the collector stored.

The person and the hidden-injection cases run Chromium dressed as an ordinary device: no
`navigator.webdriver`, no "Headless" in the UA, no software-GL canvas (`--disable-3d-apis`). In the
2017 case the hidden traffic came from the real phones of a host app's users; what must give it
away is how the page was shown, not that our stand-in is a program. The plain-headless case runs
Chromium as Playwright starts it by default.
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyarrow.parquet as pq
import pytest

from qinglang.collect.lake import site_files
from tests.collect.helpers import QINGLANG, Server, add_site, free_port

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("engine")]
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-default-apps",
    "--disable-extensions",
]
DEVICE_ARGS = ["--disable-blink-features=AutomationControlled", "--disable-3d-apis"]

AUDITED = """<!doctype html><html><head><meta charset="utf-8"><title>shop</title></head>
<body style="margin:0;font:16px sans-serif">
<h1>Spring sale</h1><p>Everything must go.</p>
<textarea id="q" rows="3" cols="40"></textarea><button id="buy">Buy</button>
<div style="height:2000px"></div>
{snippet}
</body></html>"""

HOSTS = {
    "zero": '<iframe src="{page}" width="0" height="0" style="border:0"></iframe>',
    "offscreen": '<iframe src="{page}" width="400" height="300" '
    'style="position:absolute;left:-5000px;top:-5000px"></iframe>',
    "opacity": '<iframe src="{page}" width="800" height="600" style="opacity:0;border:0"></iframe>',
    "link": '<iframe name="sink" width="1" height="1" style="border:0;position:absolute;'
    'right:0;bottom:0"></iframe><a id="l" href="{page}" target="sink" style="position:absolute;'
    'left:-9999px;opacity:0">deal</a><script>setTimeout(function(){{'
    'document.getElementById("l").click()}}, 50)</script>',
}


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


def static(directory: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    handler = functools.partial(Quiet, directory=str(directory))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def case_of(url: str | None) -> str | None:
    return (parse_qs(urlsplit(url or "").query).get("case") or [None])[0]


class World:
    """Collector, two origins, the browser runs and their audit."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "collector.db"
        (tmp / "site").mkdir()
        (tmp / "host").mkdir()
        self.site_srv, a = static(tmp / "site")
        self.host_srv, b = static(tmp / "host")
        self.site = f"http://localhost:{a}"
        self.host = f"http://127.0.0.1:{b}"
        port = free_port()
        # what a site owner does: register the site, paste the printed snippet into the page
        snippet = add_site(self.db, "shop", self.site)
        snippet = snippet.replace("http://127.0.0.1:8080", f"http://127.0.0.1:{port}")
        assert snippet.startswith("<script async src=")
        (tmp / "site" / "index.html").write_text(AUDITED.format(snippet=snippet))
        for name, frame in HOSTS.items():
            page = f"{self.site}/index.html?case={name}"
            html = (
                f"<!doctype html><html><body><p>host app</p>{frame.format(page=page)}</body></html>"
            )
            (tmp / "host" / f"{name}.html").write_text(html)
        self.collector = Server(self.db, port)
        self.captured: list[dict] = []

    def close(self) -> None:
        self.collector.stop()
        self.site_srv.shutdown()
        self.host_srv.shutdown()

    # ----------------------------------------------------------------------------- browsing
    def browse(self) -> None:
        with playwright_api.sync_playwright() as p:
            plain = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            self.ua = plain.new_page().evaluate("navigator.userAgent")
            self.ua = self.ua.replace("HeadlessChrome", "Chrome")
            page = plain.new_page()
            page.goto(f"{self.site}/index.html?case=headless")
            page.wait_for_timeout(1200)
            page.goto("about:blank")
            page.wait_for_timeout(300)
            plain.close()
            # The UA goes on the command line, not in Playwright's per-page override, so that
            # every request (the unload beacon too) carries it, as on a real device.
            device = p.chromium.launch(
                executable_path=CHROMIUM,
                args=[*ARGS, *DEVICE_ARGS, f"--user-agent={self.ua}"],
                ignore_default_args=["--enable-automation"],
            )
            self.person(device)
            for name in HOSTS:
                ctx = device.new_context()
                page = ctx.new_page()
                page.goto(f"{self.host}/{name}.html")
                page.wait_for_timeout(1500)
                page.goto("about:blank")  # unload: the tracker's last beacon
                page.wait_for_timeout(300)
                ctx.close()
            device.close()

    def person(self, browser) -> None:  # type: ignore[no-untyped-def]
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        page = ctx.new_page()

        def keep(route) -> None:  # type: ignore[no-untyped-def]
            # what an attacker's proxy sees: the beacon on the wire, token included
            request = route.request
            if request.method == "POST":
                self.captured.append({"body": request.post_data, "headers": request.headers})
            route.continue_()

        page.route("**/b", keep)
        page.goto(f"{self.site}/index.html?case=person")
        page.mouse.move(200, 150)
        page.mouse.move(420, 260, steps=8)
        page.click("#q")
        page.keyboard.type("red shoes size 40", delay=30)
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(400)
        page.mouse.wheel(0, -300)
        page.click("#buy")
        page.wait_for_timeout(900)
        page.goto("about:blank")
        page.wait_for_timeout(300)
        ctx.close()

    # ------------------------------------------------------------------------------ forgeries
    def forge(self) -> None:
        pageview = next(c for c in self.captured if json.loads(c["body"])["event"] == "pageview")
        headers = {"user-agent": self.ua, "origin": self.site, "content-type": "text/plain"}
        with httpx.Client(base_url=self.collector.url, headers=headers) as c:
            body = json.loads(pageview["body"])
            body["url"] = body["url"].replace("case=person", "case=replay")
            r = c.post("/b", content=json.dumps(body))  # the captured beacon, sent again
            assert r.status_code == 409 and r.json()["reason"] == "token_replayed"
            forged = dict(body, url=f"{self.site}/index.html?case=notoken", token=None, vid="f1")
            forged["client"] = dict(body["client"], pv_id="forged-1")
            assert c.post("/b", content=json.dumps(forged)).status_code == 204
            # a script that fetches the tracker for a valid token but runs none of it
            js = c.get("/t.js", params={"site": "shop"}).text
            tok = json.loads(js.split("var C=", 1)[1].split(";", 1)[0])["token"]
            scripted = {
                "site": "shop",
                "token": tok,
                "url": f"{self.site}/index.html?case=scripted",
            }
            assert c.post("/b", content=json.dumps(dict(scripted, client={}))).status_code == 204
            params = {"site": "shop", "url": f"{self.site}/index.html?case=pixel"}
            r = c.get("/b.gif", params=params, headers={"referer": self.site + "/"})
            assert r.status_code == 200 and r.headers["content-type"] == "image/gif"

    # ---------------------------------------------------------------------------------- audit
    def audit(self) -> dict[str, list[dict]]:
        want = {"person", "headless", "replay", "notoken", "scripted", "pixel", *HOSTS}
        deadline = time.monotonic() + 20
        while True:  # beacons sent at unload may still be on their way
            files = site_files(self.db, "shop", self.tmp / f"scratch{time.monotonic_ns()}")
            events = [r for f in files for r in pq.read_table(f).to_pylist()]
            seen = {case_of(e["url"]) for e in events if e["event"] == "pageview"}
            if want <= seen or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # the site owner's command: `qinglang audit --db FILE --site NAME --out DIR`
        cmd = [
            QINGLANG,
            "audit",
            "--db",
            str(self.db),
            "--site",
            "shop",
            "--out",
            str(self.tmp / "audit"),
        ]
        subprocess.run([*cmd, "--tz", "UTC", "--lang", "en"], check=True, capture_output=True)
        labels = {
            r["event_id"]: r
            for r in pq.read_table(self.tmp / "audit" / "labels.parquet").to_pylist()
        }
        out: dict[str, list[dict]] = {}
        for e in events:
            out.setdefault(case_of(e["url"]) or "?", []).append({**e, **labels[e["event_id"]]})
        return out


@pytest.fixture(scope="module")
def world(engine, tmp_path_factory):
    w = World(tmp_path_factory.mktemp("browser"))
    try:
        w.browse()
        w.forge()
        w.results = w.audit()
        yield w
    finally:
        w.close()


def pageviews(world, case: str) -> list[dict]:
    rows = [r for r in world.results.get(case, []) if r["event"] == "pageview"]
    assert rows, f"no pageview stored for case {case}: {sorted(world.results)}"
    return rows


HIDDEN_REASONS = {"frame.zero_size", "frame.tiny", "view.never_visible", "frame.inert_host"}
FORGERY_REASONS = {
    "token.missing",
    "token.invalid",
    "token.replayed",
    "token.expired",
    "beacon.missing",
    "beacon.cloned",
}


def test_a_person_on_a_visible_page_is_measured_and_not_hidden_or_forged(world):
    rows = world.results["person"]
    assert {r["event"] for r in rows} >= {"pageview", "heartbeat"}  # pageview, then unload
    last = max(rows, key=lambda r: r["client"]["dwell_ms"])
    c = last["client"]
    assert c["framed"] is False and c["visible_ms"] > 1000
    assert c["interactions"] >= 3 and c["first_interaction_ms"] is not None
    assert c["viewport_w"] == 1280 and c["tz"] and c["lang"] and c["ch_ua"]
    assert all(r["token"] == "valid" for r in rows)
    for r in rows:
        assert not set(r["reasons"]) & (HIDDEN_REASONS | FORGERY_REASONS), r["reasons"]
        # The stand-in for a person is Playwright itself: sivt.automation may rightly fire on it
        # (e.g. a CDP tell); hidden and forgery must not.
        assert r["category"] in (None, "sivt.automation"), r["category"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("zero", "frame.zero_size"),
        ("offscreen", "view.never_visible"),
        ("opacity", "view.never_visible"),
        ("link", "frame.tiny"),
    ],
)
def test_the_page_injected_by_a_host_is_hidden(world, case, reason):
    for r in pageviews(world, case):
        c = r["client"]
        assert c["framed"] is True and c["interactions"] == 0
        assert c["ancestor_origins"] == [world.host]
        assert r["token"] == "valid"  # the real tracker ran: only how it was shown gives it away
        assert reason in r["reasons"], r["reasons"]
        assert r["verdict"] == "invalid" and r["category"] == "sivt.hidden", r
    if case in ("offscreen", "opacity"):
        assert all(r["client"]["visible_ms"] == 0 for r in world.results[case])


def test_plain_headless_automation_is_automation(world):
    for r in pageviews(world, "headless"):
        assert r["client"]["webdriver"] is True
        assert {"webdriver", "headless_ua"} <= set(r["client"]["tells"])
        assert "client.webdriver" in r["reasons"] and "client.tell" in r["reasons"]
        assert r["verdict"] == "invalid" and r["category"] == "sivt.automation", r


@pytest.mark.parametrize(
    ("case", "reasons"),
    [
        ("replay", {"token.replayed"}),
        ("notoken", {"token.missing"}),
        ("scripted", {"beacon.missing"}),
        ("pixel", {"token.missing", "beacon.missing"}),
    ],
)
def test_requests_without_a_tracker_behind_them_are_forgery(world, case, reasons):
    rows = pageviews(world, case)
    assert len(rows) == 1
    assert reasons <= set(rows[0]["reasons"]), rows[0]["reasons"]
    assert rows[0]["verdict"] == "invalid" and rows[0]["category"] == "sivt.forgery"
