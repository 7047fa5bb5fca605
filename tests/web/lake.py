"""Events written into a collector's lake the way it stores them: contract-typed Parquet parts
(``part-<segment>.parquet``, as a roll leaves them) and day files (as compaction leaves them)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from qinglang.collect.sites import lake_dir
from qinglang.events import EVENT_SCHEMA

PERSON_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
BOT_UA = "python-requests/2.31"


def event(i: int, site: str, ts: datetime, **kw: object) -> dict:
    row = {
        "event_id": f"{site}-{i}",
        "ts": ts,
        "site": site,
        "event": "pageview",
        "visitor_id": f"v{i % 7}",
        "ip": "203.0.113.7",
        "user_agent": PERSON_UA,
        "url": f"https://{site}.test/p{i % 3}",
        "referrer": "https://search.example/q",
        "token": "valid",
    }
    row.update(kw)
    return row


def write(db: Path, site: str, rows: list[dict], name: str) -> Path:
    """`rows` as lake file `name` of `site` (``part-seg-...`` or ``day=YYYY-MM-DD``)."""
    d = lake_dir(db) / f"site={site}"
    d.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)
    path = d / f"{name}.parquet"
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def traffic(site: str, day: datetime, n: int, bots: int, start: int = 0) -> list[dict]:
    """`n` person page views over `day`'s hours and `bots` declared-bot ones."""
    rows = [event(start + i, site, day + timedelta(minutes=7 * i)) for i in range(n)]
    rows += [
        event(start + n + i, site, day + timedelta(minutes=5 * i), user_agent=BOT_UA,
              visitor_id=f"bot{i}", referrer="https://cheap-clicks.example/x")
        for i in range(bots)
    ]  # fmt: skip
    return rows


DAY = datetime(2026, 11, 30, tzinfo=UTC)
