"""The engagement section of the audit: bought actions per target and group, money, evidence,
escaped; absent for traffic without engagement actions."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from tests.audit.test_render_html import ALLOWED_TAGS, parse_tags
from tests.conftest import event
from tests.detect.engagement_rows import lockstep_group, people, viral

from qinglang.audit.run import AuditOptions, run_audit
from qinglang.events import rows_to_table

EVIL = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eng-audit")
    group = lockstep_group()
    group = [{**r, "target": EVIL if r["target"] == "gbought0" else r["target"]} for r in group]
    rows = people() + viral() + group
    pq.write_table(rows_to_table(rows), tmp / "actions.parquet")
    facts = run_audit([tmp / "actions.parquet"], tmp / "out", AuditOptions(lang="en"))
    return facts, tmp / "out", group


def test_bought_actions_per_target_with_money(audited):
    facts, _, group = audited
    eng = facts["engagement"]
    assert eng["bought"] == len(group) == 240
    assert eng["targets_bought"] == 10
    assert eng["cost"] == pytest.approx(240 * 0.05)  # votes at 0.05 yuan
    assert eng["resale"] == pytest.approx(5 * eng["cost"])
    top = eng["targets"][0]
    assert top["bought"] == 24 and top["by_action"] == {"vote": 24}
    assert top["groups"] == {"lockstep block 1": 24}


def test_group_evidence_in_audit_json(audited):
    _, out, group = audited
    eng = json.loads((out / "audit.json").read_text(encoding="utf-8"))["engagement"]
    [g] = eng["groups"]
    assert g["group"] == "lockstep block 1" and g["category"] == "sivt.lockstep"
    assert g["members"] == 24 and g["targets"] == 10 and g["lift"] >= 3
    assert g["density"] == 1.0 and g["windows"] >= 10  # every member in every window
    assert set(g["sample_members"]) <= {r["account_id"] for r in group}
    assert g["first"] < g["last"]


def test_report_shows_the_section_escaped(audited):
    _, out, _ = audited
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Engagement: bought actions" in html and "lockstep block 1" in html
    assert EVIL not in html and "&lt;script&gt;" in html
    assert {tag for tag, _ in parse_tags(html)} <= ALLOWED_TAGS


def test_no_section_without_engagement(tmp_path):
    pq.write_table(rows_to_table([event(i) for i in range(20)]), tmp_path / "pv.parquet")
    facts = run_audit([tmp_path / "pv.parquet"], tmp_path / "out", AuditOptions(lang="zh"))
    assert "engagement" not in facts
    assert "互动：购买的操作" not in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
