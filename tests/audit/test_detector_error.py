"""The detectors' own error in the intervals (issue 13, item 5): measured counts, drawn per
resample, the settlement bound that follows, and a bundled measurement that stays current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.audit.campaigns import week_of_two_sources

from qinglang.audit.detector_error import (
    counts_from_evaluation,
    describe,
    load,
    merge_counts,
    pick,
)
from qinglang.audit.run import AuditOptions, run_audit
from qinglang.errors import QinglangError


def campaign(tmp_path: Path) -> Path:
    """About one UV in five a declared library."""
    return week_of_two_sources(tmp_path, people=20, bots=4)


def evaluation(tp: int, predicted: int, support: int) -> dict:
    """The shape `qinglang evaluate --json` prints."""
    row = {"true_positives": tp, "predicted": predicted, "support": support}
    return {"overall": row, "per_category": [{"category": "givt.crawler", **row}]}


def audit(tmp_path: Path, name: str, error: str) -> dict:
    options = AuditOptions(tz="UTC", unit_price=1.0, per=1, detector_error=error, settle="lower")
    return run_audit([campaign(tmp_path)], tmp_path / name, options)


def test_the_bundled_measurement_has_both_profiles_and_the_audit_says_which_it_used(tmp_path):
    measured = load("bundled")
    assert measured is not None and set(measured["profiles"]) == {"tracker", "log"}
    for profile in measured["profiles"].values():
        assert profile["overall"]["tp"] > 0 and profile["measured_on"]["kind"] == "simulator"
    facts = audit(tmp_path, "o", "bundled")
    used = facts["totals"]["interval"]["detector_error"]
    assert used["profile"] == "log"  # a CSV with no tracker signals is a log
    assert len(used["sha256"]) == 64
    assert "server logs" in facts["method"]["interval_method"]
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "不含统计脚本信号的服务器日志" in html and "召回率" in html


def test_no_detector_error_leaves_the_sampling_interval(tmp_path):
    facts = audit(tmp_path, "o", "none")
    t = facts["totals"]
    assert t["interval"]["detector_error"] is None
    assert t["invalid_uv_share_ci"] == t["invalid_uv_share_ci_sampling"]
    assert "sampling only" in facts["method"]["interval_method"]


def test_a_measured_error_widens_the_interval_around_the_estimate(tmp_path):
    """Few labels, recall 0.5: the measurement is uncertain, so the interval widens; its bias is
    stated, not paid (it was measured on other traffic), so the estimate stays inside."""
    few = tmp_path / "few.json"
    few.write_text(json.dumps(evaluation(tp=20, predicted=20, support=40)), encoding="utf-8")
    facts = audit(tmp_path, "o", str(few))
    t = facts["totals"]
    lo, hi = t["invalid_uv_share_ci"]
    s_lo, s_hi = t["invalid_uv_share_ci_sampling"]
    assert lo < t["invalid_uv_share"] < hi
    assert lo < s_lo and hi > s_hi  # wider on both sides than sampling alone
    crawler = next(c for c in facts["categories"] if c["category"] == "givt.crawler")
    c_lo, c_hi = crawler["uv_share_ci"]
    assert c_lo < crawler["uv_share"] < c_hi
    # --settle lower pays on the share's upper bound: less than the estimate
    assert float(facts["amount"]["payable"]) < t["valid_uv"]
    assert "recall 0.5" in facts["method"]["interval_method"]
    again = audit(tmp_path, "o2", str(few))  # a fixed seed: the same interval every time
    assert again["totals"]["invalid_uv_share_ci"] == [lo, hi]


def test_a_large_measurement_adds_almost_nothing_and_categories_agree_with_the_total(tmp_path):
    big = tmp_path / "big.json"
    big.write_text(
        json.dumps(evaluation(tp=900_000, predicted=1_000_000, support=1_200_000)),
        encoding="utf-8",
    )
    facts = audit(tmp_path, "o", str(big))
    t = facts["totals"]
    for a, b in zip(t["invalid_uv_share_ci"], t["invalid_uv_share_ci_sampling"], strict=True):
        assert abs(a - b) < 0.01
    # every invalid UV here is a declared library: its category's interval is the total's
    (crawler,) = facts["categories"]
    assert crawler["uv_share_ci"] == t["invalid_uv_share_ci"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\xff\xfe not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"overall": {"precision": 1}}', "neither"),
        (b'{"overall": {"true_positives": 1}}', "without true_positives"),
        (b'{"overall": {"true_positives": 1e400, "predicted": 1, "support": 1}}', "without"),
        (
            b'{"format": "qinglang.detector_error.v1", "profiles": {"x": {"overall": {"tp": 1, "fp": 0, "fn": 0}, "measured_on": {"kind": "simulator", "scale": "abc"}}}}',
            "scale must be a number",
        ),
        (
            b'{"format": "qinglang.detector_error.v1", "profiles": {"x": {"overall": {"tp": -1, "fp": 0, "fn": 0}, "measured_on": {"kind": "labelled", "file": "f"}}}}',
            "integer counts tp, fp and fn from 0",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_it_before_any_work(tmp_path, content, says):
    bad = tmp_path / "err.json"
    bad.write_bytes(content)
    with pytest.raises(QinglangError, match=says) as info:
        AuditOptions(detector_error=str(bad))
    assert "--detector-error" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(QinglangError, match="cannot read"):
        AuditOptions(detector_error=str(tmp_path / "missing.json"))


def test_the_users_own_measurement_applies_whatever_the_input():
    result = evaluation(tp=90, predicted=100, support=120)
    counts = counts_from_evaluation(result)
    assert counts["overall"] == {"tp": 90, "fp": 10, "fn": 30}
    assert merge_counts([counts, counts])["overall"] == {"tp": 180, "fp": 20, "fn": 60}
    measured = {
        "source": "x",
        "sha256": "0" * 64,
        "profiles": {"any": {"measured_on": {"kind": "labelled", "file": "l.json"}, **counts}},
    }
    for signals in (True, False):
        assert pick(measured, signals)["profile"] == "any"
    used = {
        **pick(measured, True),
        "overall": {**counts["overall"], "precision": 0.9, "recall": 0.75},
    }
    assert "l.json" in describe(used, "en") and "用户提供的标注数据" in describe(used, "zh")


@pytest.mark.slow
def test_the_bundled_measurement_matches_the_detectors_as_they_are(tmp_path):
    """Re-measure seed 1 (scale 0.01) and compare: a detector changed without re-running
    scripts/measure_detector_error.py fails here."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "measure_detector_error.py"
    out = tmp_path / "fresh.json"
    subprocess.run(
        [sys.executable, str(script), "--seeds", "1", "--out", str(out)], check=True, timeout=1200
    )
    fresh = json.loads(out.read_text(encoding="utf-8"))["profiles"]
    bundled = load("bundled")["profiles"]
    for name in ("tracker", "log"):
        f, b = fresh[name]["overall"], bundled[name]["overall"]
        for measure in ("precision", "recall"):
            num = "fp" if measure == "precision" else "fn"
            rf = f["tp"] / (f["tp"] + f[num])
            rb = b["tp"] / (b["tp"] + b[num])
            assert abs(rf - rb) <= 0.02, (name, measure, rf, rb)
