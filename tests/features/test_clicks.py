"""Click-log entity features on a hand-made TalkingData-style table (visitor = ip|device|os,
target = app, source = channel)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from qinglang.detect.base import Context
from qinglang.detect.pipeline import present_columns
from qinglang.engine import DuckDBEngine
from qinglang.events import rows_to_table
from qinglang.features.clicks import CLICK_FEATURE_NAMES, CLICK_FEATURES_SQL, materialize_clicks
from qinglang.features.events import FEATURES, materialize_event_features
from tests.conftest import engine_with

T0 = dt.datetime(2017, 11, 7, 9, 0, tzinfo=dt.UTC)


def click(eid: str, seconds: float, ip: str | None, device: str, os_: str, app: str,
          channel: str, **overrides: Any) -> dict[str, Any]:  # fmt: skip
    row: dict[str, Any] = {
        "event_id": eid,
        "ts": T0 + dt.timedelta(seconds=seconds),
        "event": "click",
        "ip": ip,
        "device_id": f"{device}/{os_}",
        "visitor_id": f"{ip}|{device}|{os_}",
        "target": app,
        "source": channel,
    }
    row.update(overrides)
    return row


def click_rows() -> list[dict[str, Any]]:
    return [
        click("c0", 0, "1.1.1.1", "1", "13", "3", "100"),
        click("c1", 10, "1.1.1.1", "1", "13", "3", "100"),
        click("c2", 15, "1.1.1.1", "1", "13", "9", "100"),
        click("c3", 20, "1.1.1.1", "2", "19", "3", "200"),
        click("c4", 5, "2.2.2.2", "1", "13", "3", "100"),
        click("c5", 65.5, "2.2.2.2", "1", "13", "3", "100"),
        click("c6", 100, "3.3.3.3", "7", "7", "12", "300"),
        # not a click: ignored by every count
        {"event_id": "p0", "ts": T0, "event": "pageview", "ip": "1.1.1.1",
         "device_id": "1/13", "visitor_id": "1.1.1.1|1|13", "target": "3", "source": "100"},
    ]  # fmt: skip


# clicks_user_app, clicks_ip, next_click_user_app_s, next_click_ip_channel_s, ip_apps, device_ips
EXPECTED = {
    "c0": (2, 4, 10.0, 10.0, 2, 2),
    "c1": (2, 4, None, 5.0, 2, 2),
    "c2": (1, 4, None, None, 2, 2),
    "c3": (1, 4, None, None, 2, 1),
    "c4": (2, 2, 60.5, 60.5, 1, 2),
    "c5": (2, 2, None, None, 1, 2),
    "c6": (1, 1, None, None, 1, 1),
}


def features(engine) -> dict[str, tuple]:
    materialize_clicks(engine)
    got = engine.query(
        "SELECT e.event_id, f.* FROM click_features f JOIN events e ON e.rid = f.rid"
    ).to_pylist()
    return {r["event_id"]: tuple(r[name] for name in CLICK_FEATURE_NAMES) for r in got}


def test_click_features_by_hand():
    engine = engine_with(click_rows())
    got = features(engine)
    engine.close()
    assert got == EXPECTED


def test_click_features_are_doubles_one_row_per_click():
    engine = engine_with(click_rows())
    materialize_clicks(engine)
    table = engine.query("SELECT * FROM click_features")
    engine.close()
    assert table.num_rows == 7  # the page view has no row
    assert table.column_names == ["rid", *CLICK_FEATURE_NAMES]
    for name in CLICK_FEATURE_NAMES:
        assert str(table.schema.field(name).type) == "double", name


@pytest.mark.parametrize("seed", [1, 2])
def test_row_order_does_not_change_the_features(seed):
    rows = click_rows()
    random.Random(seed).shuffle(rows)
    engine = engine_with(rows)
    got = features(engine)
    engine.close()
    assert got == EXPECTED


def test_same_time_clicks_are_ordered_by_input_row():
    rows = [
        click("a", 0, "5.5.5.5", "1", "1", "3", "9"),
        click("b", 0, "5.5.5.5", "1", "1", "3", "9"),
        click("c", 2.25, "5.5.5.5", "1", "1", "3", "9"),
    ]
    engine = engine_with(rows)
    got = features(engine)
    engine.close()
    assert [got[k][2] for k in "abc"] == [0.0, 2.25, None]
    assert [got[k][3] for k in "abc"] == [0.0, 2.25, None]


def test_missing_keys_give_null_counts_not_errors():
    rows = [
        click("n0", 0, None, "1", "1", "3", "9", visitor_id=None),
        click("n1", 1, None, "1", "1", "3", "9", visitor_id=None, device_id=None),
        click("n2", 2, "6.6.6.6", "1", "1", "3", "9"),
    ]
    engine = engine_with(rows)
    got = features(engine)
    engine.close()
    assert got["n0"] == (None, None, None, None, None, 1)  # device 1/1: one known IP, 6.6.6.6
    assert got["n1"] == (None, None, None, None, None, None)
    assert got["n2"] == (1, 1, None, None, 1, 1)


def test_an_input_without_clicks_gives_an_empty_table():
    engine = engine_with([{"event_id": "p", "ts": T0, "event": "pageview", "ip": "1.1.1.1"}])
    materialize_clicks(engine)
    table = engine.query("SELECT * FROM click_features")
    engine.close()
    assert table.num_rows == 0
    assert table.column_names == ["rid", *CLICK_FEATURE_NAMES]


def test_the_sql_is_one_portable_query():
    assert CLICK_FEATURES_SQL.count("ts_ms(") == 4  # the engine's portable epoch-ms function
    assert "epoch_ms" not in CLICK_FEATURES_SQL


# ---- the same numbers on Spark ------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark_engine():
    pytest.importorskip("pyspark")
    from qinglang.engine import SparkEngine

    engine = SparkEngine()
    yield engine
    engine.close()


def all_features(engine, rows) -> tuple[dict, dict]:
    engine.load_events(rows_to_table(rows).to_reader())
    materialize_clicks(engine)
    table = engine.query(
        "SELECT e.event_id, f.* FROM click_features f JOIN events e ON e.rid = f.rid"
    )
    types = {name: str(table.schema.field(name).type) for name in CLICK_FEATURE_NAMES}
    return {r["event_id"]: r for r in table.to_pylist()}, types


@pytest.fixture(scope="module")
def both_engines(spark_engine):
    rows = click_rows() + [
        click(f"x{k}", 3 * k * k + 0.125, f"10.0.{k % 3}.1", str(k % 4), "2", str(k % 5),
              str(k % 2))
        for k in range(20)
    ]  # fmt: skip
    duck = DuckDBEngine()
    a = all_features(duck, rows)
    duck.close()
    b = all_features(spark_engine, rows)
    return a, b


@pytest.mark.spark
def test_spark_and_duckdb_give_the_same_click_values(both_engines):
    (duck, _), (spark, _) = both_engines
    assert len(duck) == 27
    assert set(duck) == set(spark)
    for eid, a in duck.items():
        for name in CLICK_FEATURE_NAMES:
            x, y = a[name], spark[eid][name]
            assert (x is None) == (y is None), (eid, name)
            if x is not None:
                assert float(y) == pytest.approx(x, rel=1e-9, abs=1e-9), (eid, name)
    assert {k: tuple(duck[k][n] for n in CLICK_FEATURE_NAMES) for k in EXPECTED} == EXPECTED


@pytest.mark.spark
def test_spark_and_duckdb_give_the_same_click_types(both_engines):
    (_, duck_types), (_, spark_types) = both_engines
    assert duck_types == spark_types


def test_event_features_give_every_event_one_row_with_its_click_features():
    engine = engine_with(click_rows())
    ctx = Context(engine=engine, present=present_columns(engine))
    materialize_event_features(ctx)
    materialize_event_features(ctx)  # once per audit: the second call is a no-op
    table = engine.query(
        "SELECT e.event_id, f.* FROM event_features f JOIN events e ON e.rid = f.rid"
    )
    engine.close()
    assert table.column_names == ["event_id", "rid", *FEATURES]
    got = {r["event_id"]: r for r in table.to_pylist()}
    assert len(got) == table.num_rows == 8
    for eid, expected in EXPECTED.items():
        assert tuple(got[eid][n] for n in CLICK_FEATURE_NAMES) == expected, eid
    assert all(got["p0"][n] is None for n in CLICK_FEATURE_NAMES)
    # the page view shares its visitor's session with c0, c1 and c2 (same visitor key)
    assert got["p0"]["requests"] == got["c0"]["requests"] == 4
    assert (got["p0"]["pages"], got["c6"]["pages"]) == (1, 0)
