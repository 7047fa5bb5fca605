"""The `qinglang` command as a user runs it."""

from __future__ import annotations

import json
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from qinglang.cli import app

runner = CliRunner()
COMMANDS = [
    "simulate",
    "audit",
    "evaluate",
    "demo",
    "reasons",
    "settings",
    "version",
    "serve",
    "site",
    "site add",
    "site snippet",
]

CSV = """event_id,ts,site,event,visitor_id,ip,user_agent,referrer,source,token,client
a1,2017-09-01T01:00:00Z,s,pageview,v1,117.136.1.1,"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",https://www.baidu.com/,search,valid,"{""interactions"": 3, ""visible_ms"": 5000, ""framed"": false}"
a2,2017-09-01T01:05:00Z,s,pageview,v2,117.136.1.2,python-requests/2.31,,search,missing,
a3,not-a-time,s,pageview,v3,117.136.1.3,x,,search,valid,
a4,2017-09-01T01:07:00Z,s,pageview,v4,117.136.1.4,"<script>alert(1)</script>",https://evil.example/"><img src=x onerror=alert(2)>,host,valid,"{""framed"": true, ""frame_w"": 0, ""frame_h"": 0, ""visible_ms"": 0, ""interactions"": 0}"
a5,2017-09-01T01:08:00Z,s,pageview,v5,117.136.1.5,"Mozilla/5.0 (Linux; Android 13; V2134A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Mobile Safari/537.36",https://evil.example/"><img src=x onerror=alert(3)>,host,valid,"{""framed"": true, ""frame_w"": 0, ""frame_h"": 0, ""visible_ms"": 0, ""interactions"": 0}"
"""


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_audit_a_csv_end_to_end(tmp_path):
    src = tmp_path / "campaign.csv"
    src.write_text(CSV, encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "audit",
            str(src),
            "--out",
            str(out),
            "--price",
            "1.1",
            "--per",
            "1",
            "--lang",
            "en",
            "--tz",
            "UTC",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "campaign.csv:4" in result.output  # the bad row, by file and line
    labels = {r["event_id"]: r for r in pq.read_table(out / "labels.parquet").to_pylist()}
    assert set(labels) == {"a1", "a2", "a4", "a5"}
    assert labels["a1"]["verdict"] == "valid"
    assert labels["a2"]["category"] == "givt.crawler"
    # markup for a user agent has no browser token at all: no browser sent it
    assert labels["a4"]["category"] == "givt.crawler"
    assert labels["a5"]["category"] == "sivt.hidden"  # a browser in a 0x0 frame
    facts = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    assert facts["totals"]["uv"] == 4 and facts["totals"]["valid_uv"] == 1
    assert facts["inputs"][0]["rows_bad"] == 1
    assert Decimal(facts["amount"]["payable"]) == Decimal("1.10")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "<img src=x" not in html


def test_strict_makes_a_bad_row_fatal(tmp_path):
    src = tmp_path / "campaign.csv"
    src.write_text(CSV, encoding="utf-8")
    result = runner.invoke(app, ["audit", str(src), "--out", str(tmp_path / "o"), "--strict"])
    assert result.exit_code == 1  # the data, not the command
    assert "campaign.csv:4" in result.output and "ts" in result.output


def test_unknown_setting_is_a_clear_error(tmp_path):
    src = tmp_path / "campaign.csv"
    src.write_text(CSV, encoding="utf-8")
    result = runner.invoke(
        app, ["audit", str(src), "--out", str(tmp_path / "o"), "--setting", "nope=1"]
    )
    assert result.exit_code == 2 and "nope" in result.output


def test_reasons_lists_every_code():
    from qinglang.reasons import REASONS

    result = runner.invoke(app, ["reasons"], terminal_width=200)
    assert result.exit_code == 0
    for code in REASONS:
        assert code in result.output


def test_error_text_from_the_input_is_not_read_as_markup(tmp_path):
    src = tmp_path / "campaign.csv"
    src.write_text(CSV.replace("not-a-time", "[bold]x[/bold]"), encoding="utf-8")
    result = runner.invoke(app, ["audit", str(src), "--out", str(tmp_path / "o"), "--strict"])
    assert result.exit_code == 1  # the data, not the command
    assert "[bold]x[/bold]" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--price", "nan"], "--price nan: expected a finite number"),
        (["--price", "inf"], "--price inf: expected a finite number"),
        (["--price", "-1"], "--price -1.0: a price cannot be negative"),
        (["--per", "0"], "--per 0: expected a whole number of UV, 1 or more"),
        (["--price", "1e308", "--per", "1"], "more than 1e12 per UV"),
    ],
)
def test_money_is_checked_before_any_work(tmp_path, args, message):
    data = tmp_path / "t.csv"
    data.write_text(CSV)
    result = runner.invoke(app, ["audit", str(data), "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_version_flag():
    from qinglang import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == __version__


def test_dash_reads_standard_input(tmp_path):
    result = runner.invoke(app, ["audit", "-", "--out", str(tmp_path / "out")], input=CSV)
    assert result.exit_code == 0, result.output
    ids = pq.read_table(tmp_path / "out" / "labels.parquet").column("event_id").to_pylist()
    assert "a1" in ids  # the rows of standard input
    assert "stdin" in json.loads((tmp_path / "out" / "audit.json").read_text())["inputs"][0]["path"]
