"""`qinglang site add/snippet` and `qinglang audit --db --site` as a site owner runs them."""

from __future__ import annotations

import json
import time

import httpx
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from qinglang.cli import app
from qinglang.collect.lake import site_files
from tests.collect.helpers import BROWSER_UA, Server

pytestmark = pytest.mark.usefixtures("engine")

runner = CliRunner()


def shop_db(tmp_path):
    """A collector database with the site `shop` (served from http://shop.test) registered."""
    db = tmp_path / "c.db"
    added = runner.invoke(
        app, ["site", "add", "shop", "--origin", "http://shop.test", "--db", str(db)]
    )
    assert added.exit_code == 0, added.output
    return db


def flat(text: str) -> str:
    return " ".join(text.split())  # rich wraps long error lines


def test_site_add_prints_the_snippet_and_snippet_prints_it_again(tmp_path):
    db = str(tmp_path / "c.db")
    args = ["site", "add", "shop", "--origin", "https://Shop.Example:443/x", "--db", db]
    r = runner.invoke(app, [*args, "--collector", "https://stats.example/"])
    assert r.exit_code == 0, r.output
    tag = '<script async src="https://stats.example/t.js?site=shop"></script>'
    assert tag in r.stdout
    r = runner.invoke(
        app, ["site", "snippet", "shop", "--db", db, "--collector", "https://stats.example"]
    )
    assert r.exit_code == 0 and r.stdout.strip() == tag


def test_site_add_refuses_bad_names_origins_and_duplicates(tmp_path):
    db = str(tmp_path / "c.db")
    bad = [
        (["site", "add", "Bad Name", "--origin", "https://a.example", "--db", db], "site name"),
        (["site", "add", "shop", "--origin", "ftp://a.example", "--db", db], "expected http(s)"),
        (["site", "snippet", "nope", "--db", db], "unknown site"),
    ]
    for args, message in bad:
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and message in flat(r.output), r.output
    assert (
        runner.invoke(
            app, ["site", "add", "shop", "--origin", "https://a.example", "--db", db]
        ).exit_code
        == 0
    )
    r = runner.invoke(app, ["site", "add", "shop", "--origin", "https://a.example", "--db", db])
    assert r.exit_code == 2 and "already exists" in flat(r.output)


def test_audit_of_a_site_reads_what_the_collector_stored(tmp_path):
    db = shop_db(tmp_path)
    server = Server(db)
    try:
        headers = {
            "user-agent": BROWSER_UA,
            "content-type": "text/plain",
            "origin": "http://shop.test",
        }
        with httpx.Client(base_url=server.url, headers=headers) as c:
            person = {"site": "shop", "url": "http://shop.test/a", "vid": "v1"}
            person["client"] = {
                "framed": False,
                "visible_ms": 4000,
                "interactions": 3,
                "dwell_ms": 4100,
            }
            for _ in range(3):
                assert c.post("/b", content=json.dumps(person)).status_code == 204
            hidden = {"site": "shop", "url": "http://shop.test/b", "vid": "v2"}
            hidden["client"] = {
                "framed": True,
                "frame_w": 0,
                "frame_h": 0,
                "visible_ms": 0,
                "interactions": 0,
            }
            assert c.post("/b", content=json.dumps(hidden)).status_code == 204
        # while it is still running: the rows not rolled yet are read from the segments
        out = tmp_path / "audit"
        r = runner.invoke(
            app, ["audit", "--db", str(db), "--site", "shop", "--out", str(out), "--lang", "en"]
        )
        assert r.exit_code == 0, r.output
    finally:
        server.stop()
    labels = pq.read_table(out / "labels.parquet").to_pylist()
    assert len(labels) == 4
    assert sum(1 for x in labels if "frame.zero_size" in x["reasons"]) == 1
    facts = json.loads((out / "audit.json").read_text())
    assert facts["inputs"][0]["format"] == "parquet"
    assert (out / "report.html").exists()
    # what it read is kept in DIR/inputs (links to the lake's files, the rows not yet rolled):
    # the audit re-verifies after the collector has moved on
    assert all(str(out / "inputs") in i["path"] for i in facts["inputs"])
    r = runner.invoke(app, ["verify", str(out), "--rerun"])
    assert r.exit_code == 0, r.output
    # nothing has rolled into the lake yet: every row is pending, which no lake root covers
    # (test_lakelog.py checks the root an audit of rolled files records)
    assert facts["record"].get("lake") is None
    r = runner.invoke(app, ["verify", "--db", str(db), "--site", "shop"])
    assert r.exit_code == 0 and "verified" in r.output, r.output


def test_audit_of_an_unknown_site_or_missing_db_is_a_clear_error(tmp_path):
    db = tmp_path / "c.db"
    r = runner.invoke(
        app, ["audit", "--db", str(db), "--site", "shop", "--out", str(tmp_path / "o")]
    )
    assert r.exit_code == 2 and "no such collector database" in flat(r.output)
    runner.invoke(app, ["site", "add", "shop", "--origin", "http://shop.test", "--db", str(db)])
    r = runner.invoke(
        app, ["audit", "--db", str(db), "--site", "blog", "--out", str(tmp_path / "o")]
    )
    assert r.exit_code == 2 and "unknown site 'blog'" in flat(r.output)
    r = runner.invoke(
        app, ["audit", "--db", str(db), "--site", "shop", "--out", str(tmp_path / "o")]
    )
    assert r.exit_code == 1 and "no stored events" in flat(r.output)  # nothing to audit yet
    r = runner.invoke(app, ["audit", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "give INPUTS" in flat(r.output)


def test_serve_takes_the_token_ttl_setting_and_refuses_unknown_ones(tmp_path):
    db = tmp_path / "c.db"
    runner.invoke(app, ["site", "add", "shop", "--origin", "http://shop.test", "--db", str(db)])
    r = runner.invoke(app, ["serve", "--db", str(db), "--setting", "nope=1"])
    assert r.exit_code == 2 and "expected NAME=VALUE" in flat(r.output)
    server = Server(db, None, "--setting", "token_ttl_minutes=0.01")
    try:
        headers = {"user-agent": BROWSER_UA, "content-type": "text/plain"}
        js = httpx.get(server.url + "/t.js?site=shop", headers=headers).text
        tok = json.loads(js.split("var C=", 1)[1].split(";", 1)[0])["token"]
        time.sleep(1.1)
        beacon = json.dumps({"site": "shop", "token": tok, "client": {"pv_id": "p"}})
        assert httpx.post(server.url + "/b", content=beacon, headers=headers).status_code == 204
    finally:
        server.stop()
    rows = pq.read_table(site_files(db, "shop", tmp_path / "s")[0]).to_pylist()
    assert [r["token"] for r in rows] == ["expired"]


def test_serve_names_a_missing_rust_front_and_a_wrong_engine(tmp_path, monkeypatch):
    import qinglang.collect.front as front

    monkeypatch.setattr(front, "find_front", lambda: None)
    db = str(tmp_path / "c.db")
    res = CliRunner().invoke(app, ["serve", "--db", db, "--engine", "rust"])
    assert res.exit_code != 0 and "qinglang-front" in res.output
    res = CliRunner().invoke(app, ["serve", "--db", db, "--engine", "java"])
    assert res.exit_code != 0 and "expected auto, rust or python" in res.output


def test_serve_on_the_python_engine_says_how_to_get_the_fast_one(tmp_path, monkeypatch):
    import qinglang.collect.front as front
    import qinglang.collect.server as server

    def stop_at_once(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(front, "find_front", lambda: None)
    monkeypatch.setattr(server, "serve", stop_at_once)
    db = str(tmp_path / "c.db")
    args = ["serve", "--db", db, "--create", "--engine", "auto"]
    res = CliRunner().invoke(app, args, terminal_width=300)
    assert res.exit_code == 0, res.output
    assert (
        "collector (python)" in res.output and "cargo install --locked --path front" in res.output
    )
    res = CliRunner().invoke(app, ["serve", "--db", db, "--engine", "python"], terminal_width=300)
    assert "cargo install" not in res.output  # asked for by name: no advice


# ---- starting and stopping the collector (issue 12) ---------------------------------------------


def test_serve_refuses_a_missing_database_unless_create(tmp_path):
    typo = tmp_path / "typo.db"
    r = runner.invoke(app, ["serve", "--db", str(typo)])
    assert r.exit_code == 2 and "no such collector database" in flat(r.output), r.output
    assert "--create" in flat(r.output) and not typo.exists()


def test_serve_refuses_a_file_that_is_not_a_collector_database(tmp_path):
    for content in (b"ts,ip\n2024-01-01T00:00:00Z,1.2.3.4\n", b""):
        not_db = tmp_path / "events.csv"
        not_db.write_bytes(content)
        r = runner.invoke(app, ["serve", "--db", str(not_db)])
        assert r.exit_code == 2 and "not a qinglang collector database" in flat(r.output)
        assert not_db.read_bytes() == content  # left as it was
        r = runner.invoke(
            app, ["audit", "--db", str(not_db), "--site", "x", "--out", str(tmp_path)]
        )
        assert r.exit_code == 2 and "not a qinglang collector database" in flat(r.output)


def test_serve_create_starts_empty_and_says_where_everything_is(tmp_path):
    db = tmp_path / "new.db"
    server = Server(db, None, "--create")
    try:
        assert httpx.get(server.url + "/healthz").status_code == 200
    finally:
        server.stop()
    log = server.log_text()
    assert "database " + str(db.resolve()) in log and "sites none yet" in log
    assert "lake " + str(db.resolve()) + ".lake" in log and str(server.port) in log


def test_ctrl_c_stops_the_collector_cleanly_after_storing_what_it_accepted(tmp_path):
    db = shop_db(tmp_path)
    server = Server(db)
    headers = {"user-agent": BROWSER_UA, "content-type": "text/plain", "origin": "http://shop.test"}
    body = {"site": "shop", "url": "http://shop.test/a", "vid": "v1"}
    r = httpx.post(server.url + "/b", content=json.dumps(body), headers=headers)
    assert r.status_code in (200, 204), r.text
    server.interrupt()
    assert server.proc.returncode == 0, server.log_text()
    log = server.log_text()
    assert "Traceback" not in log and "error" not in log.lower() and "collector stopped" in log
    assert sum(pq.read_table(f).num_rows for f in site_files(db, "shop", tmp_path / "s")) == 1
