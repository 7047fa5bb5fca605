"""Context lookups: computed now, or prefetched in a thread and collected later, same table."""

from __future__ import annotations

import threading

import pyarrow as pa

from qinglang.detect.base import Context
from qinglang.detect.pipeline import present_columns
from tests.conftest import WIN_CHROME, engine_with, event


def lengths(values: list) -> pa.Table:
    return pa.table(
        {
            "user_agent": values,
            "n": [len(v) for v in values],
            "thread": [threading.current_thread().name] * len(values),
        }
    )


def test_prefetched_lookup_equals_a_direct_one_and_runs_off_the_callers_thread():
    rows = [event(0), event(1, user_agent=WIN_CHROME), event(2, user_agent=WIN_CHROME)]
    keys = {"user_agent": "user_agent"}
    tables = []
    for prefetch in (False, True):
        engine = engine_with(rows)
        ctx = Context(engine=engine, present=present_columns(engine))
        if prefetch:
            ctx.prefetch("ua_len", keys, "user_agent IS NOT NULL", lengths)
            assert "ua_len" in ctx.pending
        ctx.lookup("ua_len", keys, "user_agent IS NOT NULL", lengths)
        ctx.lookup("ua_len", keys, "TRUE", lengths)  # asked again: registered once
        tables.append(engine.query("SELECT * FROM ua_len ORDER BY user_agent").to_pylist())
        engine.close()
    direct, fetched = tables
    assert [r["n"] for r in direct] == [r["n"] for r in fetched] and len(direct) == 2
    assert {r["thread"] for r in direct} == {threading.current_thread().name}
    assert all(r["thread"].startswith("qinglang-lookup") for r in fetched)
