"""End to end: simulate the 2017 case, audit it, and hold the accuracy the README promises."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from qinglang.cli import app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("case2017")
    data = tmp / "case.parquet"
    runner = CliRunner()
    sim = runner.invoke(
        app, ["simulate", "case2017", "--scale", "0.005", "--seed", "11", "--out", str(data)]
    )
    assert sim.exit_code == 0, sim.output
    res = runner.invoke(
        app,
        [
            "audit",
            str(data),
            "--out",
            str(tmp / "out"),
            "--price",
            "1.1",
            "--evaluate",
            "--lang",
            "zh",
        ],
    )
    assert res.exit_code == 0, res.output
    return data, tmp / "out"


def test_every_event_gets_one_label(audited):
    data, out = audited
    labels = pq.read_table(out / "labels.parquet")
    events = pq.read_table(data, columns=["event_id"])
    assert labels.num_rows == events.num_rows
    assert set(labels.column("event_id").to_pylist()) == set(events.column("event_id").to_pylist())


def test_accuracy_and_share(audited):
    _data, out = audited
    ev = json.loads((out / "audit.json").read_text(encoding="utf-8"))["evaluation"]
    assert ev["overall"]["precision"] >= 0.97 and ev["overall"]["recall"] >= 0.97
    assert abs(ev["uv_share_error_pp"]) <= 1.0
    for row in ev["per_category"]:
        if row["support"]:
            assert row["detected"] >= 0.9, row  # each scheme is caught, under some category


def test_report_has_the_settlement(audited):
    _data, out = audited
    facts = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    t = facts["totals"]
    assert t["uv"] == t["valid_uv"] + t["invalid_uv"]
    lo, hi = t["invalid_uv_share_ci"]
    assert lo <= t["invalid_uv_share"] <= hi
    exact = (Decimal(t["valid_uv"]) * Decimal("1.1") / 1000).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    )
    assert Decimal(facts["amount"]["payable"]) == exact
    assert facts["inputs"][0]["sha256"] and len(facts["inputs"][0]["sha256"]) == 64
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "应付金额" in html and facts["inputs"][0]["sha256"] in html


@pytest.mark.spark
def test_spark_labels_equal_duckdb_on_simulated_traffic(audited):
    pytest.importorskip("pyspark")
    from qinglang.detect.pipeline import run_pipeline
    from qinglang.engine import DuckDBEngine, SparkEngine
    from qinglang.ingest import read_events

    data, _out = audited
    table = pq.read_table(data).slice(0, 20000)
    small = data.parent / "small.parquet"
    pq.write_table(table, small)
    results = []
    for engine in (DuckDBEngine(), SparkEngine()):
        engine.load_events(read_events([str(small)]).to_reader())
        run_pipeline(engine)
        results.append(
            sorted(
                (r["event_id"], r["verdict"], r["category"], tuple(r["reasons"]))
                for r in engine.query("SELECT * FROM labels").to_pylist()
            )
        )
    assert results[0] == results[1]
