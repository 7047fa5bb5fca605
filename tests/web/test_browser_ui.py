"""`qinglang ui` in real Chromium, beside a running `qinglang serve`: sign in, watch the live
figures change while beacons arrive, drill from a category to its evidence rows, run an audit
from the form and download its report, see an XSS payload in a user agent stay inert, and, as
another site's owner, see nothing of the first site on any route."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from qinglang.web.app import UiConfig, build_app
from tests.collect.helpers import BROWSER_UA, QINGLANG, Server, add_site, free_port
from tests.web import lake

pytestmark = pytest.mark.slow
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
PASSWORD = "correct horse battery"
XSS_UA = 'python-requests/2.31 <script>alert("xss-ua")</script><img src=x onerror=alert(1)>'
SECRET = "shop-only-referrer.example"
SHOTS = Path(os.environ["QINGLANG_SHOTS"]) if os.environ.get("QINGLANG_SHOTS") else None


class Ui:
    """`qinglang ui --db DB --port PORT` in its own process."""

    def __init__(self, db: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(db.with_name("ui.log"), "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([QINGLANG, "ui", "--db", str(db), "--port", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, db.with_name("ui.log").read_text()
            try:
                if httpx.get(self.url + "/login", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("qinglang ui did not start in 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


def _user(db: Path, name: str, site: str, role: str) -> None:
    subprocess.run([QINGLANG, "user", "add", name, "--db", str(db), "--password-stdin"],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True)  # fmt: skip
    subprocess.run([QINGLANG, "user", "grant", name, site, role, "--db", str(db)], check=True,
                   capture_output=True)  # fmt: skip


def _sign_in(page, base: str, name: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=user]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/sites")


def _pv(page) -> int:
    return int(re.sub(r"\D", "", page.inner_text("#pv-total")) or 0)


def test_dashboard_in_chromium(tmp_path):
    db = tmp_path / "q.db"
    add_site(db, "shop", "http://shop.test")
    add_site(db, "rival", "http://rival.test")
    rows = lake.traffic("shop", lake.DAY, 30, 0)
    rows += [lake.event(100 + i, "shop", lake.DAY, user_agent=XSS_UA, visitor_id=f"x{i}",
                        referrer=f"https://{SECRET}/") for i in range(4)]  # fmt: skip
    lake.write(db, "shop", rows, "day=2026-11-30")
    _user(db, "alice", "shop", "owner")
    _user(db, "carol", "rival", "owner")
    collector = Server(db, None, "--engine", "python")
    ui = Ui(db)
    dialogs: list[str] = []
    try:
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            ctx = browser.new_context(accept_downloads=True, locale="en-US")
            page = ctx.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            errors: list[str] = []  # script errors, and scripts or styles the CSP refused
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            _sign_in(page, ui.url, "alice")
            page.goto(ui.url + "/lang/en?next=/s/shop")
            assert page.url == ui.url + "/s/shop"
            before = _pv(page)
            assert before == 34
            page.wait_for_function("() => !!document.querySelector('#chart canvas')")
            if SHOTS:
                page.screenshot(path=str(SHOTS / "site.png"), full_page=True)

            # beacons arrive at the collector; the page's figures follow without a reload
            headers = {"user-agent": BROWSER_UA, "content-type": "text/plain",
                       "origin": "http://shop.test"}  # fmt: skip
            with httpx.Client(base_url=collector.url, headers=headers) as c:
                for i in range(5):
                    beacon = {"site": "shop", "url": f"http://shop.test/live{i}", "vid": f"L{i}",
                              "client": {"framed": False, "visible_ms": 3000,
                                         "interactions": 2}}  # fmt: skip
                    assert c.post("/b", content=json.dumps(beacon)).status_code == 204
            page.wait_for_function(
                f"() => document.querySelector('#pv-total').textContent.replace(/\\D/g, '') "
                f"== '{before + 5}'", timeout=20_000)  # fmt: skip

            # run an audit from the form, then download its report
            page.goto(ui.url + "/s/shop/audits")
            page.fill("input[name=price]", "2.5")
            page.click("form.run button[type=submit]")
            page.wait_for_selector("p.ok")
            audit_id = page.get_attribute("tbody tr", "data-audit")
            deadline = time.monotonic() + 120
            while "report.html" not in page.inner_text(f"tr[data-audit='{audit_id}']"):
                assert time.monotonic() < deadline, page.inner_text("#audits")
                assert "failed" not in page.inner_text(f"tr[data-audit='{audit_id}']")
                time.sleep(0.5)
                page.reload()
            with page.expect_download() as got:
                page.click(f"tr[data-audit='{audit_id}'] a[href$='report.html']")
            report = Path(got.value.path()).read_text(encoding="utf-8")
            assert "<html" in report.lower() and "2.5" in json.dumps(
                json.loads((db.with_name("q.db.audits") / "site=shop" / audit_id /
                            "audit.json").read_text())["price"])  # fmt: skip

            # the live page now takes its categories from that audit: drill down
            page.goto(ui.url + "/s/shop")
            page.click("#categories a[href*='/category/givt.crawler']")
            page.wait_for_selector("table.evidence")
            ua_cells = page.locator("table.evidence td.ua").all_inner_texts()
            assert XSS_UA in ua_cells  # shown as text, exactly
            assert page.locator("table.evidence script, table.evidence img").count() == 0
            assert SECRET in page.content()
            assert dialogs == [] and errors == []

            # sign out; carol (owner of rival) tries every route of shop
            page.click("header form button")
            page.wait_for_url(ui.url + "/login")
            _sign_in(page, ui.url, "carol")
            assert "shop" not in page.inner_text("main")
            tried = _try_every_route(page, ctx, ui.url, audit_id)
            assert tried >= 14
            assert dialogs == []
            browser.close()
    finally:
        ui.stop()
        collector.stop()


def _try_every_route(page, ctx, base: str, audit_id: str) -> int:
    from starlette.routing import Route

    from qinglang.web.tenancy import SCOPE_ATTR

    values = {"site": "shop", "audit": audit_id, "category": "givt.crawler",
              "name": "report.html"}  # fmt: skip
    csrf = page.get_attribute("input[name=csrf]", "value")
    web = build_app(UiConfig(readonly_dir=Path(".")))  # the same route table, read only
    tried = 0
    for r in web.routes:
        if not isinstance(r, Route) or getattr(r.endpoint, SCOPE_ATTR)[0] != "site":
            continue
        url = base + re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], r.path)
        if "GET" in r.methods:
            res = page.goto(url)
            body = page.content()
        else:
            res = ctx.request.post(url, form={"csrf": csrf, "price": "1", "user": "carol",
                                              "role": "owner"})  # fmt: skip
            body = res.text()
        assert res.status in (403, 404), (r.path, res.status)
        assert SECRET not in body and audit_id not in body and "python-requests" not in body
        tried += 1
    return tried
