import os
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from qinglang.collect import front, segments
from qinglang.errors import ConfigError
from qinglang.events import EVENT_SCHEMA


def row(i: int, site: str = "shop") -> dict:
    return {
        "event_id": f"e{i}",
        "ts": 1_700_000_000_000 + i,
        "site": site,
        "event": "pageview",
        "client": {"visible_ms": i, "tells": ["webdriver"], "framed": False},
        "token": "valid",
    }


def rows_to_table(rows: list[dict]) -> pa.Table:
    """The reference decode of records: row by row, `ts` from epoch milliseconds."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    out = [{**r, "ts": epoch + timedelta(milliseconds=r["ts"])} for r in rows]
    return pa.Table.from_pylist(out, schema=EVENT_SCHEMA)


def test_recovery_truncates_a_torn_tail_and_keeps_every_whole_record(tmp_path):
    log = segments.SegmentLog(tmp_path, segments.next_run([]))
    log.append(b"".join(segments.encode(row(i)) for i in range(5)))
    path = log.path
    os.close(log._fd)  # a crash: no close(), no roll
    whole = path.stat().st_size
    with open(path, "ab") as f:
        f.write(segments.encode(row(5))[:-7])  # torn mid-record
    assert segments.recover(tmp_path) == [path]
    assert path.stat().st_size == whole
    rows, end = segments.scan(path)
    assert [r["event_id"] for r in rows] == [f"e{i}" for i in range(5)] and end == whole


def test_recovery_and_reading_stop_at_the_zeros_of_a_preallocated_segment(tmp_path):
    # the Rust front writes a segment out in zeros before it uses it; a crash leaves the records,
    # maybe a record torn over the zeros, then zeros to the end
    path = tmp_path / "seg-0000000000001-000001.log"
    whole = b"".join(segments.encode(row(i)) for i in range(3))
    path.write_bytes(whole + segments.encode(row(3))[:-9] + bytes(4096))
    table, _ = segments.read_segment(path)  # a segment whose cut failed still reads right
    assert table.column("event_id").to_pylist() == ["e0", "e1", "e2"]
    assert segments.recover(tmp_path) == [path]
    assert path.read_bytes() == whole
    zeros = tmp_path / "seg-0000000000001-000002.log"  # the next one, only zeros yet
    zeros.write_bytes(bytes(4096))
    segments.recover(tmp_path)
    assert zeros.stat().st_size == 0 and segments.roll(zeros, tmp_path / "lake") == []


def test_a_corrupted_record_ends_the_valid_prefix(tmp_path):
    path = tmp_path / "seg-000000000001.log"
    good, bad = segments.encode(row(1)), bytearray(segments.encode(row(2)))
    bad[20] ^= 0x01  # one flipped bit: the checksum no longer matches
    path.write_bytes(good + bytes(bad) + segments.encode(row(3)))
    rows, end = segments.scan(path)
    assert [r["event_id"] for r in rows] == ["e1"] and end == len(good)


def test_roll_writes_one_parquet_file_per_site_in_the_event_schema(tmp_path):
    log = segments.SegmentLog(tmp_path / "seg", segments.next_run([]))
    log.append(b"".join(segments.encode(row(i, "a" if i % 2 else "b")) for i in range(6)))
    closed = log.rotate()
    written = segments.roll(closed, tmp_path / "lake")
    assert not closed.exists()
    assert sorted(p.parent.name for p in written) == ["site=a", "site=b"]
    table = pq.read_table(tmp_path / "lake" / "site=a" / f"part-{closed.stem}.parquet")
    assert table.schema.equals(EVENT_SCHEMA)
    assert table.column("event_id").to_pylist() == ["e1", "e3", "e5"]
    assert table.column("client").to_pylist()[0]["tells"] == ["webdriver"]


def test_segment_numbers_continue_after_a_restart(tmp_path):
    first = segments.SegmentLog(tmp_path, segments.next_run([]))
    first.append(segments.encode(row(1)))
    os.close(first._fd)
    second = segments.SegmentLog(tmp_path, segments.next_run(segments.recover(tmp_path)))
    assert second.path.name > first.path.name


def test_clean_restarts_never_replace_earlier_lake_files(tmp_path):
    lake = tmp_path / "lake"
    for run in range(3):  # start, write, stop cleanly (everything rolled), start again
        closed, _ = segments.restart(tmp_path / "seg", lake, ttl_s=600)
        log = segments.SegmentLog(tmp_path / "seg", segments.next_run(closed))
        log.append(b"".join(segments.encode(row(10 * run + i)) for i in range(2)))
        segments.roll(log.rotate(), lake)
        os.close(log._fd)
        log.path.unlink()
    ids = pq.read_table(lake / "site=shop").column("event_id").to_pylist()
    assert sorted(ids) == sorted(f"e{10 * r + i}" for r in range(3) for i in range(2))


def test_a_failed_write_is_cut_back_so_later_groups_stay_readable(tmp_path, monkeypatch):
    log = segments.SegmentLog(tmp_path, segments.next_run([]))
    log.append(segments.encode(row(1)))
    real_write = os.write

    def half_then_fail(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(segments.os, "write", half_then_fail)
    try:
        log.append(segments.encode(row(2)))
    except OSError:
        pass
    monkeypatch.setattr(segments.os, "write", real_write)
    log.append(segments.encode(row(3)))
    rows, _ = segments.scan(log.path)
    assert [r["event_id"] for r in rows] == ["e1", "e3"]


def test_reading_a_segment_with_arrow_gives_the_rows_python_reads(tmp_path):
    rows = []
    for i in range(300):
        client = {"framed": bool(i % 2), "frame_w": i, "tells": ["a", ""] if i % 2 else [],
                  "tz": "Asia/Shanghai", "pv_id": "p", "ancestor_origins": None,
                  "visible_ms": 2**40}  # fmt: skip
        rows.append(
            {"event_id": f"b-{i}", "ts": 1_700_000_000_000 + i, "site": "shop" if i % 3 else "o",
             "event": "pageview", "visitor_id": "v", "account_id": None,
             "device_id": None if i % 5 else "d1", "ip": "1.2.3.4", "user_agent": "UA é",
             "url": "http://x/é?a=1", "referrer": None, "source": None, "target": None,
             "action": None, "client": None if i % 4 == 0 else client, "token": "valid",
             "signature_ok": None, "truth": None,
             **({"_token": [f"n{i}", None if i % 2 else "pv", i % 7 or None]} if i % 3 == 0 else {})}
        )  # fmt: skip
    path = tmp_path / "seg-0000000000001-000001.log"
    path.write_bytes(b"".join(segments.encode(r) for r in rows) + b"0000 torn")
    table, used = segments.read_segment(path)
    whole, _ = segments.scan(path)
    assert table.equals(rows_to_table(whole))
    tokens = [
        {"ts": r["ts"], "nonce": r["_token"][0], "pv_id": r["_token"][1], "seq": r["_token"][2]}
        for r in whole
        if "_token" in r
    ]
    assert used == tokens and len(used) == 100


def test_a_checksummed_line_that_is_not_json_ends_what_arrow_reads_as_it_ends_scan(tmp_path):
    import zlib

    bad = b'{"event_id": "e2", "ts": '  # whole and checksummed, but not JSON
    rows = [{**row(0), "_token": ["n0", "pv", 1]}, row(1)]
    after = [{**row(3), "_token": ["n3", "pv", 2]}]
    path = tmp_path / "seg-0000000000001-000001.log"
    path.write_bytes(
        b"".join(segments.encode(r) for r in rows)
        + b"%08x %s\n" % (zlib.crc32(bad), bad)
        + b"".join(segments.encode(r) for r in after)
    )
    table, used = segments.read_segment(path)
    whole, _ = segments.scan(path)
    assert [r["event_id"] for r in whole] == ["e0", "e1"]
    assert table.equals(rows_to_table(whole))
    assert used == [{"ts": rows[0]["ts"], "nonce": "n0", "pv_id": "pv", "seq": 1}]


def test_a_row_whose_token_is_unreadable_is_kept_and_two_objects_on_a_line_are_refused(tmp_path):
    import zlib

    path = tmp_path / "seg-0000000000001-000001.log"
    path.write_bytes(
        segments.encode({**row(0), "_token": "not a triple"}) + segments.encode(row(1))
    )
    table, used = segments.read_segment(path)
    assert table.column("event_id").to_pylist() == ["e0", "e1"] and used == []
    two = b'{"event_id": "a"} {"event_id": "b"}'
    path.write_bytes(segments.encode(row(0)) + b"%08x %s\n" % (zlib.crc32(two), two))
    with pytest.raises(ValueError, match=r"seg-0000000000001-000001.log: 3 rows read from 2"):
        segments.read_segment(path)


def test_a_restart_rolls_what_an_earlier_run_left_and_returns_its_used_tokens(tmp_path):
    seg_dir, lake = tmp_path / "seg", tmp_path / "lake"
    now = segments.next_run([])
    rows = [{**row(i), "ts": int(now) - 1000 + i, "_token": [f"n{i}", "pv", i]} for i in range(3)]
    rolled = segments.SegmentLog(seg_dir, now)  # an earlier run: one segment rolled, one left
    rolled.append(segments.encode(rows[0]))
    segments.roll(rolled.rotate(), lake)
    os.close(rolled._fd)
    left = rolled.path
    with open(left, "ab") as f:
        f.write(b"".join(segments.encode(r) for r in rows[1:]) + segments.encode(row(9))[:-5])
    closed, used = segments.restart(seg_dir, lake, ttl_s=600)
    assert closed == [left] and not left.exists()
    assert [r["nonce"] for r in used] == ["n0", "n1", "n2"]  # each once, oldest first
    ids = pq.read_table(lake / "site=shop").column("event_id").to_pylist()
    assert sorted(ids) == ["e0", "e1", "e2"]


def test_the_front_segment_size_must_be_a_number_of_bytes_of_at_least_64_kib(monkeypatch):
    monkeypatch.setenv(front.SEGMENT_BYTES_ENV, "65536")
    assert front._segment_bytes() == 65536
    for bad in ("0", "1000", "32MiB", ""):
        monkeypatch.setenv(front.SEGMENT_BYTES_ENV, bad)
        with pytest.raises(ConfigError, match="QINGLANG_FRONT_SEGMENT_BYTES"):
            front._segment_bytes()
