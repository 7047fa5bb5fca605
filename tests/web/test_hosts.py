"""The Host header: read-only mode answers only loopback names (a DNS-rebound page cannot read
it), and `qinglang ui` derives the names from --host and --allow-host."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from qinglang.cli import app as cli
from qinglang.web.app import LOOPBACK_HOSTS, UiConfig, allowed_hosts_for, build_app


def _readonly(world):
    web = build_app(UiConfig(readonly_dir=world.db.with_name(world.db.name + ".audits")))
    return web, web.state.readonly_site


@pytest.mark.parametrize("host", ["127.0.0.1:8090", "localhost:8090", "[::1]:8090", "localhost"])
def test_read_only_answers_loopback_names(world, host):
    web, site = _readonly(world)
    c = TestClient(web, base_url=f"http://{host}", follow_redirects=False)
    assert c.get(f"/api/v1/sites/{site}/audits").status_code == 200


@pytest.mark.parametrize("host", ["attacker.example:8090", "attacker.example", "10.0.0.5:8090"])
def test_read_only_refuses_a_foreign_host(world, host):
    web, site = _readonly(world)
    c = TestClient(web, base_url=f"http://{host}", follow_redirects=False)
    for path in (f"/api/v1/sites/{site}/audits", f"/s/{site}/audits", "/"):
        r = c.get(path)
        assert r.status_code == 400 and "Invalid host" in r.text, (host, path)


def test_db_mode_on_loopback_refuses_a_foreign_host(world):
    web = build_app(UiConfig(db=world.db, allowed_hosts=allowed_hosts_for("127.0.0.1", [])))
    assert TestClient(web, base_url="http://evil.example:8090").get("/login").status_code == 400
    assert TestClient(web, base_url="http://localhost:8090").get("/login").status_code == 200
    web.state.runner.shutdown()


def test_allowed_hosts_for():
    assert allowed_hosts_for("127.0.0.1", []) == LOOPBACK_HOSTS
    assert allowed_hosts_for("::1", ["dash.example"]) == (*LOOPBACK_HOSTS, "dash.example")
    assert allowed_hosts_for("0.0.0.0", []) is None  # any name: the accounts guard it
    assert allowed_hosts_for("0.0.0.0", ["Dash.Example"]) == ("dash.example",)
    assert allowed_hosts_for("192.0.2.4", []) == ("192.0.2.4",)
    assert allowed_hosts_for("2001:db8::1", []) == ("[2001:db8::1]",)


def test_cli_passes_the_host_names(world, monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda web, **kw: seen.update(web=web, **kw))
    r = CliRunner().invoke(cli, ["ui", "--db", str(world.db), "--allow-host", "dash.example"])
    assert r.exit_code == 0, r.output
    assert seen["web"].state.cfg.allowed_hosts == (*LOOPBACK_HOSTS, "dash.example")
    c = TestClient(seen["web"], base_url="http://evil.example")
    assert c.get("/login").status_code == 400
