from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qinglang.errors import InputError

from .conftest import DATA, read_table


def test_train_split():
    table, stream = read_table(DATA / "talkingdata_train.csv", fmt="talkingdata")
    first, second = table.to_pylist()
    assert first["event_id"] == "talkingdata_train.csv:2"
    assert first["ts"] == datetime(2017, 11, 6, 14, 32, 21, tzinfo=UTC)
    assert (first["event"], first["ip"], first["source"], first["target"]) == (
        "click", "83230", "379", "3",
    )  # fmt: skip
    assert first["device_id"] == "1/13" and first["visitor_id"] == "83230|1|13"
    assert first["action"] is None and second["action"] == "install"
    assert first["url"] is None and first["truth"] is None
    assert stream.reports[0].rows_ok == 2


def test_test_split_keeps_click_id(write):
    path = write("test.csv", "click_id,ip,app,device,os,channel,click_time\n"
                 "0,5744,9,1,3,107,2017-11-10 04:00:00\n")  # fmt: skip
    table, stream = read_table(path)
    assert stream.reports[0].format == "talkingdata"
    assert table.column("event_id").to_pylist() == ["0"]


def test_bad_rows(write):
    path = write(
        "td.csv",
        "ip,app,device,os,channel,click_time,attributed_time,is_attributed\n"
        "1,3,1,13,379,2017-11-06 14:32:21,,0\n"
        "2,3,1,13,379,not-a-time,,0\n"
        "3,3,1,13,379,2017-11-06 14:32:21,,2\n"
        "4,3,1,13,379\n",
    )
    table, stream = read_table(path, fmt="talkingdata")
    assert table.column("ip").to_pylist() == ["1"]
    errors = stream.reports[0].errors
    assert [(e.line, e.field) for e in errors] == [(3, "ts"), (4, "is_attributed"), (5, None)]
    assert "expected 0 or 1" in errors[1].message


def test_missing_columns(write):
    with pytest.raises(InputError, match="no column for channel, click_time"):
        read_table(write("td.csv", "ip,app,device,os\n1,2,3,4\n"), fmt="talkingdata")
