"""sivt.farm: phones of one controller in sync behind one line; people behind a gateway are not."""

from __future__ import annotations

from qinglang.detect import farm
from tests.detect.engagement_rows import action, device_farm, people, viral
from tests.detect.helpers import findings_of


def test_synchronized_phones_behind_one_line_are_a_farm(make_engine):
    phones = device_farm()
    rows = people() + phones
    found = findings_of(farm, make_engine(rows))
    assert set(found) == {r["event_id"] for r in phones}
    assert all("farm.sync" in v for v in found.values())


def test_people_on_one_carrier_gateway_reading_a_viral_post_are_no_farm(make_engine):
    # everyone behind one NAT gateway, piling onto the same posts over the hours
    rows = [{**r, "ip": "117.136.0.1"} for r in viral(120) + people(200)]
    assert findings_of(farm, make_engine(rows)) == {}


def test_a_few_phones_are_not_enough(make_engine):
    rows = device_farm(phones=6)
    assert findings_of(farm, make_engine(rows)) == {}


def test_few_models_is_supporting_only(make_engine):
    rows = device_farm()
    engine = make_engine(rows)
    from qinglang.detect.base import Context
    from qinglang.detect.pipeline import present_columns

    found = farm.detect(Context(engine=engine, present=present_columns(engine)))
    support = engine.query(found.queries[0]).to_pylist()
    assert support and {r["reason"] for r in support} == {"farm.few_models"}
    assert max(r["score"] for r in support) < 0.5


def test_skipped_without_device_ids(make_engine):
    rows = [{**r, "device_id": None} for r in device_farm()] + [action("x", "u1", "p", 1)]
    assert findings_of(farm, make_engine(rows)) == {}
