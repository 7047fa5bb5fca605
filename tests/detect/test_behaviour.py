"""sivt.behaviour: a noisy-OR of session evidence groups, none of which may invalidate alone."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from qinglang.detect import behaviour
from qinglang.detect.base import Context
from qinglang.detect.pipeline import present_columns
from tests.conftest import engine_with
from tests.detect.log_rows import SITE, request

T0 = dt.datetime(2017, 9, 2, 1, 0, tzinfo=dt.UTC)


class Log:
    """Builds sessions one IP each; remembers which event ids belong to which named session."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.sessions: dict[str, list[str]] = {}
        self._ips = 0

    def add(self, name: str, start: dt.datetime, pauses: list[float], *, links: bool = True,
            entry_ref: str | None = "https://www.baidu.com/s?wd=shop", assets: bool = True,
            extra: list[dict[str, Any]] | None = None) -> None:  # fmt: skip
        self._ips += 1
        ip = f"198.18.{self._ips // 200}.{self._ips % 200 + 1}"
        first = len(self.rows)
        at, ref = start, entry_ref
        for k in range(len(pauses) + 1):
            page = f"/p{k}"
            self.rows.append(request(len(self.rows), at, ip, page, referrer=ref))
            if assets:
                self.rows.append(
                    request(len(self.rows), at + dt.timedelta(milliseconds=150), ip,
                            "/site.css", event="request", asset=True, referrer=SITE + page)
                )  # fmt: skip
            ref = SITE + page if links else None
            if k < len(pauses):
                at += dt.timedelta(seconds=pauses[k])
        for k, overrides in enumerate(extra or []):
            when = at + dt.timedelta(seconds=1 + k)
            self.rows.append(request(len(self.rows), when, ip, "/p0", **overrides))
        self.sessions[name] = [r["event_id"] for r in self.rows[first:]]


def people(log: Log, n: int = 30) -> None:
    """People: four pages by the site's links, a median pause of 20, 40 or 80 s."""
    for k in range(n):
        g = (20, 40, 80)[k % 3]
        log.add(f"person{k}", T0 + dt.timedelta(minutes=5 * k), [g, 1.5 * g, 0.7 * g])


def site_log() -> Log:
    log = Log()
    people(log)
    at = T0 + dt.timedelta(minutes=2)
    log.add("fast", at, [0.3, 0.3, 0.3])
    log.add("fast_linkless", at, [0.3, 0.3, 0.3], links=False, entry_ref=None)
    log.add("regular", at, [60.0] * 7)
    log.add("linkless", at, [35.0, 50.0], links=False, entry_ref=None)
    log.add("moderate", at, [4.0, 5.0, 3.0])
    log.add("probing", at, [30.0], extra=[{"event": "request", "method": "HEAD"}])
    log.add("probing_linkless", at, [35.0, 50.0], links=False, entry_ref=None,
            extra=[{"event": "request", "url": "/robots.txt"}])  # fmt: skip
    log.add("offpeak", T0 + dt.timedelta(hours=7), [])
    return log


def run(rows: list[dict[str, Any]], **settings: Any) -> dict[str, dict[str, float]]:
    """{event_id: {reason: score}} of every finding, supporting ones included."""
    engine = engine_with(rows)
    ctx = Context(engine=engine, present=present_columns(engine), settings=settings)
    found = behaviour.detect(ctx)
    out: dict[str, dict[str, float]] = {}
    for q in found.queries:
        for r in engine.query(
            f"SELECT e.event_id, f.reason, f.score FROM ({q}) f JOIN events e ON e.rid = f.rid"
        ).to_pylist():
            assert r["reason"] not in out.get(r["event_id"], {}), r
            out.setdefault(r["event_id"], {})[r["reason"]] = float(r["score"])
    engine.close()
    return out


def session_findings(log: Log, found: dict[str, dict[str, float]], name: str) -> dict:
    """The findings of a session, the same on each of its events."""
    each = [found.get(eid, {}) for eid in log.sessions[name]]
    assert all(f == each[0] for f in each), name
    return each[0]


@pytest.fixture(scope="module")
def site():
    log = site_log()
    return log, run(log.rows)


def outlier(site, name: str) -> float:
    log, found = site
    return session_findings(log, found, name).get("session.outlier", 0.0)


@pytest.mark.parametrize(
    ("name", "risk", "group"),
    [
        ("fast", 0.4, "session.fast"),  # every pause under a second
        ("regular", 0.3, "session.regular"),  # eight pages a minute apart to the millisecond
        ("linkless", 0.35, "session.no_referrer"),  # three pages, not one reached by a link
        ("probing", 0.4, "session.probing"),  # a HEAD request
    ],
)
def test_one_group_alone_never_invalidates(site, name, risk, group):
    log, found = site
    got = session_findings(log, found, name)
    assert got["session.outlier"] == pytest.approx(risk)
    assert got["session.outlier"] < 0.5
    assert got[group] == pytest.approx(risk)  # supporting, shown because the risk is >= 0.25
    assert set(got) == {"session.outlier", group}


def test_two_strong_groups_invalidate(site):
    log, found = site
    got = session_findings(log, found, "fast_linkless")
    assert got["session.outlier"] == pytest.approx(1 - (1 - 0.4) * (1 - 0.35))  # 0.61
    assert got["session.fast"] == pytest.approx(0.4)
    assert got["session.no_referrer"] == pytest.approx(0.35)
    got = session_findings(log, found, "probing_linkless")  # robots.txt and no links
    assert got["session.outlier"] == pytest.approx(0.61)
    assert set(got) == {"session.outlier", "session.probing", "session.no_referrer"}


def test_supporting_reasons_score_below_the_mark(site):
    _, found = site
    supporting = [
        s for f in found.values() for reason, s in f.items() if reason != "session.outlier"
    ]
    assert supporting
    assert max(supporting) < 0.5


def test_a_moderately_fast_session_gets_a_graded_risk(site):
    # people's median pauses: 20, 40, 80 s, so the site's median log pause is ln 40 and its
    # MAD ln 2; a median pause of 4 s sits (ln 40 - ln 4) / (1.4826 ln 2) = 2.24 MADs below
    z = math.log(10) / (1.4826 * math.log(2))
    assert outlier(site, "moderate") == pytest.approx(0.4 * (z - 2) / 2)
    log, found = site
    assert set(session_findings(log, found, "moderate")) == {"session.outlier"}  # no support


def test_a_session_in_the_sites_quiet_hours_is_barely_suspect(site):
    assert outlier(site, "offpeak") == pytest.approx(0.15)


def test_people_browsing_normally_are_not_flagged(site):
    log, found = site
    for k in range(30):
        assert session_findings(log, found, f"person{k}") == {}, k


def test_the_score_is_graded(site):
    _, found = site
    risks = {round(f["session.outlier"], 9) for f in found.values() if "session.outlier" in f}
    assert len(risks) >= 5
    assert all(0 < r < 1 for r in risks)
    assert len([r for r in risks if r < 0.5]) >= 4 and len([r for r in risks if r >= 0.5]) >= 1


def test_every_event_of_a_session_carries_its_risk(site):
    log, found = site
    ids = log.sessions["fast_linkless"]
    assert len(ids) == 8  # four pages and their stylesheets
    assert all(found[eid]["session.outlier"] >= 0.5 for eid in ids)


def test_a_long_crawl_without_revisits_counts_on_a_large_site():
    log = Log()
    people(log, 200)  # enough sessions for a 99th percentile to mean something
    log.add("reader", T0 + dt.timedelta(minutes=1), [30.0, 45.0, 20.0, 60.0, 25.0])  # six pages
    pauses = [20.0, 80.0, 30.0, 60.0, 25.0, 90.0, 40.0, 70.0, 35.0, 50.0, 45.0]
    log.add("crawl", T0 + dt.timedelta(minutes=3), pauses)  # twelve pages, none twice
    found = run(log.rows)
    got = session_findings(log, found, "crawl")
    assert got == {"session.outlier": pytest.approx(0.3), "session.crawl": pytest.approx(0.3)}
    assert session_findings(log, found, "reader") == {}


def test_a_crawl_longer_than_every_person_counts():
    log = Log()
    people(log, 200)  # every person reads four pages: the crawl beats 200 of 201 sessions
    pauses = [20.0, 80.0, 30.0, 60.0, 25.0, 90.0, 40.0, 70.0, 35.0, 50.0, 45.0]
    log.add("crawl", T0 + dt.timedelta(minutes=3), pauses)
    found = run(log.rows)
    assert session_findings(log, found, "crawl") == {
        "session.outlier": pytest.approx(0.3),
        "session.crawl": pytest.approx(0.3),
    }


def test_fewer_than_three_fast_pages_say_nothing():
    log = Log()
    people(log)
    log.add("two", T0, [0.1], links=False, entry_ref=None)  # two pages: too few to judge pace
    found = run(log.rows)
    assert session_findings(log, found, "two") == {}


def test_sessions_follow_the_gap_setting():
    # two fast link-less pages, a 20-minute pause, two more: one session of four pages with
    # pauses 0.2 s, 20 min, 0.2 s (fast and link-less), or two sessions too short to judge
    log = Log()
    people(log)
    log.add("burst", T0, [0.2, 1200, 0.2], links=False, entry_ref=None)
    ids = log.sessions["burst"]
    for minutes, risk in ((30, 0.61), (21, 0.61), (19, None)):
        found = run(log.rows, session_gap_minutes=minutes)
        got = {found.get(eid, {}).get("session.outlier") for eid in ids}
        got = {None if x is None else round(x, 9) for x in got}
        assert got == {risk}, minutes


def test_no_timestamps_no_findings():
    rows = [dict(r, ts=None) for r in site_log().rows]
    engine = engine_with(rows)
    ctx = Context(engine=engine, present=present_columns(engine))
    found = behaviour.detect(ctx)
    engine.close()
    assert found.queries == []
    assert found.checks_skipped == [("session.outlier", ["ts"])]
