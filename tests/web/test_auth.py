"""Sign-in: cookies, CSRF on every POST form, rate limits, redirects, passwords, tokens."""

from __future__ import annotations

import sqlite3

from starlette.routing import Route
from starlette.testclient import TestClient

from qinglang.web.accounts import Accounts
from qinglang.web.app import UiConfig, build_app
from qinglang.web.ratelimit import Limiter
from tests.web.conftest import PASSWORD, client, csrf_of, login


def test_session_cookie_flags(app):
    c = client(app)
    r = login(c, "alice")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    assert r.headers["location"] == "/sites"
    assert c.get("/sites").status_code == 200


def test_secure_cookie_off_loopback(world):
    web = build_app(UiConfig(db=world.db, secure_cookies=True))
    r = client(web).get("/login")
    assert "; secure" in r.headers["set-cookie"].lower()
    web.state.runner.shutdown()


def test_every_post_form_needs_the_csrf_token(app, world):
    c = client(app, "alice")
    posts = [r.path for r in app.routes if isinstance(r, Route) and "POST" in r.methods]
    assert {"/login", "/logout", "/s/{site}/audits", "/s/{site}/users"} <= set(posts)
    for path in posts:
        if path.startswith("/api/"):
            continue  # the API's POST takes a bearer token only (test_pages)
        url = path.replace("{site}", "shop")
        for sent in ({}, {"csrf": "forged"}):
            r = c.post(url, data={**sent, "user": "alice", "password": PASSWORD, "price": "1",
                                  "role": "buyer"})  # fmt: skip
            assert r.status_code == 403, (url, sent, r.status_code)
    assert c.get("/sites").status_code == 200  # still signed in: logout refused too


def test_login_next_is_local_only(app):
    c = client(app)
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        r = c.post("/login", data={"user": "alice", "password": PASSWORD, "csrf": csrf_of(c),
                                   "next": evil})  # fmt: skip
        assert r.headers["location"] == "/sites", evil


def test_rate_limit_per_account(world):
    web = build_app(UiConfig(db=world.db, limiter=Limiter(per_account=3, per_ip=100)))
    c = client(web)
    for _ in range(3):
        r = c.post(
            "/login", data={"user": "bob", "password": "wrong-password!", "csrf": csrf_of(c)}
        )
        assert r.status_code == 401
    r = c.post("/login", data={"user": "bob", "password": PASSWORD, "csrf": csrf_of(c)})
    assert r.status_code == 429  # even the right password, until the window passes
    assert login(c, "alice").status_code == 303  # another account is not blocked
    owner = TestClient(web, base_url="http://127.0.0.1", follow_redirects=False,
                       client=("192.0.2.77", 5000))  # fmt: skip
    assert login(owner, "bob").status_code == 303  # the owner, from elsewhere, still signs in
    web.state.runner.shutdown()


def test_rate_limit_per_account_from_anywhere():
    lim = Limiter(per_account=3, per_ip=100, per_account_anywhere=10)
    for i in range(9):
        lim.failed("bob", f"198.51.100.{i}")  # an attacker rotating addresses
    assert lim.blocked("bob", "192.0.2.1") == 0  # under the ceiling: the owner still may
    lim.failed("bob", "198.51.100.99")
    assert lim.blocked("bob", "192.0.2.1") > 0  # the ceiling holds from everywhere
    assert lim.blocked("alice", "192.0.2.1") == 0
    lim2 = Limiter(per_account=3, per_ip=100, per_account_anywhere=10)
    for _ in range(3):
        lim2.failed("bob", "198.51.100.1")
    assert lim2.blocked("bob", "198.51.100.1") > 0 and lim2.blocked("bob", "192.0.2.1") == 0


def test_rate_limit_per_ip(world):
    web = build_app(UiConfig(db=world.db, limiter=Limiter(per_account=100, per_ip=4)))
    c = client(web)
    for i in range(4):
        c.post("/login", data={"user": f"nobody{i}", "password": "x" * 12, "csrf": csrf_of(c)})
    r = c.post("/login", data={"user": "alice", "password": PASSWORD, "csrf": csrf_of(c)})
    assert r.status_code == 429
    web.state.runner.shutdown()


def test_limiter_window_passes():
    now = [0.0]
    lim = Limiter(per_account=2, per_ip=10, window_s=60, clock=lambda: now[0])
    lim.failed("u", "1.2.3.4")
    lim.failed("U", "1.2.3.4")  # names compare without case
    assert lim.blocked("u", "1.2.3.4") > 0
    now[0] = 61
    assert lim.blocked("u", "1.2.3.4") == 0


def test_limiter_memory_is_bounded():
    lim = Limiter(max_keys=10)
    for i in range(100):
        lim.failed(f"user{i}", f"10.0.0.{i}")
    assert len(lim._fails) <= 10


def test_password_change_ends_sessions(world, app):
    acc = Accounts(world.db)
    acc.add_user("temp-user", PASSWORD)
    acc.grant("temp-user", "shop", "buyer")
    token = {"Authorization": "Bearer " + acc.new_token("temp-user")}
    c = client(app, "temp-user")
    assert c.get("/s/shop").status_code == 200
    assert client(app).get("/api/v1/sites/shop/figures", headers=token).status_code == 200
    acc.set_password("temp-user", PASSWORD + "!")
    assert c.get("/s/shop").status_code == 303
    assert client(app).get("/api/v1/sites/shop/figures", headers=token).status_code == 401
    assert acc.tokens("temp-user") == []
    acc.remove_user("temp-user")


def test_passwords_and_tokens_are_stored_hashed(world):
    acc = Accounts(world.db)
    token = world.tokens["alice"]
    with sqlite3.connect(world.db) as con:
        dump = "\n".join(con.iterdump())
    assert PASSWORD not in dump and token not in dump
    assert "$argon2id$" in dump
    assert acc.token_user(token).name == "alice"
    assert acc.token_user(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert acc.verify("alice", PASSWORD) is not None
    assert acc.verify("alice", "wrong password") is None
    assert acc.verify("nobody", PASSWORD) is None


def test_tables_added_to_an_existing_collector_db(tmp_path):
    from qinglang.collect.sites import SiteRegistry

    db = tmp_path / "old.db"
    SiteRegistry(db).add("shop", ["https://shop.test"])
    Accounts(db).add_user("x", PASSWORD)
    Accounts(db)  # again: nothing lost, nothing doubled
    assert SiteRegistry(db).get("shop") is not None
    assert Accounts(db).verify("x", PASSWORD) is not None


def test_password_hashing_runs_off_the_event_loop(world):
    """argon2 (~0.2 s a login) runs in a worker thread, so pages answer while logins hash."""
    import asyncio

    web = build_app(UiConfig(db=world.db))
    accounts, calls = web.state.accounts, []
    verify = accounts.verify

    def recording_verify(name, password):
        try:
            asyncio.get_running_loop()
            calls.append("on the event loop")
        except RuntimeError:
            calls.append("in a thread")
        return verify(name, password)

    accounts.verify = recording_verify
    c = client(web)
    assert c.post("/login", data={"user": "alice", "password": "wrong-password!",
                                  "csrf": csrf_of(c)}).status_code == 401  # fmt: skip
    login(c, "alice")
    assert calls == ["in a thread", "in a thread"]
    web.state.runner.shutdown()


def test_signing_out_ends_a_copied_session_cookie(app):
    c = client(app, "bob")
    stolen = c.cookies.get("qinglang_session")
    assert c.get("/s/shop").status_code == 200
    assert c.post("/logout", data={"csrf": csrf_of(c, "/sites")}).status_code == 303
    thief = client(app)
    thief.cookies.set("qinglang_session", stolen)
    r = thief.get("/s/shop")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    again = client(app, "bob")  # bob signs in again: a new session, not refused
    assert again.get("/s/shop").status_code == 200
