"""Property tests: whatever a line holds, the readers report it or read it, and never crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qinglang.errors import FieldError, TooManyBadRows
from qinglang.events import parse_ts

from .conftest import read_table

TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
GOOD_CSV = "2024-01-01T00:00:00Z,1.1.1.1\n"


@settings(max_examples=150)
@given(TEXT)
def test_csv_any_line_is_read_or_reported(tmp_path_factory, line):
    path = tmp_path_factory.mktemp("csv") / "p.csv"
    path.write_text("ts,ip\n" + GOOD_CSV + line + "\n" + GOOD_CSV, encoding="utf-8")
    table, stream = read_table(path, fmt="csv")
    report = stream.reports[0]
    assert table.num_rows == report.rows_ok >= 1
    ids = table.column("event_id").to_pylist()
    assert ids[0] == "p.csv:2"
    assert len(report.errors) == report.rows_bad


@settings(max_examples=150)
@given(TEXT.filter(lambda s: "\n" not in s))
def test_ndjson_any_line_is_read_or_reported(tmp_path_factory, line):
    path = tmp_path_factory.mktemp("nd") / "p.ndjson"
    good = '{"ts": "2024-01-01T00:00:00Z"}\n'
    path.write_text(good + line + "\n" + good, encoding="utf-8")
    table, stream = read_table(path, fmt="ndjson")
    report = stream.reports[0]
    ids = table.column("event_id").to_pylist()
    assert ids[0] == "p.ndjson:1" and ids[-1] == "p.ndjson:3"
    assert table.num_rows + report.rows_bad == 3 - (not line.strip())
    if report.rows_bad:
        assert report.errors[0].line == 2


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=5,
)


@given(st.dictionaries(st.sampled_from(["ts", "ip", "event", "client", "token"]), JSON))
def test_ndjson_any_object_is_read_or_reported(tmp_path_factory, obj):
    path = tmp_path_factory.mktemp("obj") / "o.ndjson"
    path.write_text(json.dumps(obj) + "\n", encoding="utf-8")
    try:
        table, stream = read_table(path, fmt="ndjson")
    except TooManyBadRows as exc:  # all bad: the clear error, naming line 1
        assert "o.ndjson:1" in str(exc)
    else:
        assert table.num_rows == 1


EPOCHS = st.one_of(  # within the plausible window (2000-01-01 to 2099-12-31)
    st.integers(946_684_800, 4_102_444_799),  # seconds
    st.integers(946_684_800_000, 4_102_444_799_999),  # milliseconds
)


@settings(max_examples=50)
@given(st.lists(EPOCHS, min_size=1, max_size=20))
def test_parquet_epoch_matches_parse_ts(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("pq") / "t.parquet"
    pq.write_table(pa.table({"ts": pa.array(values, pa.int64())}), path)
    table, _ = read_table(path, fmt="parquet")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    exact = [epoch + timedelta(milliseconds=v if v > 100_000_000_000 else v * 1000) for v in values]
    got = table.column("ts").to_pylist()
    assert got == exact
    # events.parse_ts (the row path) divides in floating point: within a millisecond of exact
    assert all(
        abs(parse_ts(v) - e) < timedelta(milliseconds=1) for v, e in zip(values, exact, strict=True)
    )


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_iso_text_round_trip(dt):
    aware = dt.replace(tzinfo=UTC, microsecond=dt.microsecond // 1000 * 1000)
    assert parse_ts(aware.isoformat()) == aware
    assert parse_ts(dt.isoformat()).tzinfo is not None


@given(
    st.one_of(
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1999, 12, 31, 23, 59)),
        st.datetimes(min_value=datetime(2100, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)),
    )
)
def test_times_outside_the_plausible_window_are_refused(dt):
    with pytest.raises(FieldError, match="2000-01-01 to 2099-12-31"):
        parse_ts(dt.replace(tzinfo=UTC).isoformat())


def test_a_parquet_row_in_year_9999_is_rejected_and_the_rest_kept(tmp_path):
    path = tmp_path / "t.parquet"
    ts = pa.array([datetime(2017, 9, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
                   datetime(1970, 1, 1, tzinfo=UTC)], pa.timestamp("ms", tz="UTC"))  # fmt: skip
    pq.write_table(pa.table({"ts": ts, "event_id": ["a", "b", "c"]}), path)
    table, stream = read_table(path, fmt="parquet")
    assert table.column("event_id").to_pylist() == ["a"]
    report = stream.reports[0]
    assert report.rows_bad == 2
    assert "2000-01-01 to 2099-12-31" in str(report.errors[0])


@given(st.text())
def test_parse_ts_raises_only_field_errors(text):
    try:
        parse_ts(text)
    except FieldError as exc:
        assert exc.field == "ts"


@pytest.mark.parametrize("bad", ["999.1.1.1", "not-an-ip", "1.2.3", "::::::", "1.2.3.4.5"])
def test_an_address_that_is_not_one_is_a_bad_row_in_every_reader(tmp_path, bad):
    good = ["117.136.1.1", "2600:1f18::1", "83230"]  # v4, v6, an anonymised id (TalkingData)
    rows = [(f"r{i}", "2017-09-01T01:00:00Z", ip) for i, ip in enumerate([*good, bad])]
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("event_id,ts,ip\n" + "".join(",".join(r) + "\n" for r in rows))
    pq_path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table({"event_id": [r[0] for r in rows], "ts": [r[1] for r in rows],
                  "ip": [r[2] for r in rows]}), pq_path)  # fmt: skip
    for path in (csv_path, pq_path):
        table, stream = read_table(path)
        assert table.column("ip").to_pylist() == good, path
        assert "IPv4 or IPv6" in str(stream.reports[0].errors[0]), path


def test_contract_parquet_with_a_bad_address_leaves_the_in_place_path(tmp_path):
    from qinglang.events import EVENT_SCHEMA
    from qinglang.ingest.native import plan_native

    ts = datetime(2017, 9, 1, tzinfo=UTC)
    table = pa.Table.from_pylist(
        [{"event_id": "a", "ts": ts, "event": "pageview", "ip": "2600:1f18::1"},
         {"event_id": "b", "ts": ts, "event": "pageview", "ip": "1.2.3.4"}], schema=EVENT_SCHEMA,
    )  # fmt: skip
    ok = tmp_path / "ok.parquet"
    pq.write_table(table, ok)
    assert plan_native([ok]) is not None  # v6 and v4 addresses are read in place
    bad = tmp_path / "bad.parquet"
    pq.write_table(table.set_column(7, "ip", pa.array(["2600:1f18::1", "999.1.1.1"])), bad)
    assert plan_native([bad]) is None  # the readers report it


@pytest.mark.parametrize(
    ("text", "want"),
    [("9007199254740993", 9007199254740993), (" +12 ", 12), ("-7", -7), ("0123", 123),
     ("4611686018427387904", 2**62), ("1e3", 1000), ("5.0", 5)],
)  # fmt: skip
def test_integer_text_is_read_exactly(text, want):
    """Integer text never passes through a float (which rounds past 2**53)."""
    from qinglang.events import parse_int

    assert parse_int(text, "bytes") == want


@pytest.mark.parametrize("text", ["4611686018427387905", "+-5", "9" * 30, "1.5", "nan"])
def test_integer_text_past_the_cap_or_not_an_integer_is_refused(text):
    from qinglang.errors import FieldError
    from qinglang.events import parse_int

    with pytest.raises(FieldError):
        parse_int(text, "bytes")
