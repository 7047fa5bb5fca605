"""Per-account evaluation of engagement on a hand-made labelled table."""

from __future__ import annotations

import pyarrow as pa

from qinglang.evaluate import engagement_accounts, evaluate
from tests.detect.engagement_rows import action


def test_accounts_actions_and_organic_false_positive_rates(make_engine):
    rows = [
        action("a1", "fraud1", "t", 1, truth="sivt.lockstep"),
        action("a2", "fraud1", "p", 2, truth="valid"),  # the owner's own life
        action("a3", "fraud2", "t", 3, truth="sivt.lockstep"),
        action("a4", "viral1", "v", 4, truth="valid.viral"),
        action("a5", "viral2", "v", 5, truth="valid.viral"),
        action("a6", "heavy1", "p", 6, truth="valid.heavy"),
        action("a7", "plain", "p", 7, truth="valid"),
    ]
    engine = make_engine(rows)
    flagged = {"a1", "a3", "a4"}
    verdicts = pa.table(
        {
            "event_id": [r["event_id"] for r in rows],
            "verdict": ["invalid" if r["event_id"] in flagged else "valid" for r in rows],
            "category": ["sivt.lockstep" if r["event_id"] in flagged else None for r in rows],
        }
    )
    engine.register("hand_verdicts", verdicts)
    engine.materialize(  # what the pipeline's label_rows holds for these questions
        "label_rows",
        "SELECT e.rid, e.event_id, e.event, e.ts, e.truth, v.verdict, v.category, "
        "CASE WHEN v.verdict = 'invalid' THEN 1.0 ELSE 0.0 END AS score "
        "FROM events e JOIN hand_verdicts v ON e.event_id = v.event_id",
    )
    eng = engagement_accounts(engine)
    assert eng["accounts"]["support"] == 2 and eng["accounts"]["predicted"] == 3
    assert eng["accounts"]["precision"] == round(2 / 3, 4) and eng["accounts"]["recall"] == 1.0
    assert eng["actions"]["support"] == 2 and eng["actions"]["predicted"] == 3
    assert eng["viral"] == {"accounts": 2, "flagged": 1, "fp_rate": 0.5}
    assert eng["heavy"] == {"accounts": 1, "flagged": 0, "fp_rate": 0.0}
    # valid.* truths count as valid in the per-category figures too
    full = evaluate(engine)
    assert full["overall"]["support"] == 2
    assert [c["category"] for c in full["per_category"]] == ["sivt.lockstep"]
