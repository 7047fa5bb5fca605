"""The engagement scenarios: contract, ground truth, determinism, the organic week's shape."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from qinglang.errors import ConfigError
from qinglang.events import EVENT_SCHEMA
from qinglang.simulate import SCENARIOS, simulate

SCALE = 0.002
TRUTH = {"hosting": "sivt.lockstep", "crowd": "sivt.lockstep", "farm": "sivt.farm",
         "bulk": "sivt.bulk"}  # fmt: skip


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    d = tmp_path_factory.mktemp("eng")
    return {s: (simulate(s, SCALE, 3, d / f"{s}.parquet"), pq.read_table(d / f"{s}.parquet"))
            for s in TRUTH}  # fmt: skip


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_contract_and_truth(sims, name):
    summary, table = sims[name]
    assert name in SCENARIOS
    assert table.schema.equals(EVENT_SCHEMA)
    assert summary.rows == table.num_rows
    assert set(pc.unique(table["event"]).to_pylist()) == {"action"}
    truths = set(pc.unique(table["truth"]).to_pylist())
    assert truths == {"valid", "valid.heavy", "valid.viral", TRUTH[name]}
    assert pc.count_distinct(table["event_id"]).as_py() == table.num_rows
    ts = table["ts"].cast("int64").to_numpy()
    assert (np.diff(ts) >= 0).all()
    for col in ("account_id", "device_id", "target", "ip", "user_agent", "action"):
        assert table[col].null_count == 0, col


def test_ids_do_not_name_the_scheme(sims):
    _, table = sims["hosting"]
    fraud = pc.equal(table["truth"], "sivt.lockstep")
    for col in ("account_id", "device_id", "target"):
        a = table.filter(fraud)[col].to_pylist()[:50]
        b = table.filter(pc.invert(fraud))[col].to_pylist()[:50]
        assert {len(x) for x in a} == {len(x) for x in b}  # same shape, opaque hex


def test_same_seed_same_data(tmp_path):
    a = simulate("farm", SCALE, 5, tmp_path / "a.parquet")
    b = simulate("farm", SCALE, 5, tmp_path / "b.parquet")
    ta, tb = pq.read_table(a.path), pq.read_table(b.path)
    assert ta.equals(tb)
    c = simulate("farm", SCALE, 6, tmp_path / "c.parquet")
    assert not pq.read_table(c.path).equals(ta)


def test_organic_week_has_heavy_users_viral_posts_and_a_power_law(sims):
    _, table = sims["crowd"]
    organic = table.filter(pc.starts_with(table["truth"], "valid"))
    per_target = organic.group_by("target").aggregate([("event_id", "count")])
    counts = np.sort(per_target["event_id_count"].to_numpy())[::-1]
    assert counts[0] > 20 * np.median(counts)  # a few posts draw most engagement
    per_account = organic.group_by("account_id").aggregate([("event_id", "count")])
    n = per_account["event_id_count"].to_numpy()
    assert n.max() >= 60 and np.median(n) <= 10
    hours = (organic["ts"].cast("int64").to_numpy() // 3_600_000 + 8) % 24  # Beijing time
    night, evening = np.isin(hours, [2, 3, 4]).sum(), np.isin(hours, [20, 21, 22]).sum()
    assert evening > 3 * night


def test_bulk_accounts_never_reuse_a_device_and_mostly_fail_signatures(sims):
    _, table = sims["bulk"]
    b = table.filter(pc.equal(table["truth"], "sivt.bulk"))
    assert pc.count_distinct(b["device_id"]).as_py() == b.num_rows
    assert 0.6 < 1 - pc.mean(b["signature_ok"].cast("int8")).as_py() < 0.8


def test_unknown_parameter_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown parameter"):
        simulate("hosting", SCALE, 1, tmp_path / "x.parquet", bogus=1)
    with pytest.raises(ConfigError, match="task_min_share"):
        simulate("crowd", SCALE, 1, tmp_path / "x.parquet", task_min_share=0.5, task_max_share=0.1)
