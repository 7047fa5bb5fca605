"""`qinglang train`: features of a labelled input -> a self-describing LightGBM model file.

The same reading options as an audit (format, log format, mapping, site), the same features the
audit scores (``features.events``), one row per event. A label keyed by ``visitor_id`` applies to
every event of that visitor. Cross-validation folds keep each session on one side, so a model is
never scored on the session it learnt from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from qinglang.detect.base import Context
from qinglang.detect.pipeline import present_columns
from qinglang.engine import Engine, connect
from qinglang.events import visitor_id_sql
from qinglang.features.events import FEATURES, materialize_event_features
from qinglang.learn.labels import align, read_labels
from qinglang.learn.model import Model, fit, save


@dataclass
class TrainResult:
    model: Model
    path: Path
    rows: int
    warning: str | None


def event_feature_rows(engine: Engine, settings: dict[str, object] | None) -> pa.Table:
    """rid, event_id, visitor_id, session (an integer group id) and FEATURES, in input order."""
    ctx = Context(engine=engine, present=present_columns(engine), settings=dict(settings or {}))
    materialize_event_features(ctx)
    cols = ", ".join(f"f.{c}" for c in FEATURES)
    return engine.query(
        # a landing request sent before its cookie was set is that cookie's (features/visitors)
        f"SELECT e.rid, e.event_id, {visitor_id_sql('e', 'vl')} AS visitor_id, "
        f"dense_rank() OVER (ORDER BY m.skey, m.sno) AS session, {cols} "
        "FROM events e JOIN event_features f ON f.rid = e.rid "
        "LEFT JOIN visitor_links vl ON vl.rid = e.rid "
        "LEFT JOIN session_map m ON m.rid = e.rid ORDER BY e.rid"
    )


def train(
    inputs: Sequence[str | Path],
    labels_path: Path,
    out: Path,
    options: Any,
    seed: int = 0,
    step: Callable[..., None] = lambda *_: None,
) -> TrainResult:
    from qinglang.audit.run import load_inputs

    labels = read_labels(labels_path)
    engine = connect(options.engine, options.db)
    try:
        loaded = load_inputs(engine, inputs, options, step)
        step("features")
        rows = event_feature_rows(engine, options.settings)
    finally:
        engine.close()
    matched, invalid, warning = align(labels, rows.column(labels.key_kind))
    keep = pa.array(matched)
    table = rows.filter(keep)
    step("training")
    digest = hashlib.sha256()
    for report in loaded.reports:
        digest.update(f"{report.path}\0{report.sha256}\n".encode())
    digest.update(hashlib.sha256(Path(labels_path).read_bytes()).hexdigest().encode())
    model = fit(
        table,
        list(FEATURES),
        invalid[matched].astype(np.int8),
        groups=table.column("session").to_numpy(zero_copy_only=False),
        seed=seed,
        training_sha256=digest.hexdigest(),
        extra_meta={
            "inputs": [{"path": str(r.path), "sha256": r.sha256} for r in loaded.reports],
            "labels": {"path": str(labels_path), "key": labels.key_kind},
            "format": options.fmt,
            "log_format": options.log_format,
            "settings": options.settings or {},
        },
    )
    return TrainResult(model, save(model, out), table.num_rows, warning)
