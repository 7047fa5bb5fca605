"""sivt.bulk: forged signatures, device churn, instant star cascades; people's glitches are not."""

from __future__ import annotations

from qinglang.detect import bulk
from tests.detect.engagement_rows import action, bulk_controller, people, viral
from tests.detect.helpers import findings_of


def test_a_bulk_controller_is_found_on_every_signal(make_engine):
    ctl = bulk_controller()
    rows = people() + viral() + ctl
    found = findings_of(bulk, make_engine(rows))
    assert set(found) == {r["event_id"] for r in ctl}
    reasons = set().union(*found.values())
    assert reasons == {"bulk.forged_signature", "bulk.device_churn", "bulk.instant_cascade"}
    forged = {r["event_id"] for r in ctl if not r["signature_ok"]}
    assert {e for e, v in found.items() if "bulk.forged_signature" in v} == forged


def test_a_person_whose_signature_fails_once_is_not_flagged(make_engine):
    rows = people()
    rows[5] = {**rows[5], "signature_ok": False}
    rows[40] = {**rows[40], "signature_ok": False}
    assert findings_of(bulk, make_engine(rows)) == {}


def test_a_viral_repost_wave_is_no_cascade(make_engine):
    # hundreds of reposts within minutes, but each from the person's own line
    rows = [action(f"v{i}", f"u{i}", "hot", 10 + i * 0.01, action="repost") for i in range(300)]
    assert findings_of(bulk, make_engine(rows)) == {}


def test_device_churn_needs_enough_actions(make_engine):
    rows = [action(f"c{i}", "acct", f"t{i}", 100 * i, device_id=f"d{i}") for i in range(2)]
    assert findings_of(bulk, make_engine(rows)) == {}
    rows += [action("c9", "acct", "t9", 999, device_id="d9")]
    assert set(findings_of(bulk, make_engine(rows))) == {"c0", "c1", "c9"}
