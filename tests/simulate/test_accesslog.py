"""simulate --access-log: case2017 as the nginx log a buyer holds, read back by our own reader."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from urllib.parse import urlsplit

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from qinglang.simulate import simulate
from qinglang.simulate.accesslog import write_access_log
from tests.ingest.conftest import read_table

SCALE = 0.0002  # about 7k events, 40k log lines
SHARED = {"/static/site.css", "/static/app.js", "/static/logo.png", "/favicon.ico"}
IMAGE = re.compile(r"^/img/(\d+)-([0-2])\.jpg$")
DAY_MS = 86_400_000
BEIJING_MS = 8 * 3_600_000


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("accesslog")
    simulate("case2017", scale=SCALE, seed=1, out=d / "c.parquet")
    n = write_access_log(d / "c.parquet", d / "c.log")
    table, stream = read_table(d / "c.log", fmt="nginx")
    events = pq.read_table(d / "c.parquet")
    return d, n, table.to_pylist(), stream, events


@pytest.fixture(scope="module")
def pages(sim):
    """The simulated page requests in the order the log writes them (by time, then input)."""
    events = sim[4]
    kept = events.filter(pc.is_in(events["event"], pc.cast(["pageview", "conversion"], "string")))
    rows = kept.to_pylist()
    order = sorted(range(len(rows)), key=lambda i: rows[i]["ts"])  # stable: ties keep input order
    out = []
    for i in order:
        r = rows[i]
        r["ran"] = r["client"] is not None and r["token"] in ("valid", "expired")
        out.append(r)
    return out


def line_no(row: dict) -> int:
    return int(row["event_id"].rsplit(":", 1)[1])


def target(url: str | None) -> str:
    parts = urlsplit(url or "/")
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def without_tag(path: str) -> str:
    return re.sub(r"[?&]utm_source=[^&]*$", "", path)


def test_every_line_reads_back_without_a_bad_row(sim):
    d, n, rows, stream, _ = sim
    report = stream.reports[0]
    assert (report.rows_ok, report.rows_bad, report.rows_skipped) == (n, 0, 0)
    assert len(rows) == n
    assert [line_no(r) for r in rows] == list(range(1, n + 1))
    text = (d / "c.log").read_bytes()
    assert text.count(b"\n") == n and b"\r" not in text
    assert b" +0800] " in text.split(b"\n", 1)[0]  # Beijing time, as the case's server


def test_the_truth_file_has_one_row_per_line(sim, pages):
    d, n, rows, _, _ = sim
    with open(d / "c.log.truth.csv", newline="", encoding="utf-8") as f:
        truth = list(csv.reader(f))
    assert truth[0] == ["line", "truth"]
    assert [int(line) for line, _ in truth[1:]] == list(range(1, n + 1))
    labels = {t for _, t in truth[1:]}
    assert "valid" in labels and len(labels) >= 4
    # a page line's truth is its event's truth
    by_line = {int(line): t for line, t in truth[1:]}
    page_lines = [r for r in rows if r["event"] == "pageview"]
    assert [by_line[line_no(r)] for r in page_lines] == [p["truth"] for p in pages]


def test_every_page_view_and_conversion_is_one_page_line(sim, pages):
    _, _, rows, _, _ = sim
    page_lines = [r for r in rows if r["event"] == "pageview"]
    assert len(page_lines) == len(pages) > 1000
    assert sum(p["event"] == "conversion" for p in pages) > 0
    for line, p in zip(page_lines, pages, strict=True):
        assert (line["ip"], line["user_agent"], line["referrer"]) == (
            p["ip"], p["user_agent"], p["referrer"]), line["event_id"]  # fmt: skip
        assert line["ts"] == p["ts"].replace(microsecond=0), line["event_id"]
        assert without_tag(line["url"]) == target(p["url"]), line["event_id"]
        assert (line["method"], line["status"], line["asset"]) == ("GET", 200, None)


def test_entry_pages_carry_the_channel_as_utm_source(sim, pages):
    _, _, rows, _, _ = sim
    page_lines = [r for r in rows if r["event"] == "pageview"]
    tagged = 0
    for line, p in zip(page_lines, pages, strict=True):
        host = urlsplit(p["url"] or "/").netloc
        entry = not p["referrer"] or urlsplit(p["referrer"]).netloc != host
        if entry and p["source"]:
            assert line["url"].endswith(f"utm_source={p['source']}"), line["event_id"]
            tagged += 1
        else:
            assert "utm_source=" not in line["url"].replace(target(p["url"]), ""), line["url"]
    assert tagged > 100


def test_lines_are_in_time_order(sim):
    _, _, rows, _, _ = sim
    times = [r["ts"] for r in rows]
    assert times == sorted(times)
    assert times[0] < times[-1]


def match_assets(rows: list[dict], pages: list[dict]) -> tuple[dict[int, list[str]], list]:
    """Give each page that ran its asset lines: same IP and UA, the page as referrer, within a
    second after it, at most one line per path. Returns ({page index: paths}, unmatched lines)."""
    pool: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["asset"]:  # the referrer is the page as loaded: its campaign tag included
            untagged = re.sub(r"[?&]utm_source=[^&]*$", "", r["referrer"])
            pool[(r["ip"], r["user_agent"], untagged)].append(r)
    got: dict[int, list[str]] = {}
    for k, p in enumerate(pages):
        if not p["ran"]:
            continue
        start = p["ts"].replace(microsecond=0)
        lines = pool.get((p["ip"], p["user_agent"], p["url"]), [])
        taken, keep, paths = [], [], set()
        for line in lines:
            dt_s = (line["ts"] - start).total_seconds()
            path = line["url"]
            if 0 <= dt_s <= 1 and path not in paths:
                paths.add(path)
                taken.append(path)
            else:
                keep.append(line)
        lines[:] = keep
        got[k] = taken
    return got, [line for lines in pool.values() for line in lines]


def test_assets_come_only_from_pages_that_ran_in_a_browser(sim, pages):
    _, _, rows, _, _ = sim
    asset_lines = [r for r in rows if r["event"] == "request"]
    assert asset_lines and all(r["asset"] for r in asset_lines)
    assert all((r["method"], r["status"]) == ("GET", 200) for r in asset_lines)
    assert all(r["referrer"] for r in asset_lines)  # each names its page
    ran = [p for p in pages if p["ran"]]
    assert 0 < len(ran) < len(pages)  # both kinds are in the sample
    got, unmatched = match_assets(rows, pages)
    assert unmatched == []
    seen: set[tuple] = set()
    for k, paths in got.items():
        p = pages[k]
        images = sorted(x for x in paths if IMAGE.match(x))
        shared = {x for x in paths if x in SHARED}
        assert len(images) + len(shared) == len(paths), paths
        # one to three content images of the page, numbered from 0
        assert 1 <= len(images) <= 3, (k, paths)
        assert [IMAGE.match(x).group(2) for x in images] == [str(i) for i in range(len(images))]
        assert len({IMAGE.match(x).group(1) for x in images}) == 1
        # the shared assets on the visitor's first page of the (Beijing) day, then cached
        day = (int(p["ts"].timestamp() * 1000) + BEIJING_MS) // DAY_MS
        first = (p["ip"], p["user_agent"], day) not in seen
        seen.add((p["ip"], p["user_agent"], day))
        assert shared == (SHARED if first else set()), (k, p["event_id"])


def test_pages_that_never_ran_fetch_nothing(sim, pages):
    _, _, rows, _, _ = sim
    asset_keys = {(r["ip"], r["user_agent"], r["referrer"]) for r in rows if r["asset"]}
    ran_keys = {(p["ip"], p["user_agent"], p["url"]) for p in pages if p["ran"]}
    bare = [p for p in pages if not p["ran"]]
    assert len(bare) > 100
    for p in bare:
        key = (p["ip"], p["user_agent"], p["url"])
        assert key not in asset_keys or key in ran_keys, p["event_id"]


def test_assets_give_the_page_as_requested_as_referrer(sim, pages):
    _, _, rows, _, _ = sim
    page_lines = [r for r in rows if r["event"] == "pageview"]
    got, _ = match_assets(rows, pages)
    assets_of: dict[tuple, list[dict]] = {}  # each visitor's asset lines, looked up per page
    for r in rows:
        if r["asset"]:
            assets_of.setdefault((r["ip"], r["user_agent"]), []).append(r)
    checked = 0
    for k in got:
        requested = page_lines[k]["url"]
        if "utm_source=" not in requested:
            continue
        refs = [
            r["referrer"]
            for r in assets_of.get((pages[k]["ip"], pages[k]["user_agent"]), [])
            if r["referrer"].split("?")[0] == (pages[k]["url"] or "").split("?")[0]
            and 0 <= (r["ts"] - page_lines[k]["ts"]).total_seconds() <= 1
        ]  # fmt: skip
        assert refs and all(target(ref) == requested for ref in refs), (requested, refs[:2])
        checked += 1
    assert checked > 0


def test_the_same_seed_gives_byte_identical_output(sim, tmp_path):
    d, n, _, _, _ = sim
    again = tmp_path / "again.log"
    assert write_access_log(d / "c.parquet", again, seed=1) == n
    assert again.read_bytes() == (d / "c.log").read_bytes()
    assert (tmp_path / "again.log.truth.csv").read_bytes() == (d / "c.log.truth.csv").read_bytes()
