"""`qinglang train` and `audit --model`, as a user runs them, on a small simulated access log."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from qinglang.cli import app
from qinglang.simulate import simulate
from qinglang.simulate.accesslog import write_access_log

runner = CliRunner()


@pytest.fixture(scope="module")
def labelled_log(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A simulated access log, its labels by event id, and its truth sidecar."""
    d = tmp_path_factory.mktemp("train")
    simulate("case2017", scale=0.0008, seed=3, out=d / "c.parquet")
    log = d / "c.log"
    write_access_log(d / "c.parquet", log, seed=3)
    labels = d / "labels.csv"
    with open(str(log) + ".truth.csv", encoding="utf-8") as src, open(labels, "w") as dst:
        dst.write("event_id,label\n")
        for row in csv.DictReader(src):
            dst.write(f"c.log:{row['line']},{row['truth']}\n")
    return log, labels, Path(str(log) + ".truth.csv")


def test_train_then_audit_with_the_model(labelled_log, tmp_path):
    log, labels, _ = labelled_log
    model = tmp_path / "m.json"
    result = runner.invoke(
        app, ["train", str(log), "--format", "nginx", "--labels", str(labels), "--out", str(model)]
    )
    assert result.exit_code == 0, result.output
    assert "roc_auc" in result.output and "trained on" in result.output
    meta = json.loads(model.read_text())
    assert meta["format"] == "qinglang-model"
    assert meta["meta"]["extra"]["labels"]["key"] == "event_id"
    assert len(meta["meta"]["training_sha256"]) == 64
    # learnt something: better than chance, cross-validated by session
    assert meta["meta"]["metrics"]["roc_auc"] > 0.6

    out = tmp_path / "audit"
    result = runner.invoke(
        app, ["audit", str(log), "--format", "nginx", "--model", str(model), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    facts = json.loads((out / "audit.json").read_text())
    assert facts["model"]["sha256"] and facts["model"]["metrics"]["roc_auc"] > 0.6
    assert facts["model"]["drift"] == []  # the same data it was trained on
    labels_out = pq.read_table(out / "labels.parquet").to_pylist()
    model_reasons = {r for row in labels_out for r in row["reasons"] if r.startswith("model.")}
    assert model_reasons, "the model added no findings"
    assert any(row["category"] == "sivt.model" for row in labels_out)
    assert "model." in (out / "report.html").read_text()


def train_with_labels(log, text: str, tmp_path):  # type: ignore[no-untyped-def]
    """`qinglang train LOG --labels` with a labels file holding `text`."""
    labels = tmp_path / "labels.csv"
    labels.write_text(text)
    return runner.invoke(
        app,
        ["train", str(log), "--format", "nginx", "--labels", str(labels), "--out",
         str(tmp_path / "m.json")],
    )  # fmt: skip


def test_labels_that_match_nothing_are_an_error(labelled_log, tmp_path):
    log, _, _ = labelled_log
    result = train_with_labels(log, "visitor_id,label\nnobody,invalid\nnone,valid\n", tmp_path)
    assert result.exit_code == 2
    assert "none of its 2 visitor_id keys appear in the input" in result.output
    assert not (tmp_path / "m.json").exists()


def test_a_labels_file_with_unknown_labels_is_refused(labelled_log, tmp_path):
    log, _, _ = labelled_log
    result = train_with_labels(log, "event_id,label\nc.log:1,maybe\n", tmp_path)
    assert result.exit_code == 2
    assert "labels.csv" in result.output


def test_a_foreign_model_file_is_refused(labelled_log, tmp_path):
    log, _, _ = labelled_log
    bad = tmp_path / "m.json"
    bad.write_text('{"hello": 1}')
    result = runner.invoke(
        app, ["audit", str(log), "--format", "nginx", "--model", str(bad), "--out",
              str(tmp_path / "a")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "m.json" in result.output


def test_evaluate_with_a_truth_sidecar(labelled_log):
    log, _, truth = labelled_log
    result = runner.invoke(
        app, ["evaluate", str(log), "--format", "nginx", "--truth", str(truth), "--json"]
    )
    assert result.exit_code == 0, result.output
    ev = json.loads(result.output)
    assert 0.5 < ev["score_auc"] <= 1.0
    assert ev["uv_share_true"] > 0.1
