"""Pages and API: what they show, escaping, headers, languages, running and downloading an
audit, read-only mode."""

from __future__ import annotations

import json
import re
import time

import pytest

from qinglang.collect.sites import SiteRegistry
from qinglang.web.accounts import Accounts
from qinglang.web.app import UiConfig, build_app
from tests.web import lake
from tests.web.conftest import PASSWORD, client, csrf_of

XSS_UA = 'python-requests/2.31 <script>alert("ua")</script><img src=x onerror=alert(1)>'
XSS_SOURCE = '<b onmouseover="alert(2)">src</b>'


@pytest.fixture(scope="module")
def xss_app(tmp_path_factory):
    db = tmp_path_factory.mktemp("xss") / "q.db"
    SiteRegistry(db).add("shop", ["https://shop.test"])
    rows = lake.traffic("shop", lake.DAY, 20, 0)
    rows += [lake.event(100 + i, "shop", lake.DAY, user_agent=XSS_UA, visitor_id=f"x{i}",
                        source=XSS_SOURCE) for i in range(5)]  # fmt: skip
    lake.write(db, "shop", rows, "day=2026-11-30")
    acc = Accounts(db)
    acc.add_user("alice", PASSWORD)
    acc.grant("alice", "shop", "owner")
    web = build_app(UiConfig(db=db))
    aid, done = web.state.runner.submit("shop", {"lang": "en"})
    done.result(timeout=120)
    web.state.aid = aid
    yield web
    web.state.runner.shutdown()


def test_attacker_text_is_escaped(xss_app):
    c = client(xss_app, "alice")
    site = c.get("/s/shop")
    assert site.status_code == 200
    assert XSS_SOURCE not in site.text and "&lt;b onmouseover=" in site.text
    cat = c.get(f"/s/shop/audits/{xss_app.state.aid}/category/givt.crawler")
    assert cat.status_code == 200
    assert "<script>alert" not in cat.text and "<img src=x" not in cat.text
    assert "&lt;script&gt;alert(&#34;ua&#34;)&lt;/script&gt;" in cat.text
    # the chart's JSON block cannot close its script element
    block = site.text.split('id="figures-data">')[1].split("</script>")[0]
    assert "<" not in block and json.loads(block)["figures"]["site"] == "shop"


def test_security_headers(app):
    r = client(app).get("/login")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client(app).get("/static/vendor/echarts.min.js").status_code == 200


def test_no_inline_script_in_pages(app, world):
    c = client(app, "alice")
    for path in ("/sites", "/s/shop", "/s/shop/audits", f"/s/shop/audits/{world.audits['shop']}",
                 "/s/shop/users"):  # fmt: skip
        page = c.get(path).text
        for tag in page.split("<script")[1:]:
            head = tag.split(">", 1)[0]
            assert "src=" in head or 'type="application/json"' in head, (path, head)
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", page), path  # no inline handlers


def test_languages(app):
    c = client(app, "alice")
    assert "浏览量" in c.get("/s/shop").text  # Chinese by default
    r = c.get("/lang/en?next=/s/shop")
    assert r.status_code == 303 and r.headers["location"] == "/s/shop"
    page = c.get("/s/shop").text
    assert "Page views (PV)" in page and "浏览量" not in page
    assert c.get("/lang/en?next=//evil.example").headers["location"] == "/"


def test_drill_down_from_category_to_evidence(app, world):
    c = client(app, "alice")
    site = c.get("/s/shop").text
    link = f"/s/shop/audits/{world.audits['shop']}/category/givt.crawler"
    assert f'href="{link}"' in site
    page = c.get(link).text
    assert "ua.http_library" in page or "ua.crawler" in page
    assert "ShopSecretBot/1.0" in page and "shop-secret-referrer.example" in page
    api = c.get("/api/v1/sites/shop/audits/" + world.audits["shop"] + "/categories/givt.crawler")
    rows = [e for r in api.json()["reasons"] for e in r["evidence"]]
    assert rows and all(e["event_id"].startswith("shop-evt-") for e in rows)


def test_run_an_audit_from_the_form_and_download_it(app, world):
    c = client(app, "bob")
    csrf = csrf_of(c, "/s/shop/audits")
    r = c.post("/s/shop/audits", data={"csrf": csrf, "from": "2026-11-30", "to": "2026-11-30",
                                       "price": "2.5", "per": "1000", "currency": "cny"})  # fmt: skip
    assert r.status_code == 303
    aid = r.headers["location"].split("started=")[1]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = c.get(f"/api/v1/sites/shop/audits/{aid}").json()
        if state["state"] != "running":
            break
        time.sleep(0.2)
    assert state["state"] == "done", state
    assert state["options"]["price"] == 2.5 and state["options"]["currency"] == "CNY"
    report = c.get(f"/s/shop/audits/{aid}/files/report.html")
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    assert "sandbox" in report.headers["content-security-policy"]
    assert "<html" in report.text.lower()
    assert c.get(f"/s/shop/audits/{aid}/files/labels.parquet").status_code == 404
    # the audit id segment cannot climb to another site's audit (rival's is a real directory)
    rival = world.audits["rival"]
    for climb in (f"..%2F..%2Fsite=rival%2F{rival}", f"..%2Fsite=rival%2F{rival}",
                  f"%2E%2E%2Fsite=rival%2F{rival}"):  # fmt: skip
        for url in (f"/s/shop/audits/{climb}/files/audit.json",
                    f"/api/v1/sites/shop/audits/{climb}/files/audit.json",
                    f"/api/v1/sites/shop/audits/{climb}"):  # fmt: skip
            r = c.get(url)
            assert r.status_code == 404 and "rival" not in r.text.replace(climb, ""), url
    target = client(app, "carol").get(f"/api/v1/sites/rival/audits/{rival}/files/audit.json")
    assert target.status_code == 200  # the target exists: the refusals above mean something


def test_bad_form_fields_are_named(app):
    c = client(app, "bob")
    csrf = csrf_of(c, "/s/shop/audits")
    for field, value in (("price", "abc"), ("from", "2026-13-01"), ("currency", "dollars"),
                         ("per", "-5")):  # fmt: skip
        r = c.post("/s/shop/audits", data={"csrf": csrf, field: value})
        assert r.status_code == 400 and f"{field}" in r.text, (field, r.text[:200])
        assert "Traceback" not in r.text


def test_api_with_a_token(app, world):
    h = {"authorization": f"Bearer {world.tokens['bob']}"}
    c = client(app)
    assert c.get("/api/v1/sites", headers=h).json() == {
        "sites": [{"site": "shop", "role": "buyer"}]
    }
    figs = c.get("/api/v1/sites/shop/figures?grain=hour", headers=h).json()
    assert figs["totals"]["pv"] == 72 and figs["grain"] == "hour"
    bad = c.get("/api/v1/sites/shop/figures?from=yesterday", headers=h)
    assert bad.status_code == 400 and "from" in bad.json()["detail"]
    r = c.post("/api/v1/sites/shop/audits", headers=h, content=b'{"price": "x"}')
    assert r.status_code == 400 and r.json()["detail"].startswith("price")
    # a session alone cannot POST to the API (it has no CSRF token there)
    assert client(app, "bob").post("/api/v1/sites/shop/audits", json={}).status_code == 403
    r = c.post("/api/v1/sites/shop/audits", headers=h, json={"price": 1.5, "lang": "en"})
    assert r.status_code == 202
    app.state.runner._pool.shutdown(wait=True)


def test_read_only_audit_dir(world):
    app_dir = world.db.with_name(world.db.name + ".audits") / "site=shop"
    web = build_app(UiConfig(readonly_dir=app_dir))
    c = client(web)
    site = web.state.readonly_site
    r = c.get("/")
    assert r.status_code == 303 and r.headers["location"] == f"/s/{site}/audits"
    page = c.get(f"/s/{site}/audits")
    assert page.status_code == 200 and world.audits["shop"] in page.text
    assert 'action="/s/' not in page.text  # no run form
    cat = c.get(f"/s/{site}/audits/{world.audits['shop']}/category/givt.crawler")
    assert cat.status_code == 200 and "ShopSecretBot" in cat.text
    assert c.get(f"/s/{site}").status_code == 303
    assert c.post(f"/s/{site}/audits", data={}).status_code == 403
    assert c.get("/s/other/audits").status_code == 404


def test_drill_down_from_a_source_to_its_evidence(app, world):
    c = client(app, "alice")
    site = c.get("/s/shop").text  # links to the latest audit, whichever test ran it
    found = re.search(
        r'href="(/s/shop/audits/([^/"]+)/source\?name=shop-secret-referrer.example)"', site
    )
    assert found, site
    link, aid = found.groups()
    page = c.get(link)
    assert page.status_code == 200 and "ShopSecretBot/1.0" in page.text
    api = c.get(f"/api/v1/sites/shop/audits/{aid}/source?name=shop-secret-referrer.example")
    assert api.status_code == 200
    rows = [e for r in api.json()["reasons"] for e in r["evidence"]]
    assert rows and {e["referrer"] for e in rows} == {"https://shop-secret-referrer.example/x"}
    assert c.get(f"/s/shop/audits/{aid}/source?name=search.example").status_code == 200
    assert c.get(f"/s/shop/audits/{aid}/source?name=" + "x" * 300).status_code == 404


def test_query_text_is_not_echoed_onto_pages(app, world):
    c = client(app, "alice")
    fake = "Your account is suspended: call +1-555-0100"
    page = c.get("/s/shop/audits", params={"started": fake}).text
    assert "suspended" not in page
    real = c.get("/s/shop/audits", params={"started": world.audits["shop"]}).text
    assert 'role="status"' in real and world.audits["shop"] in real
    assert "suspended" not in c.get("/s/shop/users", params={"error": fake}).text


def test_control_and_bidi_characters_from_data_are_shown_as_replacement_characters():
    """A UA with U+202E (right-to-left override) would reverse the text after it on the page:
    every string a template shows goes through audit.i18n.clean first, then is escaped."""
    from qinglang.web.app import templates

    shown = templates().from_string("{{ ua }} {{ n }}").render(ua="a\u202e<b>\x07", n=3)
    assert shown == "a\ufffd&lt;b&gt;\ufffd 3"
