from __future__ import annotations

import pytest

from qinglang.errors import InputError

from .conftest import DATA, read_table


def test_engagement_rows():
    table, stream = read_table(DATA / "engagement.csv", fmt="engagement", site="plat")
    first, second = table.to_pylist()
    assert first["event"] == "action" and first["action"] == "like"
    assert (first["account_id"], first["target"], first["device_id"]) == ("acct1", "post9", "dev1")
    assert first["signature_ok"] is True and second["signature_ok"] is False
    assert first["source"] == "feed" and second["source"] is None
    assert first["site"] == "plat"
    assert first["event_id"] == "engagement.csv:2"
    assert stream.reports[0].rows_ok == 2


def test_bad_signature_and_missing_column(write):
    head = "ts,account_id,action,target,ip,device_id,user_agent,signature_ok\n"
    path = write("g.csv", head + "2024-01-01,a,like,p,1.1.1.1,d,UA,true\n"
                 "2024-01-01,a,like,p,1.1.1.1,d,UA,dunno\n")  # fmt: skip
    table, stream = read_table(path, fmt="engagement")
    assert table.num_rows == 1
    [err] = stream.reports[0].errors
    assert (err.line, err.field) == (3, "signature_ok")
    assert "expected a boolean" in err.message
    with pytest.raises(InputError, match="no column for signature_ok"):
        read_table(write("h.csv", head.replace(",signature_ok", "") + "x\n"), fmt="engagement")


def test_mapping_applies(write):
    head = "time,account_id,action,target,ip,device_id,user_agent,sig\n"
    path = write("m.csv", head + "2024-01-01,a,vote,p,1.1.1.1,d,UA,0\n")
    table, _ = read_table(path, fmt="engagement", mapping={"time": "ts", "sig": "signature_ok"})
    assert table.column("signature_ok").to_pylist() == [False]
