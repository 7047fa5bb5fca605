"""End to end: simulate each engagement scenario, evaluate through the CLI, hold the targets:
fraudulent accounts found with precision >= 0.95 and recall >= 0.9, organic viral-burst
participants and heavy users (almost) never flagged."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from qinglang.cli import app

pytestmark = pytest.mark.slow

# bulk at 0.01 is 350k accounts and 1.3M actions (~20 s); 0.004 keeps the suite quick
CASES = [("hosting", 0.01, 21), ("crowd", 0.01, 22), ("farm", 0.01, 23), ("bulk", 0.004, 24)]


@pytest.mark.parametrize(("scenario", "scale", "seed"), CASES, ids=[c[0] for c in CASES])
def test_scenario_accuracy(tmp_path, scenario, scale, seed):
    data = tmp_path / f"{scenario}.parquet"
    runner = CliRunner()
    sim = runner.invoke(
        app, ["simulate", scenario, "--scale", str(scale), "--seed", str(seed), "--out", str(data)]
    )
    assert sim.exit_code == 0, sim.output
    res = runner.invoke(app, ["evaluate", str(data), "--json"])
    assert res.exit_code == 0, res.output
    eng = json.loads(res.output)["engagement"]
    assert eng["accounts"]["precision"] >= 0.95, eng
    assert eng["accounts"]["recall"] >= 0.9, eng
    assert eng["viral"]["accounts"] > 100 and eng["viral"]["fp_rate"] <= 0.01, eng
    assert eng["heavy"]["accounts"] > 20 and eng["heavy"]["fp_rate"] <= 0.02, eng
    table = runner.invoke(app, ["evaluate", str(data)])
    assert "Engagement: fraudulent accounts and actions" in table.output
    assert "false-positive rate" in table.output


def test_injection_experiment_command():
    res = CliRunner().invoke(app, ["injection", "--edges", "150000", "--no-relational", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert {(r["camouflage"], r["density"]) for r in rows} == {
        (c, d) for c in ("random", "biased") for d in (0.05, 0.1, 0.15, 0.2)
    }
    assert all(r["greedy_f"] >= 0.9 for r in rows), rows


def test_engagement_csv_log_end_to_end(tmp_path):
    """A platform's own log (CSV, engagement format) with a malformed line: the line is reported
    with a clear error, the rest is audited, and the group shows up in the engagement section."""
    import duckdb

    data = tmp_path / "crowd.parquet"
    runner = CliRunner()
    assert runner.invoke(
        app, ["simulate", "crowd", "--scale", "0.005", "--seed", "4", "--out", str(data)]
    ).exit_code == 0  # fmt: skip
    log = tmp_path / "actions.csv"
    duckdb.sql(
        f"COPY (SELECT strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ') AS ts, account_id, action, target, "
        f"ip, device_id, user_agent, signature_ok FROM read_parquet('{data}') ORDER BY ts) "
        f"TO '{log}' (HEADER)"
    )
    with log.open("a", encoding="utf-8") as f:
        f.write("2017-09-03T10:00:00Z,acct,like,post,1.2.3.4,dev,UA,maybe\n")
    res = runner.invoke(
        app, ["audit", str(log), "--format", "engagement", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    facts = json.loads((tmp_path / "o" / "audit.json").read_text(encoding="utf-8"))
    [report] = facts["inputs"]
    assert report["rows_bad"] == 1 and "signature_ok" in report["errors"][0]
    assert "expected a boolean" in report["errors"][0]
    groups = facts["engagement"]["groups"]
    assert groups and groups[0]["category"] == "sivt.lockstep" and groups[0]["members"] >= 200
