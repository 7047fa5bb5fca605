"""The Parquet reader holds the same limits as the row readers (issue 12): text cut at its limit
and counted, negative client sizes rejected, times without a zone read in --input-tz."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from qinglang.events import MAX_LIST, MAX_TEXT, MAX_UA, MAX_URL
from qinglang.ingest import read_events
from qinglang.ingest.native import plan_native


def read(path, **kw):
    stream = read_events([path], **kw)
    table = pa.Table.from_batches(list(stream), schema=stream.schema)
    return table, stream.reports[0]


def test_long_text_is_cut_and_counted_and_the_file_leaves_the_in_place_path(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table(
            {
                "ts": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 3, pa.timestamp("ms", "UTC")),
                "user_agent": ["M" * 1_000_000, "Mozilla/5.0", None],
                "url": ["/a", "/" + "b" * 10_000, "/c"],
            }
        ),
        path,
    )
    assert plan_native([path]) is None  # DuckDB in place would keep the long values
    table, report = read(path)
    assert table.num_rows == 3 and report.rows_bad == 0
    assert [len(x or "") for x in table.column("user_agent").to_pylist()] == [MAX_UA, 11, 0]
    assert len(table.column("url")[1].as_py()) == MAX_URL
    assert dict(report.truncated) == {"user_agent": 1, "url": 1}


def test_a_negative_client_size_is_a_bad_row(tmp_path):
    path = tmp_path / "c.parquet"
    client = pa.array(
        [
            {"frame_w": 300, "visible_ms": 10},
            {"frame_w": -1, "visible_ms": 10},
            {"frame_w": 0, "visible_ms": -5},
        ],
        pa.struct([("frame_w", pa.int32()), ("visible_ms", pa.int64())]),
    )
    ts = pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 3, pa.timestamp("ms", "UTC"))
    pq.write_table(pa.table({"ts": ts, "client": client}), path)
    table, report = read(path)
    assert table.num_rows == 1 and report.rows_bad == 2
    assert [e.line for e in report.errors] == [2, 3]


def test_times_without_a_zone_are_read_in_the_input_zone_and_counted(tmp_path):
    for kind, values in {
        "timestamp": pa.array([datetime(2024, 1, 1, 23, 30)], pa.timestamp("us")),
        "text": pa.array(["2024-01-01 23:30:00"]),
    }.items():
        path = tmp_path / f"{kind}.parquet"
        pq.write_table(pa.table({"ts": values}), path)
        utc, report = read(path)
        assert utc.column("ts")[0].as_py() == datetime(2024, 1, 1, 23, 30, tzinfo=UTC)
        assert report.naive_ts == 1
        local, report = read(path, input_tz=ZoneInfo("Asia/Shanghai"))
        assert local.column("ts")[0].as_py() == datetime(2024, 1, 1, 15, 30, tzinfo=UTC), kind
        assert report.naive_ts == 1


def test_client_text_and_lists_are_cut_too(tmp_path):
    path = tmp_path / "c.parquet"
    client = pa.array(
        [
            {"lang": "x" * 1000, "tells": ["t" * 1000] + ["u"] * 100},
            {"lang": "en", "tells": ["a"]},
            None,
        ],
        pa.struct([("lang", pa.string()), ("tells", pa.list_(pa.string()))]),
    )
    ts = pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 3, pa.timestamp("ms", "UTC"))
    pq.write_table(pa.table({"ts": ts, "client": client}), path)
    assert plan_native([path]) is None
    table, report = read(path)
    first = table.column("client")[0].as_py()
    assert len(first["lang"]) == MAX_TEXT and len(first["tells"]) == MAX_LIST
    assert len(first["tells"][0]) == MAX_TEXT
    assert (
        table.column("client")[1].as_py()["tells"] == ["a"]
        and table.column("client")[2].as_py() is None
    )
    assert report.truncated["client.lang"] == 1 and report.truncated["client.tells"] == 2


def test_every_bad_parquet_row_is_counted_by_field_and_listed(tmp_path):
    from qinglang.ingest import RejectedLog

    path = tmp_path / "bad.parquet"
    n = 250
    ts = pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * n, pa.timestamp("ms", "UTC"))
    ip = pa.array(["1.2.3.4" if i % 2 else "999.1.1.1" for i in range(n)])
    pq.write_table(pa.table({"ts": ts, "ip": ip}), path)
    log = RejectedLog(tmp_path / "rejected.csv")
    stream = read_events([path], rejected=log)
    rows = sum(b.num_rows for b in stream)
    log.close()
    report = stream.reports[0]
    assert rows == 125 and report.rows_bad == 125 and report.rejected_by["ip"] == 125
    assert log.rows == 125
    assert len((tmp_path / "rejected.csv").read_text().splitlines()) == 126
