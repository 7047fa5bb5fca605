"""The cases of issue 12's "Why", as a new user meets them: through the installed `qinglang`
executable, each ends in one clear line on standard error and a documented exit code, never a
traceback; and the rows that could be read are kept and counted."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

QINGLANG = str(Path(sys.executable).with_name("qinglang"))
GOOD = (
    "event_id,ts,ip,user_agent,url\n"
    "a,2024-01-01T00:00:00Z,1.2.3.4,Mozilla/5.0 (Windows NT 10.0) Chrome/120.0,http://a.test/\n"
    "b,2024-01-01T00:00:01Z,1.2.3.5,Mozilla/5.0 (Windows NT 10.0) Chrome/120.0,http://a.test/\n"
)


def run(
    *args: str, stdin: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run([QINGLANG, *args], input=stdin, capture_output=True, timeout=120, cwd=cwd)


def one_clear_line(res: subprocess.CompletedProcess) -> str:
    err = res.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "DuckDB failed" not in err, err
    errors = [line for line in err.splitlines() if line.startswith(("error:", "internal error:"))]
    assert len(errors) == 1, err
    return " ".join(err[err.index("error:") :].split())  # rich wraps long lines


@pytest.mark.parametrize(
    ("name", "content", "args", "code", "says"),
    [
        ("empty.csv", b"", [], 1, "empty file"),
        ("header.csv", b"ts,ip,user_agent,url\n", [], 1, "header but no data rows"),
        ("binary.csv", bytes(range(256)) * 8, [], 1, "binary file"),
        (
            "gbk.csv",
            "ts,ip,user_agent,url\n2024-01-01T00:00:00Z,1.2.3.4,浏览器,/\n".encode("gbk"),
            [],
            1,
            "iconv -f GBK",
        ),
        ("nots.csv", b"ip,url\n1.2.3.4,/\n", [], 1, "no column for ts"),
        ("good.csv", GOOD.encode(), ["--format", "nginx"], 1, "give --format"),
        ("bad.parquet", b"PAR1 not really", [], 1, "Parquet"),
        ("good.csv", GOOD.replace("1.2.3.5", "999.1.1.1").encode(), ["--strict"], 1, "good.csv:3"),
        ("good.csv", GOOD.encode(), ["--per", "0"], 2, "--per 0"),
        ("good.csv", GOOD.encode(), ["--price", "nan"], 2, "--price nan"),
        ("good.csv", GOOD.encode(), ["--price", "1e308", "--per", "1"], 2, "1e12 per UV"),
        ("good.csv", GOOD.encode(), ["--input-tz", "Mars/Base"], 2, "not a time zone"),
        (
            "good.csv",
            GOOD.encode(),
            ["--from", "2024-02-01", "--to", "2024-01-01"],
            2,
            "ends before",
        ),
        ("good.csv", GOOD.encode(), ["--lang", "fr"], 2, "expected zh or en"),
    ],
)
def test_each_bad_input_gets_one_clear_line_and_its_exit_code(
    tmp_path, name, content, args, code, says
):
    (tmp_path / name).write_bytes(content)
    res = run("audit", str(tmp_path / name), "--out", str(tmp_path / "out"), *args)
    assert res.returncode == code, res.stderr
    assert says in one_clear_line(res)


def test_command_line_mistakes_exit_2(tmp_path):
    (tmp_path / "good.csv").write_text(GOOD)
    (tmp_path / "a-file").write_text("x")
    cases = [
        (["audit", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o")], "no such file"),
        (["audit", str(tmp_path / "good.csv"), "--out", str(tmp_path / "a-file")], "is a file"),
        (
            [
                "audit",
                "--db",
                str(tmp_path / "good.csv"),
                "--site",
                "x",
                "--out",
                str(tmp_path / "o"),
            ],
            "not a qinglang collector database",
        ),
        (["simulate", "case2017", "--scale", "0", "--out", str(tmp_path / "s.parquet")], "--scale"),
        (["audit", "--out", str(tmp_path / "o")], "give INPUTS"),
    ]
    for args, says in cases:
        res = run(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert says in one_clear_line(res), args
    res = run("no-such-command")
    assert res.returncode == 2 and b"Traceback" not in res.stderr


def test_version_and_debug(tmp_path):
    res = run("--version")
    assert res.returncode == 0 and res.stdout.strip()
    (tmp_path / "e.csv").write_bytes(b"")
    quiet = run("audit", str(tmp_path / "e.csv"), "--out", str(tmp_path / "o"))
    loud = run("--debug", "audit", str(tmp_path / "e.csv"), "--out", str(tmp_path / "o"))
    assert quiet.returncode == loud.returncode == 1
    assert b"Traceback" not in quiet.stderr and b"Traceback" in loud.stderr


def test_rejected_rows_are_all_listed_and_counted_and_the_good_rows_kept(tmp_path):
    long_ua = "Mozilla/5.0 " + "x" * 5000
    rows = [
        "event_id,ts,ip,user_agent,url,client",
        "a,2024-01-01T00:00:00Z,1.2.3.4,Mozilla/5.0 Chrome/120.0,http://a.test/,",
        "a,2024-01-01T00:00:01Z,1.2.3.5,Mozilla/5.0 Chrome/120.0,http://a.test/,",  # repeated id
        "b,2024-01-01T00:00:02Z,999.1.1.1,Mozilla/5.0 Chrome/120.0,http://a.test/,",
        "c,2024-01-01T00:00:03Z,not-an-ip,Mozilla/5.0 Chrome/120.0,http://a.test/,",
        'd,2024-01-01T00:00:04Z,1.2.3.6,Mozilla/5.0 Chrome/120.0,http://a.test/,"{""frame_w"": -5}"',
        'e,2024-01-01T00:00:05Z,1.2.3.7,Mozilla/5.0 Chrome/120.0,http://a.test/,"{""visible_ms"": -1}"',
        "f,9999-12-31T23:59:59Z,1.2.3.8,Mozilla/5.0 Chrome/120.0,http://a.test/,",
        "g,1970-01-01T00:00:00Z,1.2.3.9,Mozilla/5.0 Chrome/120.0,http://a.test/,",
        f"h,2024-01-01T00:00:06Z,1.2.3.10,{long_ua},http://a.test/,",
        "i,2024-01-01T00:00:07Z,1.2.3.11,=HYPERLINK(1),http://a.test/,",
    ]
    (tmp_path / "in.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    res = run("audit", str(tmp_path / "in.csv"), "--out", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    facts = json.loads((tmp_path / "out" / "audit.json").read_text())
    r = facts["rows"]
    assert (r["read"], r["rejected"], r["audited"]) == (10, 7, 3)
    assert r["rejected_by"] == {
        "ip": 2,
        "ts": 2,
        "client.frame_w": 1,
        "client.visible_ms": 1,
        "event_id (repeated)": 1,
    }
    assert r["truncated"] == {"user_agent": 1}
    with open(tmp_path / "out" / "rejected.csv", encoding="utf-8", newline="") as f:
        listed = list(csv.DictReader(f))
    assert len(listed) == 7 and {x["field"] for x in listed} == set(r["rejected_by"]) - {
        "event_id (repeated)"
    } | {"event_id"}
    assert {x["line"] for x in listed if x["field"] == "ip"} == {"4", "5"}
    err = " ".join(res.stderr.decode().split())
    assert "10 read, 7 rejected" in err and "3 audited" in err and "rejected.csv" in err


def test_naive_times_are_read_in_the_given_zone_and_warned_about_otherwise(tmp_path):
    # 23:30 local on Jan 1 in Shanghai is 15:30 UTC: one visitor, one day, either way it is read
    text = "ts,ip,user_agent,url\n2024-01-01T23:30:00,1.2.3.4,Mozilla/5.0 Chrome/120.0,/\n"
    (tmp_path / "local.csv").write_text(text)
    plain = run("audit", str(tmp_path / "local.csv"), "--out", str(tmp_path / "a"))
    assert plain.returncode == 0 and b"--input-tz" in plain.stderr
    given = run(
        "audit",
        str(tmp_path / "local.csv"),
        "--out",
        str(tmp_path / "b"),
        "--input-tz",
        "Asia/Shanghai",
    )
    assert given.returncode == 0 and b"--input-tz" not in given.stderr
    a = json.loads((tmp_path / "a" / "audit.json").read_text())
    b = json.loads((tmp_path / "b" / "audit.json").read_text())
    assert a["rows"]["naive_tz_assumed"] and not b["rows"]["naive_tz_assumed"]
    # read as UTC, 23:30 is already Jan 2 in Shanghai; read as Shanghai time it is Jan 1
    assert [d["day"] for d in a["daily"]] == ["2024-01-02"]
    assert [d["day"] for d in b["daily"]] == ["2024-01-01"]


def test_from_and_to_bound_the_settled_period_in_the_zone_days_are_counted_in(tmp_path):
    text = "ts,ip,user_agent,url\n" + "".join(
        f"2024-01-0{d}T12:00:00Z,1.2.3.{d},Mozilla/5.0 Chrome/120.0,/\n" for d in range(1, 6)
    )
    (tmp_path / "in.csv").write_text(text)
    res = run(
        "audit",
        str(tmp_path / "in.csv"),
        "--out",
        str(tmp_path / "o"),
        "--from",
        "2024-01-02",
        "--to",
        "2024-01-04",
    )
    assert res.returncode == 0, res.stderr
    facts = json.loads((tmp_path / "o" / "audit.json").read_text())
    assert facts["totals"]["uv"] == 3 and facts["rows"]["outside_period"] == 2
    assert [d["day"] for d in facts["daily"]] == ["2024-01-02", "2024-01-03", "2024-01-04"]


def test_stdin_reads_as_a_file_named_stdin(tmp_path):
    res = run("audit", "-", "--out", str(tmp_path / "o"), stdin=GOOD.encode())
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "o" / "audit.json").read_text())["totals"]["events"] == 2


def test_the_report_says_what_was_rejected_and_assumed(tmp_path):
    text = GOOD + "c,2024-01-01 00:00:02,999.1.1.1,<script>x</script>,http://a.test/\n"
    text += "d,2024-01-01 00:00:03,1.2.3.9,Mozilla/5.0 Chrome/120.0,http://a.test/\n"
    (tmp_path / "in.csv").write_text(text)
    for lang, says in (
        ("en", "4 rows read, 1 rejected, 3 audited"),
        ("zh", "共读取 4 行，拒绝 1 行，审计 3 行"),
    ):
        res = run("audit", str(tmp_path / "in.csv"), "--out", str(tmp_path / lang), "--lang", lang)
        assert res.returncode == 0, res.stderr
        html = (tmp_path / lang / "report.html").read_text(encoding="utf-8")
        assert says in html and "rejected.csv" in html and "--input-tz" in html
        assert "<script>x" not in html
