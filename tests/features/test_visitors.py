"""A request sent before its cookie was set (a landing page in a log with `$cookie_uid`) belongs to
that cookie: in the UV count, and in the sessions."""

from __future__ import annotations

from typing import Any

from qinglang.detect.base import Context
from qinglang.detect.pipeline import present_columns, run_pipeline
from qinglang.engine import DuckDBEngine
from qinglang.events import rows_to_table
from qinglang.features.sessions import materialize_sessions
from qinglang.features.visitors import materialize_visitor_links
from tests.conftest import IPHONE, engine_with
from tests.features.test_sessions import hit


def req(eid: str, seconds: float, ip: str | None, vid: str | None, path: str = "/", **kw: Any):
    """One server-log line (tests/features/test_sessions.hit) with its id, address and cookie."""
    return hit(0, seconds, path, event_id=eid, ip=ip, visitor_id=vid, **kw)


HOME = "https://shop.example/"
# the site's pages are logged as paths; its stylesheet, asked for by them, names its host
ASSET = req(
    "css",
    0,
    "192.0.2.1",
    "someone",
    "/static/a.css",
    event="request",
    asset=True,
    referrer=HOME + "about",
)

ROWS = [
    # a person: the landing page without the cookie, everything after with it (the stylesheet
    # names the landing page as its referrer)
    req("a0", 0, "198.51.100.1", None, "/?utm_source=x", referrer="https://www.baidu.com/"),
    req(
        "a1",
        1,
        "198.51.100.1",
        "ca",
        "/static/a.css",
        event="request",
        asset=True,
        referrer=HOME + "?utm_source=x#top",
    ),
    req("a2", 30, "198.51.100.1", "ca", "/b", referrer=HOME + "?utm_source=x"),
    # the cookie's first request in the same second as the landing page (a log's whole seconds)
    req("b0", 100, "198.51.100.2", None),
    req("b1", 100, "198.51.100.2", "cb", "/b", referrer=HOME),
    req("b2", 140, "198.51.100.2", "cb", "/c", referrer="https://shop.example/b"),
    # the cookie comes too late to be this landing page's
    req("c0", 200, "198.51.100.3", None),
    req("c1", 245, "198.51.100.3", "cc", "/b", referrer=HOME),
    req("c2", 250, "198.51.100.3", "cc", "/c", referrer="https://shop.example/b"),
    # a cookie first seen at another address is not a new browser here
    req("d0", 0, "198.51.100.40", "cd"),
    req("d1", 300, "198.51.100.4", None),
    req("d2", 301, "198.51.100.4", "cd", "/b", referrer=HOME),
    # a script that never returns the cookie
    req("e0", 400, "198.51.100.5", None),
    req("e1", 410, "198.51.100.5", None, "/b"),
    # two browsers behind one address and user agent, landing on different pages: each cookie
    # names its own
    req("f0", 500, "198.51.100.6", None, "/p"),
    req("f1", 502, "198.51.100.6", None, "/q"),
    req("f2", 505, "198.51.100.6", "cf1", "/b", referrer="https://shop.example/p"),
    req("f3", 506, "198.51.100.6", "cf2", "/c", referrer="https://shop.example/q"),
    req("f4", 530, "198.51.100.6", "cf1", "/d", referrer="https://shop.example/b"),
    req("f5", 531, "198.51.100.6", "cf2", "/d", referrer="https://shop.example/c"),
    # another user agent is another browser
    req("g0", 600, "198.51.100.7", None, user_agent=IPHONE),
    req("g1", 601, "198.51.100.7", "cg", referrer=HOME),
    # no address: nothing to join on
    req("h0", 700, None, None),
    req("h1", 701, None, "ch", referrer=HOME),
    # a first request that names no page (a typed address, a bookmark) names no landing page
    req("i0", 800, "198.51.100.8", None),
    req("i1", 801, "198.51.100.8", "ci", "/b"),
]
EXPECTED = {"a0": "ca", "b0": "cb", "f0": "cf1", "f1": "cf2"}


def links_of(engine, rows=ROWS, **settings: Any) -> dict[str, str]:
    ctx = Context(engine=engine, present=present_columns(engine), settings=settings)
    materialize_visitor_links(ctx)
    got = engine.query(
        "SELECT e.event_id, l.visitor_id FROM visitor_links l JOIN events e ON e.rid = l.rid"
    ).to_pylist()
    return {r["event_id"]: r["visitor_id"] for r in got}


def links_in(rows, **settings: Any) -> dict[str, str]:
    """links_of on a fresh engine holding `rows`."""
    engine = engine_with(rows)
    try:
        return links_of(engine, rows, **settings)
    finally:
        engine.close()


def test_a_landing_page_is_linked_to_the_cookie_its_browser_was_given():
    assert links_in(ROWS) == EXPECTED


def test_the_window_is_a_setting():
    engine = engine_with(ROWS)
    try:
        assert links_of(engine, stitch_seconds=60)["c0"] == "cc"
        engine.drop("visitor_links")
    finally:
        engine.close()


def test_in_whatever_order_the_rows_come():
    assert links_in(list(reversed(ROWS))) == EXPECTED


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


def test_a_script_on_a_person_s_address_stays_apart():
    """Behind a carrier NAT, a script without cookies and a person share address and user agent
    (the review's case: the script's hits had been joined to people, who were then charged)."""
    rows = [req(f"s{k}", 8 * k, "198.51.100.9", None, "/?utm_source=adnet") for k in range(40)]
    rows.append(ASSET)
    rows += [  # the person lands on another page among the script's hits
        req("p0", 81, "198.51.100.9", None, "/news"),
        req(
            "p1",
            82,
            "198.51.100.9",
            "cp",
            "/static/a.css",
            event="request",
            asset=True,
            referrer="https://shop.example/news",
        ),
        req("p2", 120, "198.51.100.9", "cp", "/b", referrer="https://shop.example/news"),
    ]
    assert links_in(rows) == {"p0": "cp"}


def test_a_returning_visitor_from_a_search_engine_is_no_landing_page_s_cookie():
    """Its cookie predates the log, and its first logged request names the search engine's bare
    origin (a path of '/'): a script's cookieless '/' just before is not its landing page."""
    rows = [
        req("s0", 0, "198.51.100.9", None, "/"),
        req("p0", 10, "198.51.100.9", "old", "/", referrer="https://www.google.com/"),
        req(
            "p1",
            11,
            "198.51.100.9",
            "old",
            "/static/a.css",
            event="request",
            asset=True,
            referrer=HOME,
        ),
        # the same visitor back from the search engine two hours later: its first request is
        # still no landing page's asset
        req("p2", 7200, "198.51.100.9", "old", "/", referrer="https://www.google.com/"),
        ASSET,
        req("q0", 20, "198.51.100.9", None, "/news?id=5"),  # another site with the same path
        req(
            "q1",
            25,
            "198.51.100.9",
            "old2",
            "/news?id=5",
            referrer="https://other.example/news?id=5",
        ),
        req("q2", 26, "198.51.100.9", "old2", "/x", referrer="https://shop.example/news?id=5"),
    ]
    assert links_in(rows) == {}


def test_a_redirect_or_a_head_before_the_landing_page_does_not_hide_it():
    rows = [
        req("r0", 0, "198.51.100.9", None, "/", event="request", status=301),  # http -> https
        req("r1", 0, "198.51.100.9", None, "/", event="request", method="HEAD"),
        req("r2", 1, "198.51.100.9", None, "/"),
        req(
            "r3",
            1,
            "198.51.100.9",
            "cr",
            "/static/a.css",
            event="request",
            asset=True,
            referrer=HOME,
        ),
        req("r4", 9, "198.51.100.9", "cr", "/b", referrer=HOME),
    ]
    assert links_in(rows) == {"r2": "cr"}


def test_two_cookieless_requests_of_the_named_page_in_the_window_link_neither():
    rows = [
        req("x0", 0, "198.51.100.9", None, "/"),  # a script, or a second browser
        req("x1", 10, "198.51.100.9", None, "/"),
        req("x2", 11, "198.51.100.9", "cx", "/b", referrer=HOME),
        req("x3", 12, "198.51.100.9", "cx", "/c", referrer="https://shop.example/b"),
    ]
    assert links_in(rows) == {}


def test_a_hostile_crowd_behind_one_address_costs_a_sort_not_a_cross_join():
    # 20,000 requests without a cookie and 20,000 new cookies naming the same page on one address
    # and user agent: a join on (address, user agent, page) would pair 400 million rows
    rows = [req(f"x{i}", i, "198.51.100.9", None) for i in range(20_000)]
    rows.append(ASSET)
    for i in range(20_000):
        rows += [
            req(f"y{i}", i, "198.51.100.9", f"v{i:05d}", referrer=HOME),
            req(f"z{i}", i, "198.51.100.9", f"v{i:05d}", "/b", referrer=HOME),
        ]
    engine = DuckDBEngine()
    engine.load_events(rows_to_table(rows).to_reader())
    try:
        # every landing but the first has another within the window before its cookie
        assert links_of(engine, rows) == {"x0": "v00000"}
        engine.drop("visitor_links")
        # one second apart and a window under a second: each cookie its own landing page
        got = links_of(engine, rows, stitch_seconds=0.5)
        assert len(got) == 20_000 and got["x7"] == "v00007"
    finally:
        engine.close()


def test_a_visitor_s_training_label_reaches_its_landing_page():
    from qinglang.training import event_feature_rows

    engine = engine_with([r for r in ROWS if r["event_id"].startswith("a")])
    try:
        rows = event_feature_rows(engine, None).to_pylist()
        assert {r["event_id"]: r["visitor_id"] for r in rows} == {
            "a0": "ca",
            "a1": "ca",
            "a2": "ca",
        }
    finally:
        engine.close()
