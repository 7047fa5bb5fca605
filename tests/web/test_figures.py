"""The dashboard's figures against counts made by hand, with rollups and the live tail."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from qinglang.collect.sites import SiteRegistry
from qinglang.errors import ConfigError
from qinglang.web.audits import Runner
from qinglang.web.figures import Figures
from tests.web import lake

DAY1 = lake.DAY
DAY2 = lake.DAY + timedelta(days=1)


@pytest.fixture
def db(tmp_path):
    db = tmp_path / "q.db"
    SiteRegistry(db).add("shop", ["https://shop.test"])
    return db


def test_counts_without_an_audit(db):
    # day 1: 14 person page views by 7 visitors (v0..v6), 3 bot views by 3 visitors
    lake.write(db, "shop", lake.traffic("shop", DAY1, 14, 3), "day=2026-11-30")
    f = Figures(db).site("shop")
    assert f["audit"] is None
    assert f["totals"]["pv"] == 17
    assert f["totals"]["by_category"] == [{"category": "unaudited", "pv": 17, "share": 1.0}]
    [day] = f["series"]
    assert (day["t"], day["pv"], day["uv"]) == ("2026-11-30T00:00Z", 17, 10)
    assert day["invalid_uv_share"] is None  # nothing audited
    hours = Figures(db).site("shop", grain="hour")["series"]
    assert sum(h["pv"] for h in hours) == 17
    assert hours[0]["t"] == "2026-11-30T00:00Z"


def test_categories_come_from_the_latest_audit(db):
    lake.write(db, "shop", lake.traffic("shop", DAY1, 14, 3), "day=2026-11-30")
    Runner(db).submit("shop", {"lang": "en"})[1].result(timeout=120)
    # after the audit: day 2 arrives, as a part (not compacted yet): unaudited
    lake.write(db, "shop", lake.traffic("shop", DAY2, 7, 1, start=500), "part-seg-1-000001")
    f = Figures(db).site("shop")
    cats = {c["category"]: c["pv"] for c in f["totals"]["by_category"]}
    assert cats == {"valid": 14, "givt.crawler": 3, "unaudited": 8}
    assert f["totals"]["invalid_pv"] == 3 and f["totals"]["audited_pv"] == 17
    d1, d2 = f["series"]
    assert d1["uv_by_category"] == {"valid": 7, "givt.crawler": 3}
    assert d1["invalid_uv_share"] == pytest.approx(3 / 10)
    assert d2["uv_by_category"] == {"unaudited": 8}
    top = f["sources"][0]
    assert top["source"] == "cheap-clicks.example" and top["invalid_share"] == 1.0
    assert f["sources"][1]["source"] == "search.example"


def test_rollups_are_kept_per_day_file_and_redone_when_it_changes(db):
    path = lake.write(db, "shop", lake.traffic("shop", DAY1, 14, 0), "day=2026-11-30")
    figures = Figures(db)
    assert figures.site("shop")["totals"]["pv"] == 14
    stored = list(figures.store.site_dir("shop").glob("day=2026-11-30.*.parquet"))
    assert len(stored) == 1
    # a compaction rewrites the day file with more rows: a new rollup replaces the old
    lake.write(db, "shop", lake.traffic("shop", DAY1, 21, 0), "day=2026-11-30")
    os.utime(path, ns=(1, 1))
    assert figures.site("shop")["totals"]["pv"] == 21
    again = list(figures.store.site_dir("shop").glob("day=2026-11-30.*.parquet"))
    assert len(again) == 1 and again != stored


def test_rollups_made_by_other_code_are_redone_not_read(db, monkeypatch):
    """A rollup file is keyed by a hash of the SQL that made it: after an upgrade that changes
    how rollups are computed, the old files are recomputed (and deleted), never read as new."""
    from qinglang.web import rollups

    lake.write(db, "shop", lake.traffic("shop", DAY1, 14, 0), "day=2026-11-30")
    figures = Figures(db)
    assert figures.site("shop")["totals"]["pv"] == 14
    stored = list(figures.store.site_dir("shop").glob("day=2026-11-30.*.parquet"))
    # what an older qinglang left: the same name, rows that say otherwise
    import duckdb

    duckdb.sql(f"COPY (SELECT * FROM '{stored[0]}' WHERE false) TO '{stored[0]}' (FORMAT parquet)")
    assert figures.site("shop")["totals"]["pv"] == 0  # same code: the stored file is read
    monkeypatch.setattr(rollups, "rollup_version", lambda: "another-version")
    assert figures.site("shop")["totals"]["pv"] == 14  # other code: recomputed
    again = list(figures.store.site_dir("shop").glob("day=2026-11-30.*.parquet"))
    assert len(again) == 1 and again != stored


def test_a_day_in_a_day_file_and_a_part_counts_each_visitor_once(db):
    lake.write(db, "shop", lake.traffic("shop", DAY1, 14, 0), "day=2026-11-30")
    later = DAY1 + timedelta(hours=20)  # the same 7 visitors come back the same day, one new
    rows = lake.traffic("shop", later, 7, 0, start=700)
    rows.append(lake.event(800, "shop", later, visitor_id="newcomer"))
    lake.write(db, "shop", rows, "part-seg-1-000002")
    figures = Figures(db)
    f = figures.site("shop")
    [day] = f["series"]
    assert (day["pv"], day["uv"]) == (22, 8)
    hours = {h["t"]: h["uv"] for h in figures.site("shop", grain="hour")["series"]}
    # hour 20 holds the part's 8 visitors; the day file's visitors of hour 0 are 7 (v0..v6
    # every 7 minutes), and none of hour 20's are in the day file's hour 20
    assert hours["2026-11-30T20:00Z"] == 8 and hours["2026-11-30T00:00Z"] == 7
    assert len(list(figures.store.site_dir("shop").glob("day=2026-11-30.*"))) == 1  # the day's


def test_pending_segments_are_read(db):
    """Rows in a segment that has not rolled yet count (collect.lake.site_files)."""
    from qinglang.collect.segments import encode
    from qinglang.collect.sites import segments_dir

    lake.write(db, "shop", lake.traffic("shop", DAY1, 14, 0), "day=2026-11-30")
    seg = segments_dir(db) / "seg-t-000001.log"
    seg.parent.mkdir(parents=True)
    rows = lake.traffic("shop", DAY2, 5, 0, start=900)
    seg.write_bytes(b"".join(
        encode({**r, "ts": int(r["ts"].timestamp() * 1000)}) for r in rows
    ))  # fmt: skip
    f = Figures(db).site("shop")
    assert f["totals"]["pv"] == 19
    assert [p["pv"] for p in f["series"]] == [14, 5]


def test_bad_parameters_name_the_field(db):
    lake.write(db, "shop", lake.traffic("shop", DAY1, 3, 0), "day=2026-11-30")
    figures = Figures(db)
    for kw, field in (({"grain": "week"}, "grain"),):
        with pytest.raises(ConfigError, match=field):
            figures.site("shop", **kw)
    from datetime import date

    with pytest.raises(ConfigError, match="at most 31 days"):
        figures.site("shop", grain="hour", start=date(2026, 1, 1), end=date(2026, 11, 30))


def test_no_events_yet(db):
    f = Figures(db).site("shop")
    assert f["series"] == [] and f["totals"]["pv"] == 0


def test_source_of_agrees_with_the_rollups_sql(tmp_path):
    """The Python derivation (for drilling into an audit's evidence) and the SQL one."""
    import duckdb

    from qinglang.web.rollups import rollup_sql, source_of

    cases = [
        ("pub7", "https://s.test/?utm_source=x", "https://r.example/"),
        (None, "https://s.test/a?b=1&utm_source=news&c=2", "https://r.example/"),
        (None, "https://s.test/a", "HTTPS://Ref.Example:8443/path?q"),
        (None, "https://s.test/a", "android-app://com.example.app/"),
        (None, "https://s.test/a", "not a url"),
        ("", "https://s.test/a?utm_source=", None),
        ("s" * 300, None, None),
    ]
    rows = [lake.event(i, "shop", DAY1, source=s, url=u, referrer=r, visitor_id=f"u{i}")
            for i, (s, u, r) in enumerate(cases)]  # fmt: skip
    path = lake.write(tmp_path / "q.db", "shop", rows, "day=2026-11-30")
    got = duckdb.sql(
        f"SELECT key FROM ({rollup_sql([path], None)}) WHERE kind = 'src' ORDER BY key"
    ).fetchall()
    assert {r[0] for r in got} == {source_of(*c) for c in cases}
    assert len(got) == len({source_of(*c) for c in cases})
    assert source_of(*cases[2]) == "ref.example" and source_of(*cases[4]) == "(direct)"


def test_the_live_tail_takes_the_audits_labels_too(db):
    """Rows still in a part (not compacted) when the audit ran are labelled from it, through
    the labels of their hours."""
    lake.write(db, "shop", lake.traffic("shop", DAY1, 14, 0), "day=2026-11-30")
    lake.write(db, "shop", lake.traffic("shop", DAY1 + timedelta(hours=22), 7, 4, start=300),
               "part-seg-1-000003")  # fmt: skip
    Runner(db).submit("shop", {"lang": "en"})[1].result(timeout=120)
    figures = Figures(db)
    f = figures.site("shop")
    assert {c["category"]: c["pv"] for c in f["totals"]["by_category"]} == {
        "valid": 21, "givt.crawler": 4}  # fmt: skip
    labels = figures.store.root.parent / "labels" / "site=shop"
    assert sorted(p.name for p in next(labels.iterdir()).iterdir())[-1] == "d=2026-11-30T22"


def test_label_splits_made_by_other_code_are_redone(db, monkeypatch):
    from qinglang.web import rollups

    lake.write(db, "shop", lake.traffic("shop", DAY1 + timedelta(hours=22), 7, 4, start=300),
               "part-seg-1-000003")  # fmt: skip
    Runner(db).submit("shop", {"lang": "en"})[1].result(timeout=120)
    figures = Figures(db)
    expected = {"valid": 7, "givt.crawler": 4}
    assert {
        c["category"]: c["pv"] for c in figures.site("shop")["totals"]["by_category"]
    } == expected
    labels = figures.store.root.parent / "labels" / "site=shop"
    [before] = list(labels.iterdir())
    monkeypatch.setattr(rollups, "rollup_version", lambda: "another-version")
    assert {
        c["category"]: c["pv"] for c in figures.site("shop")["totals"]["by_category"]
    } == expected
    [after] = list(labels.iterdir())  # made again under the new version, the old one deleted
    assert after.name.endswith(".vanother-version") and after != before


def test_an_audit_of_one_day_replaces_that_days_categories_only(db):
    lake.write(db, "shop", lake.traffic("shop", DAY1, 14, 3), "day=2026-11-30")
    lake.write(db, "shop", lake.traffic("shop", DAY2, 14, 3, start=100), "day=2026-12-01")
    runner = Runner(db)
    full, done = runner.submit("shop", {"lang": "en"})
    done.result(timeout=120)
    before = Figures(db).site("shop")
    cats = {c["category"]: c["pv"] for c in before["totals"]["by_category"]}
    assert cats == {"valid": 28, "givt.crawler": 6} and before["audit"] == full
    one_day, done = runner.submit("shop", {"lang": "en", "from": "2026-12-01", "to": "2026-12-01"})
    done.result(timeout=120)
    runner.shutdown()
    after = Figures(db).site("shop")
    assert after["totals"] == before["totals"]  # 11-30 keeps the full audit's categories
    assert after["audit"] == one_day  # the newest audit whose labels are in use
    assert [s["uv_by_category"] for s in after["series"]] == [
        s["uv_by_category"] for s in before["series"]
    ]


def test_a_visitor_across_midnight_and_two_day_files_counts_once(db):
    """A day file can run past its midnight (a part lands under its first event's day): visitor
    X in day file 11-30 at 23:55 and 00:05 (12-01), and in day file 12-01 at 00:20."""
    at = DAY1 + timedelta(hours=23, minutes=55)
    lake.write(db, "shop", [lake.event(1, "shop", at, visitor_id="X"),
                            lake.event(2, "shop", at + timedelta(minutes=10), visitor_id="X")],
               "day=2026-11-30")  # fmt: skip
    lake.write(db, "shop", [lake.event(3, "shop", at + timedelta(minutes=25), visitor_id="X")],
               "day=2026-12-01")  # fmt: skip
    f = Figures(db)
    days = [(p["t"], p["pv"], p["uv"]) for p in f.site("shop")["series"]]
    assert days == [("2026-11-30T00:00Z", 1, 1), ("2026-12-01T00:00Z", 2, 1)]
    hours = [(p["t"], p["pv"], p["uv"]) for p in f.site("shop", grain="hour")["series"]]
    assert hours == [("2026-11-30T23:00Z", 1, 1), ("2026-12-01T00:00Z", 2, 1)]
    # and a live part touching only 12-01 does not count X again
    lake.write(db, "shop", [lake.event(4, "shop", at + timedelta(minutes=40), visitor_id="X")],
               "part-seg-1-000001")  # fmt: skip
    days = [(p["t"], p["pv"], p["uv"]) for p in Figures(db).site("shop")["series"]]
    assert days == [("2026-11-30T00:00Z", 1, 1), ("2026-12-01T00:00Z", 3, 1)]


def test_at_most_at_once_figures_are_computed_together_and_the_rest_wait(db, monkeypatch):
    """Eight callers at once (open tabs, a script): never more than AT_ONCE computations run
    together, and every caller still gets its answer."""
    import threading
    import time

    from qinglang.web import figures as figures_mod

    running, peak, guard = 0, 0, threading.Lock()

    def slow_site(self, site, grain, start, end):
        nonlocal running, peak
        with guard:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)  # long enough that the callers overlap on a loaded machine
        with guard:
            running -= 1
        return {"site": site}

    monkeypatch.setattr(figures_mod.Figures, "_site", slow_site)
    figures = Figures(db)
    answers: list[dict] = []
    threads = [
        threading.Thread(target=lambda: answers.append(figures.site("shop"))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 8
    assert peak == figures_mod.AT_ONCE


def test_dashboard_queries_run_on_capped_duckdb_threads():
    from qinglang.web.rollups import THREADS, connect

    con = connect()
    try:
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == THREADS
    finally:
        con.close()


def test_visitors_are_the_audit_s_uv_key_even_without_a_user_agent(db):
    """A log line with an IP and no user agent is a visitor of its own, as the audit counts UV
    (events.visitor_key_sql), not one anonymous visitor for every such line."""
    rows = [
        lake.event(i, "shop", DAY1 + timedelta(minutes=i), visitor_id=None, user_agent=None,
                   ip=f"198.51.100.{i}")
        for i in range(4)
    ]  # fmt: skip
    lake.write(db, "shop", rows, "day=2026-11-30")
    [day] = Figures(db).site("shop")["series"]
    assert (day["pv"], day["uv"]) == (4, 4)
