"""One check suite, run on every registered detector (river-style): a new detector gets these free."""

from __future__ import annotations

import random

import pytest

from qinglang.detect.base import Context
from qinglang.detect.pipeline import DETECTORS, present_columns
from qinglang.reasons import REASONS
from tests.conftest import WIN_CHROME, engine_with, event
from tests.detect.engagement_rows import engagement_rows
from tests.detect.log_rows import log_rows


def mixed_rows() -> list[dict]:
    """A little of everything: people, bots, frames, forged tokens, cloud IPs, rotation."""
    rows = [event(i) for i in range(30)]
    rows += [
        event(100 + i, user_agent="python-requests/2.31", client=None, token="missing")
        for i in range(3)
    ]
    rows += [
        event(
            200 + i,
            client={"framed": True, "frame_w": 0, "frame_h": 0, "visible_ms": 0, "interactions": 0},
        )
        for i in range(5)
    ]
    rows += [
        event(
            300 + i,
            client={"webdriver": True, "interactions": 0, "platform": "Win32"},
            user_agent=WIN_CHROME,
        )
        for i in range(3)
    ]
    rows += [
        event(
            350 + i,
            client={
                "tells": tells,
                "interactions": 0,
                "platform": "iPhone",
                "ch_ua": '"Chromium";v="119"' if i else None,
            },
        )
        for i, tells in enumerate([["cdp_runtime"], ["no_plugins"], ["a", "b"]])
    ]
    rows += [
        event(400 + i, ip="52.94.76.1", client={"interactions": 0, "visible_ms": 10})
        for i in range(3)
    ]
    rows += [event(500 + i, token="replayed") for i in range(3)]
    rows += [
        event(
            600 + i,
            ip="36.96.7.7",
            user_agent=f"{WIN_CHROME} x{i}",
            client={"interactions": 0, "visible_ms": 3000},
        )
        for i in range(12)
    ]
    rows += engagement_rows()  # app logs: people, a viral post, lockstep, a farm, a bulk app
    rows += log_rows()  # server logs: people with assets, an inert entry, a bare script, a fast one
    return rows


def run(module, rows):
    engine = engine_with(rows)
    try:
        ctx = Context(engine=engine, present=present_columns(engine))
        found = module.detect(ctx)
        out = []
        for q in found.queries:
            assert engine.query(q).column_names == ["rid", "reason", "score"], q
            by_id = f"SELECT e.event_id, f.reason, f.score FROM ({q}) f JOIN events e USING (rid)"
            out += engine.query(by_id).to_pylist()
        return sorted((r["event_id"], r["reason"], round(r["score"], 9)) for r in out), found
    finally:
        engine.close()


@pytest.fixture(scope="module")
def baseline():
    rows = mixed_rows()
    return rows, {m.NAME: run(m, rows) for m in DETECTORS}


@pytest.mark.parametrize("module", DETECTORS, ids=lambda m: m.NAME)
def test_contract(module):
    assert isinstance(module.NAME, str) and module.CATEGORY.startswith(("givt.", "sivt."))
    for check in module.CHECKS:
        assert check.reason in REASONS, f"{module.NAME}: {check.reason} is not in reasons.REASONS"


@pytest.mark.parametrize("module", DETECTORS, ids=lambda m: m.NAME)
def test_emits_only_documented_reasons_with_scores_in_range(module, baseline):
    _rows, results = baseline
    found, _ = results[module.NAME]
    for _event_id, reason, score in found:
        assert reason in REASONS
        assert 0.0 <= score <= 1.0


@pytest.mark.parametrize("module", DETECTORS, ids=lambda m: m.NAME)
def test_finds_something_in_mixed_traffic(module, baseline):
    _rows, results = baseline
    found, _ = results[module.NAME]
    assert any(score >= 0.5 for *_, score in found), f"{module.NAME} found nothing"


@pytest.mark.parametrize("module", DETECTORS, ids=lambda m: m.NAME)
def test_deterministic_and_row_order_invariant(module, baseline):
    rows, results = baseline
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    assert run(module, shuffled)[0] == results[module.NAME][0]


@pytest.mark.parametrize("module", DETECTORS, ids=lambda m: m.NAME)
def test_empty_input(module):
    found, _ = run(module, [])
    assert found == []


@pytest.mark.parametrize("module", DETECTORS, ids=lambda m: m.NAME)
def test_people_are_left_alone(module):
    found, _ = run(module, [event(i) for i in range(40)])
    assert [f for f in found if f[2] >= 0.5] == []


# ---------------------------------------------------------------- the reason table tells the truth
def emitted_codes() -> dict[str, str]:
    """Every code some detector can emit, with the category of the detector that emits it: its
    checks, the behaviour detector's groups and the model's feature groups."""
    from qinglang.detect import behaviour
    from qinglang.detect import model as model_detector
    from qinglang.features.events import FEATURE_GROUP

    codes = {c.reason: m.CATEGORY for m in (*DETECTORS, model_detector) for c in m.CHECKS}
    codes |= {reason: behaviour.CATEGORY for reason, *_ in behaviour.GROUPS}
    codes |= dict.fromkeys(FEATURE_GROUP.values(), model_detector.CATEGORY)
    return codes


def test_every_documented_reason_is_emitted_by_a_detector_of_its_category():
    codes = emitted_codes()
    never = sorted(set(REASONS) - set(codes))
    assert never == [], f"documented but no detector emits them: {never}"
    undocumented = sorted(set(codes) - set(REASONS))
    assert undocumented == []
    wrong = {
        c: (REASONS[c].category, cat) for c, cat in codes.items() if REASONS[c].category != cat
    }
    assert wrong == {}


def test_what_is_found_is_of_its_detector_s_category_and_supporting_codes_never_invalidate(
    baseline,
):
    _rows, results = baseline
    codes = emitted_codes()
    for module in DETECTORS:
        found, _ = results[module.NAME]
        for event_id, reason, score in found:
            assert codes[reason] == module.CATEGORY, (module.NAME, reason)
            if not REASONS[reason].decisive:  # supporting evidence: never a charge on its own
                assert score < 0.5, (module.NAME, event_id, reason, score)
