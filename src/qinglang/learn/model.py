"""A LightGBM classifier of invalid traffic: fit with cross-validated metrics, save, load, score.

Features arrive as a `pyarrow.Table` with one numeric (or boolean) column per feature; nulls are
missing values (NaN to LightGBM). Other columns are ignored. Labels are 0 (valid) or 1 (invalid).

The saved model is ONE JSON file that a person can read: a format marker, the feature names, the
meta (versions, training rows per class, the training data's SHA-256, the cross-validated metrics,
each feature's training distribution) and, last, the LightGBM model text, one line per entry.

Training is deterministic: the same data and seed give the same model on the same machine
(LightGBM's `deterministic`, a fixed thread count, column-wise histograms, no bagging).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from qinglang import __version__
from qinglang.errors import ConfigError

FORMAT = "qinglang-model"
FORMAT_VERSION = 1

MIN_ROWS_PER_CLASS = 10
CV_FOLDS = 5
NUM_ROUNDS = 100
# One thread by default: LightGBM's OpenMP threads spin at their barriers, so on a busy machine
# (a test run in parallel, a Spark executor's other tasks) two threads ran 10x slower than one.
NUM_THREADS = 1
FPR_TARGET = 0.02  # the false-positive rate (on valid rows) that `recall_at_fpr_0.02` is read at
DEFAULT_THRESHOLD = 0.5

# Population stability index, as credit scoring reads it: < 0.1 no shift, 0.1-0.25 a moderate
# shift, > 0.25 a significant one (the model sees data unlike what it was trained on).
PSI_ALERT = 0.25
_PSI_FLOOR = 1e-4  # a share of 0 in either distribution counts as this (PSI has log(a/e))
_DECILES = [i / 10 for i in range(1, 10)]


@dataclass
class Model:
    """A trained classifier: `booster` gives P(invalid); `threshold` is the decision cut."""

    feature_names: list[str]
    booster: lgb.Booster
    meta: dict[str, Any] = field(default_factory=dict)
    threshold: float = DEFAULT_THRESHOLD

    @property
    def metrics(self) -> dict[str, float]:
        """Cross-validated (out-of-fold) metrics from training: plain floats."""
        return dict(self.meta.get("metrics", {}))

    @property
    def bias(self) -> float:
        """The contributions' bias (expected raw score, log-odds): for every row,
        bias + sum(contributions) = the raw score, and sigmoid(raw score) = `predict`'s score."""
        row = np.full((1, len(self.feature_names)), np.nan)
        contrib = np.asarray(self.booster.predict(row, pred_contrib=True, num_threads=NUM_THREADS))
        return float(contrib[0, -1])


# ---------------------------------------------------------------- features


def check_columns(table: pa.Table | pa.RecordBatch, feature_names: list[str]) -> None:
    """ConfigError naming the model features the table lacks."""
    have = set(table.schema.names)
    missing = [f for f in feature_names if f not in have]
    if missing:
        raise ConfigError(
            f"the features lack {len(missing)} column(s) the model needs: {', '.join(missing)}"
            f" (they have: {', '.join(table.schema.names) or 'none'})"
        )


def to_matrix(table: pa.Table | pa.RecordBatch, feature_names: list[str]) -> np.ndarray:
    """The feature columns as a float64 matrix (rows x features), nulls as NaN."""
    check_columns(table, feature_names)
    out = np.empty((table.num_rows, len(feature_names)), dtype=np.float64)
    for j, name in enumerate(feature_names):
        column = table.column(name)
        kind = column.type
        if not _numeric(kind):
            raise ConfigError(f"feature '{name}' is {kind}, not a number: features must be numeric")
        if pa.types.is_null(kind):
            out[:, j] = np.nan
            continue
        values = pc.cast(column, pa.float64())
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
        out[:, j] = values.to_numpy(zero_copy_only=False)  # nulls come out as NaN
    return out


def _numeric(kind: pa.DataType) -> bool:
    t = pa.types
    return (
        t.is_integer(kind)
        or t.is_floating(kind)
        or t.is_boolean(kind)
        or t.is_decimal(kind)
        or t.is_null(kind)
    )


def check_names(feature_names: list[str]) -> list[str]:
    """Names LightGBM keeps as they are (no spaces, no JSON punctuation), each once."""
    names = list(feature_names)
    if not names:
        raise ConfigError("no features to train on")
    dup = sorted({f for f in names if names.count(f) > 1})
    if dup:
        raise ConfigError(f"feature names repeat: {', '.join(dup)}")
    odd = [f for f in names if not f or any(c.isspace() or c in '[]{}",:' for c in f)]
    if odd:
        raise ConfigError(
            f"feature names LightGBM cannot keep: {', '.join(map(repr, odd))}; "
            "use letters, digits, '_', '.' or '-'"
        )
    return names


# ---------------------------------------------------------------- training


def params(n_rows: int, seed: int, num_threads: int = NUM_THREADS) -> dict[str, Any]:
    """LightGBM parameters: modest, deterministic, quiet. Shallow trees (15 leaves, depth 5):
    the per-event explanations (TreeSHAP, `pred_contrib`) cost trees x leaves x depth^2 per row,
    and 31 unbounded leaves made them 40x slower than the scores themselves."""
    return {
        "objective": "binary",
        "learning_rate": 0.1,
        "num_leaves": 15,
        "max_depth": 5,
        "min_data_in_leaf": max(5, min(100, n_rows // 100)),
        "min_sum_hessian_in_leaf": 1e-3,
        "lambda_l2": 1.0,
        "max_bin": 255,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": num_threads,
        "seed": seed,
        "verbose": -1,
    }


def _train(
    x: np.ndarray, y: np.ndarray, feature_names: list[str], seed: int, num_threads: int
) -> lgb.Booster:
    p = params(len(y), seed, num_threads)
    try:
        data = lgb.Dataset(x, label=y, feature_name=feature_names, params=p, free_raw_data=True)
        return lgb.train(p, data, num_boost_round=NUM_ROUNDS)
    except lgb.basic.LightGBMError as exc:
        raise ConfigError(f"LightGBM could not train on these features: {exc}") from exc


def _check_labels(y: np.ndarray, n_rows: int, groups: np.ndarray | None) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n_rows:
        got = len(y) if y.ndim == 1 else f"an array of shape {y.shape} of"
        raise ConfigError(f"labels: got {got} labels for {n_rows} feature rows; need one each")
    if groups is not None and len(groups) != n_rows:
        raise ConfigError(f"groups: got {len(groups)} for {n_rows} feature rows; need one each")
    bad = ~np.isin(y, [0, 1])
    if bad.any():
        raise ConfigError(
            f"labels must be 0 (valid) or 1 (invalid); {int(bad.sum())} are not "
            f"(first: {y[bad][0]!r})"
        )
    y = y.astype(np.int8)
    n_valid, n_invalid = int((y == 0).sum()), int((y == 1).sum())
    if min(n_valid, n_invalid) < MIN_ROWS_PER_CLASS:
        raise ConfigError(
            f"too few labelled rows to train: {n_valid:,} valid and {n_invalid:,} invalid; "
            f"label at least {MIN_ROWS_PER_CLASS} of each (a few hundred give useful metrics)"
        )
    return y


def _group_codes(groups: Any) -> np.ndarray:
    """Groups (ids of any one type: session ids, visitor ids, numbers) as integer codes."""
    try:
        array = pa.array(groups, from_pandas=True) if not isinstance(groups, pa.Array) else groups
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ConfigError(f"groups: not one kind of id ({exc})") from exc
    if array.null_count:
        raise ConfigError(f"groups: {array.null_count:,} are missing; give every row its group")
    codes = pc.dictionary_encode(array).indices
    return np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64)


def _folds(y: np.ndarray, groups: np.ndarray | None, seed: int) -> tuple[list, dict[str, Any]]:
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    smallest = int(min((y == 0).sum(), (y == 1).sum()))
    if groups is None:
        k = min(CV_FOLDS, smallest)
        splitter: Any = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        splits = list(splitter.split(np.zeros(len(y)), y))
    else:
        groups = np.asarray(groups)
        # a group (session, visitor) sits in one fold only: count the groups holding each class
        per_class = [len(np.unique(groups[y == c])) for c in (0, 1)]
        k = min(CV_FOLDS, smallest, *per_class)
        if k < 2:
            raise ConfigError(
                f"cannot cross-validate: the invalid rows fall in {per_class[1]:,} group(s) and "
                f"the valid rows in {per_class[0]:,}; need at least 2 groups of each"
            )
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        splits = list(splitter.split(np.zeros(len(y)), y, groups))
    for train, _test in splits:
        if len(np.unique(y[train])) < 2:
            raise ConfigError(
                "cannot cross-validate: a training fold holds one class only (too few groups; "
                "label more sessions or visitors)"
            )
    how = {
        "folds": k,
        "splitter": "StratifiedGroupKFold" if groups is not None else "StratifiedKFold",
    }
    return splits, how


def evaluate(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """ROC AUC, average precision, precision and recall at 0.5, and recall at the lowest threshold
    where at most FPR_TARGET (2%) of the valid rows score at or above it: that threshold, and the
    false-positive rate it actually gives, are included. When no threshold keeps to the target
    (too few valid rows, or they score highest), the threshold is given as 1.0 and recall as 0."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    flagged = score >= DEFAULT_THRESHOLD
    tp = int((flagged & y).sum())
    n_pos, n_flagged = int(y.sum()), int(flagged.sum())
    # the lowest threshold keeping false positives within the target: just above the
    # (allowed + 1)-th highest valid score, i.e. the smallest score above it
    neg = np.sort(score[~y])[::-1]
    allowed = int(math.floor(FPR_TARGET * len(neg)))
    cut = neg[allowed] if allowed < len(neg) else -math.inf
    above = score[score > cut]
    t_fpr = float(above.min()) if len(above) else math.inf
    recall_fpr = float((score[y] >= t_fpr).sum() / n_pos)
    fpr = float((neg >= t_fpr).sum() / len(neg))
    return {
        "roc_auc": float(roc_auc_score(y, score)),
        "average_precision": float(average_precision_score(y, score)),
        "precision_at_0.5": float(tp / n_flagged) if n_flagged else 0.0,
        "recall_at_0.5": float(tp / n_pos),
        "recall_at_fpr_0.02": recall_fpr,
        "threshold_at_fpr_0.02": t_fpr if math.isfinite(t_fpr) else 1.0,
        "fpr_at_that_threshold": fpr,
    }


def fit(
    features: pa.Table,
    feature_names: list[str],
    y: np.ndarray,
    groups: np.ndarray | None = None,
    seed: int = 0,
    training_sha256: str = "",
    extra_meta: dict[str, Any] | None = None,
    num_threads: int = NUM_THREADS,
) -> Model:
    """Cross-validate (5 folds, fewer for tiny data; by group when `groups` are given, so one
    session or visitor is never in both sides of a fold), then train on all rows.

    `num_threads` above 1 speeds up large, idle-machine training; the model may then differ in
    the last bits from a one-thread model (it is deterministic for a given thread count)."""
    feature_names = check_names(feature_names)
    x = to_matrix(features, feature_names)
    y = _check_labels(y, len(x), groups)
    codes = None if groups is None else _group_codes(groups)
    splits, how = _folds(y, codes, seed)
    oof = np.empty(len(y), dtype=np.float64)
    for train, test in splits:
        booster = _train(x[train], y[train], feature_names, seed, num_threads)
        oof[test] = booster.predict(x[test], num_threads=num_threads)
    metrics = evaluate(y, oof)
    booster = _train(x, y, feature_names, seed, num_threads)
    # the booster as load() will see it, so a saved and reloaded model scores identically
    booster = lgb.Booster(model_str=booster.model_to_string())
    meta: dict[str, Any] = {
        "qinglang_version": __version__,
        "lightgbm_version": lgb.__version__,
        "created_utc": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "training_sha256": training_sha256,
        "training_rows": {"valid": int((y == 0).sum()), "invalid": int((y == 1).sum())},
        "seed": seed,
        "params": {**params(len(y), seed, num_threads), "num_boost_round": NUM_ROUNDS},
        "cv": {**how, "grouped": groups is not None, "metrics_from": "out-of-fold scores"},
        "metrics": metrics,
        "features": {name: summarize(x[:, j]) for j, name in enumerate(feature_names)},
    }
    if extra_meta:
        meta["extra"] = _plain(extra_meta)
    return Model(feature_names=feature_names, booster=booster, meta=meta)


# ---------------------------------------------------------------- scoring


def predict(model: Model, features: pa.Table | pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    """P(invalid) per row, and each feature's contribution to it (rows x features, log-odds;
    the bias column is dropped: it is `model.bias`, the same for every row)."""
    return score_matrix(model.booster, to_matrix(features, model.feature_names))


def score_matrix(booster: lgb.Booster, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) == 0:
        return np.empty(0), np.empty((0, x.shape[1]))
    score = np.asarray(booster.predict(x, num_threads=NUM_THREADS), dtype=np.float64)
    contrib = np.asarray(booster.predict(x, pred_contrib=True, num_threads=NUM_THREADS))
    return score, contrib[:, :-1]


def top_contributions(
    contrib: np.ndarray, feature_names: list[str], k: int = 3, min_value: float = 0.0
) -> list[list[str]]:
    """Per row, the names of up to k features pushing most toward invalid: contributions above
    `min_value` (positive only by default), largest first; ties keep the feature order."""
    contrib = np.asarray(contrib)
    if contrib.ndim != 2 or contrib.shape[1] != len(feature_names):
        raise ConfigError(
            f"contributions have shape {contrib.shape}; expected rows x {len(feature_names)}"
        )
    if len(contrib) == 0 or k <= 0:
        return [[] for _ in range(len(contrib))]
    k = min(k, contrib.shape[1])
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
    keep = np.take_along_axis(contrib, order, axis=1) > min_value
    names = np.asarray(feature_names, dtype=object)
    return [list(names[o[m]]) for o, m in zip(order, keep, strict=True)]


# ---------------------------------------------------------------- drift


def summarize(values: np.ndarray) -> dict[str, Any]:
    """One feature's training distribution: null share, min/max/mean, deciles, and the share of
    non-null rows in each bin the deciles make (what `drift` compares new data against)."""
    n = len(values)
    present = values[~np.isnan(values)]
    out: dict[str, Any] = {"rows": n, "null_share": float(1 - len(present) / n) if n else 0.0}
    if len(present) == 0:
        out.update(min=None, max=None, mean=None, deciles=[], bin_edges=[], bin_shares=[])
        return out
    deciles = [float(v) for v in np.quantile(present, _DECILES)]
    edges = sorted(set(deciles))
    out.update(
        min=float(present.min()),
        max=float(present.max()),
        mean=float(present.mean()),
        deciles=deciles,
        bin_edges=edges,
        bin_shares=[float(s) for s in _bin_shares(present, edges)],
    )
    return out


def _bin_shares(present: np.ndarray, edges: list[float]) -> np.ndarray:
    """Shares of values in (-inf, e1], (e1, e2], ..., (ek, inf)."""
    idx = np.searchsorted(np.asarray(edges), present, side="left")
    return np.bincount(idx, minlength=len(edges) + 1) / max(len(present), 1)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.maximum(np.asarray(expected, dtype=np.float64), _PSI_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), _PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def drift(
    model: Model, features: pa.Table | pa.RecordBatch, threshold: float = PSI_ALERT
) -> list[dict[str, Any]]:
    """Features whose distribution in `features` moved from training: population stability
    index over the training decile bins plus a null bin (so a change in the null share counts).
    Returns those with PSI > `threshold` (0.25: a significant shift), largest first."""
    x = to_matrix(features, model.feature_names)
    if len(x) == 0:
        return []
    stats = model.meta.get("features", {})
    found = []
    for j, name in enumerate(model.feature_names):
        train = stats.get(name)
        if not train:
            continue
        values = x[:, j]
        null_new = float(np.isnan(values).mean())
        present = values[~np.isnan(values)]
        null_train = float(train["null_share"])
        expected = [null_train] + [(1 - null_train) * s for s in train["bin_shares"]]
        if train["bin_shares"]:
            shares = _bin_shares(present, train["bin_edges"])
        else:
            shares = np.zeros(0)
        actual = [null_new] + [(1 - null_new) * s for s in shares]
        if not train["bin_shares"] and len(present):
            # training had no values at all: everything non-null is new ground
            expected.append(0.0)
            actual.append(1 - null_new)
        value = psi(np.asarray(expected), np.asarray(actual))
        if value > threshold:
            found.append(
                {
                    "feature": name,
                    "psi": value,
                    "null_share_train": null_train,
                    "null_share_new": null_new,
                    "null_share_change": null_new - null_train,
                    "median_train": train["deciles"][4] if train["deciles"] else None,
                    "median_new": float(np.median(present)) if len(present) else None,
                    "rows": len(values),
                }
            )
    return sorted(found, key=lambda d: -d["psi"])


# ---------------------------------------------------------------- files


def save(model: Model, path: str | Path) -> Path:
    """Write the model as one JSON file (atomically: a reader never sees half a file)."""
    path = Path(path)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "feature_names": list(model.feature_names),
        "threshold": float(model.threshold),
        "meta": _plain(model.meta),
        "lightgbm_model": model.booster.model_to_string().split("\n"),
    }
    text = json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # the umask's mode, unlike mkstemp
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load(path: str | Path) -> Model:
    """Read a model `save` wrote; ConfigError naming the file when it is not one, or damaged."""
    path = Path(path)

    def bad(what: str) -> ConfigError:
        return ConfigError(f"{path}: {what}")

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise bad("no such model file") from None
    except OSError as exc:
        raise bad(f"cannot read the model file: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad(
            "not a qinglang model (not UTF-8 text; expected the JSON `qinglang train` writes)"
        ) from None
    except json.JSONDecodeError as exc:
        if not raw.strip():
            raise bad("empty file, not a qinglang model") from None
        where = f"{exc.msg}, line {exc.lineno}"
        if f'"{FORMAT}"'.encode() not in raw[:200]:
            raise bad(
                f"not a qinglang model (not valid JSON: {where}); "
                "expected the JSON `qinglang train` writes"
            ) from None
        ends_early = exc.pos >= len(raw.decode("utf-8").rstrip()) - 1
        if ends_early or exc.msg.startswith("Unterminated string"):
            raise bad(
                f"the qinglang model is truncated (its JSON ends early: {where}); "
                "train or copy it again"
            ) from None
        raise bad(
            f"the qinglang model is damaged (invalid JSON: {where}); train or copy it again"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise bad(f"not a qinglang model (format marker {found!r}, expected {FORMAT!r})")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad(f"damaged model: format_version is {version!r}, not a number")
    if version > FORMAT_VERSION:
        raise bad(
            f"model format {version} is newer than this qinglang ({__version__}) reads "
            f"(up to {FORMAT_VERSION}); upgrade qinglang"
        )
    names, threshold, meta, lines = (
        doc.get("feature_names"),
        doc.get("threshold"),
        doc.get("meta"),
        doc.get("lightgbm_model"),
    )
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise bad("damaged model: feature_names is not a list of names")
    if (
        not isinstance(threshold, int | float)
        or isinstance(threshold, bool)
        or not 0 <= threshold <= 1
    ):
        raise bad(f"damaged model: threshold is {threshold!r}, not a number in [0, 1]")
    if not isinstance(meta, dict):
        raise bad("damaged model: meta is not an object")
    if not (isinstance(lines, list) and lines and all(isinstance(s, str) for s in lines)):
        raise bad("damaged model: lightgbm_model is not the model's text lines")
    text = "\n".join(lines)
    if not text.startswith("tree") or "end of trees" not in text:
        raise bad("damaged model: the LightGBM model text is incomplete")
    try:
        booster = lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError as exc:
        raise bad(f"damaged model: LightGBM cannot read its model text ({exc})") from exc
    if booster.feature_name() != names:
        raise bad(
            "damaged model: the LightGBM model's features "
            f"({', '.join(booster.feature_name())}) differ from feature_names ({', '.join(names)})"
        )
    return Model(feature_names=names, booster=booster, meta=meta, threshold=float(threshold))


def model_sha256(path: str | Path) -> str:
    """SHA-256 of the model file's bytes: what an audit records as the model it used."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars and arrays to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
