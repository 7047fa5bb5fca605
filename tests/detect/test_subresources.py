"""page.no_subresources: a browser user agent that asks for pages but never for what they need."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from qinglang.detect import subresources
from qinglang.detect.base import Context
from qinglang.detect.pipeline import present_columns
from tests.conftest import IPHONE, WIN_CHROME, engine_with
from tests.detect.log_rows import request, visit

T0 = dt.datetime(2017, 9, 2, 1, 0, tzinfo=dt.UTC)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36"
)


class Log:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def visit(self, ip: str, pages: int = 2, assets: bool = True, ua: str = WIN_CHROME,
              **overrides: Any) -> list[str]:  # fmt: skip
        start = T0 + dt.timedelta(minutes=3 * len(self.rows))
        rows = visit(len(self.rows), start, ip, "https://www.baidu.com/",
                     [f"/p{k}" for k in range(pages)], assets=assets, ua=ua)  # fmt: skip
        for row in rows:
            row.update(overrides)
        self.rows += rows
        return [r["event_id"] for r in rows]


def loaders(log: Log, n: int, **overrides: Any) -> None:
    for k in range(n):
        log.visit(f"198.18.0.{k + 1}", **overrides)


def run(rows: list[dict[str, Any]], **settings: Any) -> dict[str, float]:
    engine = engine_with(rows)
    ctx = Context(engine=engine, present=present_columns(engine), settings=settings)
    subresources.prepare(ctx)
    found = subresources.detect(ctx)
    out: dict[str, float] = {}
    for q in found.queries:
        for r in engine.query(
            f"SELECT e.event_id, f.reason, f.score FROM ({q}) f JOIN events e ON e.rid = f.rid"
        ).to_pylist():
            assert r["reason"] == "page.no_subresources"
            assert r["event_id"] not in out
            out[r["event_id"]] = float(r["score"])
    engine.close()
    return out


def test_a_browser_that_never_loads_assets_is_flagged():
    log = Log()
    loaders(log, 5)
    bare = log.visit("203.0.113.50", pages=3, assets=False)
    found = run(log.rows)
    assert found == dict.fromkeys(bare, 0.8)


def test_a_client_whose_pages_ran_a_script_is_not_bare():
    # no asset at all (all cached), but the page's script posted to the site: a browser ran it
    log = Log()
    loaders(log, 5)
    log.visit("203.0.113.50", pages=2, assets=False)
    post = request(999, T0, "203.0.113.50", "/api/hit", event="request", method="POST")
    assert run(log.rows + [post]) == {}


def test_a_site_without_any_assets_is_not_judged():
    log = Log()
    loaders(log, 5, site="a.example")
    bare_a = log.visit("203.0.113.50", assets=False, site="a.example")
    loaders(log, 5, site="b.example", assets=False)  # b's pages never load assets
    found = run(log.rows)
    assert found == dict.fromkeys(bare_a, 0.8)  # only a's bare client


def test_an_input_without_asset_marks_skips_the_check():
    log = Log()
    loaders(log, 5, assets=False)
    engine = engine_with(log.rows)
    ctx = Context(engine=engine, present=present_columns(engine))
    found = subresources.detect(ctx)
    engine.close()
    assert found.queries == []
    assert found.checks_skipped == [("page.no_subresources", ["asset"])]


@pytest.mark.parametrize(
    "ua", [GOOGLEBOT, HEADLESS, "python-requests/2.31", "curl/8.0", "Opera/9.80 (X11) Presto"]
)
def test_crawlers_libraries_and_non_mozilla_agents_are_left_to_other_detectors(ua):
    log = Log()
    loaders(log, 5)
    log.visit("203.0.113.50", assets=False, ua=ua)
    assert run(log.rows) == {}


def test_a_first_page_without_the_cookie_still_belongs_to_its_client():
    log = Log()
    loaders(log, 5)
    first = request(900, T0, "203.0.113.7", "/a", referrer="https://www.baidu.com/")
    rest = log.visit("203.0.113.7", pages=2, visitor_id="cookie-7")  # cookie set by then
    log.rows.insert(0, first)
    assert {r["visitor_id"] for r in log.rows if r["event_id"] in rest} == {"cookie-7"}
    assert run(log.rows) == {}


def test_the_client_is_ip_and_user_agent():
    log = Log()
    loaders(log, 5)  # five loaders with WIN_CHROME on 198.18.0.1-5
    other_ip = log.visit("203.0.113.50", assets=False)  # the same UA elsewhere: another client
    other_ua = log.visit("198.18.0.1", assets=False, ua=IPHONE)  # a loader's IP, another UA
    found = run(log.rows)
    assert found == dict.fromkeys(other_ip + other_ua, 0.8)


def test_the_sites_share_of_loaders_decides():
    log = Log()
    loaders(log, 1)
    bare = log.visit("203.0.113.50", assets=False)
    assert run(log.rows) == dict.fromkeys(bare, 0.8)  # 1 of 2 clients loads: 0.5, enough
    log.visit("203.0.113.51", assets=False)
    assert run(log.rows) == {}  # 1 of 3: too few for a missing asset to mean anything


def test_the_share_setting():
    log = Log()
    loaders(log, 5)
    bare = log.visit("203.0.113.50", assets=False)  # 5 of 6 load
    assert run(log.rows, subresource_min_share=0.8) == dict.fromkeys(bare, 0.8)
    assert run(log.rows, subresource_min_share=0.9) == {}


def test_clients_without_pages_are_neither_flagged_nor_counted():
    log = Log()
    loaders(log, 1)
    log.visit("203.0.113.50", assets=False)
    log.visit("203.0.113.51", assets=False)  # 1 of 3 page clients loads: not enough
    for k in range(3):  # assets only (a hotlinked image): not clients that show pages
        log.rows.append(request(800 + k, T0, f"192.0.2.{k + 1}", "/img/x.png", event="request",
                                asset=True))  # fmt: skip
    assert run(log.rows) == {}  # counted, they would make it 4 of 6


def _plan(rows: list[dict[str, Any]]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    engine = engine_with(rows)
    ctx = Context(engine=engine, present=present_columns(engine))
    subresources.prepare(ctx)
    found = subresources.detect(ctx)
    engine.close()
    return found.checks_run, found.checks_skipped


def test_a_site_where_the_check_does_not_apply_is_said():
    log = Log()
    loaders(log, 5, site="a.example")
    loaders(log, 1, site="b.example")
    for k in range(3):  # b: most of its browser clients fetch no asset
        log.visit(f"203.0.113.{60 + k}", assets=False, site="b.example")
    run_, skipped = _plan(log.rows)
    assert run_ == ["page.no_subresources"]  # it ran on a.example
    assert skipped == [
        (
            "page.no_subresources",
            ["site b.example: 25.0% of its 4 browser clients with a page fetch assets, under "
             "subresource_min_share (0.5)"],
        )
    ]  # fmt: skip
    log = Log()
    loaders(log, 1)
    for k in range(3):  # one site only: the check applies nowhere, so it is not listed as run
        log.visit(f"203.0.113.{60 + k}", assets=False)
    run_, skipped = _plan(log.rows)
    assert run_ == [] and skipped[0][1][0].startswith("site shop.example: 25.0% of its 4 browser")
