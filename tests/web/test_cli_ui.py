"""`qinglang user ...` and `qinglang ui`'s refusals: one line naming the field, never a
traceback; passwords never on the command line. And the --audit-every schedule."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from qinglang.cli import app
from qinglang.collect.sites import SiteRegistry
from qinglang.web.accounts import Accounts
from qinglang.web.audits import Runner, list_audits
from qinglang.web.schedule import Scheduler, parse_every
from tests.web import lake

PASSWORD = "a long enough password"


@pytest.fixture
def db(tmp_path):
    db = tmp_path / "q.db"
    SiteRegistry(db).add("shop", ["https://shop.test"])
    return db


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


def test_user_lifecycle(db):
    r = run("user", "add", "alice", "--db", str(db), "--password-stdin", stdin=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    assert Accounts(db).verify("alice", PASSWORD) is not None
    r = run("user", "grant", "alice", "shop", "owner", "--db", str(db))
    assert r.exit_code == 0 and Accounts(db).user("alice").grants == {"shop": "owner"}
    r = run("user", "token", "alice", "--db", str(db))
    token = r.stdout.strip().splitlines()[0]
    assert r.exit_code == 0 and Accounts(db).token_user(token).name == "alice"
    r = run("user", "passwd", "alice", "--db", str(db), "--password-stdin",
            stdin=PASSWORD + "2\n")  # fmt: skip
    assert r.exit_code == 0 and Accounts(db).verify("alice", PASSWORD + "2") is not None
    assert run("user", "revoke", "alice", "shop", "--db", str(db)).exit_code == 0
    assert Accounts(db).user("alice").grants == {}


def test_tokens_listed_revoked_and_users_removed(db):
    run("user", "add", "bob", "--db", str(db), "--password-stdin", stdin=PASSWORD + "\n")
    run("user", "grant", "bob", "shop", "buyer", "--db", str(db))
    first, second = (run("user", "token", "bob", "--db", str(db)).stdout.split()[0]
                     for _ in range(2))  # fmt: skip
    listed = run("user", "token", "bob", "--list", "--db", str(db))
    ids = [line.split()[0] for line in listed.stdout.splitlines()]
    assert listed.exit_code == 0 and len(ids) == 2 and "Z" in listed.stdout
    r = run("user", "token", "bob", "--revoke", ids[0], "--db", str(db))
    assert r.exit_code == 0, r.output
    assert Accounts(db).token_user(first) is None and Accounts(db).token_user(second) is not None
    r = run("user", "token", "bob", "--revoke", ids[0], "--db", str(db))
    assert r.exit_code == 2 and "--revoke" in r.output
    assert run("user", "remove", "bob", "--db", str(db)).exit_code == 0
    acc = Accounts(db)
    assert acc.user("bob") is None and acc.token_user(second) is None and acc.users_of("shop") == []
    r = run("user", "remove", "bob", "--db", str(db))
    assert r.exit_code == 2 and "no user 'bob'" in r.output


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (("user", "add", "alice"), None, "--password-stdin"),  # no terminal: says how
        (("user", "add", "alice", "--password-stdin"), "short\n", "at least 10"),
        (("user", "add", "bad name!", "--password-stdin"), PASSWORD + "\n", "user name"),
        (("user", "grant", "nobody", "shop", "owner"), None, "no user"),
        (("user", "token", "nobody"), None, "no user"),
    ],
)
def test_user_errors_are_one_line(db, args, stdin, says):
    r = run(*args, "--db", str(db), stdin=stdin)
    assert r.exit_code == 2, r.output
    assert says in r.output and "Traceback" not in r.output


def test_grant_checks_site_and_role(db):
    run("user", "add", "alice", "--db", str(db), "--password-stdin", stdin=PASSWORD + "\n")
    r = run("user", "grant", "alice", "nosuch", "owner", "--db", str(db))
    assert r.exit_code == 2 and "not registered" in r.output
    r = run("user", "grant", "alice", "shop", "king", "--db", str(db))
    assert r.exit_code == 2 and "role 'king'" in r.output


def test_no_password_option_exists(db):
    r = run("user", "add", "alice", "--password", PASSWORD, "--db", str(db))
    assert r.exit_code == 2 and Accounts(db).user("alice") is None


def test_ui_refusals(db, tmp_path):
    r = run("ui", str(tmp_path), "--host", "0.0.0.0")
    assert r.exit_code == 2 and "loopback only" in r.output
    r = run("ui", "--db", str(db), "--audit-every", "soon")
    assert r.exit_code == 2 and "--audit-every 'soon'" in r.output
    r = run("ui", "--db", str(tmp_path / "missing.db"))
    assert r.exit_code == 2 and "no such collector database" in r.output
    r = run("ui", str(tmp_path / "nope"))
    assert r.exit_code == 2 and "no such directory" in r.output


def test_parse_every():
    assert parse_every("90m") == 5400 and parse_every("1h") == 3600 and parse_every("2d") == 172800
    with pytest.raises(Exception, match="at least 1m"):
        parse_every("5s")


def test_schedule_audits_a_site_once_per_lake_change(db):
    runner = Runner(db)
    sched = Scheduler(db, runner, 3600)
    assert sched.tick() == []  # no events yet
    lake.write(db, "shop", lake.traffic("shop", lake.DAY, 10, 2), "day=2026-11-30")
    assert sched.tick() == ["shop"]
    sched._pending["shop"].result(timeout=120)
    assert sched.tick() == []  # nothing new
    time.sleep(0.01)
    lake.write(db, "shop", lake.traffic("shop", lake.DAY, 5, 0, 50), "part-seg-1-000001")
    assert sched.tick() == ["shop"]
    sched._pending["shop"].result(timeout=120)
    done = list_audits(runner.site_dir("shop"))
    assert [a.state for a in done] == ["done", "done"]
    assert all("scheduled" in a.id for a in done)
    runner.shutdown()


def _served(monkeypatch, *args: str) -> dict:
    import uvicorn

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda web, **kw: seen.update(web=web, **kw))
    r = run("ui", *args)
    assert r.exit_code == 0, r.output
    return seen


def test_proxy_headers_only_when_asked(db, monkeypatch):
    seen = _served(monkeypatch, "--db", str(db))
    assert seen["proxy_headers"] is False  # X-Forwarded-For from anyone is not the client
    seen = _served(monkeypatch, "--db", str(db), "--forwarded-allow-ips", "127.0.0.1")
    assert seen["proxy_headers"] is True and seen["forwarded_allow_ips"] == "127.0.0.1"


def test_secure_cookies_follow_the_option(db, monkeypatch):
    def secure(*extra: str) -> bool:
        return _served(monkeypatch, "--db", str(db), *extra)["web"].state.cfg.secure_cookies

    assert secure() is False  # plain loopback
    assert secure("--host", "0.0.0.0") is True
    assert secure("--secure-cookies") is True  # loopback behind an HTTPS proxy
    assert secure("--host", "0.0.0.0", "--no-secure-cookies") is False
