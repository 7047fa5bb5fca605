"""The Rust front and the Python collector answer the same requests alike and store the same rows.

Both serve a copy of one database (the same site secret, so the same token MACs and hashes). Every
request goes to both; the answers must have the same status, and the same reason unless both are
400 (the Rust JSON parser refuses NaN, Infinity and lone surrogates as malformed JSON, where the
Python one reads them and the field check refuses them). At the end both lakes must hold the same
rows, but for event_id and ts.
"""

from __future__ import annotations

import json
import shutil

import httpx
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qinglang.collect.front import find_front
from qinglang.collect.lake import site_files
from tests.collect.helpers import BROWSER_UA, Server, add_site
from tests.collect.test_typed_decode import bodies as beacon_bodies

ORIGIN = "http://shop.test"
pytestmark = pytest.mark.skipif(find_front() is None, reason="qinglang-front not built")


@pytest.fixture(scope="module")
def pair(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("agree")
    (base / "py").mkdir()
    (base / "rs").mkdir()
    add_site(base / "py" / "c.db", "shop", ORIGIN)
    add_site(base / "py" / "c.db", "other", "http://other.test")
    shutil.copy(base / "py" / "c.db", base / "rs" / "c.db")
    servers = {
        "python": Server(base / "py" / "c.db", None, "--engine", "python"),
        "rust": Server(base / "rs" / "c.db", None, "--engine", "rust"),
    }
    yield servers
    for s in servers.values():
        s.stop()


def answer(r: httpx.Response) -> tuple[int, str | None, str | None]:
    if r.headers.get("content-type") == "application/json":
        body = r.json()
        return r.status_code, body.get("reason"), body.get("field")
    return r.status_code, None, None


def send_both(pair, method: str, path: str, **kw) -> dict[str, tuple]:
    out = {}
    for name, server in pair.items():
        with httpx.Client(base_url=server.url, timeout=10) as c:
            out[name] = answer(c.request(method, path, **kw))
    return out


def assert_alike(got: dict[str, tuple]) -> None:
    py, rs = got["python"], got["rust"]
    assert py[0] == rs[0], got
    if py[0] != 400:
        assert py[1:] == rs[1:], got
    else:
        assert {py[1], rs[1]} <= {"malformed_json", "invalid_field"}, got


HEADERS = {"user-agent": BROWSER_UA, "origin": ORIGIN}


def test_fixed_requests_are_answered_alike(pair):
    with httpx.Client(base_url=pair["python"].url) as c:
        script = c.get("/t.js", params={"site": "shop"}, headers={"user-agent": BROWSER_UA}).text
    token = script.split('"token": "')[1].split('"')[0]
    beacon = {"site": "shop", "token": token, "seq": 0, "vid": "v1",
              "client": {"pv_id": "pv1", "visible_ms": 5000, "tz": "Asia/Shanghai"}}  # fmt: skip
    post = {"headers": HEADERS | {"content-type": "text/plain"}}
    cases = [
        ("POST", "/b", {"content": json.dumps(beacon), **post}),  # valid
        ("POST", "/b", {"content": json.dumps(beacon), **post}),  # the same beacon again: replayed
        ("POST", "/b", {"content": json.dumps(beacon | {"seq": 1}), **post}),
        ("POST", "/b", {"content": json.dumps(beacon | {"seq": 2, "client": {"pv_id": "x"}}), **post}),
        ("POST", "/b", {"content": json.dumps([beacon | {"seq": 3}, beacon | {"seq": 4}]), **post}),
        ("POST", "/b", {"content": json.dumps({"site": "shop", "seq": "5", "vid": ""}), **post}),
        ("POST", "/b", {"content": json.dumps({"site": "shop", "seq": 5, "vid": "", "url": "",
                        "client": {"tz": "", "tells": ["", "x"], "screen_w": 390}}), **post}),
        ("POST", "/b", {"content": json.dumps({"site": "shop", "client": {"tz": ""}}), **post}),
        ("POST", "/b", {"content": json.dumps({"site": "shop", "client": []}), **post}),
        ("POST", "/b", {"content": json.dumps([["shop"]]), **post}),  # arrays are not objects
        ("POST", "/b", {"content": json.dumps({"site": "other"}), **post}),  # wrong origin
        ("POST", "/b", {"content": json.dumps({"site": "nope"}), **post}),
        ("POST", "/b", {"content": "{", **post}),
        ("POST", "/b", {"content": "[]", **post}),
        ("POST", "/b", {"content": json.dumps([{"site": "shop"}] * 11), **post}),
        ("POST", "/b", {"content": "x" * 20_000, **post}),
        ("POST", "/b", {"content": "{}", "headers": HEADERS | {"content-type": "image/png"}}),
        ("GET", "/b", {"headers": HEADERS}),
        ("PUT", "/t.js", {}),
        ("GET", "/nowhere", {}),
        ("GET", "/t.js", {"params": {"site": "nope"}}),
        ("OPTIONS", "/b", {"headers": {"origin": ORIGIN}}),
        ("OPTIONS", "/b", {"headers": {"origin": "http://evil.test"}}),
        ("GET", "/b.gif", {"params": {"site": "shop", "event": "pageview", "seq": "7"},
                           "headers": {"referer": ORIGIN + "/page", "user-agent": BROWSER_UA}}),
        ("GET", "/b.gif", {"params": {"site": "shop", "client": "{bad"}, "headers": HEADERS}),
        ("GET", "/b.gif", {"params": {"site": "shop"}, "headers": {"referer": "http://[::1"}}),
        ("POST", "/b", {"content": json.dumps({"site": "shop", "token": "1.a.\u00e9"}), **post}),
    ]  # fmt: skip
    for method, path, kw in cases:
        assert_alike(send_both(pair, method, path, **kw))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=beacon_bodies, pixel=st.booleans())
def test_generated_beacons_are_answered_alike(pair, data, pixel):
    if pixel:
        items = data if isinstance(data, list) else [data]
        params = {
            k: json.dumps(v) if k == "client" else str(v)
            for k, v in (items[0] if items and isinstance(items[0], dict) else {}).items()
        }
        assert_alike(send_both(pair, "GET", "/b.gif", params=params, headers=HEADERS))
    else:
        body = json.dumps(data)
        headers = HEADERS | {"content-type": "application/json"}
        assert_alike(send_both(pair, "POST", "/b", content=body, headers=headers))


def test_the_rust_fast_path_knows_the_client_contract(pair):
    # the front compares its compiled client fields with steps.CLIENT_KINDS at start-up and
    # says so on stderr when they differ (then every request takes the general steps)
    rust = pair["rust"]
    log = rust.db.with_name(f"serve-{rust.port}.log").read_text()
    assert "listening" in log and "client contract changed" not in log


def test_both_count_the_same_rows_and_refusals_in_metrics(pair):
    # the same requests went to both: rows by verdict, refusals by reason and steps run must match
    # (zeros aside: the front lists every verdict from the start, Python once it is seen)
    counted = {}
    families = (
        "qinglang_collector_rows_total",
        "qinglang_collector_dropped_total",
        "qinglang_collector_step_seconds_count",  # each step timed once per request that ran it
    )
    for name, server in pair.items():
        lines = httpx.get(server.url + "/metrics").text.splitlines()
        pairs = [line.rsplit(" ", 1) for line in lines if line.startswith(families)]
        counted[name] = {key: float(v) for key, v in pairs if float(v) != 0}
    assert counted["python"] and counted["python"] == counted["rust"]


def test_both_lakes_hold_the_same_rows(pair, tmp_path):
    # runs last in this module: stop both, then read what each stored
    tables = {}
    for name, server in pair.items():
        server.stop()
        files = site_files(server.db, "shop", tmp_path / name)
        rows = [r for f in files for r in pq.ParquetFile(f).read().to_pylist()]
        tables[name] = [{k: v for k, v in r.items() if k not in ("event_id", "ts")} for r in rows]
    assert tables["python"], "the cases above store rows"
    assert tables["python"] == tables["rust"]
