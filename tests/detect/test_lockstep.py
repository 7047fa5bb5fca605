"""sivt.lockstep on hand-made engagement logs: groups found, people and viral posts left alone."""

from __future__ import annotations

import pytest

from qinglang.detect import lockstep
from qinglang.engine import DuckDBEngine
from qinglang.events import rows_to_table
from tests.detect.engagement_rows import action, lockstep_group, people, viral
from tests.detect.helpers import findings_of
from tests.test_engine import spark_engine  # noqa: F401  (the shared Spark session fixture)

RELATIONAL = {"lockstep_relational": 1}


def flagged_accounts(engine, rows, settings=None) -> set[str]:
    found = findings_of(lockstep, engine, settings)
    by_id = {r["event_id"]: r for r in rows}
    return {by_id[e]["account_id"] for e in found}


def test_finds_the_group_and_leaves_people_and_the_viral_post_alone(make_engine):
    group = lockstep_group()
    rows = people() + viral() + group
    got = flagged_accounts(make_engine(rows), rows)
    assert got == {r["account_id"] for r in group}


@pytest.mark.parametrize("settings", [{}, RELATIONAL], ids=["greedy", "relational"])
def test_camouflage_on_popular_posts_does_not_hide_the_group(make_engine, settings):
    group = lockstep_group()
    camo = [
        action(f"c{m}-{j}", f"gacct{m}", f"post{j}", 100 + 37 * m + 300 * j)
        for m in range(24)
        for j in range(8)
    ]
    rows = people() + viral() + group + camo
    engine = make_engine(rows)
    found = findings_of(lockstep, engine, settings)
    assert {r["event_id"] for r in group} <= set(found)
    assert not any(e.startswith(("p", "v", "c")) for e in found)  # camouflage itself unflagged


def test_several_groups_are_several_blocks_with_evidence(make_engine):
    a = lockstep_group(24, 10, "a", start=2000)
    b = lockstep_group(16, 8, "b", start=5000)
    rows = people() + a + b
    engine = make_engine(rows)
    assert flagged_accounts(engine, rows) == {r["account_id"] for r in a + b}
    blocks = engine.query("SELECT * FROM lockstep_blocks ORDER BY block").to_pylist()
    assert [(x["accounts"], x["targets"]) for x in blocks] == [(24, 10), (16, 8)]
    assert all(x["lift"] >= 3 and x["first_ts"] < x["last_ts"] for x in blocks)


def test_the_relational_variant_finds_the_same_groups(make_engine):
    rows = people() + viral() + lockstep_group(24, 10, "a") + lockstep_group(16, 8, "b", 5000)
    greedy = findings_of(lockstep, make_engine(rows))
    relational = findings_of(lockstep, make_engine(rows), RELATIONAL)
    assert greedy and greedy == relational


def test_people_alone_make_no_block(make_engine):
    rows = people() + viral()
    assert findings_of(lockstep, make_engine(rows)) == {}
    assert findings_of(lockstep, make_engine(rows), RELATIONAL) == {}


def test_skipped_without_targets(make_engine):
    rows = [{**r, "target": None} for r in lockstep_group()]
    from qinglang.detect.base import Context
    from qinglang.detect.pipeline import present_columns

    engine = make_engine(rows)
    found = lockstep.detect(Context(engine=engine, present=present_columns(engine)))
    assert found.queries == [] and found.checks_skipped == [("lockstep.block", ["target"])]


def _hits(engine) -> list[tuple]:
    return sorted(
        (r["account_id"], r["target"], r["bucket"])
        for r in engine.query("SELECT account_id, target, bucket FROM lockstep_hits").to_pylist()
    )


@pytest.mark.spark
def test_relational_blocks_are_the_same_on_duckdb_and_spark(request):
    spark = request.getfixturevalue("spark_engine")
    rows = people() + viral() + lockstep_group(24, 10, "a") + lockstep_group(16, 8, "b", 5000)
    duck = DuckDBEngine()
    duck.load_events(rows_to_table(rows).to_reader())
    spark.load_events(rows_to_table(rows).to_reader())
    on_duck = findings_of(lockstep, duck, RELATIONAL)
    on_spark = findings_of(lockstep, spark, RELATIONAL)
    assert on_duck and on_duck == on_spark
    assert _hits(duck) == _hits(spark)
    cells = "SELECT block, target, bucket FROM lockstep_cells ORDER BY 1, 2, 3"
    assert duck.query(cells).to_pylist() == spark.query(cells).to_pylist()
    duck.close()


def test_ids_are_coded_exactly_whatever_their_length_or_bytes():
    import pyarrow as pa

    from qinglang.detect.greedy import codes as _codes

    long = "t" * 10_000
    column = pa.chunked_array([["b", "abc", long], ["abc\x00", "b", "abc"]])
    values, codes = _codes(column)
    assert values.tolist() == sorted({"b", "abc", long, "abc\x00"})
    assert [values[c] for c in codes] == column.to_pylist()
    assert values.dtype == object  # references to the strings, not a fixed-width copy
