"""A trained model scores the same on DuckDB and on Spark (an Arrow UDF there), with the same
reasons, through the pipeline's model detector."""

from __future__ import annotations

import pytest

from qinglang.detect.pipeline import run_pipeline
from qinglang.engine import DuckDBEngine, SparkEngine
from qinglang.events import rows_to_table
from qinglang.features.events import FEATURES
from qinglang.learn.model import fit
from tests.detect.log_rows import log_rows


def _labels(engine, rows, model):
    engine.load_events(rows_to_table(rows).to_reader())
    run_pipeline(engine, {"inert_entry_min_sessions": 50}, model=model)
    got = engine.query(
        "SELECT l.event_id, l.score, l.reasons FROM labels l ORDER BY l.event_id"
    ).to_pylist()
    return {r["event_id"]: (round(r["score"], 9), sorted(r["reasons"])) for r in got}


@pytest.fixture(scope="module")
def model_and_rows():
    rows = log_rows()
    engine = DuckDBEngine()
    try:
        from qinglang.training import event_feature_rows

        engine.load_events(rows_to_table(rows).to_reader())
        table = event_feature_rows(engine, {})
    finally:
        engine.close()
    # label the injected entry's clients invalid: the model must learn it from behaviour alone
    by_rid = {i: r for i, r in enumerate(rows)}
    y = [1 if by_rid[rid]["ip"].startswith("198.19.") else 0
         for rid in table.column("rid").to_pylist()]  # fmt: skip
    import numpy as np

    return fit(table, list(FEATURES), np.array(y)), rows


def test_the_model_adds_graded_model_findings(model_and_rows):
    model, rows = model_and_rows
    engine = DuckDBEngine()
    try:
        labels = _labels(engine, rows, model)
    finally:
        engine.close()
    reasons = {r for _, rs in labels.values() for r in rs}
    assert any(r.startswith("model.") for r in reasons)
    injected = [labels[r["event_id"]][0] for r in rows if r["ip"].startswith("198.19.")]
    people = [labels[r["event_id"]][0] for r in rows if r["ip"].startswith("198.18.")]
    assert min(injected) > max(people)  # the scores rank them


@pytest.mark.spark
def test_duckdb_and_spark_score_the_same(model_and_rows):
    model, rows = model_and_rows
    duck = DuckDBEngine()
    spark = SparkEngine()
    try:
        a = _labels(duck, rows, model)
        b = _labels(spark, rows, model)
    finally:
        duck.close()
        spark.close()
    assert a.keys() == b.keys()
    diff = [k for k in a if a[k][1] != b[k][1] or abs(a[k][0] - b[k][0]) > 1e-9]
    assert diff == [], diff[:5]
