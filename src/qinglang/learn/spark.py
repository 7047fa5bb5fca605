"""Scoring with a trained model on PySpark: an Arrow UDF (`mapInArrow`), one booster per task.

The workers need qinglang, lightgbm, numpy and pyarrow installed (the same versions as the
driver); the model travels to them as its LightGBM text, inside the function's closure. In local
mode they run the driver's interpreter unless PYSPARK_PYTHON names another.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from qinglang.errors import ConfigError
from qinglang.learn.model import Model, check_columns, score_matrix, to_matrix, top_contributions

SCORE = "model_score"
REASONS = "model_reasons"


def spark_predict(
    model: Model,
    df: Any,
    feature_names: list[str] | None = None,
    keep: list[str] | tuple[str, ...] = (),
    k: int = 3,
    min_value: float = 0.0,
) -> Any:
    """`keep` columns of `df`, plus `model_score` (double, P(invalid)) and `model_reasons`
    (array<string>: up to k features pushing the row most toward invalid, largest first).

    `feature_names`, when given, must be the model's (a guard against scoring the wrong table).
    """
    from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField, StructType

    names = list(model.feature_names)
    if feature_names is not None and list(feature_names) != names:
        raise ConfigError(
            f"spark_predict: feature_names ({', '.join(feature_names)}) are not the model's "
            f"({', '.join(names)})"
        )
    keep = list(keep)
    clash = [c for c in keep if c in (SCORE, REASONS)]
    if clash:
        raise ConfigError(f"spark_predict: keep names the output column(s) {', '.join(clash)}")
    missing = [c for c in dict.fromkeys(keep + names) if c not in df.columns]
    if missing:
        raise ConfigError(
            f"spark_predict: the DataFrame lacks column(s) {', '.join(missing)} "
            f"(it has: {', '.join(df.columns)})"
        )
    by_name = {f.name: f for f in df.schema.fields}
    odd = [
        f"{n} ({by_name[n].dataType.simpleString()})"
        for n in names
        if by_name[n].dataType.typeName()
        not in ("byte", "short", "integer", "long", "float", "double", "decimal", "boolean", "void")
    ]
    if odd:
        raise ConfigError(f"spark_predict: features must be numeric; not: {', '.join(odd)}")
    schema = StructType(
        [by_name[c] for c in keep]
        + [
            StructField(SCORE, DoubleType(), True),
            StructField(REASONS, ArrayType(StringType(), True), True),
        ]
    )
    fn = _scorer(model.booster.model_to_string(), names, keep, k, min_value)
    with _local_workers_run_this_python(df):
        return map_in_arrow(df.select(*dict.fromkeys(keep + names)), fn, schema)


@contextmanager
def _local_workers_run_this_python(df: Any) -> Iterator[None]:
    """In local mode, Python workers run $PYSPARK_PYTHON or, when it is unset, `python3` from
    PATH: often not the interpreter (a venv) that has qinglang and lightgbm. Unless
    PYSPARK_PYTHON says otherwise, the UDF made here runs this interpreter; the session's
    setting is restored afterwards (the plan keeps the interpreter it was made with)."""
    try:
        sc = df.sparkSession.sparkContext
        local = str(sc.master).startswith("local")
    except Exception:  # Spark Connect has no SparkContext here: the cluster decides
        local = False
    if not local or os.environ.get("PYSPARK_PYTHON"):
        yield
        return
    before = sc.pythonExec
    sc.pythonExec = sys.executable
    try:
        yield
    finally:
        sc.pythonExec = before


def map_in_arrow(df: Any, fn: Any, schema: Any) -> Any:
    """`df.mapInArrow(fn, schema)`. PySpark 4.0's mapInArrow builds its UDF through pandas_udf,
    which refuses to run without pandas although an Arrow UDF never uses it (the workers don't
    import it); without pandas, the same plan is built without that check (classic Spark)."""
    try:
        return df.mapInArrow(fn, schema)
    except ImportError as exc:  # pyspark's PySparkImportError: "Pandas >= 2.0.0 must be installed"
        if "pandas" not in str(exc).lower() or not hasattr(df, "_jdf"):
            raise ConfigError(
                f"spark_predict needs pandas on the driver with this PySpark (pip install "
                f"'pandas>=2'): {exc}"
            ) from exc
    from pyspark.sql import DataFrame
    from pyspark.sql.udf import _create_udf
    from pyspark.util import PythonEvalType

    udf = _create_udf(fn, schema, PythonEvalType.SQL_MAP_ARROW_ITER_UDF)
    column = udf(*[df[c] for c in df.columns])
    return DataFrame(df._jdf.mapInArrow(column._jc, False, None), df.sparkSession)


def _scorer(text: str, names: list[str], keep: list[str], k: int, min_value: float) -> Any:
    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import lightgbm as lgb

        booster = lgb.Booster(model_str=text)  # once per task (partition), not per batch
        for batch in batches:
            check_columns(batch, names)
            values, contrib = score_matrix(booster, to_matrix(batch, names))
            reasons = top_contributions(contrib, names, k=k, min_value=min_value)
            columns = [batch.column(c) for c in keep] + [
                pa.array(values, pa.float64()),
                pa.array(reasons, pa.list_(pa.string())),
            ]
            yield pa.RecordBatch.from_arrays(columns, names=[*keep, SCORE, REASONS])

    return score
