from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from qinglang.errors import InputError, TooManyBadRows
from qinglang.events import EVENT_SCHEMA

from .conftest import read_table

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def parquet(tmp_path):
    def _write(columns: dict, name: str = "e.parquet", **kwargs):
        path = tmp_path / name
        pq.write_table(pa.table(columns), path, **kwargs)
        return path

    return _write


def test_good_rows_ids_and_row_numbers(parquet):
    path = parquet(
        {
            "event_id": ["a", None, "c", None],
            "ts": pa.array([T0] * 4, pa.timestamp("us", "UTC")),
            "event": ["click", None, "Heartbeat ", "action"],
            "ip": ["1.1.1.1", "2.2.2.2", None, "4.4.4.4"],
        }
    )
    table, stream = read_table(path, fmt="parquet", batch_size=3)
    assert table.schema == EVENT_SCHEMA
    assert table.column("event_id").to_pylist() == ["a", "e.parquet:2", "c", "e.parquet:4"]
    assert table.column("event").to_pylist() == ["click", "pageview", "heartbeat", "action"]
    report = stream.reports[0]
    assert (report.rows_ok, report.rows_bad, report.format) == (4, 0, "parquet")
    assert len(report.sha256) == 64


@pytest.mark.parametrize(
    "ts",
    [
        pa.array([datetime(2024, 1, 1, 0, 0, 0, 123456)], pa.timestamp("ns")),  # naive = UTC
        pa.array([datetime(2024, 1, 1, 0, 0, 0, 123000)], pa.timestamp("ms", "UTC")),
        pa.array([1704067200123], pa.int64()),  # epoch ms
        pa.array([1704067200.123], pa.float64()),  # epoch s
        pa.array(["2024-01-01T00:00:00.123Z"]),
        pa.array(["2024-01-01 00:00:00.123"]),  # naive = UTC
        pa.array(["2024-01-01T01:00:00.123+01:00"]),
        pa.array(["2024-01-01T00:00:00.123456Z"]),  # per-row fallback
    ],
)
def test_ts_types(parquet, ts):
    table, _ = read_table(parquet({"ts": ts}), fmt="parquet")
    assert table.column("ts").to_pylist() == [datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)]


def test_epoch_seconds_int_and_date(parquet):
    table, _ = read_table(parquet({"ts": pa.array([1704067200], pa.int32())}), fmt="parquet")
    assert table.column("ts").to_pylist() == [T0]
    table, _ = read_table(parquet({"ts": pa.array([date(2024, 1, 1)])}), fmt="parquet")
    assert table.column("ts").to_pylist() == [T0]


def test_bad_rows_named_by_row_number_and_filtered(parquet):
    path = parquet(
        {
            "ts": ["2024-01-01T00:00:00Z", None, "soon", "2024-01-01T00:00:00Z", "2024-01-01", "x"],
            "event": ["click", "click", "click", "explode", None, None],
            "token": [None, None, None, None, "forged", None],
        }
    )
    table, stream = read_table(path, fmt="parquet", batch_size=4)
    assert table.column("event_id").to_pylist() == ["e.parquet:1"]
    report = stream.reports[0]
    assert (report.rows_ok, report.rows_bad) == (1, 5)
    got = [(e.line, e.field, e.unit) for e in report.errors]
    assert got == [(2, "ts", "row"), (3, "ts", "row"), (4, "event", "row"), (5, "token", "row"),
                   (6, "ts", "row")]  # fmt: skip
    assert "expected a timestamp (required)" in report.errors[0].message
    assert "expected a timestamp (ISO-8601" in report.errors[1].message
    assert "expected one of pageview, click" in report.errors[2].message
    assert str(report.errors[0]) == (
        f"{path} row 2: field 'ts': got None, expected a timestamp (required)"
    )


def test_vectorized_epoch_checks(parquet):
    path = parquet({"ts": pa.array([1704067200.0, -1.0, float("nan"), 1e300, None])})
    table, stream = read_table(path, fmt="parquet")
    assert table.column("ts").to_pylist() == [T0]
    assert [e.line for e in stream.reports[0].errors] == [2, 3, 4, 5]


def test_mapping_renames_and_site_fills(parquet):
    path = parquet({"when": ["2024-01-01T00:00:00Z"] * 2, "addr": ["1.1.1.1", "2.2.2.2"],
                    "site": [None, "other"], "junk": [1, 2]})  # fmt: skip
    table, stream = read_table(path, fmt="parquet", mapping={"when": "ts", "addr": "ip"},
                               site="shop")  # fmt: skip
    assert table.column("ip").to_pylist() == ["1.1.1.1", "2.2.2.2"]
    assert table.column("site").to_pylist() == ["shop", "other"]
    assert "ignored unknown columns: junk" in stream.reports[0].notes


def test_cast_failure_is_input_error_naming_column(parquet):
    path = parquet({"ts": [T0], "ip": pa.array([[1, 2]], pa.list_(pa.int64()))})
    with pytest.raises(InputError, match="column 'ip' has type list<element: int64>, expected"):
        read_table(path, fmt="parquet")


def test_client_struct_and_json_text(parquet):
    struct = pa.array([{"framed": True, "frame_w": 3, "mine": "x"}])
    table, _ = read_table(parquet({"ts": [T0], "client": struct}), fmt="parquet")
    assert table.column("client").to_pylist()[0]["frame_w"] == 3
    text = pa.array(['{"frame_w": 0}', "{nope"])
    table, stream = read_table(parquet({"ts": [T0, T0], "client": text}), fmt="parquet")
    assert table.column("client").to_pylist()[0]["frame_w"] == 0
    assert [(e.line, e.field) for e in stream.reports[0].errors] == [(2, "client")]


def test_signature_ok_text(parquet):
    path = parquet({"ts": [T0] * 3, "signature_ok": ["yes", "no", "perhaps"]})
    table, stream = read_table(path, fmt="parquet")
    assert table.column("signature_ok").to_pylist() == [True, False]
    assert stream.reports[0].errors[0].field == "signature_ok"


def test_strict_and_all_bad(parquet):
    path = parquet({"ts": ["2024-01-01T00:00:00Z", "bad"]})
    with pytest.raises(TooManyBadRows, match="row 2"):
        read_table(path, fmt="parquet", strict=True)
    with pytest.raises(TooManyBadRows, match="2 bad row"):
        read_table(parquet({"ts": ["bad", "worse"]}, name="b.parquet"), fmt="parquet")


def test_many_bad_rows_are_counted_not_all_kept(parquet):
    path = parquet({"ts": ["bad"] * 250 + ["2024-01-01"]})
    table, stream = read_table(path, fmt="parquet", batch_size=64)
    report = stream.reports[0]
    assert (table.num_rows, report.rows_ok, report.rows_bad) == (1, 1, 250)
    assert len(report.errors) == 100


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"ts,ip\n2024-01-01,1\n", "not a Parquet file"),
        (b"PAR1\x00\x00garbage", "truncated Parquet file"),
    ],
)
def test_unreadable(write, content, message):
    with pytest.raises(InputError, match=message):
        read_table(write("x.parquet", content), fmt="parquet")


def test_no_rows_and_no_ts(parquet):
    with pytest.raises(InputError, match="no events"):
        read_table(parquet({"ts": pa.array([], pa.string())}), fmt="parquet")
    with pytest.raises(InputError, match="no 'ts' column"):
        read_table(parquet({"time": [T0]}, name="n.parquet"), fmt="parquet")


def test_truncated_file_is_input_error(parquet):
    path = parquet({"ts": [T0] * 1000, "ip": [str(i) for i in range(1000)]})
    data = path.read_bytes()
    path.write_bytes(data[:100] + data[-200:])
    with pytest.raises(InputError, match="Parquet"):
        read_table(path, fmt="parquet")
