"""A request sent before its cookie was set (a landing page in a log with `$cookie_uid`) belongs to
that cookie: in the UV count, and in the sessions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from qinglang.detect.base import Context
from qinglang.detect.pipeline import present_columns, run_pipeline
from qinglang.engine import DuckDBEngine
from qinglang.events import rows_to_table
from qinglang.features.sessions import materialize_sessions
from qinglang.features.visitors import materialize_visitor_links
from tests.conftest import IPHONE, WIN_CHROME, engine_with

T0 = dt.datetime(2017, 9, 2, 1, 0, tzinfo=dt.UTC)


def req(eid: str, seconds: float, ip: str | None, vid: str | None, path: str = "/", **kw: Any):
    row: dict[str, Any] = {
        "event_id": eid,
        "ts": T0 + dt.timedelta(seconds=seconds),
        "site": "shop.example",
        "event": "pageview",
        "ip": ip,
        "visitor_id": vid,
        "user_agent": WIN_CHROME,
        "url": path,
        "referrer": None,
        "method": "GET",
        "status": 200,
        "bytes": 1000,
    }
    row.update(kw)
    return row


ROWS = [
    # a person: the landing page without the cookie, everything after with it
    req("a0", 0, "198.51.100.1", None, "/?utm_source=x", referrer="https://www.baidu.com/"),
    req("a1", 1, "198.51.100.1", "ca", "/static/a.css", event="request", asset=True),
    req("a2", 30, "198.51.100.1", "ca", "/b", referrer="https://shop.example/"),
    # the cookie's first request in the same second as the landing page (a log's whole seconds)
    req("b0", 100, "198.51.100.2", None),
    req("b1", 100, "198.51.100.2", "cb", "/b"),
    # the cookie comes too late to be this landing page's
    req("c0", 200, "198.51.100.3", None),
    req("c1", 245, "198.51.100.3", "cc", "/b"),
    # a cookie first seen at another address is not a new browser here
    req("d0", 0, "198.51.100.40", "cd"),
    req("d1", 300, "198.51.100.4", None),
    req("d2", 301, "198.51.100.4", "cd", "/b"),
    # a script that never returns the cookie
    req("e0", 400, "198.51.100.5", None),
    req("e1", 410, "198.51.100.5", None, "/b"),
    # two browsers behind one address and user agent: each request to the nearer new cookie
    req("f0", 500, "198.51.100.6", None),
    req("f1", 505, "198.51.100.6", "cf1"),
    req("f2", 507, "198.51.100.6", None),
    req("f3", 510, "198.51.100.6", "cf2"),
    # another user agent is another browser
    req("g0", 600, "198.51.100.7", None, user_agent=IPHONE),
    req("g1", 601, "198.51.100.7", "cg"),
    # no address: nothing to join on
    req("h0", 700, None, None),
    req("h1", 701, None, "ch"),
]
EXPECTED = {"a0": "ca", "b0": "cb", "f0": "cf1", "f2": "cf2"}


def links_of(engine, rows=ROWS, **settings: Any) -> dict[str, str]:
    ctx = Context(engine=engine, present=present_columns(engine), settings=settings)
    materialize_visitor_links(ctx)
    got = engine.query(
        "SELECT e.event_id, l.visitor_id FROM visitor_links l JOIN events e ON e.rid = l.rid"
    ).to_pylist()
    return {r["event_id"]: r["visitor_id"] for r in got}


def test_a_landing_page_is_linked_to_the_cookie_its_browser_was_given():
    engine = engine_with(ROWS)
    try:
        assert links_of(engine) == EXPECTED
    finally:
        engine.close()


def test_the_window_is_a_setting():
    engine = engine_with(ROWS)
    try:
        assert links_of(engine, stitch_seconds=60)["c0"] == "cc"
        engine.drop("visitor_links")
    finally:
        engine.close()


def test_in_whatever_order_the_rows_come():
    engine = engine_with(list(reversed(ROWS)))
    try:
        assert links_of(engine) == EXPECTED
    finally:
        engine.close()


def test_without_visitor_ids_or_addresses_nothing_is_linked():
    for drop in ("visitor_id", "ip"):
        rows = [{**r, drop: None} for r in ROWS]
        engine = engine_with(rows)
        try:
            assert links_of(engine) == {}
        finally:
            engine.close()


def uv_and_sessions(rows) -> tuple[int, int]:
    engine = engine_with(rows)
    try:
        ctx = Context(engine=engine, present=present_columns(engine))
        run_pipeline(engine)
        uv = engine.query(
            "SELECT count(DISTINCT visitor) AS n FROM label_rows WHERE event = 'pageview'"
        ).to_pylist()[0]["n"]
        ctx.registered.add("visitor_links")
        materialize_sessions(ctx)
        sessions = engine.query("SELECT count(*) AS n FROM session_features").to_pylist()[0]
        return uv, sessions["n"]
    finally:
        engine.close()


def test_one_person_is_one_uv_and_one_session_with_its_landing_page():
    person = [r for r in ROWS if r["event_id"].startswith("a")]
    assert uv_and_sessions(person) == (1, 1)  # was two of each: the landing page apart


def test_the_landing_page_s_entry_is_the_session_s():
    engine = engine_with([r for r in ROWS if r["event_id"].startswith("a")])
    try:
        ctx = Context(engine=engine, present=present_columns(engine))
        materialize_sessions(ctx)
        entry = engine.query(
            "SELECT e.event_id, f.pages FROM session_features f "
            "JOIN events e ON e.rid = f.entry_rid"
        ).to_pylist()
        assert entry == [{"event_id": "a0", "pages": 2.0}]
    finally:
        engine.close()


def test_a_hostile_crowd_behind_one_address_costs_a_sort_not_a_cross_join():
    # 20,000 requests without a cookie and 20,000 new cookies on one address and user agent in
    # the same second: a join on (address, user agent) would pair 400 million rows
    rows = [req(f"x{i}", 0, "198.51.100.9", None) for i in range(20_000)]
    rows += [req(f"y{i}", 0, "198.51.100.9", f"v{i:05d}") for i in range(20_000)]
    engine = DuckDBEngine()
    engine.load_events(rows_to_table(rows).to_reader())
    try:
        got = links_of(engine, rows)
        assert len(got) == 20_000 and set(got.values()) == {"v00000"}  # the nearest: the least
    finally:
        engine.close()
