"""The LightGBM classifier: metrics that mean something, determinism, files, drift, reasons."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pyarrow as pa
import pytest

from qinglang import __version__
from qinglang.errors import ConfigError
from qinglang.learn import model as learn
from qinglang.learn.model import (
    FORMAT,
    PSI_ALERT,
    drift,
    evaluate,
    fit,
    load,
    model_sha256,
    predict,
    save,
    top_contributions,
)

FEATURES = ["burst", "dwell", "noise", "sparse"]
METRICS = {
    "roc_auc",
    "average_precision",
    "precision_at_0.5",
    "recall_at_0.5",
    "recall_at_fpr_0.02",
    "threshold_at_fpr_0.02",
    "fpr_at_that_threshold",
}


def separable(n: int = 1200, seed: int = 0) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Invalid rows burst (high `burst`); `dwell` helps a little; `noise` is noise; `sparse` is
    mostly null. Plus two non-feature columns."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int8)
    burst = rng.normal(size=n) + 3.0 * y
    dwell = rng.normal(size=n) - 0.5 * y
    noise = rng.normal(size=n)
    sparse = np.where(rng.random(n) < 0.7, np.nan, rng.normal(size=n))
    table = pa.table(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "burst": burst,
            "dwell": pa.array(dwell),
            "noise": noise,
            "sparse": pa.array(sparse, from_pandas=True),  # NaN -> null
            "visitor_id": [f"v{i // 3}" for i in range(n)],
        }
    )
    return table, y, np.array([f"v{i // 3}" for i in range(n)])  # the visitor of each row


@pytest.fixture(scope="module")
def trained():
    table, y, groups = separable()
    model = fit(
        table,
        FEATURES,
        y,
        groups=groups,
        seed=7,
        training_sha256="ab" * 32,
        extra_meta={"labels": "LABELS.csv", "n": np.int64(3), "span": (1, 2)},
    )
    return model, table, y


def test_separable_data_scores_high_and_metrics_are_plain_floats(trained):
    model, table, y = trained
    assert set(model.metrics) == METRICS
    assert all(type(v) is float for v in model.metrics.values())
    assert model.metrics["roc_auc"] > 0.95
    assert model.metrics["average_precision"] > 0.9
    assert model.metrics["fpr_at_that_threshold"] <= 0.02
    assert 0 < model.metrics["threshold_at_fpr_0.02"] <= 1
    score, _ = predict(model, table)
    assert ((score >= 0.5) == (y == 1)).mean() > 0.9


def test_meta_says_what_trained_it(trained):
    model, _, y = trained
    meta = model.meta
    assert meta["qinglang_version"] == __version__
    assert meta["lightgbm_version"] == learn.lgb.__version__
    assert meta["created_utc"].endswith("+00:00")
    assert meta["training_rows"] == {"valid": int((y == 0).sum()), "invalid": int(y.sum())}
    assert meta["training_sha256"] == "ab" * 32
    assert meta["cv"]["folds"] == 5 and meta["cv"]["splitter"] == "StratifiedGroupKFold"
    assert meta["params"]["deterministic"] is True and meta["params"]["seed"] == 7
    assert meta["extra"] == {"labels": "LABELS.csv", "n": 3, "span": [1, 2]}
    sparse = meta["features"]["sparse"]
    assert sparse["null_share"] == pytest.approx(0.7, abs=0.05)
    assert len(sparse["deciles"]) == 9 and sparse["deciles"] == sorted(sparse["deciles"])
    assert sum(sparse["bin_shares"]) == pytest.approx(1.0)
    assert model.threshold == 0.5


def test_pure_noise_scores_near_a_coin():
    rng = np.random.default_rng(11)
    n = 1000
    table = pa.table({f: rng.normal(size=n) for f in FEATURES})
    model = fit(table, FEATURES, rng.integers(0, 2, n), seed=0)
    assert abs(model.metrics["roc_auc"] - 0.5) < 0.08
    assert model.metrics["recall_at_fpr_0.02"] < 0.1


def test_groups_keep_a_visitor_out_of_its_own_test_fold():
    """Six identical rows per visitor, a coin-flip label per visitor: row-wise folds let the
    model recognise the twins of each test row (AUC 1.0); grouped folds show it knows nothing."""
    rng = np.random.default_rng(3)
    n_groups, per = 150, 6
    x = np.repeat(rng.normal(size=(n_groups, 3)), per, axis=0)
    y = np.repeat(rng.integers(0, 2, n_groups), per)
    groups = np.repeat(np.arange(n_groups), per)
    table = pa.table({f"f{i}": x[:, i] for i in range(3)})
    leaky = fit(table, table.column_names, y, seed=0).metrics["roc_auc"]
    honest = fit(table, table.column_names, y, groups=groups, seed=0).metrics["roc_auc"]
    assert leaky > 0.9
    assert abs(honest - 0.5) < 0.1
    splits, how = learn._folds(y.astype(np.int8), groups, seed=0)
    assert how["folds"] == 5
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])


def test_same_seed_same_model(trained):
    model, table, y = trained
    _, _, groups = separable()
    again = fit(table, FEATURES, y, groups=groups, seed=7, training_sha256="ab" * 32)
    assert again.booster.model_to_string() == model.booster.model_to_string()
    assert again.metrics == model.metrics
    a, ca = predict(model, table)
    b, cb = predict(again, table)
    assert np.array_equal(a, b) and np.array_equal(ca, cb)


def test_save_load_round_trip(trained, tmp_path):
    model, table, _ = trained
    path = save(model, tmp_path / "sub" / "model.json")
    back = load(path)
    assert back.feature_names == model.feature_names
    assert back.meta == model.meta
    assert back.threshold == model.threshold
    a, ca = predict(model, table)
    b, cb = predict(back, table)
    assert np.array_equal(a, b) and np.array_equal(ca, cb)
    assert model_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    doc = json.loads(path.read_text(encoding="utf-8"))  # plain JSON a person can read
    assert doc["format"] == FORMAT and doc["format_version"] == 1
    assert list(doc)[-1] == "lightgbm_model"  # the meta first, the trees last
    assert doc["lightgbm_model"][0] == "tree"
    assert [p.name for p in path.parent.iterdir()] == ["model.json"]  # no temporary left


def _refused(path, *words: str) -> str:
    with pytest.raises(ConfigError) as err:
        load(path)
    message = str(err.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    assert "\n" not in message
    return message


def test_damaged_and_foreign_files_are_refused_naming_the_file(trained, tmp_path):
    model, _, _ = trained
    good = save(model, tmp_path / "model.json")
    text = good.read_text(encoding="utf-8")
    doc = json.loads(text)

    def write(name: str, content: str | bytes):
        path = tmp_path / name
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        return path

    _refused(tmp_path / "absent.json", "no such model file")
    _refused(write("empty.json", ""), "empty")
    _refused(write("cut.json", text[: len(text) // 2]), "truncated")
    _refused(write("cut-early.json", text[:100]), "truncated")
    _refused(write("labels.csv", "event_id,label\ne1,valid\n"), "not a qinglang model")
    _refused(write("binary.bin", bytes(range(256)) * 4), "not a qinglang model")
    _refused(write("list.json", "[1, 2, 3]"), "not a qinglang model")
    _refused(write("other.json", json.dumps({**doc, "format": "sklearn"})), "'sklearn'")
    _refused(write("newer.json", json.dumps({**doc, "format_version": 99})), "newer")
    _refused(write("names.json", json.dumps({**doc, "feature_names": "burst"})), "feature_names")
    _refused(write("thr.json", json.dumps({**doc, "threshold": "0.5"})), "threshold")
    _refused(write("meta.json", json.dumps({**doc, "meta": []})), "meta")
    _refused(write("model.txt.json", json.dumps({**doc, "lightgbm_model": "tree"})), "lightgbm")
    half = doc["lightgbm_model"][: len(doc["lightgbm_model"]) // 2]
    _refused(write("half.json", json.dumps({**doc, "lightgbm_model": half})), "incomplete")
    swapped = {**doc, "feature_names": list(reversed(doc["feature_names"]))}
    _refused(write("swapped.json", json.dumps(swapped)), "differ")


def test_nulls_are_missing_values():
    table, y, _ = separable(600, seed=2)
    table = table.append_column("empty", pa.nulls(len(y), pa.float64()))
    table = table.append_column("untyped", pa.nulls(len(y)))
    table = table.append_column("flag", pa.array((np.arange(len(y)) % 2).astype(bool)))
    table = table.append_column("count", pa.array(np.arange(len(y)) % 7, pa.int32()))
    names = [*FEATURES, "empty", "untyped", "flag", "count"]
    model = fit(table, names, y)
    assert model.metrics["roc_auc"] > 0.9
    assert model.meta["features"]["empty"]["null_share"] == 1.0
    assert model.meta["features"]["empty"]["deciles"] == []
    rows = pa.table({n: pa.nulls(3, pa.float64()) for n in names})  # nothing known at all
    score, contrib = predict(model, rows)
    assert np.isfinite(score).all() and np.isfinite(contrib).all()
    assert len(set(score.tolist())) == 1
    # a chunked column and NaN (not null) give the same answers as one chunk with nulls
    burst = table.column("burst")
    chunked = table.set_column(1, "burst", pa.chunked_array([burst[:100], burst[100:]]))
    assert np.array_equal(predict(model, chunked)[0], predict(model, table)[0])
    nan = pa.table({n: pa.array([np.nan] * 3) for n in names})
    assert np.array_equal(predict(model, nan)[0], score)


def test_contributions_add_up_to_the_score(trained):
    model, table, _ = trained
    score, contrib = predict(model, table.slice(0, 50))
    assert contrib.shape == (50, len(FEATURES))
    logit = np.log(score / (1 - score))
    assert np.allclose(contrib.sum(axis=1) + model.bias, logit, atol=1e-9)


def test_missing_columns_named_and_extra_ignored(trained):
    model, table, _ = trained
    with pytest.raises(ConfigError, match="dwell, sparse"):
        predict(model, table.drop_columns(["dwell", "sparse"]))
    shuffled = table.select(["sparse", "visitor_id", "noise", "dwell", "event_id", "burst"])
    assert np.array_equal(predict(model, shuffled)[0], predict(model, table)[0])
    with pytest.raises(ConfigError, match="'event_id' is string"):
        predict(learn.Model(["event_id"], model.booster), table)
    empty_score, empty_contrib = predict(model, table.slice(0, 0))
    assert empty_score.shape == (0,) and empty_contrib.shape == (0, len(FEATURES))


def test_too_few_rows_of_a_class_refused_with_the_counts():
    table, y, _ = separable(300)
    y = np.zeros(300, dtype=int)
    y[:9] = 1
    with pytest.raises(ConfigError, match="291 valid and 9 invalid"):
        fit(table, FEATURES, y)
    y[:10] = 1  # ten of each is enough (fewer folds)
    model = fit(table, FEATURES, y)
    assert model.meta["cv"]["folds"] == 5
    # the invalid rows come from three visitors only: three folds, one visitor out each time
    y_tiny = np.array([1] * 12 + [0] * 28)
    tiny = fit(table.slice(0, 40), FEATURES, y_tiny, groups=np.arange(40) // 4)
    assert tiny.meta["cv"]["folds"] == 3 and tiny.meta["training_rows"]["invalid"] == 12
    few_groups = np.array([0] * 20 + [1] * 20)
    with pytest.raises(ConfigError, match="2 groups of each"):
        fit(table.slice(0, 40), FEATURES, few_groups, groups=np.arange(40) // 20)


def test_bad_labels_and_names_refused():
    table, y, _ = separable(100)
    with pytest.raises(ConfigError, match="0 .valid. or 1 .invalid."):
        fit(table, FEATURES, np.where(y == 1, 2, 0))
    with pytest.raises(ConfigError, match="99 labels for 100"):
        fit(table, FEATURES, y[:99])
    with pytest.raises(ConfigError, match="repeat: burst"):
        fit(table, ["burst", "burst"], y)
    with pytest.raises(ConfigError, match="groups: 1 are missing"):
        fit(table, FEATURES, y, groups=[None] + ["v"] * 99)
    with pytest.raises(ConfigError, match="groups: got 99 for 100"):
        fit(table, FEATURES, y, groups=np.arange(99))
    with pytest.raises(ConfigError, match="cannot keep"):
        fit(table.rename_columns(["event_id", "bur st", *table.column_names[2:]]), ["bur st"], y)


def test_drift_flags_the_shifted_feature_only(trained):
    model, table, _ = trained
    assert drift(model, table) == []  # the training data against itself
    rng = np.random.default_rng(5)
    n = 800
    new = pa.table(
        {
            "burst": rng.normal(size=n) + 2.5,  # shifted
            "dwell": rng.normal(size=n) - 0.15,  # as in training (a mix of the two classes)
            "noise": rng.normal(size=n),  # unchanged
            "sparse": pa.array(rng.normal(size=n)),  # no longer mostly null
        }
    )
    found = drift(model, new)
    names = [d["feature"] for d in found]
    assert names[0] in ("burst", "sparse") and set(names) == {"burst", "sparse"}
    assert [d["psi"] for d in found] == sorted((d["psi"] for d in found), reverse=True)
    assert all(d["psi"] > PSI_ALERT for d in found)
    sparse = next(d for d in found if d["feature"] == "sparse")
    assert sparse["null_share_new"] == 0.0
    assert sparse["null_share_change"] == pytest.approx(-sparse["null_share_train"])
    quiet = drift(model, new, threshold=math.inf)
    assert quiet == []
    assert drift(model, new.slice(0, 0)) == []


def test_top_contributions_name_the_driver(trained):
    model, table, y = trained
    _, contrib = predict(model, table)
    reasons = top_contributions(contrib, FEATURES, k=2)
    invalid = [r for r, label in zip(reasons, y, strict=True) if label == 1]
    assert sum(r[:1] == ["burst"] for r in invalid) / len(invalid) > 0.9
    assert all(len(r) <= 2 for r in reasons)


def test_top_contributions_order_k_and_floor():
    contrib = np.array([[0.1, 0.5, -1.0, 0.3], [-0.1, -0.2, 0.0, -0.3], [0.2, 0.2, 0.9, 0.05]])
    names = ["a", "b", "c", "d"]
    assert top_contributions(contrib, names) == [["b", "d", "a"], [], ["c", "a", "b"]]
    assert top_contributions(contrib, names, k=1) == [["b"], [], ["c"]]
    assert top_contributions(contrib, names, k=9, min_value=0.15) == [
        ["b", "d"],
        [],
        ["c", "a", "b"],
    ]
    assert top_contributions(np.empty((0, 4)), names) == []
    with pytest.raises(ConfigError, match="rows x 3"):
        top_contributions(contrib, names[:3])


def test_recall_at_two_percent_false_positives():
    valid = np.linspace(0, 0.9, 100)  # 2 of 100 valid rows may score at or above the cut
    invalid = np.array([0.5, 0.8, 0.885, 0.95, 0.99])
    y = np.r_[np.zeros(100), np.ones(5)]
    got = evaluate(y, np.r_[valid, invalid])
    # the lowest score above the third-highest valid one (0.8818): an invalid row's 0.885
    assert got["threshold_at_fpr_0.02"] == 0.885
    assert got["fpr_at_that_threshold"] == 0.02  # 0.8909 and 0.9
    assert got["recall_at_fpr_0.02"] == pytest.approx(3 / 5)  # 0.885, 0.95, 0.99
    assert got["recall_at_0.5"] == 1.0
    assert got["precision_at_0.5"] == pytest.approx(5 / (5 + 45))


def test_no_threshold_keeps_to_two_percent():
    y = np.r_[np.zeros(20), np.ones(20)]  # 20 valid rows: not one false positive is allowed
    got = evaluate(y, np.r_[np.ones(20), np.linspace(0, 0.9, 20)])
    assert got["recall_at_fpr_0.02"] == 0.0
    assert got["threshold_at_fpr_0.02"] == 1.0
    assert got["fpr_at_that_threshold"] == 0.0
