"""Settlement days: the shifted-UTC shortcut must give the same day as a time-zone conversion."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.conftest import engine_with, event

from qinglang.audit.facts import day_sql, fixed_offset_seconds

UTC = dt.UTC


def test_offset_is_fixed_only_without_a_daylight_saving_change():
    sept = (dt.datetime(2017, 9, 1, tzinfo=UTC), dt.datetime(2017, 9, 16, tzinfo=UTC))
    autumn = (dt.datetime(2017, 10, 1, tzinfo=UTC), dt.datetime(2017, 11, 16, tzinfo=UTC))
    assert fixed_offset_seconds("Asia/Shanghai", sept) == 8 * 3600
    assert fixed_offset_seconds("Asia/Kolkata", autumn) == 5 * 3600 + 1800
    assert fixed_offset_seconds("Europe/Berlin", autumn) is None
    assert fixed_offset_seconds("Europe/Berlin", sept) == 2 * 3600
    assert fixed_offset_seconds("No/Such_Zone", sept) is None


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "Asia/Kolkata", "America/New_York"])
def test_shortcut_and_conversion_agree_at_midnight_edges(tz):
    base = dt.datetime(2017, 9, 1, tzinfo=UTC)
    times = [
        base + dt.timedelta(minutes=30 * i, milliseconds=-1 if i % 2 else 0) for i in range(96)
    ]
    engine = engine_with([event(i, ts=t) for i, t in enumerate(times)])
    span = (times[0], times[-1])
    assert fixed_offset_seconds(tz, span) is not None
    shortcut = engine.query(f"SELECT rid, {day_sql(tz, 'e', span)} AS d FROM events e ORDER BY rid")
    converted = engine.query(f"SELECT rid, {day_sql(tz, 'e')} AS d FROM events e ORDER BY rid")
    assert shortcut.to_pylist() == converted.to_pylist()
    engine.close()


def test_daily_categories_in_a_fixed_order_whatever_order_the_cells_come_in():
    """Two runs of one audit must write the same audit.json: the engine's GROUP BY returns the
    day's cells in any order, the categories of a day are listed in CATEGORY_PRIORITY's."""
    from qinglang.audit.facts import _daily
    from qinglang.reasons import CATEGORY_PRIORITY

    cells = [
        {"day": "2017-09-01", "n": 5 + i, "any_valid": False, "prio": i}
        for i in range(len(CATEGORY_PRIORITY))
    ] + [{"day": "2017-09-01", "n": 3, "any_valid": True, "prio": None}]
    forward, backward = _daily(cells), _daily(list(reversed(cells)))
    assert list(forward[0]["by_category"]) == list(CATEGORY_PRIORITY)
    assert list(backward[0]["by_category"]) == list(CATEGORY_PRIORITY)
    assert forward == backward
