from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from qinglang.errors import InputError, TooManyBadRows

from .conftest import DATA, read_table

HEADER = "ts,event,ip,visitor_id\n"


def test_good_rows_and_event_ids():
    table, stream = read_table(DATA / "sample.csv", fmt="csv")
    rows = table.to_pylist()
    assert [r["event_id"] for r in rows] == ["sample.csv:2", "own-2"]
    assert rows[0]["ts"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert rows[1]["ts"] == datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)  # epoch milliseconds
    assert rows[0]["client"]["framed"] is True
    assert rows[0]["client"]["frame_w"] == 0
    assert rows[0]["client"]["tells"] == ["webdriver"]
    assert rows[1]["client"] is None
    assert rows[0]["truth"] == "sivt.hidden"
    assert [r["event"] for r in rows] == ["pageview", "click"]
    report = stream.reports[0]
    assert (report.format, report.guessed, report.rows_ok, report.rows_bad) == ("csv", False, 2, 0)
    assert "ignored unknown columns: extra" in report.notes
    assert report.sha256 == hashlib.sha256((DATA / "sample.csv").read_bytes()).hexdigest()


def test_multiline_quoted_field_keeps_physical_line_numbers(write):
    path = write("m.csv", 'ts,url\n2024-01-01,"/a\nsecond line"\n2024-01-02,/b\n')
    table, _ = read_table(path, fmt="csv")
    assert table.column("event_id").to_pylist() == ["m.csv:2", "m.csv:4"]
    assert table.column("url").to_pylist() == ["/a\nsecond line", "/b"]


def test_truncated_line_is_reported_and_good_rows_kept(write):
    path = write("t.csv", HEADER + "2024-01-01,pageview,1.1.1.1,v1\n2024-01-02,click\n"
                 "2024-01-03,click,2.2.2.2,v3\n")  # fmt: skip
    table, stream = read_table(path, fmt="csv")
    assert table.column("event_id").to_pylist() == ["t.csv:2", "t.csv:4"]
    report = stream.reports[0]
    assert (report.rows_ok, report.rows_bad) == (2, 1)
    [err] = report.errors
    assert (err.path, err.line, err.field) == (str(path), 3, None)
    assert "expected 4 fields" in err.message and "got 2" in err.message
    assert str(err).startswith(f"{path}:3: ")


@pytest.mark.parametrize(
    ("value", "field", "expected"),
    [
        ("yesterday", "ts", "a timestamp (ISO-8601 or epoch seconds/milliseconds)"),
        ("", "ts", "a timestamp (required)"),
        ("-5", "ts", "a timestamp"),
    ],
)
def test_bad_timestamp(write, value, field, expected):
    path = write("b.csv", f"{HEADER}2024-01-01,pageview,1.1.1.1,v1\n{value},click,2.2.2.2,v2\n")
    table, stream = read_table(path, fmt="csv")
    assert table.num_rows == 1
    [err] = stream.reports[0].errors
    assert (err.line, err.field) == (3, field)
    assert expected in err.message
    assert f"field '{field}'" in str(err) and str(err).startswith(f"{path}:3:")


def test_wrong_types(write):
    text = (
        "ts,event,token,signature_ok,client\n"
        "2024-01-01,bogus,,,\n"
        "2024-01-01,click,stolen,,\n"
        "2024-01-01,click,valid,maybe,\n"
        '2024-01-01,click,valid,true,"{""frame_w"": ""wide""}"\n'
        "2024-01-01,click,valid,true,[1]\n"
        "2024-01-01,CLICK,Valid,1,{}\n"
    )
    table, stream = read_table(write("w.csv", text), fmt="csv")
    errors = stream.reports[0].errors
    assert [(e.line, e.field) for e in errors] == [
        (2, "event"), (3, "token"), (4, "signature_ok"), (5, "client.frame_w"), (6, "client"),
    ]  # fmt: skip
    assert "expected one of pageview, click" in errors[0].message
    assert "expected an integer" in errors[3].message
    assert table.to_pylist()[0]["event"] == "click"
    assert table.to_pylist()[0]["token"] == "valid"
    assert table.column("event_id").to_pylist() == ["w.csv:7"]


def test_strict_raises_on_first_bad_row(write):
    path = write("s.csv", f"{HEADER}2024-01-01,pageview,1.1.1.1,v1\nnope,click,2.2.2.2,v2\n")
    with pytest.raises(TooManyBadRows) as info:
        read_table(path, fmt="csv", strict=True)
    assert info.value.errors[0].line == 3
    assert "s.csv:3" in str(info.value) and "field 'ts'" in str(info.value)


def test_all_rows_bad_raises_at_end(write):
    path = write("a.csv", f"{HEADER}x,pageview,1.1.1.1,v1\ny,click,2.2.2.2,v2\n")
    with pytest.raises(TooManyBadRows) as info:
        read_table(path, fmt="csv")
    assert info.value.total_bad == 2
    assert [e.line for e in info.value.errors] == [2, 3]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\n\n  \n", "empty file"),
        (HEADER.encode(), "header but no data rows"),
        (b"ts,ip\x00\x01\x02\n", "binary file"),
        (b"ts,ip\n\xff\xfe\xfa garbage\n", "not UTF-8"),
    ],
)
def test_unreadable_files(write, content, message):
    path = write("bad.csv", content)
    with pytest.raises(InputError) as info:
        read_table(path, fmt="csv")
    assert message in str(info.value) and str(path) in str(info.value)


def test_missing_ts_column_is_an_input_error(write):
    with pytest.raises(InputError, match="no column for ts .*--map THEIR_COLUMN=ts"):
        read_table(write("n.csv", "time,ip\n2024-01-01,1.1.1.1\n"), fmt="csv")


def test_duplicate_header_is_an_input_error(write):
    with pytest.raises(InputError, match="duplicate column names in the header: ip"):
        read_table(write("d.csv", "ts,ip,ip\n2024-01-01,1,2\n"), fmt="csv")


def test_invalid_utf8_after_the_head_is_a_bad_line(write):
    good = "".join(f"2024-01-01,pageview,1.1.1.1,v{i}\n" for i in range(5000))
    data = (
        (HEADER + good).encode()
        + b"2024-01-02,click,\xff\xfe,v\n"
        + b"2024-01-03,click,3.3.3.3,v\n"
    )
    table, stream = read_table(write("u.csv", data), fmt="csv")
    assert table.num_rows == 5001
    [err] = stream.reports[0].errors
    assert err.line == 5002 and "UTF-8" in err.message


def test_tsv_and_bom_and_crlf(write):
    path = write("x.tsv", "\ufeffts\tip\r\n2024-01-01\t1.1.1.1\r\n")
    table, _ = read_table(path)
    assert table.column("ip").to_pylist() == ["1.1.1.1"]
    assert table.column("event_id").to_pylist() == ["x.tsv:2"]


def test_unclosed_quote_names_the_line(write):
    path = write("q.csv", 'ts,url\n2024-01-01,/a\n2024-01-02,"/b\n2024-01-03,/c\n')
    table, stream = read_table(path, fmt="csv")
    assert table.num_rows == 1
    [err] = stream.reports[0].errors
    assert err.line == 3
