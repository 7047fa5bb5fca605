from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from qinglang.errors import InputError, TooManyBadRows

from .conftest import read_table


def _lines(*objs) -> str:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs)


def test_good_rows_ids_and_client(write):
    path = write(
        "e.ndjson",
        _lines(
            {"ts": "2024-01-01T00:00:00Z", "event": "heartbeat", "client": {"dwell_ms": 5000}},
            "",
            {"event_id": "abc", "ts": 1704067200, "ip": "::1", "extra": 1},
        ),
    )
    table, stream = read_table(path, fmt="ndjson")
    rows = table.to_pylist()
    assert [r["event_id"] for r in rows] == ["e.ndjson:1", "abc"]  # blank line 2 skipped
    assert rows[0]["client"]["dwell_ms"] == 5000
    assert rows[0]["event"] == "heartbeat" and rows[1]["event"] == "pageview"
    assert rows[1]["ts"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert "ignored unknown fields: extra" in stream.reports[0].notes


def test_truncated_and_non_object_lines(write):
    good = {"ts": "2024-01-01T00:00:00Z"}
    path = write("t.jsonl", _lines(good, '{"ts": "2024-01-01T00:0', "[1, 2]", '"x"', good))
    table, stream = read_table(path, fmt="ndjson")
    assert table.column("event_id").to_pylist() == ["t.jsonl:1", "t.jsonl:5"]
    report = stream.reports[0]
    assert (report.rows_ok, report.rows_bad) == (2, 3)
    e1, e2, e3 = report.errors
    assert e1.line == 2 and "invalid JSON" in e1.message and "truncated" in e1.message
    assert e2.line == 3 and e2.message == "expected a JSON object, got an array"
    assert e3.line == 4 and e3.message == "expected a JSON object, got a string"


def test_wrong_types_name_the_field(write):
    path = write(
        "w.ndjson",
        _lines(
            {"ts": "2024-01-01"},
            {"ts": True},
            {"ts": "2024-01-01", "ip": {"a": 1}},
            {"ts": "2024-01-01", "client": "not json"},
            {"ts": "2024-01-01", "client": {"framed": "sometimes"}},
        ),
    )
    _, stream = read_table(path, fmt="ndjson")
    got = [(e.line, e.field) for e in stream.reports[0].errors]
    assert got == [(2, "ts"), (3, "ip"), (4, "client"), (5, "client.framed")]
    assert "expected a string" in stream.reports[0].errors[1].message
    assert "expected a boolean" in stream.reports[0].errors[3].message


def test_strict(write):
    path = write("s.ndjson", _lines({"ts": "2024-01-01"}, "{oops"))
    with pytest.raises(TooManyBadRows, match=r"s\.ndjson:2: invalid JSON"):
        read_table(path, fmt="ndjson", strict=True)


def test_gzip_is_read_transparently(write):
    data = gzip.compress(_lines({"ts": "2024-01-01"}, {"ts": "2024-01-02"}).encode())
    table, stream = read_table(write("e.ndjson.gz", data))
    assert stream.reports[0].format == "ndjson"
    assert table.column("event_id").to_pylist() == ["e.ndjson.gz:1", "e.ndjson.gz:2"]


def test_truncated_gzip_keeps_rows_and_reports(write):
    body = _lines(*({"ts": f"2024-01-01T00:00:{i % 60:02d}Z", "url": "/" + "x" * i}
                    for i in range(3000)))  # fmt: skip
    data = gzip.compress(body.encode())
    table, stream = read_table(write("cut.ndjson.gz", data[: len(data) // 2]), fmt="ndjson")
    report = stream.reports[0]
    assert 0 < table.num_rows < 3000
    assert report.rows_bad >= 1
    assert any("file ends early or is corrupt" in e.message for e in report.errors)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"\x00\x01binary\x00", "binary file"), (b"\n \n", "empty file")],
)
def test_unreadable(write, content, message):
    with pytest.raises(InputError, match=message):
        read_table(write("x.ndjson", content), fmt="ndjson")


def test_client_text_cut_at_its_limit_is_counted(write):
    """A client field's text and lists are cut where the Parquet reader cuts them, and counted
    the same way (client.<key>: a long item each, a list of too many items once)."""
    from qinglang.events import MAX_LIST, MAX_TEXT

    client = {"lang": "x" * (MAX_TEXT + 1), "tells": ["t"] * (MAX_LIST + 3) + ["y" * 300]}
    path = write("c.ndjson", _lines({"ts": "2024-01-01T00:00:00Z", "client": client}))
    table, stream = read_table(path, fmt="ndjson")
    row = table.to_pylist()[0]["client"]
    assert len(row["lang"]) == MAX_TEXT and len(row["tells"]) == MAX_LIST
    assert dict(stream.reports[0].truncated) == {"client.lang": 1, "client.tells": 2}
