"""Tenant isolation: every route in the app's route table, tried as a user of another site,
with a bearer token of one, anonymously and for a site that does not exist."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Mount, Route

from qinglang.web.tenancy import SCOPE_ATTR
from tests.web.conftest import SHOP_MARKERS, client, csrf_of

PUBLIC = {"/", "/login", "/lang/{lang}"}


def _routes(app) -> list[tuple[str, str, tuple]]:
    out = []
    for r in app.routes:
        if isinstance(r, Mount):
            continue
        assert isinstance(r, Route)
        for method in sorted(r.methods - {"HEAD"}):
            out.append((method, r.path, getattr(r.endpoint, SCOPE_ATTR)))
    return out


def _fill(path: str, site: str, audit: str) -> str:
    values = {"site": site, "audit": audit, "category": "givt.crawler", "name": "report.html",
              "lang": "en"}  # fmt: skip
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def _call(c, method: str, url: str, csrf: str | None = None, headers=None):
    if method == "GET":
        return c.get(url, headers=headers)
    data = {"csrf": csrf or "", "user": "carol", "role": "owner", "price": "1"}
    return c.post(url, data=data, headers=headers)


def test_every_route_is_scoped(app):
    routes = _routes(app)
    assert len(routes) >= 20
    for method, path, (scope, _roles) in routes:
        if scope == "public":
            assert path in PUBLIC, f"{method} {path} is public"
        if "{site}" in path:
            assert scope == "site", f"{method} {path} takes a site but does not check it"


def test_other_tenant_sees_nothing_on_any_route(app, world):
    """carol owns rival: every route of shop, by session (with her CSRF token) and by her
    token, answers 404/403 and never shows shop's data."""
    as_carol = client(app, "carol")
    csrf = csrf_of(as_carol, "/sites")
    bearer = {"authorization": f"Bearer {world.tokens['carol']}"}
    tried = 0
    for method, path, (scope, _) in _routes(app):
        if scope != "site":
            continue
        url = _fill(path, "shop", world.audits["shop"])
        for headers in (None, bearer) if path.startswith("/api/") else (None,):
            r = _call(as_carol, method, url, csrf, headers)
            assert r.status_code in (403, 404), (method, url, r.status_code)
            for marker in (*SHOP_MARKERS, world.audits["shop"]):
                assert marker not in r.text, (method, url, marker)
            tried += 1
    site_routes = [p for _, p, (scope, _) in _routes(app) if scope == "site"]
    assert len(site_routes) >= 16  # each page route once, each API route by session and token
    assert tried == sum(2 if p.startswith("/api/") else 1 for p in site_routes)
    # and her own site answers on the same routes (the refusals above are not a broken app)
    own = as_carol.get(f"/s/rival/audits/{world.audits['rival']}/category/givt.crawler")
    assert own.status_code == 200 and "RivalSecretBot" in own.text


def test_unknown_and_not_granted_look_the_same(app, world):
    """Every route of a site, for a site carol is not granted and for one that does not exist:
    the same 404 from the tenancy layer (its body, not the router's "Not Found")."""
    c = client(app, "carol")
    csrf = csrf_of(c, "/sites")
    bearer = {"authorization": f"Bearer {world.tokens['carol']}"}
    tried = 0
    for method, path, (scope, _) in _routes(app):
        if scope != "site":
            continue
        api = path.startswith("/api/")
        answers = [
            _call(c, method, _fill(path, site, world.audits["shop"]), csrf, bearer if api else None)
            for site in ("shop", "no-such-site")
        ]
        for r in answers:
            assert r.status_code == 404, (method, path, r.status_code)
            if api:
                assert r.json() == {"error": "not_found"}, (method, path, r.text)
            else:
                assert r.text == "404: not found", (method, path, r.text)
        assert answers[0].text == answers[1].text
        tried += 1
    assert tried >= 16


@pytest.mark.parametrize("user", [None, "bad-token"])
def test_anonymous_pages_redirect_and_api_answers_401(app, world, user):
    c = client(app)
    headers = {"authorization": "Bearer qlt_not-a-token"} if user else None
    for method, path, (scope, _) in _routes(app):
        if scope == "public":
            continue
        url = _fill(path, "shop", world.audits["shop"])
        r = _call(c, method, url, headers=headers)
        if path.startswith("/api/"):
            assert r.status_code == 401, (method, url)
        elif headers:  # a bearer token is not taken on pages
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), url
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), url
        assert not any(m in r.text for m in SHOP_MARKERS)


def test_roles(app, world):
    ann = client(app, "ann")  # auditor of shop: reads, runs nothing, manages no one
    assert ann.get("/s/shop").status_code == 200
    csrf = csrf_of(ann, "/s/shop/audits")
    assert 'action="/s/shop/audits"' not in ann.get("/s/shop/audits").text  # no run form
    assert ann.post("/s/shop/audits", data={"csrf": csrf, "price": "1"}).status_code == 403
    assert ann.get("/s/shop/users").status_code == 403
    bob = client(app, "bob")  # buyer: no user management
    assert bob.get("/s/shop/users").status_code == 403
    alice = client(app, "alice")
    page = alice.get("/s/shop/users")
    assert page.status_code == 200 and "bob" in page.text and "carol" not in page.text


def test_owner_grants_only_on_their_site(app, world):
    alice = client(app, "alice")
    csrf = csrf_of(alice, "/s/shop/users")
    r = alice.post("/s/shop/users", data={"csrf": csrf, "user": "carol", "role": "auditor",
                                          "action": "grant"})  # fmt: skip
    assert r.status_code == 303
    assert app.state.accounts.user("carol").grants == {"rival": "owner", "shop": "auditor"}
    r = alice.post("/s/shop/users", data={"csrf": csrf, "user": "carol", "action": "revoke"})
    assert app.state.accounts.user("carol").grants == {"rival": "owner"}
    assert alice.post("/s/rival/users", data={"csrf": csrf, "user": "alice", "role": "owner",
                                              "action": "grant"}).status_code == 404  # fmt: skip
    assert app.state.accounts.user("alice").grants == {"shop": "owner"}


def test_an_owner_cannot_change_their_own_role(app):
    alice = client(app, "alice")
    csrf = csrf_of(alice, "/s/shop/users")
    for action in ({"role": "auditor", "action": "grant"}, {"action": "revoke"}):
        r = alice.post("/s/shop/users", data={"csrf": csrf, "user": "alice", **action})
        assert r.status_code == 400 and "own role" in r.text
    assert app.state.accounts.user("alice").grants == {"shop": "owner"}
