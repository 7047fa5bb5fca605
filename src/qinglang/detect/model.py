"""sivt.model: a gradient-boosted model trained on the site's own labels (`qinglang train`).

Runs only when the audit is given ``--model FILE``. Every event is scored on its features
(``features.events``) by the model's LightGBM booster, batch by batch in the engine
(``Engine.map_batches``: streamed on DuckDB, an Arrow UDF on Spark). The finding's reason is the
feature group whose contributions (LightGBM's ``pred_contrib``) pushed the event most toward
invalid (``model.pace``, ``model.navigation``, ...), scored with the model's probability, so the
model invalidates at its threshold like any decisive reason and grades everything below it; the
second group, when there is one, is given as supporting evidence. Events of one session share
its features, so each distinct feature row is scored once; explanations are computed for rows the
model gives at least ``CONTRIB_FLOOR`` (below it the reason is the model's most important group).
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

# Explanations (TreeSHAP) cost ~50x a score: only events the model gives at least this
# probability are explained; below it, the reason is the model's most important feature group.
CONTRIB_FLOOR = 0.2
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
    # Events of one session share its features: each distinct feature row is scored once.
    features = ", ".join(names)
    ctx.engine.materialize(
        "model_input", f"SELECT min(rid) AS rid, {features} FROM event_features GROUP BY {features}"
    )
    ctx.engine.map_batches(
        "model_distinct_scores",
        f"SELECT rid, {features} FROM model_input",
        _scorer(model.booster.model_to_string(), names, t),
        SCORES_SCHEMA,
    )
    same = " AND ".join(f"f.{n} IS NOT DISTINCT FROM i.{n}" for n in names)
    ctx.engine.materialize(
        "model_scores",
        "SELECT f.rid, s.p, s.first, s.second FROM event_features f "
        f"JOIN model_input i ON {same} JOIN model_distinct_scores s ON s.rid = i.rid",
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
        gain = booster.feature_importance("gain")
        overall = FEATURE_GROUP[names[int(np.argmax(gain))]] if len(gain) else None
        for batch in batches:
            x = to_matrix(batch, names)
            proba = np.asarray(booster.predict(x, num_threads=1), dtype=np.float64)
            first = np.full(len(x), overall, dtype=object)
            second = np.full(len(x), None, dtype=object)
            explain = proba >= CONTRIB_FLOOR
            if explain.any():
                _, contrib = score_matrix(booster, x[explain])
                top, nxt = _top_groups(contrib, names)
                first[explain], second[explain] = top, nxt
            yield pa.RecordBatch.from_arrays(
                [batch.column("rid").cast(pa.int64()), pa.array(_rescale(proba, threshold)),
                 pa.array(first, pa.string()), pa.array(second, pa.string())],
                schema=SCORES_SCHEMA,
            )  # fmt: skip

    return score


def _rescale(p: np.ndarray, t: float) -> np.ndarray:
    """Map the model's threshold t to the pipeline's 0.5, keeping order (piecewise linear)."""
    t = min(max(t, 1e-6), 1 - 1e-6)
    return np.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1 - t))


def _top_groups(contrib: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
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
            out.append(np.full(contrib.shape[0], None, dtype=object))
            continue
        pick = order[:, k]
        value = sums[np.arange(len(pick)), pick]
        labels = np.array(groups, dtype=object)[pick]
        labels[value <= 0] = None
        out.append(labels)
    return out[0], out[1]
