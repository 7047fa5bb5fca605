"""sivt.hidden for logs (entry.inert): an entry whose sessions never go past the first page."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from qinglang.detect import entry
from qinglang.detect.base import Context
from qinglang.detect.pipeline import present_columns
from tests.conftest import IPHONE, engine_with
from tests.detect.log_rows import log_rows, visit

T0 = dt.datetime(2017, 9, 2, 1, 0, tzinfo=dt.UTC)
BAIDU = "https://www.baidu.com/s?wd=shop"
INJECT = "https://inject.example/"


def wilson_upper(r: float, n: int, z: float = 1.96) -> float:
    return (r + z * z / (2 * n) + z * math.sqrt(r * (1 - r) / n + z * z / (4 * n * n))) / (
        1 + z * z / n
    )


class Log:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.cohorts: dict[str, list[list[str]]] = {}  # name -> event ids of each session
        self._ips = 0

    def add(self, cohort: str, ref: str | None, pages: list[str], **overrides: Any) -> None:
        self._ips += 1
        ip = f"198.18.{self._ips // 200}.{self._ips % 200 + 1}"
        start = T0 + dt.timedelta(seconds=37 * self._ips)
        rows = visit(len(self.rows), start, ip, ref, pages)
        for row in rows:
            row.update(overrides)
        self.rows += rows
        self.cohorts.setdefault(cohort, []).append([r["event_id"] for r in rows])


def two_cohorts(inject_navigating: int = 1, **overrides: Any) -> Log:
    """25 people from search (10 read a second page), 30 injected (`inject_navigating` do)."""
    log = Log()
    for k in range(25):
        log.add("search", BAIDU, ["/a", "/b"] if k < 10 else ["/a"])
    for k in range(30):
        nav = k < inject_navigating
        log.add("inject_nav" if nav else "inject", INJECT, ["/a", "/b"] if nav else ["/a"],
                **overrides)  # fmt: skip
    return log


def run(rows: list[dict[str, Any]], **settings: Any) -> dict[str, float]:
    """{event_id: score} of entry.inert."""
    engine = engine_with(rows)
    ctx = Context(engine=engine, present=present_columns(engine), settings=settings)
    found = entry.detect(ctx)
    out: dict[str, float] = {}
    for q in found.queries:
        for r in engine.query(
            f"SELECT e.event_id, f.reason, f.score FROM ({q}) f JOIN events e ON e.rid = f.rid"
        ).to_pylist():
            assert r["reason"] == "entry.inert"
            assert r["event_id"] not in out
            out[r["event_id"]] = float(r["score"])
    engine.close()
    return out


def cohort_scores(log: Log, found: dict[str, float], cohort: str) -> set[float | None]:
    return {
        None if found.get(eid) is None else round(found[eid], 9)
        for session in log.cohorts[cohort]
        for eid in session
    }


def test_an_inert_entry_is_flagged_and_people_are_not():
    log = two_cohorts()
    found = run(log.rows, inert_entry_min_sessions=20)
    # b (the people's navigation rate, weighted 75th percentile over entries) = 10/25 = 0.4;
    # the injected entry navigates 1/30: P = (1 - ub / b) / (1 - r)
    r = 1 / 30
    p = (1 - wilson_upper(r, 30) / 0.4) / (1 - r)
    assert p == pytest.approx(0.6033, abs=1e-4)
    assert cohort_scores(log, found, "inject") == {round(p, 9)}  # every event, assets too
    assert cohort_scores(log, found, "search") == {None}


def test_navigating_sessions_are_never_flagged():
    log = two_cohorts(inject_navigating=1)
    found = run(log.rows, inert_entry_min_sessions=20)
    assert cohort_scores(log, found, "inject_nav") == {None}
    assert len(found) == 29 * 2  # 29 inert sessions, each a page and its stylesheet


def test_an_entry_none_of_whose_sessions_navigates():
    log = two_cohorts(inject_navigating=0)
    found = run(log.rows, inert_entry_min_sessions=20)
    p = 1 - wilson_upper(0.0, 30) / 0.4
    assert p == pytest.approx(0.7162, abs=1e-4)
    assert cohort_scores(log, found, "inject") == {round(p, 9)}
    assert len(found) == 30 * 2


def test_the_default_setting_on_the_shared_log_rows():
    rows = log_rows()  # 120 people from search (2 in 5 read a second page), 120 injected,
    # and one more from search who reads two pages (the user-agent spoofing visit)
    found = run(rows)
    ids = {r["event_id"]: r for r in rows}
    flagged_ips = {ids[eid]["ip"] for eid in found}
    assert len(flagged_ips) == 120
    assert all(ip.startswith("198.19.") for ip in flagged_ips)
    p = 1 - wilson_upper(0.0, 120) / (49 / 121)
    assert {round(x, 9) for x in found.values()} == {round(p, 9)}
    assert p == pytest.approx(0.9234, abs=1e-4)


@pytest.mark.parametrize("min_sessions", [31, 100])
def test_below_the_minimum_sessions_nothing_is_flagged(min_sessions):
    log = two_cohorts(inject_navigating=0)
    assert run(log.rows, inert_entry_min_sessions=min_sessions) == {}


def test_without_people_to_compare_nothing_is_flagged():
    # only the injected entry has enough sessions: its own rate is the yardstick
    log = two_cohorts(inject_navigating=1)
    assert run(log.rows, inert_entry_min_sessions=26) == {}


def test_tracker_signals_cap_the_score_below_the_mark():
    log = two_cohorts(inject_navigating=0)
    for session in log.cohorts["inject"][:5]:
        for row in log.rows:
            if row["event_id"] in session:
                row["client"] = {"visible_ms": 0}
    found = run(log.rows, inert_entry_min_sessions=20)
    capped = {eid for s in log.cohorts["inject"][:5] for eid in s}
    assert {round(found[eid], 9) for eid in capped} == {0.45}
    rest = {round(found[eid], 9) for s in log.cohorts["inject"][5:] for eid in s}
    assert rest == {round(1 - wilson_upper(0.0, 30) / 0.4, 9)}


def test_a_campaign_tag_makes_one_entry_across_referrers():
    log = Log()
    for k in range(25):
        log.add("search", BAIDU, ["/a", "/b"] if k < 10 else ["/a"])
    for k in range(30):  # thirty referring sites, one tag
        log.add("tagged", f"https://site{k}.example/", ["/a?x=1&utm_source=adnet"])
    found = run(log.rows, inert_entry_min_sessions=20)
    p = 1 - wilson_upper(0.0, 30) / 0.4
    assert cohort_scores(log, found, "tagged") == {round(p, 9)}
    # without the tag, every referring site is its own entry of one session: too few to judge
    for row in log.rows:
        row["url"] = row["url"].replace("?x=1&utm_source=adnet", "")
    assert run(log.rows, inert_entry_min_sessions=20) == {}


def test_the_source_column_comes_before_the_referrer():
    log = Log()
    for k in range(25):
        log.add("search", BAIDU, ["/a", "/b"] if k < 10 else ["/a"])
    for k in range(30):
        log.add("bought", f"https://site{k}.example/", ["/a"], source="seller-7")
    found = run(log.rows, inert_entry_min_sessions=20)
    assert cohort_scores(log, found, "bought") == {round(1 - wilson_upper(0.0, 30) / 0.4, 9)}
    assert cohort_scores(log, found, "search") == {None}


def test_two_pages_without_a_link_between_them_do_not_navigate():
    log = two_cohorts(inject_navigating=0)
    # the injected visitors open a second page, but again from the injecting site
    extra = []
    for session in log.cohorts["inject"]:
        first = next(r for r in log.rows if r["event_id"] == session[0])
        extra.append(dict(first, event_id=first["event_id"] + "b",
                          ts=first["ts"] + dt.timedelta(seconds=30), url="/c"))  # fmt: skip
    found = run(log.rows + extra, inert_entry_min_sessions=20)
    assert {round(found[r["event_id"]], 9) for r in extra} == {
        round(1 - wilson_upper(0.0, 30) / 0.4, 9)
    }


def test_an_inert_entry_is_flagged_in_a_log_without_assets():
    log = two_cohorts(inject_navigating=0)
    rows = [  # a log written with $host, static files served elsewhere
        dict(r, url="https://shop.example" + r["url"]) for r in log.rows if not r.get("asset")
    ]
    found = run(rows, inert_entry_min_sessions=20)
    p = round(1 - wilson_upper(0.0, 30) / 0.4, 9)
    assert {round(found.get(eid, 0), 9) for s in log.cohorts["inject"] for eid in s[:1]} == {p}


def test_no_referrer_column_no_findings():
    rows = [dict(r, referrer=None) for r in two_cohorts().rows]
    engine = engine_with(rows)
    ctx = Context(engine=engine, present=present_columns(engine))
    found = entry.detect(ctx)
    engine.close()
    assert found.queries == []
    assert found.checks_skipped == [("entry.inert", ["referrer"])]


def test_a_tag_is_split_by_the_sites_that_referred_enough_of_it():
    """One seller's tag: people from its publishers read on, while the one site that carries an
    injecting snippet brings sessions that never do. The injecting site is judged on its own (its
    sessions charged at its own rate); the tag's people are not charged with its fraud."""
    log = Log()
    for k in range(40):  # people from search, the site's own baseline
        log.add("search", BAIDU, ["/a", "/b"] if k < 16 else ["/a"])
    for k in range(40):  # the seller's people, from thirty publishers
        log.add("people", f"https://pub{k % 30}.example/",
                ["/a?utm_source=adnet", "/b"] if k < 16 else ["/a?utm_source=adnet"])  # fmt: skip
    for _ in range(30):  # the injecting site, same tag
        log.add("inject", INJECT, ["/a?utm_source=adnet"])
    found = run(log.rows, inert_entry_min_sessions=20, inert_site_min_sessions=30)
    p = 1 - wilson_upper(0.0, 30) / 0.4
    assert cohort_scores(log, found, "inject") == {round(p, 9)}
    assert cohort_scores(log, found, "people") == {None}
    # one entry again when no site brings enough sessions to judge apart: the tag's rate then
    # mixes both, and its people's one-page sessions share the charge
    found = run(log.rows, inert_entry_min_sessions=20, inert_site_min_sessions=31)
    assert cohort_scores(log, found, "inject") - {None}
    one_page = [s for s in log.cohorts["people"] if len(s) == 2]  # a page and its stylesheet
    assert len(one_page) == 24 and all(found.get(e) for s in one_page for e in s)


WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2d) NetType/4G Language/zh_CN"
)


def test_without_a_referrer_the_app_that_loaded_the_page_splits_a_tag():
    """No referrer names the site: the in-app web view that loaded the page (ua-parser's family)
    is the next clue. The tag's browser visitors read on; its WeChat web views never do."""
    log = Log()
    for k in range(40):
        log.add("search", BAIDU, ["/a", "/b"] if k < 16 else ["/a"])
    for k in range(40):
        log.add("people", None, ["/a?utm_source=adnet", "/b"] if k < 16 else ["/a?utm_source=adnet"],
                user_agent=IPHONE)  # fmt: skip
    for _ in range(30):
        log.add("in_app", None, ["/a?utm_source=adnet"], user_agent=WECHAT)
    found = run(log.rows, inert_entry_min_sessions=20)
    assert cohort_scores(log, found, "in_app") == {round(1 - wilson_upper(0.0, 30) / 0.4, 9)}
    assert cohort_scores(log, found, "people") == {None}


def test_what_is_left_of_a_tag_once_its_sites_are_apart_is_still_judged():
    """The tag is big enough to judge (100 sessions); one honest publisher brings enough to be
    judged apart, and what is left (injected visits spread over many small sites) is judged
    together, not dropped for being under 100 on its own."""
    log = Log()
    for k in range(120):
        log.add("search", BAIDU, ["/a", "/b"] if k < 48 else ["/a"])
    for k in range(40):
        log.add("publisher", "https://pub.example/",
                ["/a?utm_source=adnet", "/b"] if k < 16 else ["/a?utm_source=adnet"])  # fmt: skip
    for k in range(80):
        log.add("inject", f"https://inj{k % 10}.example/", ["/a?utm_source=adnet"])
    found = run(log.rows)
    assert cohort_scores(log, found, "inject") == {round(1 - wilson_upper(0.0, 80) / 0.4, 9)}
    assert cohort_scores(log, found, "publisher") == {None}
