"""The case2017 scenario at a tiny scale: contract, determinism, calibration, realism."""

from __future__ import annotations

import cloudip
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from qinglang.errors import ConfigError
from qinglang.events import EVENT_SCHEMA
from qinglang.reasons import Category
from qinglang.simulate import SCENARIOS, simulate

SCALE = 0.001
START = np.datetime64("2017-08-31T16:00:00", "ms")  # 2017-09-01 00:00 Beijing
CATEGORIES = {
    "valid",
    Category.HIDDEN.value,
    Category.CRAWLER.value,
    Category.AUTOMATION.value,
    Category.DATACENTER.value,
    Category.ANOMALY.value,
    Category.FORGERY.value,
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "a.parquet"
    progress = []
    summary = simulate(
        "case2017", SCALE, seed=1, out=out, on_progress=lambda d, n: progress.append((d, n))
    )
    return summary, pq.read_table(out), progress


@pytest.fixture(scope="module")
def table(run):
    return run[1]


def _rows(table, truth):
    return table.filter(pc.equal(table["truth"], truth))


def _client(table, name):
    return pc.struct_field(table["client"], name)


def _visitor_days(table):
    """Independent UV count: distinct cookie (else ip|ua) per Beijing day, summed; per truth."""
    day = ((table["ts"].cast(pa.int64()).to_numpy() - START.astype(np.int64)) // 86_400_000).astype(
        str
    )
    key = pc.coalesce(
        table["visitor_id"], pc.binary_join_element_wise(table["ip"], table["user_agent"], "|")
    )
    k = pc.binary_join_element_wise(pa.array(day), key, "#")
    t = (
        pa.table({"truth": table["truth"], "k": k})
        .group_by("truth")
        .aggregate([("k", "count_distinct")])
    )
    return dict(zip(t["truth"].to_pylist(), t["k_count_distinct"].to_pylist(), strict=True))


def test_schema_is_the_contract(table):
    assert table.schema.equals(EVENT_SCHEMA)


def test_one_row_group_per_day_and_progress(run):
    summary, table, progress = run
    assert pq.ParquetFile(summary.path).num_row_groups == 15
    assert progress == [(d, 15) for d in range(1, 16)]
    assert summary.rows == table.num_rows


def test_same_seed_same_table_other_seed_differs(table, tmp_path):
    again = pq.read_table(simulate("case2017", SCALE, seed=1, out=tmp_path / "b.parquet").path)
    assert again.equals(table)
    other = pq.read_table(simulate("case2017", SCALE, seed=2, out=tmp_path / "c.parquet").path)
    assert not other.equals(table)


def test_uv_total_and_invalid_share(run):
    summary, table, _ = run
    vd = _visitor_days(table)
    uv = sum(vd.values())
    assert abs(uv - 28_000_000 * SCALE) <= 0.1 * 28_000_000 * SCALE
    assert uv == summary.uv_total
    assert abs(1 - vd["valid"] / uv - 0.40) <= 0.03
    assert 1.1 <= table.num_rows / uv <= 1.4


def test_invalid_share_parameter(tmp_path):
    s = simulate("case2017", SCALE, seed=3, out=tmp_path / "d.parquet", invalid_share=0.2)
    assert abs(s.invalid_uv_share - 0.2) <= 0.03


def test_every_category_present(table):
    assert set(table["truth"].unique().to_pylist()) == CATEGORIES


def test_time_within_the_fifteen_days(table):
    ts = table["ts"].cast(pa.int64()).to_numpy()
    start = START.astype(np.int64)
    assert ts.min() >= start and ts.max() < start + 15 * 86_400_000


def test_ids_unique_and_not_telling_truth(table):
    ids = table["event_id"]
    assert pc.count_distinct(ids).as_py() == table.num_rows
    assert pc.all(pc.match_substring_regex(ids, r"^s1-[0-9a-z]{7}$")).as_py()
    vid = pc.drop_null(table["visitor_id"])
    assert pc.all(pc.match_substring_regex(vid, r"^[0-9a-f]{16}$")).as_py()
    # every source the invalid traffic uses is also used by organic visitors
    organic = set(_rows(table, "valid")["source"].unique().to_pylist())
    fraud = set(table.filter(pc.not_equal(table["truth"], "valid"))["source"].unique().to_pylist())
    assert fraud - {None} <= organic


def test_organic_traps(table):
    org = _rows(table, "valid")
    pv = org.filter(pc.equal(org["event"], "pageview"))
    inter = _client(pv, "interactions").to_numpy(zero_copy_only=False)
    dwell = _client(pv, "dwell_ms").to_numpy(zero_copy_only=False)
    visible = _client(pv, "visible_ms").to_numpy(zero_copy_only=False)
    framed = _client(pv, "framed").to_numpy(zero_copy_only=False)
    # bouncers: seen, short, no input
    bouncers = (inter == 0) & (dwell < 5_000) & (visible > 0)
    assert 0.15 < bouncers.mean() < 0.35
    # framed by a portal, visibly and with interaction
    assert (framed & (visible > 0) & (inter > 0)).sum() > 0
    # some organic visitors on published cloud ranges (VPN / corporate proxies)
    ips = [ip for ip in pv["ip"].unique().to_pylist() if ":" not in ip]
    assert sum(cloudip.is_cloud_provider(ip) for ip in ips) > 0
    # expired tokens from real people with interaction
    expired = org.filter(pc.equal(org["token"], "expired"))
    assert pc.max(_client(expired, "interactions")).as_py() > 0
    # many people behind one carrier NAT address on one day
    day = (pv["ts"].cast(pa.int64()).to_numpy() - START.astype(np.int64)) // 86_400_000
    keys = pa.table({"k": pc.binary_join_element_wise(pv["ip"], pa.array(day.astype(str)), "#"),
                     "v": pv["visitor_id"]})  # fmt: skip
    per_ip = keys.group_by("k").aggregate([("v", "count_distinct")])["v_count_distinct"]
    assert pc.max(per_ip).as_py() >= 10
    assert pc.all(pc.invert(pc.fill_null(_client(org, "webdriver"), False))).as_py()
    # some IPv6 visitors
    assert pc.any(pc.match_substring(pv["ip"], ":")).as_py()


def test_residential_addresses_are_not_cloud(table):
    hidden = _rows(table, "sivt.hidden")
    ips = [ip for ip in hidden["ip"].unique().to_pylist() if ":" not in ip][:3000]
    assert not any(cloudip.is_cloud_provider(ip) for ip in ips)


def test_hidden_injection_signals(table):
    h = _rows(table, "sivt.hidden")
    assert set(h["event"].unique().to_pylist()) == {"pageview"}
    assert pc.max(_client(h, "interactions")).as_py() == 0
    fw = _client(h, "frame_w").to_numpy(zero_copy_only=False)
    framed = _client(h, "framed").to_numpy(zero_copy_only=False)
    visible = _client(h, "visible_ms").to_numpy(zero_copy_only=False)
    assert (fw == 0).any() and ((fw > 0) & (fw <= 10)).any() and (fw >= 300).any()
    assert (~framed).any()  # pop-under tabs
    assert 0.6 < (visible == 0).mean() < 0.95  # some hidden frames report visible time (no IO v2)
    assert pc.mean((pc.equal(h["token"], "valid")).cast(pa.float64())).as_py() > 0.99


def test_crawlers_run_no_javascript(table):
    c = _rows(table, "givt.crawler")
    assert c["client"].null_count == c.num_rows
    assert c["visitor_id"].null_count == c.num_rows
    assert set(c["token"].unique().to_pylist()) == {"missing"}


def test_forgery_methods_and_copied_beacons(table):
    f = _rows(table, "sivt.forgery")
    assert set(f["token"].unique().to_pylist()) == {"missing", "invalid", "replayed", "expired"}
    assert f["client"].null_count > 0
    copied = pc.drop_null(_client(f, "dwell_ms"))
    assert pc.count_distinct(copied).as_py() < len(copied) / 10  # the same values again and again


def test_automation_variety(table):
    a = _rows(table, "sivt.automation")
    wd = pc.fill_null(_client(a, "webdriver"), False)
    tells = pc.fill_null(pc.list_value_length(_client(a, "tells")), 0)
    assert pc.any(wd).as_py()
    assert pc.any(pc.and_(pc.invert(wd), pc.greater(tells, 0))).as_py()
    assert pc.any(pc.match_substring(a["user_agent"], "HeadlessChrome")).as_py()
    assert set(a["token"].unique().to_pylist()) == {"valid"}


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError):
        simulate("nope", SCALE, seed=1, out=tmp_path / "x.parquet")
    with pytest.raises(ConfigError):
        simulate("case2017", SCALE, seed=1, out=tmp_path / "x.parquet", w_unknown=1)
    assert "case2017" in SCENARIOS
