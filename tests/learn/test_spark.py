"""Scoring on Spark (local mode): mapInArrow gives the same scores and reasons as `predict`."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from qinglang.errors import ConfigError
from qinglang.learn.model import fit, predict, top_contributions
from tests.learn.test_model import FEATURES, separable
from tests.test_engine import spark_engine  # noqa: F401  (the shared Spark session fixture)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def model_and_rows():
    table, y, groups = separable(900, seed=4)
    model = fit(table, FEATURES, y, groups=groups, seed=1)
    rows, _, _ = separable(500, seed=9)  # new rows, with nulls in `sparse`
    return model, rows


def frame(engine, table: pa.Table, name: str):
    """A Spark DataFrame of an Arrow table (through Parquet, as the engine loads tables)."""
    engine.register(name, table)
    return engine.spark.table(name)


def test_spark_scores_match_predict(spark_engine, model_and_rows):  # noqa: F811
    from qinglang.learn.spark import spark_predict

    model, rows = model_and_rows
    python_before = spark_engine.spark.sparkContext.pythonExec
    df = frame(spark_engine, rows, "learn_rows").repartition(3)  # several tasks, several boosters
    out = spark_predict(model, df, FEATURES, keep=["event_id", "visitor_id"], k=2)
    assert out.columns == ["event_id", "visitor_id", "model_score", "model_reasons"]
    assert out.schema["model_score"].dataType.simpleString() == "double"
    assert out.schema["model_reasons"].dataType.simpleString() == "array<string>"
    got = {r["event_id"]: r for r in out.collect()}
    assert len(got) == rows.num_rows
    score, contrib = predict(model, rows)
    reasons = top_contributions(contrib, FEATURES, k=2)
    ids = rows.column("event_id").to_pylist()
    spark_scores = np.array([got[i]["model_score"] for i in ids])
    assert np.array_equal(spark_scores, score)  # the same booster text, the same doubles
    assert [list(got[i]["model_reasons"]) for i in ids] == reasons
    assert [got[i]["visitor_id"] for i in ids] == rows.column("visitor_id").to_pylist()
    assert any(reasons) and any(not r for r in reasons)
    assert spark_engine.spark.sparkContext.pythonExec == python_before


def test_spark_refuses_what_it_cannot_score(spark_engine, model_and_rows):  # noqa: F811
    from qinglang.learn.spark import spark_predict

    model, rows = model_and_rows
    df = frame(spark_engine, rows.drop_columns(["dwell"]), "learn_no_dwell")
    with pytest.raises(ConfigError, match="lacks column.s. dwell"):
        spark_predict(model, df, keep=["event_id"])
    df = frame(spark_engine, rows, "learn_rows")
    with pytest.raises(ConfigError, match="not the model's"):
        spark_predict(model, df, ["burst"], keep=["event_id"])
    text = rows.set_column(1, "burst", pa.array([str(v) for v in rows.column("burst").to_pylist()]))
    with pytest.raises(ConfigError, match="numeric; not: burst .string."):
        spark_predict(model, frame(spark_engine, text, "learn_text"), keep=["event_id"])
