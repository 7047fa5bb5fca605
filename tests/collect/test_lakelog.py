"""The lake's tamper-evident log (lakelog.py): every roll and compaction is logged, hash-chained,
before its rename; `verify_lake` finds a changed, deleted, inserted or reordered row, a deleted or
added file, a changed or cut log; a crash at any point leaves a log that verifies; a published
root (`qinglang lake root`, signed) pins the history."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from qinglang.cli import app
from qinglang.collect import compact, lake, lakelog, segments
from qinglang.collect.lakelog import check_lake, lake_root, verify_lake
from qinglang.collect.sites import lake_dir, segments_dir
from qinglang.events import EVENT_SCHEMA
from tests.collect.helpers import Server
from tests.collect.test_compaction import (
    DAY0,
    DAY_MS,
    NOW,
    ORIGIN,
    Crash,
    event_ids,
    make_db,
    rows,
    site_dir,
    stem,
    write_part,
    write_segment,
)

runner = CliRunner()


def roll(db: Path, run: int, n: int, day: int, count: int = 5, prefix: str = "e") -> set[str]:
    """A segment of `count` rows on DAY0 + `day`, rolled into the lake; its event ids."""
    ids = [f"{prefix}{run}-{n}-{k}" for k in range(count)]
    seg = write_segment(
        db, stem(run, n), ids, [DAY0 + day * DAY_MS + n * 60_000 + k for k in range(count)]
    )
    segments.roll(seg, lake_dir(db))
    return set(ids)


def history(db: Path) -> set[str]:
    """Two complete days compacted (03-01: 4 parts, 03-02: 2), and 2 parts of today (03-04)."""
    ids: set[str] = set()
    for n in range(1, 5):
        ids |= roll(db, 1, n, 0)
    for n in range(5, 7):
        ids |= roll(db, 1, n, 1)
    compact.compact(lake_dir(db), now_ms=NOW)
    for n in range(1, 3):
        ids |= roll(db, 2, n, 3)
    return ids


def entries(db: Path) -> list[dict]:
    path = lakelog.log_path(site_dir(db))
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def log_file(db: Path) -> Path:
    return lakelog.log_path(site_dir(db))


def write_entries(db: Path, new: list[dict], rechain: bool = False) -> None:
    """Write the log back (canonically); `rechain`: recompute every prev, as a forger would."""
    prev = lakelog.GENESIS
    lines = []
    for e in new:
        if rechain:
            e = {**e, "prev": prev}
        line = lakelog.canonical_line(e)
        prev = lakelog.entry_hash(e)
        lines.append(line + b"\n")
    log_file(db).write_bytes(b"".join(lines))


def rewrite(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Rewrite a lake file consistently (same schema and footer) with `change(list of rows)`."""
    table = pq.read_table(path)
    new = change(table.to_pylist())
    pq.write_table(pa.Table.from_pylist(new, schema=table.schema), path)


def one(problems: list[str], *words: str) -> None:
    assert any(all(w in p for w in words) for p in problems), problems


def names_in(db: Path) -> list[str]:
    return sorted(p.name for p in site_dir(db).iterdir())


def clean(db: Path) -> lakelog.LakeCheck:
    check = check_lake(db, "shop")
    assert check.problems == [], check.problems
    return check


# ---------------------------------------------------------------------- the row digest


def test_the_row_digest_is_of_the_rows_in_order_however_they_are_stored(tmp_path):
    ts = [DAY0 + k for k in range(10)]
    table = rows([f"r{k}" for k in range(10)], ts)
    d = lakelog.rows_digest(table)
    # the same rows in other chunks, row groups, or through Parquet: the same digest
    assert lakelog.rows_digest(pa.concat_tables([table.slice(0, 3), table.slice(3)])) == d
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=3)
    assert lakelog.file_digests(tmp_path / "a.parquet") == (10, [d])
    assert lakelog.file_digests(tmp_path / "a.parquet", [3, 7]) == (
        10,
        [lakelog.rows_digest(table.slice(0, 3)), lakelog.rows_digest(table.slice(3))],
    )
    changed = table.to_pylist()
    changed[4]["url"] += "x"
    reordered = table.take([0, 1, 2, 4, 3, 5, 6, 7, 8, 9])
    variants = [
        pa.Table.from_pylist(changed, schema=EVENT_SCHEMA),
        table.slice(0, 9),  # deleted
        pa.concat_tables([table, table.slice(9)]),  # inserted
        reordered,
    ]
    digests = {lakelog.rows_digest(v) for v in variants}
    assert len(digests) == 4 and d not in digests


def test_the_canonical_text_tells_null_empty_and_lists_apart():
    base = {"event_id": "a", "ts": datetime.fromtimestamp(DAY0 / 1000, UTC), "site": "s"}
    variants = [
        {**base, "url": None},
        {**base, "url": ""},
        {**base, "url": "~"},
        {**base, "url": "u", "client": None},
        {**base, "url": "u", "client": {}},
        {**base, "url": "u", "client": {"tells": []}},
        {**base, "url": "u", "client": {"tells": [""]}},
        {**base, "url": "u", "client": {"tells": [None]}},
        {**base, "url": "1:a", "referrer": None},
        {**base, "url": "1", "referrer": "a"},
    ]
    table = pa.Table.from_pylist(variants, schema=EVENT_SCHEMA)
    texts = lakelog.row_text(table)
    assert len(set(texts)) == len(variants)
    assert texts[1].startswith(b"1:a") and b"~" in texts[0]
    assert b"0:" in texts[1]  # the empty url
    assert b"[]" in texts[5] and b"[0:]" in texts[6] and b"[~]" in texts[7]
    # the digest is SHA-256 over the tag and the rows' texts, nothing else
    import hashlib

    want = hashlib.sha256(lakelog.ROWS_TAG + b"".join(texts)).hexdigest()
    assert lakelog.rows_digest(table) == want


# ---------------------------------------------------------------------- what the log holds


def test_rolls_and_compactions_are_logged_and_the_lake_verifies(tmp_path):
    db = make_db(tmp_path)
    ids = history(db)
    log = entries(db)
    assert [e["op"] for e in log] == ["open"] + ["roll"] * 6 + ["compact"] * 2 + ["roll"] * 2
    assert [e["seq"] for e in log] == list(range(len(log)))
    assert log[0]["prev"] == lakelog.GENESIS and log[0]["adopted"] == []
    for before, e in zip(log, log[1:], strict=False):
        assert e["prev"] == lakelog.entry_hash(before)
    rolled = {e["file"]: e for e in log if e["op"] == "roll"}
    day1 = log[7]
    assert day1["file"] == "day=2024-03-01.parquet" and day1["base"] is None
    assert [p["file"] for p in day1["parts"]] == [f"part-{stem(1, n)}.parquet" for n in range(1, 5)]
    # the day's digest is its parts' digests, chained in the order of its rows
    assert all(p["digest"] == rolled[p["file"]]["digest"] for p in day1["parts"])
    assert day1["digest"] == lakelog.chain(p["digest"] for p in day1["parts"])
    assert day1["rows"] == 20
    check = clean(db)
    assert any("chain from the first to the head" in c for c in check.checked)
    assert any("4 of 4 files" in c for c in check.checked)
    root = lake_root(db, "shop")
    assert root["rows"] == len(ids) == len(event_ids(lake.site_files(db, "shop", tmp_path / "s")))
    assert root["head"]["hash"] == lakelog.entry_hash(log[-1])
    assert root["days"]["2024-03-01"] == {
        "rows": 20, "files": 1, "seq": 7, "hash": lakelog.entry_hash(day1),
    }  # fmt: skip
    assert root["days"]["2024-03-04"]["rows"] == 10 and root["log_problems"] == []


def test_a_day_file_that_grows_chains_on_from_its_base(tmp_path):
    db = make_db(tmp_path)
    history(db)
    roll(db, 3, 1, 0, prefix="late")  # a late part of 03-01, rolled at a restart
    compact.compact(lake_dir(db), now_ms=NOW)
    last = entries(db)[-1]
    earlier = entries(db)[7]
    assert last["op"] == "compact" and last["base"] == {
        "sha256": earlier["sha256"], "rows": 20, "digest": earlier["digest"],
    }  # fmt: skip
    assert last["digest"] == lakelog.chain([last["parts"][0]["digest"]], earlier["digest"])
    assert last["rows"] == 25
    clean(db)


def test_files_from_before_the_log_are_adopted_by_its_first_entry(tmp_path):
    db = make_db(tmp_path)
    write_part(db, stem(1, 1), ["a", "b"], [DAY0, DAY0 + 1])
    write_part(db, stem(1, 2), ["c"], [DAY0 + DAY_MS])
    compact.compact(lake_dir(db), now_ms=NOW)  # no log yet: it begins here
    roll(db, 2, 1, 3)
    log = entries(db)
    assert log[0]["op"] == "open"
    assert [a["file"] for a in log[0]["adopted"]] == [
        f"part-{stem(1, 1)}.parquet", f"part-{stem(1, 2)}.parquet",
    ]  # fmt: skip
    assert [e["op"] for e in log[1:]] == ["compact", "compact", "roll"]
    clean(db)
    assert lake_root(db, "shop")["rows"] == 8


# ---------------------------------------------------------------------- tampering, detected


def _change(rows_: list[dict]) -> list[dict]:
    rows_[2]["url"] = rows_[2]["url"] + "?inflated"
    return rows_


def _delete(rows_: list[dict]) -> list[dict]:
    return rows_[:2] + rows_[3:]


def _insert(rows_: list[dict]) -> list[dict]:
    return rows_[:3] + [{**rows_[3], "event_id": "forged"}] + rows_[3:]


def _reorder(rows_: list[dict]) -> list[dict]:
    return rows_[:1] + [rows_[2], rows_[1]] + rows_[3:]


@pytest.mark.parametrize("change", [_change, _delete, _insert, _reorder])
@pytest.mark.parametrize("target", ["day=2024-03-01.parquet", f"part-{stem(2, 1)}.parquet"])
def test_a_changed_deleted_inserted_or_reordered_row_is_found(tmp_path, change, target):
    db = make_db(tmp_path)
    history(db)
    clean(db)
    path = site_dir(db) / target
    rewrite(path, change)
    problems = verify_lake(db, "shop")
    one(problems, target, "rows changed, deleted, inserted or reordered")
    one(problems, target, "bytes differ from the SHA-256")
    if target.startswith("day="):  # the segment is named: the first part, rows 1-5
        one(problems, f"part-{stem(1, 1)}.parquet (rows 1-5)")
    if change in (_delete, _insert):
        one(problems, target, "rows, the log committed")


def test_a_file_rewritten_with_the_same_rows_is_found_by_its_bytes(tmp_path):
    db = make_db(tmp_path)
    history(db)
    path = site_dir(db) / f"part-{stem(2, 1)}.parquet"
    pq.write_table(pq.read_table(path), path, compression="gzip")
    (problem,) = verify_lake(db, "shop")
    assert "its rows are the same: rewritten" in problem


def test_a_deleted_file_and_an_added_file_are_found(tmp_path):
    db = make_db(tmp_path)
    history(db)
    (site_dir(db) / "day=2024-03-02.parquet").unlink()
    added = site_dir(db) / f"part-{stem(9, 1)}.parquet"
    shutil.copyfile(site_dir(db) / f"part-{stem(2, 1)}.parquet", added)
    problems = verify_lake(db, "shop")
    one(problems, "day=2024-03-02.parquet is missing", "10 rows")
    one(problems, added.name, "not in its log")
    assert len(problems) == 2


def test_a_changed_log_entry_breaks_the_chain(tmp_path):
    db = make_db(tmp_path)
    history(db)
    log = entries(db)
    log[3]["rows"] = 50  # a roll, claimed larger after the fact
    write_entries(db, log)
    problems = verify_lake(db, "shop")
    one(problems, "log entry 4", "prev is not the hash")
    one(problems, "log entry 7", "other rows than it was rolled with")  # its compaction


def test_a_changed_last_entry_disagrees_with_its_file(tmp_path):
    db = make_db(tmp_path)
    history(db)
    log = entries(db)
    log[-1]["rows"] = 500
    write_entries(db, log)
    one(verify_lake(db, "shop"), f"part-{stem(2, 2)}.parquet: 5 rows, the log committed 500")


def test_a_part_moved_to_another_day_by_its_last_entry_is_found(tmp_path):
    db = make_db(tmp_path)
    history(db)
    log = entries(db)
    log[-1]["day"] = "2024-03-01"  # today's rows claimed for a settled day
    write_entries(db, log)
    one(verify_lake(db, "shop"), f"part-{stem(2, 2)}.parquet: its first event is not on 2024-03-01")


def test_a_copy_of_the_lake_verifies_without_the_database(tmp_path):
    db = make_db(tmp_path)
    history(db)
    copy = tmp_path / "copy"
    shutil.copytree(lake_dir(db), copy)
    assert lakelog.check_lake_dir(copy / "site=shop").problems == []
    (copy / "site=shop" / f"part-{stem(2, 1)}.parquet").unlink()
    one(lakelog.check_lake_dir(copy / "site=shop").problems, "is missing")


def test_an_edited_entry_is_not_canonical(tmp_path):
    db = make_db(tmp_path)
    history(db)
    lines = log_file(db).read_bytes().splitlines(keepends=True)
    lines[2] = json.dumps(json.loads(lines[2]), indent=None).encode() + b"\n"  # spaces
    log_file(db).write_bytes(b"".join(lines))
    problems = verify_lake(db, "shop")
    one(problems, "line 3", "not in canonical form")
    one(problems, "log entry 3", "prev is not the hash")


def test_a_forged_consistent_history_with_the_same_files_is_caught_by_the_published_root(
    tmp_path,
):
    """A forger who deletes a day's rows and rewrites the whole log consistently (every digest
    and prev recomputed) leaves a log that verifies on its own: only a root published before
    finds it. This is the limit of a log kept by the party it accounts for."""
    db = make_db(tmp_path)
    history(db)
    published = lake_root(db, "shop")["days"]["2024-03-02"]["hash"]
    assert verify_lake(db, "shop", root=published) == []
    log = entries(db)
    day2 = site_dir(db) / "day=2024-03-02.parquet"
    rewrite(day2, lambda r: r[:-1])
    # forge: the compaction of 03-02 merged parts of 5 and 4 rows
    forged_part = site_dir(db) / f"part-{stem(1, 6)}.parquet"
    table = pq.read_table(day2)
    last = table.slice(5, 4)
    sha, size = lakelog.sha256_file(day2)
    for e in log:
        if e["op"] == "roll" and e["file"] == forged_part.name:
            e["rows"], e["digest"] = 4, lakelog.rows_digest(last)
        if e["op"] == "compact" and e["file"] == day2.name:
            e["parts"][1].update(rows=4, digest=lakelog.rows_digest(last))
            e.update(rows=9, sha256=sha, bytes=size)
            e["digest"] = lakelog.chain(p["digest"] for p in e["parts"])
    write_entries(db, log, rechain=True)
    assert verify_lake(db, "shop") == []  # consistent: the log alone cannot tell
    one(verify_lake(db, "shop", root=published), f"root {published} is not in the log")


def test_a_cut_log_leaves_files_it_does_not_list_and_loses_the_root(tmp_path):
    db = make_db(tmp_path)
    history(db)
    head = lake_root(db, "shop")["head"]["hash"]
    log = entries(db)
    write_entries(db, log[:-2])
    problems = verify_lake(db, "shop")
    one(problems, f"part-{stem(2, 1)}.parquet is in the lake but not in its log")
    one(problems, f"part-{stem(2, 2)}.parquet is in the lake but not in its log")
    # the forger also deletes the two parts: only the published root tells
    for n in (1, 2):
        (site_dir(db) / f"part-{stem(2, n)}.parquet").unlink()
    assert verify_lake(db, "shop") == []
    one(verify_lake(db, "shop", root=head), "is not in the log: the log was rewritten or cut")


def test_a_deleted_log_is_found(tmp_path):
    db = make_db(tmp_path)
    history(db)
    log_file(db).unlink()
    one(verify_lake(db, "shop"), "site=shop.jsonl is missing")


def test_rows_removed_after_the_published_root_are_found(tmp_path):
    db = make_db(tmp_path)
    history(db)
    root = lake_root(db, "shop")["head"]["hash"]
    log = entries(db)
    gone = f"part-{stem(2, 1)}.parquet"
    forged = {"seq": len(log), "time": "2024-03-05T00:00:00.000000Z", "op": "drop",
              "files": [gone], "reason": "held", "prev": lakelog.entry_hash(log[-1])}  # fmt: skip
    write_entries(db, [*log, forged])
    (site_dir(db) / gone).unlink()
    problems = verify_lake(db, "shop", root=root)
    one(problems, gone, "no day file holds its rows: rows deleted")
    one(problems, "2024-03-04: 10 rows at the published root, 5 now")


def test_a_part_changed_before_its_compaction_is_found(tmp_path):
    db = make_db(tmp_path)
    roll(db, 1, 1, 0)
    roll(db, 1, 2, 0)
    rewrite(site_dir(db) / f"part-{stem(1, 2)}.parquet", _insert)
    compact.compact(lake_dir(db), now_ms=NOW)
    problems = verify_lake(db, "shop")
    one(problems, f"part-{stem(1, 2)}.parquet was merged", "other rows than it was rolled with")


def test_a_segment_rolled_again_with_other_rows_is_found(tmp_path):
    db = make_db(tmp_path)
    roll(db, 1, 1, 0)
    roll(db, 1, 1, 0, count=6)  # the same segment's name, one row more
    one(verify_lake(db, "shop"), f"part-{stem(1, 1)}.parquet rolled again with other rows")


# ---------------------------------------------------------------------- crashes, recovered


def test_a_torn_last_line_is_cut_by_the_next_append_and_history_is_kept(tmp_path):
    db = make_db(tmp_path)
    history(db)
    before = entries(db)
    with open(log_file(db), "ab") as f:
        f.write(b'{"seq":11,"time":"2024-03-0')  # a crash in the middle of an append
    check = clean(db)
    assert any("torn line" in n for n in check.notes)
    roll(db, 3, 1, 3)
    after = entries(db)
    assert after[:-1] == before and after[-1]["seq"] == len(before)
    assert after[-1]["prev"] == lakelog.entry_hash(before[-1])
    assert not clean(db).notes


def crash_on(monkeypatch, module, name: str):  # type: ignore[no-untyped-def]
    def crash(*_a, **_k):
        raise Crash

    monkeypatch.setattr(module, name, crash)


def kill_between_log_and_rename(monkeypatch, db: Path, stem_: str) -> Path:  # type: ignore[no-untyped-def]
    """Roll a new segment and stop as a SIGKILL would after its entry is logged, before the
    rename: the segment is still there, and the part's temporary file."""
    seg = write_segment(db, stem_, ["x0", "x1"], [NOW, NOW + 1])
    with monkeypatch.context() as m:
        crash_on(m, lakelog.os, "replace")
        with pytest.raises(Crash):
            segments.roll(seg, lake_dir(db))
    assert entries(db)[-1]["op"] == "roll" and seg.exists()
    assert (site_dir(db) / f"part-{stem_}.parquet.tmp").exists()
    return seg


def test_a_kill_before_a_part_is_logged_leaves_only_a_temporary_file(tmp_path, monkeypatch):
    db = make_db(tmp_path)
    history(db)
    before = entries(db)
    seg = write_segment(db, stem(3, 1), ["x0"], [NOW])
    with monkeypatch.context() as m:
        crash_on(m, lakelog.Writer, "_append")
        with pytest.raises(Crash):
            segments.roll(seg, lake_dir(db))
    assert entries(db) == before
    check = clean(db)
    assert check.notes == [
        f"part-{stem(3, 1)}.parquet.tmp: an unfinished write (a crash), never read"
    ]
    segments.restart(segments_dir(db), lake_dir(db), 60)
    assert entries(db)[:-1] == before and entries(db)[-1]["file"] == f"part-{stem(3, 1)}.parquet"
    assert not clean(db).notes


def test_a_kill_between_logging_a_part_and_its_rename_is_finished_by_the_next_start(
    tmp_path, monkeypatch
):
    db = make_db(tmp_path)
    ids = history(db)
    kill_between_log_and_rename(monkeypatch, db, stem(3, 1))
    check = clean(db)  # the temporary file is what the entry committed
    assert any("not renamed yet" in n for n in check.notes)
    assert sorted(event_ids(lake.site_files(db, "shop", tmp_path / "s"))) == sorted(
        ids | {"x0", "x1"}
    )
    segments.restart(segments_dir(db), lake_dir(db), 60)  # the next start
    last = entries(db)[-2:]  # the rename finished, then the segment rolled again
    assert [e["op"] for e in last] == ["roll", "roll"] and last[0]["digest"] == last[1]["digest"]
    check = clean(db)
    assert not check.notes
    stored = event_ids(lake.site_files(db, "shop", tmp_path / "s"))
    assert sorted(stored) == sorted(ids | {"x0", "x1"})
    assert lake_root(db, "shop")["rows"] == len(stored)


def test_a_power_loss_that_loses_the_rename_and_the_temporary_file_is_voided(tmp_path, monkeypatch):
    db = make_db(tmp_path)
    history(db)
    kill_between_log_and_rename(monkeypatch, db, stem(3, 1))
    (site_dir(db) / f"part-{stem(3, 1)}.parquet.tmp").unlink()  # its directory entry lost
    one(verify_lake(db, "shop"), f"part-{stem(3, 1)}.parquet is missing")
    segments.restart(segments_dir(db), lake_dir(db), 60)  # the segment is still there
    assert [e["op"] for e in entries(db)[-3:]] == ["roll", "abort", "roll"]
    assert entries(db)[-2]["voids"] == entries(db)[-3]["seq"]
    assert not clean(db).notes


def test_a_deleted_last_part_is_not_hidden_by_the_next_writers_recovery(tmp_path):
    db = make_db(tmp_path)
    history(db)
    (site_dir(db) / f"part-{stem(2, 2)}.parquet").unlink()  # the last roll's part; no segment
    one(verify_lake(db, "shop"), f"part-{stem(2, 2)}.parquet is missing")
    lakelog._CACHE.clear()  # a new collector process: it does not know the last entry is done
    roll(db, 3, 1, 3)
    assert [e["op"] for e in entries(db)[-3:]] == ["roll", "abort", "roll"]
    one(
        verify_lake(db, "shop"), f"part-{stem(2, 2)}.parquet: its roll", "was deleted from the lake"
    )


def test_a_kill_while_appending_to_the_log_loses_no_history(tmp_path, monkeypatch):
    db = make_db(tmp_path)
    history(db)
    before = entries(db)
    seg = write_segment(db, stem(3, 1), ["x0"], [NOW])
    real_write = lakelog.os.write

    def half_then_crash(fd, data):  # type: ignore[no-untyped-def]
        real_write(fd, bytes(data)[: len(data) // 2])
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(lakelog.os, "write", half_then_crash)
        with pytest.raises(Crash):
            segments.roll(seg, lake_dir(db))
    assert not log_file(db).read_bytes().endswith(b"\n")
    check = clean(db)
    assert any("torn line" in n for n in check.notes)
    segments.restart(segments_dir(db), lake_dir(db), 60)
    after = entries(db)
    assert after[: len(before)] == before and after[-1]["op"] == "roll"
    clean(db)


def test_a_kill_after_the_rename_rolls_the_segment_again_to_the_same_rows(tmp_path):
    db = make_db(tmp_path)
    history(db)
    seg = write_segment(db, stem(3, 1), ["x0", "x1"], [NOW, NOW + 1])
    kept = tmp_path / "seg.log"
    shutil.copyfile(seg, kept)
    segments.roll(seg, lake_dir(db))
    shutil.copyfile(kept, seg)  # as if killed before the segment's deletion
    segments.restart(segments_dir(db), lake_dir(db), 60)
    last = entries(db)[-2:]
    assert [e["op"] for e in last] == ["roll", "roll"] and last[0]["digest"] == last[1]["digest"]
    clean(db)
    assert lake_root(db, "shop")["days"]["2024-03-04"]["rows"] == 12


def test_a_kill_between_a_compactions_log_and_rename_is_finished_by_the_next_step(
    tmp_path, monkeypatch
):
    db = make_db(tmp_path)
    ids = history(db)
    ids |= roll(db, 3, 1, 0, prefix="late")
    with monkeypatch.context() as m:
        crash_on(m, compact.os, "replace")
        with pytest.raises(Crash):
            compact.compact(lake_dir(db), now_ms=NOW)
    assert entries(db)[-1]["op"] == "compact"
    before = entries(db)
    check = clean(db)
    assert any("not renamed yet" in n for n in check.notes)
    (again,) = compact.compact(lake_dir(db), now_ms=NOW)  # finishes the rename, deletes the parts
    assert entries(db) == before and again.name == entries(db)[-1]["file"]
    assert names_in(db) == ["day=2024-03-01.parquet", "day=2024-03-02.parquet"] + [
        f"part-{stem(2, n)}.parquet" for n in (1, 2)
    ]
    assert not clean(db).notes
    assert sorted(event_ids(lake.site_files(db, "shop", tmp_path / "s"))) == sorted(ids)


def test_a_kill_between_a_compactions_rename_and_its_deletes_verifies(tmp_path, monkeypatch):
    db = make_db(tmp_path)
    history(db)
    roll(db, 3, 1, 0, prefix="late")
    roll(db, 3, 2, 0, prefix="late")
    real = compact._delete

    def delete_one_then_crash(paths):  # type: ignore[no-untyped-def]
        real(list(paths)[:1])
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(compact, "_delete", delete_one_then_crash)
        with pytest.raises(Crash):
            compact.compact(lake_dir(db), now_ms=NOW)
    check = clean(db)
    assert any(f"part-{stem(3, 2)}.parquet: merged into a day file" in n for n in check.notes)
    # a leftover changed meanwhile is not harmless
    rewrite(site_dir(db) / f"part-{stem(3, 2)}.parquet", _change)
    one(verify_lake(db, "shop"), f"part-{stem(3, 2)}.parquet: merged into a day file and changed")
    assert compact.compact(lake_dir(db), now_ms=NOW) == []  # deletes it: nothing to log
    assert entries(db)[-1]["op"] == "compact"
    assert not clean(db).notes


def test_a_part_rolled_again_after_its_compaction_is_dropped_with_a_log_entry(tmp_path):
    db = make_db(tmp_path)
    history(db)
    seg = write_segment(
        db, stem(1, 1), [f"e1-1-{k}" for k in range(5)], [DAY0 + 60_000 + k for k in range(5)]
    )
    segments.roll(seg, lake_dir(db))  # a restart found segment 1 and rolled it again
    check = clean(db)
    assert lake_root(db, "shop")["days"]["2024-03-01"]["rows"] == 20  # not counted twice
    assert check.root is not None
    compact.compact(lake_dir(db), now_ms=NOW)
    drop = entries(db)[-1]
    assert drop["op"] == "drop" and drop["files"] == [f"part-{stem(1, 1)}.parquet"]
    assert not (site_dir(db) / f"part-{stem(1, 1)}.parquet").exists()
    clean(db)


# ---------------------------------------------------------------------- roots, published


def test_lake_root_prints_a_day_root_that_verifies_and_signs_it(tmp_path):
    db = make_db(tmp_path)
    history(db)
    r = runner.invoke(
        app, ["lake", "root", "--db", str(db), "--site", "shop", "--day", "2024-03-01"]
    )
    assert r.exit_code == 0, r.output
    statement = json.loads(r.stdout)
    compaction = entries(db)[7]
    assert statement["entry"] == {"seq": 7, "hash": lakelog.entry_hash(compaction)}
    assert statement["rows"] == 20 and statement["day"] == "2024-03-01"
    assert [f["file"] for f in statement["files"]] == ["day=2024-03-01.parquet"]
    assert statement["complete"] is True and statement["log_problems"] == []
    assert f"root {statement['entry']['hash']}" in " ".join(r.stderr.split())

    assert runner.invoke(app, ["keys", "new", str(tmp_path / "op")]).exit_code == 0
    r = runner.invoke(app, ["lake", "root", "--db", str(db), "--site", "shop", "--day",
                            "2024-03-04", "--sign", str(tmp_path / "op.key")])  # fmt: skip
    assert r.exit_code == 0, r.output
    signed = json.loads(r.stdout)
    assert signed["rows"] == 10 and signed["signer"]["algorithm"] == "Ed25519"
    assert lakelog.check_statement(signed, tmp_path / "op.pub") == []
    path = tmp_path / "root.json"
    path.write_text(r.stdout)
    check = check_lake(db, "shop", root=str(path), key=tmp_path / "op.pub")
    assert check.problems == [] and any("signed by" in c for c in check.checked)
    assert runner.invoke(app, ["keys", "new", str(tmp_path / "other")]).exit_code == 0
    one(
        verify_lake(db, "shop", root=str(path), key=tmp_path / "other.pub"), "signed by another key"
    )
    roll(db, 3, 1, 3)  # a late roll of that day: more rows, not fewer
    check = check_lake(db, "shop", root=str(path))
    assert check.problems == [] and any("5 rows added since" in n for n in check.notes)
    forged = {**signed, "rows": 100}
    assert lakelog.check_statement(forged) == [
        "the root statement's signature does not verify (the statement was changed)"
    ]
    path.write_text(json.dumps(forged))
    problems = verify_lake(db, "shop", root=str(path))
    one(problems, "signature does not verify")
    one(problems, "says 100 rows on 2024-03-04; the log held 10")
    r = runner.invoke(app, ["lake", "root", "--db", str(db), "--site", "shop"])
    assert r.exit_code == 0 and json.loads(r.stdout)["rows"] == 45
    path.write_text(r.stdout)  # the whole lake's statement: its head is the root
    assert verify_lake(db, "shop", root=str(path)) == []
    path.write_text(json.dumps({**json.loads(r.stdout), "rows": 50}))
    one(verify_lake(db, "shop", root=str(path)), "says 50 rows; the log held 45")


def test_lake_root_refuses_what_it_cannot_state(tmp_path):
    db = make_db(tmp_path)
    args = ["lake", "root", "--db", str(db), "--site", "shop"]
    r = runner.invoke(app, [*args, "--day", "2024-03-01"])
    assert r.exit_code == 1 and "no lake log yet" in " ".join(r.output.split())
    history(db)
    cases = [
        (["--day", "03/01/2024"], 2, "expected a UTC day as YYYY-MM-DD"),
        (["--day", "2024-03-03"], 1, "holds no rows of 2024-03-03"),
        (["--day", "2024-03-01", "--sign", str(tmp_path / "none.key")], 2, "not an Ed25519"),
    ]
    for extra, code, message in cases:
        r = runner.invoke(app, [*args, *extra])
        assert r.exit_code == code and message in " ".join(r.output.split()), r.output
    r = runner.invoke(app, ["lake", "root", "--db", str(db), "--site", "nope"])
    assert r.exit_code == 2 and "unknown site 'nope'" in " ".join(r.output.split())
    r = runner.invoke(app, ["lake", "root", "--db", str(tmp_path / "x.db"), "--site", "shop"])
    assert r.exit_code == 2 and "no such collector database" in " ".join(r.output.split())


def test_an_audits_snapshot_carries_the_root_of_exactly_the_files_it_linked(tmp_path):
    db = make_db(tmp_path)
    history(db)
    write_segment(db, stem(9, 1), ["p0"], [NOW])  # not rolled: pending, in no root
    files, root = lake.site_snapshot(db, "shop", tmp_path / "inputs")
    assert root is not None and root["head"] == lake_root(db, "shop")["head"]
    lake_files = {
        f.name: lakelog.sha256_file(f)[0] for f in files if not f.name.startswith("pending")
    }
    assert lake_files == {f["file"]: f["sha256"] for f in root["files"]}
    assert root["rows"] == len(event_ids(files)) - 1
    # `qinglang audit --db --site` records that root, and the lake still passes through it
    out = tmp_path / "audit"
    r = runner.invoke(
        app, ["audit", "--db", str(db), "--site", "shop", "--out", str(out), "--setting",
              "bootstrap_replicates=20"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    recorded = json.loads((out / "audit.json").read_text())["record"]["lake"]
    assert recorded["head"] == root["head"] and recorded["rows"] == root["rows"]
    r = runner.invoke(
        app, ["verify", "--db", str(db), "--site", "shop", "--root", recorded["head"]["hash"]]
    )
    assert r.exit_code == 0, r.output


# ---------------------------------------------------------------------- both engines


def test_the_collector_logs_what_it_rolls_and_compacts_and_a_sigkill_leaves_a_lake_that_verifies(
    tmp_path, monkeypatch, engine
):
    """Beacons pour in (small segments for the Rust front, compaction every step); the collector
    is SIGKILLed mid-load and restarted: the lake verifies, its root counts every stored row, and
    every acknowledged beacon is stored once."""
    from tests.collect.test_durability import load

    monkeypatch.setenv(compact.SECONDS_ENV, "0")
    monkeypatch.setenv(compact.PARTS_ENV, "2")
    monkeypatch.setenv("QINGLANG_FRONT_SEGMENT_BYTES", str(64 << 10))
    db = make_db(tmp_path)
    now = int(time.time() * 1000)
    pre = [f"pre-{k}" for k in range(4 * 10)]
    for n in range(4):  # today's parts from before the log (adopted), compacted at the start
        write_part(db, stem(1, n + 1), pre[n * 10 : (n + 1) * 10], [now - 60_000] * 10)
    server = Server(db)
    acked, _ = asyncio.run(load(server, kill_after=800, kill=server.kill))
    restarted = Server(db, server.port)
    try:
        with httpx.Client(base_url=restarted.url) as c:
            body = json.dumps({"site": "shop", "url": f"{ORIGIN}/p/999999"})
            assert (
                c.post("/b", content=body, headers={"content-type": "text/plain"}).status_code
                == 204
            )
    finally:
        restarted.stop()  # rolls the last segment
    ops = {e["op"] for e in entries(db)}
    assert {"open", "roll", "compact"} <= ops, ops
    check = clean(db)
    files = lake.site_files(db, "shop", tmp_path / "s")
    urls = [u for f in files for u in pq.read_table(f, columns=["url"]).column(0).to_pylist()]
    beacons = [int(u.rsplit("/", 1)[1]) for u in urls if "/p/" in u]
    assert acked <= set(beacons) and len(beacons) == len(set(beacons))
    assert sorted(event_ids(files))[: len(pre)] != [] and set(pre) <= set(event_ids(files))
    assert check.root is not None and check.root["rows"] == len(urls) == len(beacons) + len(pre)


@pytest.mark.parametrize("kill_at", ["writing", "committed"])
def test_a_sigkill_while_compacting_leaves_a_lake_that_verifies(
    tmp_path, monkeypatch, engine, kill_at
):
    """The collector compacts three complete days of parts (written before it started: the log
    adopts them); it is SIGKILLed while it writes a day file, or once one is renamed into place.
    Right after the kill the lake verifies (what the kill left is a note, not a problem), and
    after a restart that finishes the compaction it verifies with nothing left over."""
    from tests.collect.test_compaction import _kill_compactor, _wait_until_compacted, populate

    monkeypatch.setenv(compact.SECONDS_ENV, "0")
    db = make_db(tmp_path)
    ids = populate(db, [-3, -2, -1], parts=120, per=20, run=1)
    server = Server(db)
    want = "day=*.parquet.tmp" if kill_at == "writing" else "day=*.parquet"
    try:
        deadline = time.monotonic() + 60
        while not any(site_dir(db).glob(want)):
            assert time.monotonic() < deadline, f"no {want} in 60 s"
            time.sleep(0.001)
        _kill_compactor(server, engine)
    finally:
        server.stop()
    time.sleep(0.5)  # the rolling process (Python engine) follows the collector
    assert compact.part_files(site_dir(db)), "killed after it was all done"
    check = clean(db)
    assert sorted(event_ids(lake.site_files(db, "shop", tmp_path / "s1"))) == sorted(ids)
    restarted = Server(db, server.port)
    try:
        _wait_until_compacted(db, days=3)
    finally:
        restarted.stop()
    check = clean(db)
    assert not check.notes, check.notes
    assert check.root is not None and check.root["rows"] == len(ids)
    assert [d["rows"] for d in check.root["days"].values()] == [2400, 2400, 2400]
