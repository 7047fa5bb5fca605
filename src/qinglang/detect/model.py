"""sivt.model: a gradient-boosted model trained on the site's own labels (`qinglang train`).

Runs only when the audit is given ``--model FILE``. Every event is scored on its features
(``features.events``) by the model's LightGBM booster, batch by batch in the engine
(``Engine.map_batches``: streamed on DuckDB, an Arrow UDF on Spark). The finding's reason is the
feature group whose contributions (LightGBM's ``pred_contrib``) pushed the event most toward
invalid (``model.pace``, ``model.navigation``, ...), scored with the model's probability, so the
model invalidates at its threshold like any decisive reason and grades everything below it; the
second group, when there is one, is given as supporting evidence.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from qinglang.detect.base import Check, Context, Findings
from qinglang.features.events import FEATURE_GROUP, FEATURES, materialize_event_features

NAME = "model"
CATEGORY = "sivt.model"
CHECKS = (Check("model.pace", ("ts",)),)

SCORES_SCHEMA = pa.schema(
    [("rid", pa.int64()), ("p", pa.float64()), ("first", pa.string()), ("second", pa.string())]
)


def detect(ctx: Context) -> Findings:
    findings = Findings()
    model = ctx.model
    if model is None:
        findings.checks_skipped.append(("model.pace", ["--model"]))
        return findings
    findings.checks_run.append("model")
    materialize_event_features(ctx)
    names = list(model.feature_names)
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        from qinglang.errors import ConfigError

        raise ConfigError(f"the model uses features this qinglang does not compute: {unknown}")
    # The model's threshold maps to the pipeline's 0.5: p' = p / (2 t) below t, else 0.5 + ...
    t = float(getattr(model, "threshold", 0.5) or 0.5)
    cols = ", ".join(["rid", *names])
    ctx.engine.map_batches(
        "model_scores",
        f"SELECT {cols} FROM event_features",
        _scorer(model.booster.model_to_string(), names, t),
        SCORES_SCHEMA,
    )
    findings.queries += [
        "SELECT rid, first AS reason, p AS score FROM model_scores WHERE first IS NOT NULL",
        "SELECT rid, second AS reason, least(p, 0.49) AS score FROM model_scores "
        "WHERE second IS NOT NULL",
    ]
    return findings


def _scorer(text: str, names: list[str], threshold: float) -> Any:
    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import lightgbm as lgb

        from qinglang.learn.model import score_matrix, to_matrix

        booster = lgb.Booster(model_str=text)
        for batch in batches:
            proba, contrib = score_matrix(booster, to_matrix(batch, names))
            yield pa.RecordBatch.from_arrays(
                [batch.column("rid").cast(pa.int64()), pa.array(_rescale(proba, threshold)),
                 *_top_groups(contrib, names)],
                schema=SCORES_SCHEMA,
            )  # fmt: skip

    return score


def _rescale(p: np.ndarray, t: float) -> np.ndarray:
    """Map the model's threshold t to the pipeline's 0.5, keeping order (piecewise linear)."""
    t = min(max(t, 1e-6), 1 - 1e-6)
    return np.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1 - t))


def _top_groups(contrib: np.ndarray, names: list[str]) -> list[pa.Array]:
    """Per row the two feature groups with the largest positive summed contribution."""
    groups = sorted(set(FEATURE_GROUP[n] for n in names))
    index = {g: i for i, g in enumerate(groups)}
    sums = np.zeros((contrib.shape[0], len(groups)))
    for j, name in enumerate(names):
        sums[:, index[FEATURE_GROUP[name]]] += contrib[:, j]
    order = np.argsort(-sums, axis=1, kind="stable")
    out = []
    for k in (0, 1):
        if len(groups) <= k:
            out.append(pa.nulls(contrib.shape[0], pa.string()))
            continue
        pick = order[:, k]
        value = sums[np.arange(len(pick)), pick]
        labels = np.array(groups, dtype=object)[pick]
        out.append(pa.array(np.where(value > 0, labels, None), pa.string()))
    return out
