"""Compaction (compact.py): rolled parts merged into one Parquet file per site and UTC day,
atomically and exactly once, whatever step a crash interrupts; and `site_inputs` (lake.py), whose
links keep an audit's inputs as they were read after a compaction deletes the parts."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import shutil
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from qinglang.collect import compact, lake, segments
from qinglang.collect.lake import site_files, site_inputs
from qinglang.collect.sites import SiteRegistry, lake_dir, segments_dir
from qinglang.events import EVENT_SCHEMA
from tests.collect.helpers import Server, alive, children

ORIGIN = "http://shop.test"
DAY0 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000)  # 2024-03-01 00:00 UTC
DAY_MS = 86_400_000
NOW = DAY0 + 3 * DAY_MS + 3_600_000  # 2024-03-04 01:00 UTC: 03-01 .. 03-03 are complete


def make_db(tmp_path: Path) -> Path:
    db = tmp_path / "c.db"
    SiteRegistry(db).add("shop", [ORIGIN])
    return db


def rows(ids: list[str], ts: list[int]) -> pa.Table:
    out = [
        {"event_id": i, "ts": datetime.fromtimestamp(t / 1000, UTC), "site": "shop",
         "event": "pageview", "url": f"{ORIGIN}/{i}", "client": {"visible_ms": 5}}
        for i, t in zip(ids, ts, strict=True)
    ]  # fmt: skip
    return pa.Table.from_pylist(out, schema=EVENT_SCHEMA)


def write_part(db: Path, stem: str, ids: list[str], ts: list[int]) -> Path:
    """A part as `segments.roll` writes it."""
    site_dir = lake_dir(db) / "site=shop"
    site_dir.mkdir(parents=True, exist_ok=True)
    path = site_dir / f"part-{stem}.parquet"
    pq.write_table(rows(ids, ts), path)
    return path


def write_segment(db: Path, stem: str, ids: list[str], ts: list[int]) -> Path:
    """A closed segment holding these rows."""
    seg_dir = segments_dir(db)
    seg_dir.mkdir(parents=True, exist_ok=True)
    path = seg_dir / f"{stem}.log"
    recs = [{"event_id": i, "ts": t, "site": "shop", "event": "pageview", "url": f"{ORIGIN}/{i}",
             "client": {"visible_ms": 5}} for i, t in zip(ids, ts, strict=True)]  # fmt: skip
    path.write_bytes(b"".join(segments.encode(r) for r in recs))
    return path


def stem(run: int, n: int) -> str:
    return f"seg-{run:013d}-{n:06d}"


def populate(db: Path, days: list[int], parts: int, per: int, run: int = 1) -> set[str]:
    """`parts` parts on each of `days` (days after DAY0), `per` rows each; their event ids."""
    ids: set[str] = set()
    n = 0
    for d in days:
        for _ in range(parts):
            n += 1
            batch = [f"r{run}-{n}-{k}" for k in range(per)]
            write_part(
                db, stem(run, n), batch, [DAY0 + d * DAY_MS + 60_000 * n + k for k in range(per)]
            )
            ids |= set(batch)
    return ids


def event_ids(files: list[Path]) -> list[str]:
    return [i for f in files for i in pq.read_table(f, columns=["event_id"]).column(0).to_pylist()]


def assert_once(db: Path, expected: set[str], scratch: Path) -> list[Path]:
    files = site_files(db, "shop", scratch)
    counts = Counter(event_ids(files))
    assert set(counts) == expected, f"lost {len(expected - set(counts))}"
    twice = [i for i, c in counts.items() if c > 1]
    assert not twice, f"{len(twice)} events counted twice, e.g. {twice[:3]}"
    return files


def site_dir(db: Path) -> Path:
    return lake_dir(db) / "site=shop"


def names(db: Path) -> list[str]:
    return sorted(p.name for p in site_dir(db).iterdir())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Crash(Exception):
    """What a SIGKILL would do at that point: nothing after it runs."""


# ---------------------------------------------------------------------- layout and when


def test_complete_days_become_one_file_each_that_lists_its_parts(tmp_path):
    db = make_db(tmp_path)
    expected = populate(db, [0, 1], parts=3, per=4)
    # a segment that spans midnight: first event on 03-02, so the whole part is 03-02's
    last = DAY0 + 2 * DAY_MS - 1000
    write_part(db, stem(2, 1), ["late-1", "late-2"], [last, last + 5000])
    expected |= {"late-1", "late-2"}
    expected |= populate(db, [3], parts=2, per=4, run=3)  # today (03-04): 2 parts, below threshold
    written = compact.compact(lake_dir(db), now_ms=NOW)
    assert [p.name for p in written] == ["day=2024-03-01.parquet", "day=2024-03-02.parquet"]
    assert [n for n in names(db) if not n.startswith("part-")] == [p.name for p in written]
    assert len([n for n in names(db) if n.startswith("part-")]) == 2  # today's wait
    assert compact.listed(written[0]) == {stem(1, n) for n in (1, 2, 3)}
    assert compact.listed(written[1]) == {stem(1, n) for n in (4, 5, 6)} | {stem(2, 1)}
    assert set(event_ids([written[1]])) >= {"late-1", "late-2"}
    assert pq.read_schema(written[0]).remove_metadata().equals(EVENT_SCHEMA)
    assert_once(db, expected, tmp_path / "s")
    # parts rolled late (at a restart) into a complete day are merged into its file again
    write_part(db, stem(4, 1), ["later"], [DAY0 + 3600_000])
    assert compact.compact(lake_dir(db), now_ms=NOW) == [written[0]]
    assert stem(4, 1) in compact.listed(written[0])
    assert_once(db, expected | {"later"}, tmp_path / "s")


def test_the_current_day_is_compacted_once_it_has_enough_parts(tmp_path):
    db = make_db(tmp_path)
    today = DAY0 + 3 * DAY_MS
    expected = populate(db, [3], parts=2, per=3)
    assert compact.compact(lake_dir(db), now_ms=NOW, limit=3) == []  # 2 < 3 parts
    expected |= populate(db, [3], parts=1, per=3, run=2)
    (day,) = compact.compact(lake_dir(db), now_ms=NOW, limit=3)
    assert day.name == "day=2024-03-04.parquet" and len(compact.listed(day)) == 3
    assert not compact.part_files(site_dir(db))
    # a big day file: a few small parts wait until they are a quarter of its size...
    big = [f"big-{k}" for k in range(20_000)]
    write_part(db, stem(3, 1), big, [today + k for k in range(20_000)])
    compact.compact(lake_dir(db), now_ms=NOW, limit=1)
    expected |= set(big)
    expected |= populate(db, [3], parts=3, per=1, run=4)
    assert compact.compact(lake_dir(db), now_ms=NOW, limit=3) == []
    # ... or until there are 4 x threshold of them
    expected |= populate(db, [3], parts=9, per=1, run=5)
    assert compact.compact(lake_dir(db), now_ms=NOW, limit=3) == [day]
    assert not compact.part_files(site_dir(db))
    assert_once(db, expected, tmp_path / "s")
    assert compact.compact(lake_dir(db), now_ms=NOW, force=True) == []  # nothing left to merge


def test_small_parts_are_gathered_into_large_row_groups(tmp_path, monkeypatch):
    db = make_db(tmp_path)
    monkeypatch.setattr(compact, "ROW_GROUP", 10)
    expected = populate(db, [0], parts=7, per=3)
    (day,) = compact.compact(lake_dir(db), now_ms=NOW)
    meta = pq.ParquetFile(day).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [12, 9]
    assert_once(db, expected, tmp_path / "s")


# ---------------------------------------------------------------------- crashes between steps


def test_a_crash_before_the_rename_leaves_the_lake_as_it_was(tmp_path, monkeypatch):
    db = make_db(tmp_path)
    expected = populate(db, [0], parts=3, per=2)
    compact.compact(lake_dir(db), now_ms=NOW)  # day file of 03-01, holding 3 parts
    day = site_dir(db) / "day=2024-03-01.parquet"
    before = sha256(day)
    expected |= populate(db, [0], parts=2, per=2, run=2)  # late parts for that day

    def crash(*_a, **_k):
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(compact.os, "replace", crash)
        with pytest.raises(Crash):
            compact.compact(lake_dir(db), now_ms=NOW)
    assert (site_dir(db) / "day=2024-03-01.parquet.tmp").exists()  # the kill's leftover
    assert sha256(day) == before and len(compact.part_files(site_dir(db))) == 2
    files = assert_once(db, expected, tmp_path / "s")
    assert not any(f.name.endswith(".tmp") for f in files)
    (again,) = compact.compact(lake_dir(db), now_ms=NOW)
    assert names(db) == ["day=2024-03-01.parquet"]  # the leftover is gone, the parts merged
    assert len(compact.listed(again)) == 5
    assert_once(db, expected, tmp_path / "s")


def test_a_crash_between_the_rename_and_the_deletes_counts_nothing_twice(tmp_path, monkeypatch):
    db = make_db(tmp_path)
    expected = populate(db, [0], parts=4, per=3)
    # segment 1 rolled but was not deleted yet (a kill between roll's rename and its unlink)
    write_segment(
        db, stem(1, 1), ["r1-1-0", "r1-1-1", "r1-1-2"], [DAY0 + 60_000 + k for k in range(3)]
    )
    real = compact._delete

    def delete_one_then_crash(paths):
        real(list(paths)[:1])
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(compact, "_delete", delete_one_then_crash)
        with pytest.raises(Crash):
            compact.compact(lake_dir(db), now_ms=NOW)
    day = site_dir(db) / "day=2024-03-01.parquet"
    assert day.exists() and len(compact.listed(day)) == 4
    assert len(compact.part_files(site_dir(db))) == 3  # merged, but still there
    files = assert_once(db, expected, tmp_path / "s")  # the day file wins; no pending rows
    assert files == [day]
    before = sha256(day)
    assert compact.compact(lake_dir(db), now_ms=NOW) == []  # nothing to merge: only deletes
    assert names(db) == ["day=2024-03-01.parquet"] and sha256(day) == before
    assert_once(db, expected, tmp_path / "s")


def test_a_part_rolled_again_after_its_compaction_is_not_counted_twice(tmp_path):
    db = make_db(tmp_path)
    expected = populate(db, [0], parts=2, per=2)
    kept = tmp_path / "copy.parquet"
    shutil.copyfile(compact.part_files(site_dir(db))[0], kept)
    seg = write_segment(db, stem(1, 1), ["r1-1-0", "r1-1-1"], [DAY0 + 60_000, DAY0 + 60_001])
    compact.compact(lake_dir(db), now_ms=NOW)
    # a restart finds segment 1 (a kill before roll deleted it) and rolls it again
    (part,) = segments.roll(seg, lake_dir(db))
    assert part.name == f"part-{stem(1, 1)}.parquet" and part.read_bytes() == kept.read_bytes()
    assert_once(db, expected, tmp_path / "s")
    assert compact.compact(lake_dir(db), now_ms=NOW, force=True) == []  # deleted, not merged
    assert names(db) == ["day=2024-03-01.parquet"]
    assert_once(db, expected, tmp_path / "s")


def test_pending_segments_are_read_unless_rolled_or_compacted(tmp_path):
    db = make_db(tmp_path)
    expected = populate(db, [0], parts=1, per=2)
    compact.compact(lake_dir(db), now_ms=NOW)
    write_segment(db, stem(1, 1), ["r1-1-0", "r1-1-1"], [DAY0, DAY0])  # compacted already
    write_segment(db, stem(9, 1), ["new"], [NOW])  # not rolled
    files = assert_once(db, expected | {"new"}, tmp_path / "s")
    assert [f.name for f in files] == ["day=2024-03-01.parquet", "pending-shop.parquet"]


def test_compaction_skips_its_turn_while_an_audit_lists_the_lake(tmp_path):
    db = make_db(tmp_path)
    populate(db, [0], parts=2, per=1)
    with compact.lake_lock(lake_dir(db), exclusive=False, wait=True) as held:
        assert held
        assert compact.compact(lake_dir(db), now_ms=NOW) == []
        assert len(compact.part_files(site_dir(db))) == 2
    assert len(compact.compact(lake_dir(db), now_ms=NOW)) == 1


def test_maybe_compact_runs_at_most_every_interval_and_never_raises(tmp_path, monkeypatch, caplog):
    db = make_db(tmp_path)
    populate(db, [0], parts=2, per=1)
    monkeypatch.setenv(compact.SECONDS_ENV, "3600")
    monkeypatch.setattr(compact, "_last", {})
    assert len(compact.maybe_compact(lake_dir(db))) == 1
    populate(db, [1], parts=1, per=1, run=2)
    assert compact.maybe_compact(lake_dir(db)) == []  # too soon
    monkeypatch.setenv(compact.SECONDS_ENV, "0")

    def broken(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(compact, "_merge", broken)
    assert compact.maybe_compact(lake_dir(db)) == []
    assert "compacting the lake" in caplog.text
    assert not list(site_dir(db).glob("*.tmp"))


# ---------------------------------------------------------------------- item 8: the audit's inputs


def test_an_audit_names_inputs_that_survive_a_compaction(tmp_path):
    from qinglang.audit.run import AuditOptions, run_audit

    db = make_db(tmp_path)
    expected = populate(db, [0, 1], parts=2, per=5)
    compact.compact(lake_dir(db), now_ms=NOW, limit=10_000)  # 03-01 and 03-02: day files
    expected |= populate(db, [3], parts=2, per=5, run=2)  # today: parts
    write_segment(db, stem(9, 1), ["p0", "p1"], [NOW, NOW + 1])  # not rolled yet
    out = tmp_path / "audit"
    files = site_inputs(db, "shop", out / "inputs")
    assert all(f.parent == out / "inputs" for f in files)
    assert [f.name for f in files] == [
        "day=2024-03-01.parquet", "day=2024-03-02.parquet",
        f"part-{stem(2, 1)}.parquet", f"part-{stem(2, 2)}.parquet", "pending-shop.parquet",
    ]  # fmt: skip
    for f in files[:4]:  # hard links of the lake's files: nothing copied
        assert os.path.samefile(f, site_dir(db) / f.name)
    run_audit(files, out, AuditOptions(fmt="parquet"))
    named = json.loads((out / "audit.json").read_text())["inputs"]
    assert sorted(Counter(event_ids(files))) == sorted(expected | {"p0", "p1"})
    assert [r["path"] for r in named] == [str(f) for f in files]
    compact.compact(lake_dir(db), now_ms=NOW, force=True)  # the parts are deleted
    assert not compact.part_files(site_dir(db))
    for r in named:
        assert Path(r["path"]).exists(), r["path"]
        assert sha256(Path(r["path"])) == r["sha256"]


def test_site_inputs_copies_when_a_link_cannot_be_made(tmp_path, monkeypatch):
    db = make_db(tmp_path)
    expected = populate(db, [0], parts=2, per=3)

    def no_link(*_a, **_k):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(lake.os, "link", no_link)
    files = site_inputs(db, "shop", tmp_path / "inputs")
    for f in files:
        lake_file = site_dir(db) / f.name
        assert not os.path.samefile(f, lake_file) and f.read_bytes() == lake_file.read_bytes()
    assert set(event_ids(files)) == expected
    assert not list((tmp_path / "inputs").glob("*.tmp"))


def test_site_inputs_again_into_the_same_directory_keeps_only_the_new_inputs(tmp_path):
    db = make_db(tmp_path)
    expected = populate(db, [0], parts=2, per=3)
    write_segment(db, stem(9, 1), ["p0"], [NOW])
    dest = tmp_path / "inputs"
    first = site_inputs(db, "shop", dest)
    assert len(first) == 3
    (segments_dir(db) / f"{stem(9, 1)}.log").unlink()
    compact.compact(lake_dir(db), now_ms=NOW)
    second = site_inputs(db, "shop", dest)
    assert [f.name for f in second] == ["day=2024-03-01.parquet"]
    assert sorted(p.name for p in dest.iterdir()) == ["day=2024-03-01.parquet"]
    assert set(event_ids(second)) == expected
    assert first[0].name not in os.listdir(dest)  # the old part's link went with it


# ---------------------------------------------------------------------- the collector, SIGKILLed


def move_in(stage: Path, db: Path) -> None:
    """Parts written beside the lake (under `stage`), moved in at once while the collector runs."""
    site_dir(db).mkdir(parents=True, exist_ok=True)
    for p in sorted(site_dir(stage).glob("part-*.parquet")):
        os.rename(p, site_dir(db) / p.name)


def _kill_compactor(server: Server, engine: str) -> None:
    """SIGKILL the process that compacts: the Python engine's rolling process (and then the
    collector), or `qinglang serve` itself beside the Rust front (which then stops)."""
    if engine == "python":
        for pid in children(server.proc.pid):
            os.kill(pid, signal.SIGKILL)
    server.kill()


def _wait_until_compacted(db: Path, days: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not compact.part_files(site_dir(db)) and len(compact.day_files(site_dir(db))) == days:
            return
        time.sleep(0.1)
    raise AssertionError(f"not compacted in {timeout} s: {names(db)}")


@pytest.mark.parametrize("kill_at", ["writing", "committed"])
def test_sigkill_while_compacting_loses_nothing_and_counts_nothing_twice(
    tmp_path, monkeypatch, engine, kill_at
):
    """The collector compacts parts of three complete days; it is SIGKILLed while it writes a day
    file (`writing`), or as soon as one is renamed into place (`committed`: while it deletes the
    merged parts, or writes the next day). Right after the kill, and after a restart that
    finishes the compaction, every event is in the lake once."""
    monkeypatch.setenv(compact.SECONDS_ENV, "0")
    db = make_db(tmp_path)
    stage = db.with_name("stage.db")
    expected = populate(stage, [-3, -2, -1], parts=120, per=20, run=1)  # days before DAY0
    server = Server(db)
    helpers = children(server.proc.pid)
    want = "day=*.parquet.tmp" if kill_at == "writing" else "day=*.parquet"
    try:
        move_in(stage, db)
        deadline = time.monotonic() + 60
        while not any(site_dir(db).glob(want)):
            assert time.monotonic() < deadline, f"no {want} in 60 s: {names(db)}"
            time.sleep(0.001)
        _kill_compactor(server, engine)
    finally:
        server.stop()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = names(db)
    assert any(n.startswith("part-") for n in left), f"killed after it was all done: {left}"
    assert_once(db, expected, tmp_path / "s1")
    restarted = Server(db, server.port)
    try:
        _wait_until_compacted(db, days=3)
        assert_once(db, expected, tmp_path / "s2")
    finally:
        restarted.stop()
    assert not list(site_dir(db).glob("*.tmp"))


def test_sigkill_under_load_while_compacting_today_loses_no_acknowledged_beacon(
    tmp_path, monkeypatch, engine
):
    """Beacons pour in while the current day's parts are compacted every step (threshold 2);
    the collector is SIGKILLed mid-load. After a restart every acknowledged beacon is stored,
    and nothing twice."""
    from tests.collect.test_durability import load

    monkeypatch.setenv(compact.SECONDS_ENV, "0")
    monkeypatch.setenv(compact.PARTS_ENV, "2")
    monkeypatch.setenv("QINGLANG_FRONT_SEGMENT_BYTES", str(64 << 10))  # many rolls (Rust)
    db = make_db(tmp_path)
    stage = db.with_name("stage.db")
    now = time.time_ns() // 1_000_000
    ids = [f"pre-{k}" for k in range(40 * 50)]
    for n in range(40):  # today's parts, as earlier rolls would have left them
        write_part(stage, stem(1, n + 1), ids[n * 50 : (n + 1) * 50], [now - 60_000] * 50)
    server = Server(db)
    move_in(stage, db)
    acked, sent = asyncio.run(load(server, kill_after=1000, kill=server.kill))
    assert server.proc.returncode == -9
    restarted = Server(db, server.port)
    try:
        files = site_files(db, "shop", tmp_path / "s")
        stored = Counter(event_ids(files))
        assert set(ids) <= set(stored)
        urls = [u for f in files for u in pq.read_table(f, columns=["url"]).column(0).to_pylist()]
        beacons = [int(u.rsplit("/", 1)[1]) for u in urls if u and "/p/" in u]
        assert acked <= set(beacons), f"lost {len(acked - set(beacons))} acknowledged beacons"
        assert len(beacons) == len(set(beacons)) <= sent
        assert all(c == 1 for c in stored.values())
        with httpx.Client(base_url=restarted.url) as c:
            r = c.post("/b", content=b'{"site":"shop"}', headers={"content-type": "text/plain"})
            assert r.status_code == 204
    finally:
        restarted.stop()
    assert compact.day_files(site_dir(db))  # compaction ran in the collector
