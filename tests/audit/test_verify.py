"""`qinglang verify`: audits record what determines their figures and re-verify from that record;
a signed audit detects any changed byte (issue 13, items 1 and 2)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qinglang.audit.record import write_manifest, write_seal
from qinglang.audit.verify import verify
from qinglang.cli import app
from qinglang.simulate import simulate
from qinglang.simulate.accesslog import write_access_log

runner = CliRunner()
FAST = ["--setting", "bootstrap_replicates=50"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("verify")
    simulate("case2017", scale=0.0004, seed=5, out=d / "c.parquet")
    write_access_log(d / "c.parquet", d / "c.log", seed=5)
    # a file with its own column names, read with --map
    csv = d / "theirs.csv"
    csv.write_text(
        "time,addr,agent,page\n"
        "2024-01-01T00:00:00Z,1.2.3.4,Mozilla/5.0 Chrome/120.0,/a\n"
        "2024-01-01T00:00:05Z,1.2.3.4,Mozilla/5.0 Chrome/120.0,/b\n"
        "2024-01-01T00:01:00Z,5.6.7.8,curl/8.0,/a\n",
        encoding="utf-8",
    )
    assert runner.invoke(app, ["keys", "new", str(d / "auditor")]).exit_code == 0
    assert runner.invoke(app, ["keys", "new", str(d / "someone")]).exit_code == 0
    return {"dir": d, "parquet": d / "c.parquet", "log": d / "c.log", "csv": csv}


def audit(out: Path, *args: str) -> None:
    result = runner.invoke(app, ["audit", *args, "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "case",
    [
        ["PARQUET", "--price", "0.9", "--per", "1000", "--currency", "USD", "--tz", "UTC"],
        ["LOG", "--format", "nginx", "--site", "shop.example", "--setting", "session_gap_minutes=10"],
        ["CSV", "--map", "time=ts", "--map", "addr=ip", "--map", "agent=user_agent",
         "--map", "page=url", "--input-tz", "Asia/Shanghai", "--from", "2024-01-01", "--lang", "en"],
    ],
)  # fmt: skip
def test_audits_with_their_options_re_verify(data, tmp_path, case):
    args = [
        str(data[case[0].lower()]) if case[0] in ("PARQUET", "LOG", "CSV") else case[0],
        *case[1:],
    ]
    audit(tmp_path / "a", *args, "--sign", str(data["dir"] / "auditor.key"))
    facts = json.loads((tmp_path / "a" / "audit.json").read_text())
    rec = facts["record"]
    assert rec["qinglang"]["version"] and rec["dependencies"]["duckdb"]
    assert rec["inputs"][0]["sha256"] and rec["data"]
    for flag in case[1:]:
        if flag.startswith("--") and flag not in ("--lang",):
            assert flag in rec["command"], (flag, rec["command"])
    result = runner.invoke(
        app, ["verify", str(tmp_path / "a"), "--rerun", "--key", str(data["dir"] / "auditor.pub")]
    )
    assert result.exit_code == 0, result.output
    assert "every figure and every label the same" in result.output
    html = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    manifest_sha = hashlib.sha256((tmp_path / "a" / "manifest.json").read_bytes()).hexdigest()
    assert "qinglang verify DIR --rerun" in html and manifest_sha in html


@pytest.fixture(scope="module")
def signed(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("signed") / "a"
    audit(out, str(data["parquet"]), "--sign", str(data["dir"] / "auditor.key"))
    return out


def copy_of(signed: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(signed, tmp_path / "a")
    return tmp_path / "a"


@pytest.mark.parametrize(
    "name",
    ["audit.json", "labels.parquet", "rejected.csv", "report.html", "manifest.json", "seal.json"],
)
def test_one_flipped_byte_in_any_output_is_found_and_named(signed, data, tmp_path, name):
    out = copy_of(signed, tmp_path)
    path = out / name
    body = bytearray(path.read_bytes())
    body[len(body) // 2] ^= 0x01
    path.write_bytes(bytes(body))
    v = verify(out, data["dir"] / "auditor.pub")
    assert not v.ok
    named = name if name != "seal.json" else "seal.json"
    assert any(named in p or ("signature" in p) or ("JSON" in p) for p in v.problems), v.problems


def test_a_changed_input_is_found(data, tmp_path):
    src = tmp_path / "in.parquet"
    src.write_bytes(data["parquet"].read_bytes())
    audit(tmp_path / "a", str(src), "--sign", str(data["dir"] / "auditor.key"))
    assert verify(tmp_path / "a", data["dir"] / "auditor.pub").ok
    body = bytearray(src.read_bytes())
    body[100] ^= 0x01
    src.write_bytes(bytes(body))
    v = verify(tmp_path / "a", data["dir"] / "auditor.pub")
    assert [p for p in v.problems if str(src) in p and "changed" in p], v.problems


def test_another_key_or_no_signature_is_refused(signed, data, tmp_path):
    v = verify(signed, data["dir"] / "someone.pub")
    assert not v.ok and "not by the key given" in " ".join(v.problems)
    unsigned = tmp_path / "u"
    audit(unsigned, str(data["parquet"]))
    assert verify(unsigned).ok  # sealed: hashes hold
    v = verify(unsigned, data["dir"] / "auditor.pub")
    assert not v.ok and "not signed" in " ".join(v.problems)


def test_a_rerun_that_differs_names_the_first_difference(data, tmp_path):
    out = tmp_path / "a"
    audit(out, str(data["parquet"]), "--price", "1.1")
    facts = json.loads((out / "audit.json").read_text())
    facts["record"]["options"]["unit_price"] = 2.2  # the record no longer matches the figures
    (out / "audit.json").write_text(json.dumps(facts))
    write_manifest(out, facts)
    write_seal(out)
    result = runner.invoke(app, ["verify", str(out), "--rerun"])
    assert result.exit_code == 1
    assert "re-run: amount differ" in result.output and "claimed" in result.output


def test_a_record_this_qinglang_does_not_take_is_a_problem_named_not_a_crash(data, tmp_path):
    out = tmp_path / "a"
    audit(out, str(data["parquet"]))
    facts = json.loads((out / "audit.json").read_text())
    facts["record"]["options"]["settings"]["lockstep_relational"] = 0.5  # not 0 or 1
    (out / "audit.json").write_text(json.dumps(facts))
    write_manifest(out, facts)
    write_seal(out)
    result = runner.invoke(app, ["verify", str(out), "--rerun"])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "re-run: this qinglang does not take the options audit.json records" in said
    assert "lockstep_relational" in said and "0 or 1" in said
    assert "manifest" in said  # what was checked before is still reported


def test_verify_of_something_else_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["verify", str(tmp_path)])
    assert result.exit_code == 2 and "not an audit directory" in " ".join(result.output.split())


def test_an_audit_with_a_model_re_verifies_and_records_the_model(data, tmp_path):
    import csv

    labels = tmp_path / "labels.csv"
    with open(str(data["log"]) + ".truth.csv", encoding="utf-8") as src, open(labels, "w") as dst:
        dst.write("event_id,label\n")
        for row in csv.DictReader(src):
            dst.write(f"c.log:{row['line']},{row['truth']}\n")
    model = tmp_path / "m.json"
    trained = runner.invoke(
        app,
        [
            "train",
            str(data["log"]),
            "--format",
            "nginx",
            "--labels",
            str(labels),
            "--out",
            str(model),
        ],
    )
    assert trained.exit_code == 0, trained.output
    audit(tmp_path / "a", str(data["log"]), "--format", "nginx", "--model", str(model))
    rec = json.loads((tmp_path / "a" / "audit.json").read_text())["record"]
    assert rec["model"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert "--model" in rec["command"]
    result = runner.invoke(app, ["verify", str(tmp_path / "a"), "--rerun"])
    assert result.exit_code == 0, result.output


def test_a_rerun_never_writes_where_the_record_says(data, tmp_path):
    out = tmp_path / "a"
    audit(out, str(data["parquet"]))
    facts = json.loads((out / "audit.json").read_text())
    target = tmp_path / "planted.duckdb"
    facts["record"]["options"]["db"] = str(target)  # a hostile record
    (out / "audit.json").write_text(json.dumps(facts))
    write_manifest(out, facts)
    write_seal(out)
    result = runner.invoke(app, ["verify", str(out), "--rerun"])
    assert result.exit_code == 0, result.output
    assert not target.exists()


def test_an_audit_json_that_no_longer_parses_is_a_problem_not_a_crash(signed, data, tmp_path):
    out = copy_of(signed, tmp_path)
    path = out / "audit.json"
    path.write_bytes(path.read_bytes()[:-40] + b"{{{")
    v = verify(out, data["dir"] / "auditor.pub")
    assert not v.ok
    assert any("audit.json cannot be read as JSON" in p for p in v.problems), v.problems
