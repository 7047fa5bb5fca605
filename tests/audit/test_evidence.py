"""Evidence samples: drawn at random with a recorded seed, one source at a time, shown in the
report's time zone, and captioned with how many events the reason really has (issue 13, item 6)."""

from __future__ import annotations

import json

from qinglang.audit.run import AuditOptions, run_audit

BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_samples_are_spread_over_sources_counted_and_in_local_time(tmp_path):
    lines = ["event_id,ts,ip,user_agent,url,source"]
    for i in range(40):  # 40 crawler hits from source a, 3 from source b
        lines.append(f"a{i},2024-01-01T{i % 24:02d}:00:00Z,66.249.66.{i},{BOT},/p{i},a")
    for i in range(3):
        lines.append(f"b{i},2024-01-01T00:30:0{i}Z,66.249.67.{i},{BOT},/q{i},b")
    src = tmp_path / "in.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    facts = run_audit([src], tmp_path / "o", AuditOptions(tz="Asia/Shanghai", lang="en"))
    (code,) = facts["evidence"]  # one reason: the declared crawler
    rows = facts["evidence"][code]
    assert len(rows) == 5
    assert {r["source"] for r in rows} == {"a", "b"}  # the small source is not crowded out
    assert all(r["ts"].endswith("+08:00") for r in rows)  # the report's zone, not UTC
    sampling = facts["evidence_sampling"]
    assert sampling["totals"][code] == 43 and sampling["seed"] == 0
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "5 of 43 samples shown" in html
    again = run_audit([src], tmp_path / "o2", AuditOptions(tz="Asia/Shanghai", lang="en"))
    assert again["evidence"] == facts["evidence"]  # the same seed, the same sample
    saved = json.loads((tmp_path / "o" / "audit.json").read_text())
    assert saved["evidence_sampling"]["method"]


def test_the_method_lists_every_statement_in_run_order_and_the_settings(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(
        "ts,ip,user_agent,url\n2024-01-01T00:00:00Z,1.2.3.4,curl/8.0,/a\n", encoding="utf-8"
    )
    facts = run_audit([src], tmp_path / "o", AuditOptions(lang="en"))
    statements = facts["method"]["statements"]
    made = [s.split(" AS ")[0].split()[-1] for s in statements if s.startswith("CREATE")]
    # helper tables before the tables that read them, labels last among the detectors' work
    assert made.index("findings") < made.index("labels") < made.index("uv")
    assert any(s.startswith("-- events:") for s in statements)
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "Every statement, in run order" in html and " labels AS " in html
    assert "Settings and thresholds" in html and "session_gap_minutes" in html


def test_evidence_n_sets_the_samples_per_reason_and_the_footer_names_the_manifest(tmp_path):
    import hashlib

    from typer.testing import CliRunner

    from qinglang.cli import app

    lines = ["event_id,ts,ip,user_agent,url"] + [
        f"e{i},2024-01-01T00:00:0{i}Z,66.249.66.{i},{BOT},/p{i}" for i in range(6)
    ]
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = CliRunner().invoke(
        app,
        [
            "audit",
            str(tmp_path / "in.csv"),
            "--out",
            str(tmp_path / "o"),
            "--evidence",
            "2",
            "--lang",
            "en",
        ],
    )
    assert r.exit_code == 0, r.output
    facts = json.loads((tmp_path / "o" / "audit.json").read_text())
    assert [len(rows) for rows in facts["evidence"].values()] == [2]
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    manifest = hashlib.sha256((tmp_path / "o" / "manifest.json").read_bytes()).hexdigest()
    footer = html[html.index("<footer>") :]
    assert manifest in footer and "counter(page)" in html


def test_a_declared_bot_s_evidence_says_which_list_or_rule_matched(tmp_path):
    """Issue 14, item 1: every match says its source, in audit.json and the report."""
    agents = {
        "g": BOT,  # crawlerdetect and the other lists
        "m": "Quill Feather (v2; de)",  # no list: no browser token at all
        # a browser's shape with a URL in it, and markup (escaped in the report)
        "x": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0 Safari/537.36 <b>SiteScan</b> (+https://scan.example/about)",
    }
    lines = ["event_id,ts,ip,user_agent,url,source"]
    for key, ua in agents.items():
        quoted = '"' + ua.replace('"', '""') + '"'
        lines.append(f"{key},2024-01-01T01:00:00Z,203.0.113.{len(lines)},{quoted},/p,a")
    src = tmp_path / "in.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    facts = run_audit([src], tmp_path / "o", AuditOptions(tz="UTC", lang="en"))
    matched = {
        r["event_id"]: r["ua_match"]
        for code, rows in facts["evidence"].items()
        if code.startswith("ua.")
        for r in rows
    }
    assert set(matched) == set(agents)
    assert "crawlerdetect" in matched["g"]["source"] and matched["g"]["matched"]
    assert matched["m"]["source"] == "rule:no_browser_token"
    assert matched["x"]["source"] == "rule:url"
    assert matched["x"]["matched"].startswith("https://scan.example/")
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "declared bot, by" in html and "rule:no_browser_token" in html
    assert "<b>SiteScan" not in html and "&lt;b&gt;SiteScan" in html


def every_finding_sorted(per_reason: int, seed: int) -> str:
    """The sample's definition, as a sort of every finding (what the audit's query must equal)."""
    from qinglang.audit.facts import evidence_order_sql

    m = evidence_order_sql("f.rid", seed)
    return f"""
SELECT reason, rid FROM (
  SELECT reason, rid, row_number() OVER (PARTITION BY reason ORDER BY k, m, rid) AS rn
  FROM (SELECT f.reason, f.rid, {m} AS m,
               row_number() OVER (PARTITION BY f.reason, e.source ORDER BY {m}, f.rid) AS k
        FROM findings f JOIN events e ON e.rid = f.rid) s) r
WHERE rn <= {per_reason}"""


def sample_tables():
    """Findings of three reasons over sources of very different sizes, one of them null."""
    import pyarrow as pa

    from qinglang.engine import DuckDBEngine

    engine = DuckDBEngine()
    sources = ["big"] * 3000 + ["mid"] * 200 + ["tiny"] * 3 + [None] * 40
    engine.register("events", pa.table({"rid": list(range(len(sources))), "source": sources}))
    reasons = [
        ("ua.crawler", range(0, len(sources))),
        ("ip.cloud", range(0, len(sources), 7)),
        ("entry.inert", range(3100, 3243)),
    ]
    rids, codes = [], []
    for code, picked in reasons:
        rids += list(picked)
        codes += [code] * len(picked)
    engine.register("findings", pa.table({"rid": rids, "reason": codes}))
    return engine


BIG_RIDS = [0, 1, 3_470_000_000, 4_294_967_295, 4_294_967_296, 10**12 + 7, 2**62 + 12345]


def test_the_sample_order_is_knuth_s_hash_for_any_row_id():
    """(rid + seed) * 2654435761 mod 2**32, computed in Python's exact integers: the SQL must
    give it past 3.47e9 rows too, where the plain product overflows a BIGINT."""
    import pyarrow as pa

    from qinglang.audit.facts import evidence_order_sql
    from qinglang.engine import DuckDBEngine

    engine = DuckDBEngine()
    engine.register("r", pa.table({"rid": pa.array(BIG_RIDS, pa.int64())}))
    for seed in (0, 7, 2**31):
        got = engine.query(
            f"SELECT rid, {evidence_order_sql('rid', seed)} AS m FROM r ORDER BY rid"
        )
        want = [((r + seed) * 2654435761) % 2**32 for r in BIG_RIDS]
        assert got.column("m").to_pylist() == want, seed
    engine.close()


def test_the_sample_is_the_one_a_sort_of_every_finding_picks():
    from qinglang.audit.facts import _evidence_pick_sql

    engine = sample_tables()
    for per_reason, seed, keep in [(5, 0, None), (5, 7, None), (20, 3, None), (5, 0, 1), (9, 1, 2)]:
        # keep=1 or 2: most groups fall short of their limit and take all their findings
        fast = engine.query(_evidence_pick_sql(per_reason, seed, keep)).to_pylist()
        slow = engine.query(every_finding_sorted(per_reason, seed)).to_pylist()
        key = lambda r: (r["reason"], r["rid"])  # noqa: E731
        assert sorted(fast, key=key) == sorted(slow, key=key), (per_reason, seed, keep)
        assert len(fast) == 3 * per_reason
