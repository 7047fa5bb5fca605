"""Shared fixtures: tiny hand-made event tables and engines."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from qinglang.engine import DuckDBEngine
from qinglang.events import rows_to_table

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
WIN_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
T0 = dt.datetime(2017, 9, 1, 2, 0, tzinfo=dt.UTC)


def event(i: int, **overrides: Any) -> dict[str, Any]:
    """An ordinary person's pageview; override what the test is about."""
    row: dict[str, Any] = {
        "event_id": f"e{i:04d}",
        "ts": T0 + dt.timedelta(minutes=7 * i + (i * i) % 13),
        "site": "site.example",
        "event": "pageview",
        "visitor_id": f"v{i}",
        "ip": f"117.136.{i % 200}.{(i * 7) % 250 + 1}",
        "user_agent": IPHONE,
        "url": "https://site.example/a",
        "referrer": "https://www.baidu.com/s?wd=x",
        "source": "search",
        "token": "valid",
        "client": {
            "framed": False,
            "visible_ms": 8000,
            "dwell_ms": 9000,
            "interactions": 4,
            "platform": "iPhone",
        },
    }
    row.update(overrides)
    return row


def engine_with(rows: list[dict[str, Any]]) -> DuckDBEngine:
    engine = DuckDBEngine()
    engine.load_events(rows_to_table(rows).to_reader())
    return engine


@pytest.fixture
def make_engine():
    engines: list[DuckDBEngine] = []

    def make(rows: list[dict[str, Any]]) -> DuckDBEngine:
        engines.append(engine_with(rows))
        return engines[-1]

    yield make
    for e in engines:
        e.close()
