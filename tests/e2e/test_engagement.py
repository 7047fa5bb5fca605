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
