"""Contract Parquet read in place by DuckDB must give exactly what the readers give."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from qinglang.audit.run import AuditOptions, load_inputs
from qinglang.engine import DuckDBEngine
from qinglang.events import rows_to_table
from qinglang.ingest import read_events
from qinglang.ingest.native import plan_native
from tests.conftest import event


def rows(n: int, start: int = 0) -> list[dict]:
    out = [event(i) for i in range(start, start + n)]
    out[1]["event_id"] = None  # made from file name and row
    out[2]["event"] = None  # defaults to pageview
    out[3]["client"] = None
    out[4]["token"] = "replayed"
    return out


def write(path, table: pa.Table):
    pq.write_table(table, path)
    return path


def events_of(engine: DuckDBEngine) -> list[dict]:
    return engine.query("SELECT * FROM events ORDER BY rid").to_pylist()


def test_in_place_and_reader_paths_give_the_same_rows_ids_and_order(tmp_path):
    a = write(tmp_path / "a.parquet", rows_to_table(rows(6)))
    b = write(tmp_path / "b.parquet", rows_to_table(rows(5, start=100)))
    plan = plan_native([a, b])
    assert plan is not None
    native = DuckDBEngine()
    native.attach_events(plan.sql)
    reader = DuckDBEngine()
    reader.load_events(read_events([a, b]).to_reader())
    got, want = events_of(native), events_of(reader)
    assert got == want
    assert [r["rid"] for r in got] == list(range(11))
    assert got[1]["event_id"] == "a.parquet:2"
    assert got[2]["event"] == "pageview"
    assert [r.rows_ok for r in plan.reports] == [6, 5]
    assert all(len(r.sha256) == 64 for r in plan.reports)


def test_other_columns_and_narrower_files_still_qualify(tmp_path):
    table = rows_to_table(rows(6)).select(["event_id", "ts", "ip", "user_agent"])
    table = table.append_column("extra", pa.array(["x"] * 6))
    path = write(tmp_path / "narrow.parquet", table)
    plan = plan_native([path], site="shop")
    assert plan is not None
    assert "ignored unknown columns: extra" in plan.reports[0].notes
    engine = DuckDBEngine()
    engine.attach_events(plan.sql)
    got = events_of(engine)
    assert {r["site"] for r in got} == {"shop"} and got[0]["client"] is None


@pytest.mark.parametrize(("column", "value"), [("event", "bogus"), ("token", "forged")])
def test_any_row_the_reader_would_reject_sends_the_file_to_the_reader(tmp_path, column, value):
    table = rows_to_table(rows(6))
    i = table.schema.get_field_index(column)
    values = table.column(column).to_pylist()
    values[0] = value
    path = write(tmp_path / "bad.parquet", table.set_column(i, column, pa.array(values)))
    assert plan_native([path]) is None
    assert plan_native([write(tmp_path / "good.parquet", rows_to_table(rows(6)))]) is not None


def test_mapping_other_types_and_other_formats_use_the_readers(tmp_path):
    good = write(tmp_path / "g.parquet", rows_to_table(rows(6)))
    assert plan_native([good], mapping={"when": "ts"}) is None
    assert plan_native([good], fmt="csv") is None
    epoch = pa.table({"ts": pa.array([1504231200, 1504231260]), "ip": ["1.2.3.4", "1.2.3.5"]})
    assert plan_native([write(tmp_path / "epoch.parquet", epoch)]) is None
    text = tmp_path / "e.csv"
    text.write_text("ts,ip\n2017-09-01T00:00:00Z,1.2.3.4\n")
    assert plan_native([good, text]) is None


def test_load_inputs_reports_bad_rows_through_the_reader(tmp_path):
    table = pa.table(
        {
            "ts": pa.array([1504231200000, None, 1504231260000], pa.int64()).cast(
                pa.timestamp("ms", "UTC")
            ),
            "ip": ["1.2.3.4", "1.2.3.5", "1.2.3.6"],
            "event": ["pageview", "pageview", "bogus"],
        }
    )
    path = write(tmp_path / "bad.parquet", table)
    engine = DuckDBEngine()
    reports = load_inputs(engine, [path], AuditOptions(), lambda *_: None).reports
    assert reports[0].rows_ok == 1 and reports[0].rows_bad == 2
    assert {e.field for e in reports[0].errors} == {"ts", "event"}
    assert engine.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 1}]


def test_columns_known_from_statistics_agree_with_counting(tmp_path):
    from qinglang.detect.pipeline import present_columns

    data = rows(6)
    for r in data:
        r["client"] = {"interactions": 2} if r["client"] else None
    path = write(tmp_path / "s.parquet", rows_to_table(data))
    plan = plan_native([path])
    engine = DuckDBEngine()
    engine.attach_events(plan.sql)
    assert {"ip", "client.interactions"} <= {k for k, v in plan.known.items() if v}
    assert {"account_id", "client.frame_w"} <= {k for k, v in plan.known.items() if not v}
    assert present_columns(engine, plan.known) == present_columns(engine)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC"])
def test_every_timestamp_unit_gives_the_readers_rows(tmp_path, unit, tz):
    table = rows_to_table(rows(6))
    ts = table.column("ts").cast(pa.timestamp("ms", "UTC")).cast(pa.int64())
    ts = pa.compute.add(ts, 0 if unit == "s" else 123).cast(pa.timestamp("ms"))
    ts = ts.cast(pa.timestamp(unit, tz))
    path = write(tmp_path / "t.parquet", table.set_column(1, "ts", ts))
    # times without a zone go through the reader (it counts them and applies --input-tz);
    # read as UTC by default, they equal the same file's times marked UTC, read in place
    (tmp_path / "utc").mkdir()  # the same name: made event ids name the file
    utc = write(
        tmp_path / "utc" / "t.parquet",
        table.set_column(1, "ts", ts.cast(pa.timestamp(unit, "UTC"))),
    )
    plan = plan_native([path])
    assert (plan is None) == (tz is None)
    plan = plan_native([utc])
    assert plan is not None
    native, reader = DuckDBEngine(), DuckDBEngine()
    native.attach_events(plan.sql)
    reader.load_events(read_events([path]).to_reader())
    assert events_of(native) == events_of(reader)


def test_names_read_parquet_would_take_as_patterns_go_through_the_readers(tmp_path):
    write(tmp_path / "day1.parquet", rows_to_table(rows(6)))
    odd = write(tmp_path / "day[1].parquet", rows_to_table(rows(7)))
    assert plan_native([odd]) is None
    engine = DuckDBEngine()
    reports = load_inputs(engine, [odd], AuditOptions(), lambda *_: None).reports
    assert reports[0].rows_ok == 7
    assert engine.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 7}]


def test_addresses_the_sql_vouches_for_are_ones_the_readers_accept():
    """The in-place check leaves to Python only what its SQL cannot vouch for; anything it does
    vouch for must be an address `is_ip` (ipaddress) accepts, or a bad row would slip through."""
    import ipaddress
    import random

    import duckdb

    from qinglang.events import is_ip
    from qinglang.ingest.native import sql_vouched_ip

    rnd = random.Random(7)
    alphabet = "0123456789abcdefABCDEFg:.% "
    values = [
        "1.2.3.4",
        "255.255.255.255",
        "256.1.1.1",
        "01.2.3.4",
        "::",
        "::1",
        "1::",
        "fe80::1",
        "2001:db8::8a2e:370:7334",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8:9",
        "1::2::3",
        "::1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7::",
        "12345::",
        "::ffff:1.2.3.4",
        "fe80::1%eth0",
        " 1.2.3.4",
        "123456",
        "9" * 65,
        ":::",
        "1:2:3:4:5:6::7:8",
        "",
    ]
    for _ in range(20000):
        if rnd.random() < 0.5:
            text = str(ipaddress.IPv6Address(rnd.getrandbits(128) >> rnd.choice([0, 16, 64, 127])))
            if rnd.random() < 0.5:
                i = rnd.randrange(len(text))
                text = text[:i] + rnd.choice(alphabet) + text[i + 1 :]
        else:
            text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 40)))
        values.append(text)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (ip VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    vouched = {
        ip for (ip,) in con.execute(f"SELECT ip FROM t WHERE {sql_vouched_ip('ip')}").fetchall()
    }
    wrongly = sorted(ip for ip in vouched if not is_ip(ip) or ip != ip.strip())
    assert wrongly == []
    # and it does vouch for the common forms, so they never reach Python
    assert {"1.2.3.4", "::", "::1", "fe80::1", "2001:db8::8a2e:370:7334", "123456"} <= vouched
    assert len(vouched) > 5000


def test_columns_the_period_leaves_out_are_not_reported_present(tmp_path):
    """The in-place check counts the columns of the whole file; an audit of a period looks
    again, so a check whose column holds values only outside the period is listed as skipped."""
    import datetime as dt
    import json

    from qinglang.audit.run import run_audit

    data = [event(i) for i in range(6)]
    late = dt.datetime(2018, 3, 1, tzinfo=dt.UTC)
    data[5].update(ts=late, client={"tells": ["cdc_props"], "interactions": 1})
    path = write(tmp_path / "s.parquet", rows_to_table(data))
    assert plan_native([path]).known["client.tells"]
    out = tmp_path / "audit"
    run_audit([path], out, AuditOptions(period_to="2018-01-31"))
    facts = json.loads((out / "audit.json").read_text())
    automation = next(d for d in facts["detectors"] if d["name"] == "automation")
    assert "client.tell" not in automation["checks_run"]
    assert any(s["check"] == "client.tell" for s in automation["checks_skipped"])
