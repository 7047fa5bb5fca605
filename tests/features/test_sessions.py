"""Sessions and their behaviour features: where a visitor's session ends, and what each feature is
on small tables worked out by hand."""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
from typing import Any

import pytest

from qinglang.detect.base import Context
from qinglang.detect.pipeline import present_columns
from qinglang.engine import DuckDBEngine
from qinglang.events import rows_to_table
from qinglang.features.events import FEATURES, materialize_event_features
from qinglang.features.sessions import (
    FEATURE_NAMES,
    build_sql,
    materialize_sessions,
    visitor_sql,
)
from tests.conftest import IPHONE, WIN_CHROME, engine_with

T0 = dt.datetime(2017, 9, 2, 1, 0, tzinfo=dt.UTC)
SITE = "shop.example"


def hit(n: int, seconds: float, path: str, **overrides: Any) -> dict[str, Any]:
    """One server-log line: a successful GET of a page, by default."""
    row: dict[str, Any] = {
        "event_id": f"r{n:04d}",
        "ts": T0 + dt.timedelta(seconds=seconds),
        "site": SITE,
        "event": "pageview",
        "ip": "198.51.100.7",
        "user_agent": WIN_CHROME,
        "url": path,
        "referrer": None,
        "method": "GET",
        "status": 200,
        "bytes": 1000,
    }
    row.update(overrides)
    return row


def sessions_of(rows: list[dict[str, Any]], **settings: Any) -> tuple[dict, dict]:
    """({event_id: (skey, sno)}, {(skey, sno): features}) for the rows."""
    engine = engine_with(rows)
    try:
        ctx = Context(engine=engine, present=present_columns(engine), settings=settings)
        materialize_sessions(ctx)
        # skey is the visitor's first row id: shown here as the visitor it stands for
        visitor = visitor_sql("v", link="vlv")
        mapping = {
            r["event_id"]: (r["visitor"], r["sno"])
            for r in engine.query(
                f"SELECT e.event_id, {visitor} AS visitor, m.sno FROM session_map m "
                "JOIN events e ON e.rid = m.rid JOIN events v ON v.rid = m.skey "
                "LEFT JOIN visitor_links vlv ON vlv.rid = v.rid"
            ).to_pylist()
        }
        # entry_rid, the session's first page view: shown as that event's id
        features = {
            (r.pop("visitor"), r["sno"]): r
            for r in engine.query(
                f"SELECT {visitor} AS visitor, f.* EXCLUDE (entry_rid), x.event_id AS entry "
                "FROM session_features f JOIN events v ON v.rid = f.skey "
                "LEFT JOIN visitor_links vlv ON vlv.rid = v.rid "
                "LEFT JOIN events x ON x.rid = f.entry_rid"
            ).to_pylist()
        }
    finally:
        engine.close()
    return mapping, features


def features_by_event(rows: list[dict[str, Any]], **settings: Any) -> dict[str, dict]:
    mapping, features = sessions_of(rows, **settings)
    return {eid: features[key] for eid, key in mapping.items()}


def without_rid(features: dict) -> dict:
    """Features without the row ids (the session's first row, the visitor's first row)."""
    return {
        k: {c: v for c, v in f.items() if c not in ("first_rid", "skey")}
        for k, f in features.items()
    }


def close_to(features: dict) -> dict:
    """Floats to 1e-12: DuckDB sums in parallel, in any order, so a standard deviation may
    differ in its last bit from one run to the next."""
    return {
        k: {c: pytest.approx(v, rel=1e-12) if isinstance(v, float) else v for c, v in f.items()}
        for k, f in features.items()
    }


# ---- where sessions end -------------------------------------------------------------------------


def test_a_pause_longer_than_the_gap_starts_a_new_session():
    gap = 30 * 60
    rows = [
        hit(0, 0, "/a"),
        hit(1, 600, "/b"),
        hit(2, 600 + gap, "/c"),  # exactly the gap: the same session
        hit(3, 600 + 2 * gap + 0.001, "/d"),  # one millisecond more: a new one
        hit(4, 600 + 2 * gap + 60, "/e"),
    ]
    mapping, features = sessions_of(rows)
    key = f"198.51.100.7 {WIN_CHROME}"
    assert mapping == {
        "r0000": (key, 1),
        "r0001": (key, 1),
        "r0002": (key, 1),
        "r0003": (key, 2),
        "r0004": (key, 2),
    }
    assert features[(key, 1)]["pages"] == 3
    assert features[(key, 1)]["duration_s"] == 600 + gap
    assert features[(key, 2)]["pages"] == 2
    assert features[(key, 2)]["duration_s"] == 60 - 0.001


def test_a_tagged_landing_starts_a_new_session_for_a_visitor_known_by_ip_and_ua():
    """Two people behind one carrier NAT with the same phone model are one IP + UA: a page view
    that lands with a campaign tag, not by the site's own link, is a new visit whatever the
    pause. A return from a payment page (no tag), the site's links, assets and a typed URL
    continue the visit, and so does anything a visitor with a cookie does."""
    own = f"https://{SITE}"
    rows = [
        hit(0, 0, f"{own}/a", referrer="https://www.baidu.com/s?wd=x"),
        hit(1, 1, "/site.css", event="request", asset=True, referrer=f"{own}/a"),
        hit(2, 40, f"{own}/b", referrer=f"{own}/a"),
        hit(3, 100, f"{own}/c"),  # typed in: the same visit
        hit(4, 130, f"{own}/paid", referrer="https://mapi.alipay.com/gateway.do"),
        hit(5, 160, f"{own}/a?utm_source=adnet", referrer="https://inject.example/"),
        hit(6, 161, "/site.css", event="request", asset=True, referrer=f"{own}/a"),
        hit(7, 200, f"{own}/d", referrer=f"{own}/a?utm_source=adnet"),
    ]
    mapping, features = sessions_of(rows)
    assert [mapping[f"r{i:04d}"][1] for i in range(8)] == [1, 1, 1, 1, 1, 2, 2, 2]
    key = f"198.51.100.7 {WIN_CHROME}"
    assert features[(key, 1)]["pages"] == 4 and features[(key, 2)]["pages"] == 2
    assert features[(key, 2)]["entry"] == "r0005"
    # the same rows under one cookie: one visit
    mapping, _ = sessions_of([dict(r, visitor_id="c") for r in rows])
    assert {sno for _, sno in mapping.values()} == {1}


def test_a_landing_in_the_same_second_as_another_page_is_its_own_entry():
    """Logs count seconds: a bought visit landing in the second another person on the same IP +
    UA read a page still starts its own session with its own entry page and no pause."""
    rows = [
        hit(0, 0, "/a", referrer="https://www.baidu.com/"),
        hit(1, 10, "/b", referrer=f"https://{SITE}/a"),
        hit(2, 10, "/c?utm_source=adnet", referrer="https://inject.example/"),
        hit(3, 11, "/site.css", event="request", asset=True, referrer=f"https://{SITE}/c"),
    ]
    mapping, features = sessions_of(rows)
    key = f"198.51.100.7 {WIN_CHROME}"
    assert mapping["r0002"] == (key, 2)
    assert features[(key, 2)]["entry"] == "r0002"
    assert features[(key, 2)]["gap_median_s"] is None and features[(key, 2)]["pages"] == 1
    assert features[(key, 1)]["entry"] == "r0000" and features[(key, 1)]["pages"] == 2


def test_the_gap_setting_moves_the_split():
    rows = [hit(0, 0, "/a"), hit(1, 600, "/b"), hit(2, 600 + 601, "/c"), hit(3, 3000, "/d")]
    default = sessions_of(rows)[0]
    assert sorted(set(default.values()))[-1][1] == 1  # pauses of 10 and 30 min: one session
    short = sessions_of(rows, session_gap_minutes=10)[0]
    assert [short[f"r{i:04d}"][1] for i in range(4)] == [1, 1, 2, 3]
    assert "> 300000" in build_sql(5).session_events


def test_visitor_id_comes_before_ip_and_user_agent():
    rows = [
        hit(0, 0, "/a", visitor_id="alice"),
        hit(1, 10, "/b", visitor_id="bob"),  # same IP and UA as alice: another visitor
        hit(2, 20, "/c", visitor_id="alice", ip="203.0.113.9", user_agent=IPHONE),  # alice moved
        hit(3, 30, "/d"),  # no cookie: IP + UA
    ]
    mapping, features = sessions_of(rows)
    assert mapping == {
        "r0000": ("alice", 1),
        "r0001": ("bob", 1),
        "r0002": ("alice", 1),
        "r0003": (f"198.51.100.7 {WIN_CHROME}", 1),
    }
    assert features[("alice", 1)]["pages"] == 2
    assert features[("alice", 1)]["duration_s"] == 20


def test_ip_alone_or_user_agent_alone_still_makes_a_session():
    rows = [hit(0, 0, "/a", user_agent=None), hit(1, 5, "/b", ip=None)]
    mapping, _ = sessions_of(rows)
    assert mapping == {"r0000": ("198.51.100.7 ", 1), "r0001": (f" {WIN_CHROME}", 1)}


def test_rows_without_visitor_ip_or_user_agent_belong_to_no_session():
    rows = [
        hit(0, 0, "/a", ip=None, user_agent=None),
        hit(1, 5, "/b", ip=None, user_agent=None),
        hit(2, 10, "/c"),
    ]
    mapping, features = sessions_of(rows)
    assert set(mapping) == {"r0002"}
    assert len(features) == 1
    # one feature row per event: the orphans get nulls, not an error
    engine = engine_with(rows)
    ctx = Context(engine=engine, present=present_columns(engine))
    materialize_event_features(ctx)
    got = {
        r["event_id"]: r
        for r in engine.query(
            "SELECT e.event_id, f.* FROM event_features f JOIN events e ON e.rid = f.rid"
        ).to_pylist()
    }
    engine.close()
    assert len(got) == 3
    for eid in ("r0000", "r0001"):
        assert all(got[eid][name] is None for name in FEATURES), eid
    assert got["r0002"]["pages"] == 1


def test_a_single_request_has_no_gap_features():
    [f] = sessions_of([hit(0, 0, "/a")])[1].values()
    assert (f["requests"], f["pages"], f["duration_s"]) == (1, 1, 0)
    for name in ("pages_per_min", "gap_median_s", "gap_spread", "subsecond_share", "gap_entropy"):
        assert f[name] is None, name


def test_two_pages_have_one_gap_and_no_spread_or_entropy():
    [f] = sessions_of([hit(0, 0, "/a"), hit(1, 12, "/b")])[1].values()
    assert f["gap_median_s"] == 12
    assert f["pages_per_min"] == 10  # 2 pages in 12 s
    assert f["subsecond_share"] == 0
    assert f["gap_spread"] is None  # one pause has no standard deviation
    assert f["gap_entropy"] is None


# ---- every feature on one session worked out by hand --------------------------------------------

HOST = "https://shop.example"


def hand_rows() -> list[dict[str, Any]]:
    rows = [  # the session under test: visitor "h"
        hit(0, 0.0, "/a", referrer="https://www.baidu.com/s?wd=x"),
        hit(1, 0.3, "/site.css", event="request", asset=True, referrer=HOST + "/a"),
        hit(2, 10.0, "/b", referrer=HOST + "/a"),
        hit(3, 10.5, "/b/c/d", referrer=HOST + "/b"),
        hit(4, 40.5, "/a"),  # typed in again: a revisit with no referrer
        hit(5, 50.0, "/a", event="request", method="HEAD"),
        hit(6, 60.0, "/api/save", event="request", method="POST"),
        hit(7, 70.0, "/missing", event="request", status=404),
        hit(8, 80.0, "/robots.txt", event="request"),
        hit(9, 90.0, "/report", event="request", status=503),
    ]
    for row in rows:
        row["visitor_id"] = "h"
    # another visitor from search: baidu is the commonest referrer host, yet the site's own host
    # is learnt from what its assets are referred by
    rows += [
        hit(10 + k, 100.0 + 30 * k, f"/p{k}", visitor_id="o", referrer="https://www.baidu.com/")
        for k in range(3)
    ]
    # and one who types three addresses, thirty seconds apart
    rows += [hit(20 + k, 100.0 + 30 * k, f"/q{k}", visitor_id="q") for k in range(3)]
    return rows


@pytest.fixture(scope="module")
def hand():
    return sessions_of(hand_rows())[1]


def test_hand_session_counts_and_pace(hand):
    f = hand[("h", 1)]
    assert f["first_rid"] is not None
    assert f["entry"] == "r0000"  # the first page view
    assert hand[("o", 1)]["entry"] == "r0010"
    assert f["requests"] == 10
    assert f["pages"] == 4  # /a, /b, /b/c/d, /a
    assert f["duration_s"] == 90.0
    assert f["pages_per_min"] == pytest.approx(4 * 60 / 90)
    # pauses between pages: 10 s, 0.5 s, 30 s
    assert f["gap_median_s"] == 10.0
    assert f["subsecond_share"] == pytest.approx(1 / 3)
    logs = [math.log(10_000), math.log(500), math.log(30_000)]
    assert f["gap_spread"] == pytest.approx(statistics.stdev(logs))
    # log2 bins 13, 8 and 14: three bins of one pause each, entropy at its maximum
    assert f["gap_entropy"] == pytest.approx(1.0)


def test_hand_session_request_shares(hand):
    f = hand[("h", 1)]
    assert f["asset_share"] == pytest.approx(0.1)
    assert f["head_share"] == pytest.approx(0.1)
    assert f["post_share"] == pytest.approx(0.1)
    assert f["error_share"] == pytest.approx(0.1)
    assert f["server_error_share"] == pytest.approx(0.1)
    assert f["robots"] == 1.0


def test_hand_session_navigation(hand):
    f = hand[("h", 1)]
    assert f["referrer_share"] == pytest.approx(3 / 4)
    assert f["self_referral_share"] == pytest.approx(2 / 4)  # /b and /b/c/d by the site's links
    assert f["url_depth"] == pytest.approx((1 + 1 + 3 + 1) / 4)
    assert f["revisit_share"] == pytest.approx(1 / 4)
    assert f["offpeak_share"] == 0.0  # every page in the same hour: no quiet hours


def test_other_sessions_on_a_site_with_assets(hand):
    f = hand[("o", 1)]  # three pages from the search engine, one cookie: one visit
    assert (f["requests"], f["pages"]) == (3, 3)
    assert f["asset_share"] == 0.0  # the site has assets, this session asked for none
    assert f["referrer_share"] == 1.0
    assert f["self_referral_share"] == 0.0  # baidu is not the site, however common it is
    assert f["robots"] == 0.0
    assert f["revisit_share"] == 0.0
    f = hand[("q", 1)]  # typed addresses continue one visit
    assert (f["requests"], f["pages"]) == (3, 3)
    assert f["referrer_share"] == 0.0
    assert f["revisit_share"] == 0.0
    assert f["gap_median_s"] == 30.0
    assert f["gap_spread"] == 0.0
    assert f["gap_entropy"] == 0.0  # two equal pauses: one bin


def test_the_site_host_comes_from_asset_referrers():
    engine = engine_with(hand_rows())
    ctx = Context(engine=engine, present=present_columns(engine))
    materialize_sessions(ctx)
    got = engine.query("SELECT DISTINCT site, host, has_assets FROM site_profile").to_pylist()
    engine.close()
    assert got == [{"site": SITE, "host": "shop.example", "has_assets": 1}]


def test_asset_share_is_null_where_the_site_has_no_assets():
    rows = [hit(0, 0, "/a", site="bare.example"), hit(1, 20, "/b", site="bare.example")]
    rows += [
        hit(2, 0, "/a", ip="192.0.2.1"),
        hit(3, 0.2, "/x.css", ip="192.0.2.1", event="request", asset=True),
    ]
    mapping, features = sessions_of(rows)
    bare = features[mapping["r0000"]]
    assert bare["asset_share"] is None
    assert bare["requests"] == 2
    assert features[mapping["r0002"]]["asset_share"] == 0.5


def test_beacons_without_http_fields_have_null_request_shares():
    rows = [hit(i, 10 * i, "/a", method=None, status=None) for i in range(3)]
    [f] = sessions_of(rows)[1].values()
    for name in ("head_share", "post_share", "error_share", "server_error_share"):
        assert f[name] is None, name
    assert f["pages"] == 3


def test_self_referral_from_urls_with_their_host():
    rows = [  # a log written with $host: the URL carries the host, no assets needed
        hit(0, 0, "https://Shop.Example/a", referrer="https://www.google.com/"),
        hit(1, 5, "https://shop.example/b", referrer="https://shop.example/a"),
        hit(2, 9, "https://shop.example/c?x=1#top", referrer="http://SHOP.example:8080/b"),
    ]
    [f] = sessions_of(rows)[1].values()
    assert f["self_referral_share"] == pytest.approx(2 / 3)
    assert f["url_depth"] == 1.0  # query and fragment are not path


def test_quiet_hours_make_offpeak_share():
    # 49 page views at 01:xx, one at 05:00: an hour that holds less than 1/48 of the pages
    rows = [hit(i, 60 * i, f"/p{i}", ip=f"10.0.0.{i}") for i in range(49)]
    rows.append(hit(49, 4 * 3600, "/late", ip="10.0.1.1"))
    mapping, features = sessions_of(rows)
    assert features[mapping["r0049"]]["offpeak_share"] == 1.0
    assert features[mapping["r0000"]]["offpeak_share"] == 0.0


# ---- order does not matter ----------------------------------------------------------------------


def mixed_rows() -> list[dict[str, Any]]:
    rows = hand_rows()
    pauses = [3, 0.4, 0.4, 17, 120, 2400, 5, 0.2, 60]  # a 40-minute pause: two sessions
    t = 0.0
    for k, p in enumerate(pauses):
        t += p
        rows.append(
            hit(100 + k, t, f"/q/{k % 4}", ip="203.0.113.5", user_agent=IPHONE,
                referrer=HOST + "/q" if k % 3 else None,
                status=404 if k == 4 else 200)
        )  # fmt: skip
    rows.append(hit(120, 20.8, "/tie", ip="203.0.113.5", user_agent=IPHONE))  # same ms as k=3
    rows.append(hit(121, 5, "/nobody", ip=None, user_agent=None))
    for k in range(6):  # a tracker's beacons with a cookie, no HTTP fields
        rows.append(
            hit(130 + k, 7 * k * k, "/t", visitor_id="cookie-1", method=None, status=None,
                site="other.example", referrer="https://other.example/")
        )  # fmt: skip
    return rows


def test_a_log_out_of_time_order_gives_the_same_sessions_as_sorted():
    rows = mixed_rows()
    in_order = sorted(rows, key=lambda r: r["ts"])
    backwards = in_order[::-1]
    m1, f1 = sessions_of(in_order)
    m2, f2 = sessions_of(backwards)
    assert m1 == m2
    assert without_rid(f2) == close_to(without_rid(f1))
    assert {k[1] for k in f1 if k[0] == f"203.0.113.5 {IPHONE}"} == {1, 2}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_row_order_does_not_change_the_features(seed):
    rows = mixed_rows()
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    m1, f1 = sessions_of(rows)
    m2, f2 = sessions_of(shuffled)
    assert m1 == m2
    assert without_rid(f2) == close_to(without_rid(f1))


def test_first_rid_is_the_sessions_first_input_row():
    rows = mixed_rows()
    engine = engine_with(rows)
    ctx = Context(engine=engine, present=present_columns(engine))
    materialize_sessions(ctx)
    bad = engine.query(
        "SELECT f.skey, f.sno FROM session_features f "
        "WHERE f.first_rid <> (SELECT min(m.rid) FROM session_map m "
        "                      WHERE m.skey = f.skey AND m.sno = f.sno)"
    ).to_pylist()
    n = engine.query("SELECT count(*) AS n FROM session_features").to_pylist()[0]["n"]
    engine.close()
    assert bad == []
    assert n == 6  # h, o, q, the phone's two sessions, the cookie


def test_materialize_twice_is_a_no_op():
    engine = engine_with(hand_rows())
    ctx = Context(engine=engine, present=present_columns(engine))
    first = materialize_sessions(ctx)
    engine.materialize("session_features", "SELECT 1 AS marker")
    assert materialize_sessions(ctx) == first
    assert engine.query("SELECT * FROM session_features").to_pylist() == [{"marker": 1}]
    engine.close()


# ---- hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/" + "x" * 100_000,
        "shop.example/a/b",  # no scheme
        "/a\x00b\x00",
        "/路径/页面?q=中文#片段",
        "https://",
        "",
        "://weird",
        "https://user:pw@[::1]:99/%zz/../",
    ],
)
def test_hostile_urls_do_not_crash(url):
    rows = [
        hit(0, 0, url, referrer=url),
        hit(1, 2, url, referrer="https://shop.example/\x00\ud7ff"),
        hit(2, 3, "/x.png", event="request", asset=True, referrer=url, user_agent=WIN_CHROME),
    ]
    sessions = list(sessions_of(rows)[1].values())
    assert sum(f["requests"] for f in sessions) == 3
    assert sum(f["pages"] for f in sessions) == 2
    assert all(f["url_depth"] is not None for f in sessions)
    if len(sessions) == 1:  # a referrer on the site's own host: the second page continues
        assert sessions[0]["revisit_share"] == 0.5


def test_hostile_visitor_values_do_not_crash():
    rows = [
        hit(0, 0, "/a", visitor_id="\x00"),
        hit(1, 1, "/b", visitor_id="\x00"),
        hit(2, 2, "/c", ip="'; DROP TABLE events; --", user_agent="ü" * 5000),
        hit(3, 3, "/d", visitor_id=""),
    ]
    mapping, features = sessions_of(rows)
    assert len(mapping) == 4
    assert features[mapping["r0000"]]["pages"] == 2
    assert sum(f["pages"] for f in features.values()) == 4


def test_empty_events_give_empty_features():
    engine = DuckDBEngine()
    engine.load_events(rows_to_table([]).to_reader())
    ctx = Context(engine=engine, present=present_columns(engine))
    materialize_sessions(ctx)
    n = engine.query("SELECT count(*) AS n FROM session_features").to_pylist()[0]["n"]
    cols = engine.query("SELECT * FROM session_features").column_names
    engine.close()
    assert n == 0
    assert set(FEATURE_NAMES) <= set(cols)


# ---- the same numbers on Spark ------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark_engine():
    pytest.importorskip("pyspark")
    from qinglang.engine import SparkEngine

    engine = SparkEngine()
    yield engine
    engine.close()


def session_rows(engine, rows) -> list[dict]:
    engine.load_events(rows_to_table(rows).to_reader())
    ctx = Context(engine=engine, present=present_columns(engine))
    materialize_sessions(ctx)
    got = engine.query("SELECT * FROM session_features").to_pylist()
    return sorted(got, key=lambda r: (r["skey"], r["sno"]))


def assert_same_rows(duck: list[dict], spark: list[dict], tol: float = 1e-9) -> None:
    assert len(duck) == len(spark)
    for a, b in zip(duck, spark, strict=True):
        assert set(a) == set(b)
        for col, x in a.items():
            y = b[col]
            if isinstance(x, float) and y is not None:
                assert float(y) == pytest.approx(x, rel=tol, abs=tol), (a["skey"], a["sno"], col)
            else:
                assert x == y, (a["skey"], a["sno"], col, x, y)


@pytest.fixture(scope="module")
def both_engines(spark_engine):
    rows = mixed_rows()
    assert len(rows) >= 30
    duck_engine = DuckDBEngine()
    duck = session_rows(duck_engine, rows)
    duck_engine.close()
    spark = session_rows(spark_engine, rows)
    assert len(duck) == 6
    return duck, spark


@pytest.mark.spark
def test_spark_and_duckdb_agree_on_sessions_and_features_to_1e4(both_engines):
    assert_same_rows(*both_engines, tol=1e-4)


@pytest.mark.spark
def test_spark_and_duckdb_give_identical_session_features(both_engines):
    duck, spark = both_engines
    assert_same_rows(duck, spark, tol=1e-9)
    for a, b in zip(duck, spark, strict=True):
        for col in FEATURE_NAMES:
            assert type(a[col]) is type(b[col]) or None in (a[col], b[col]), col


def test_the_entry_is_the_first_page_view_not_the_first_request():
    rows = [
        hit(0, 0.0, "/site.css", event="request", asset=True, visitor_id="v"),
        hit(1, 1.0, "/landing", visitor_id="v"),
        hit(2, 5.0, "/next", visitor_id="v"),
        hit(3, 4000.0, "/again", visitor_id="v"),  # after the gap: a session of its own
        hit(4, 0.0, "/only.js", event="request", asset=True, visitor_id="w"),  # no page at all
    ]
    features = sessions_of(rows)[1]
    assert features[("v", 1)]["entry"] == "r0001"
    assert features[("v", 2)]["entry"] == "r0003"
    assert features[("w", 1)]["entry"] is None
