"""The report as a settlement document: the parties, the contract and the period settled, a
daily table with each day's amount, PV per category (issue 13, item 6)."""

from __future__ import annotations

from decimal import Decimal

from tests.audit.campaigns import CHROME, week_of_two_sources

from qinglang.audit.run import AuditOptions, run_audit


def test_parties_contract_daily_amounts_and_pv(tmp_path):
    lines = ["ts,ip,user_agent,url"]
    for day in (1, 2):
        for i in range(10):
            lines.append(f"2024-01-0{day}T0{i % 9}:00:00Z,1.2.{day}.{i},{CHROME},/p")
        for i in range(4):
            lines.append(f"2024-01-0{day}T01:0{i}:00Z,1.3.{day}.{i},curl/8.{i},/p")
    src = tmp_path / "in.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    options = AuditOptions(
        tz="UTC", lang="zh", unit_price=1.1, per=1, buyer="甲方 & Co", seller="<b>乙方</b>",
        contract="HT-2024-007", period_from="2024-01-01", period_to="2024-01-31",
    )  # fmt: skip
    facts = run_audit([src], tmp_path / "o", options)
    assert facts["settlement"]["contract"] == "HT-2024-007"
    days = facts["daily"]
    assert [d["day"] for d in days] == ["2024-01-01", "2024-01-02"]
    assert sum(Decimal(d["payable"]) for d in days) == Decimal(facts["amount"]["payable"])
    crawler = next(c for c in facts["categories"] if c["category"].startswith("givt"))
    assert crawler["pv"] == 8
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "甲方 &amp; Co" in html and "&lt;b&gt;乙方&lt;/b&gt;" in html and "HT-2024-007" in html
    assert "2024-01-01 – 2024-01-31" in html and 'class="daily"' in html


def test_settle_on_a_bound_pays_that_bound_and_says_so(tmp_path):
    src = week_of_two_sources(tmp_path, people=6, bots=1)
    got = {}
    for settle in ("estimate", "lower", "upper"):
        # sampling alone: the interval then lies around the estimate (the detectors' error,
        # measured, moves it: tests/audit/test_detector_error.py)
        options = AuditOptions(
            tz="UTC", lang="en", unit_price=1.1, per=1, settle=settle, detector_error="none"
        )
        facts = run_audit([src], tmp_path / settle, options)
        got[settle] = facts["amount"]
    low, high = (Decimal(x) for x in got["estimate"]["payable_ci"])
    assert Decimal(got["lower"]["payable"]) == low < Decimal(got["estimate"]["payable"])
    assert Decimal(got["upper"]["payable"]) == high > Decimal(got["estimate"]["payable"])
    for a in got.values():
        assert Decimal(a["payable"]) + Decimal(a["withheld"]) == Decimal(a["claimed"])
    html = (tmp_path / "lower" / "report.html").read_text(encoding="utf-8")
    assert "settled on the lower 95% bound" in html


def test_a_bound_with_no_interval_falls_back_to_the_estimate_and_says_so(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(f"ts,ip,user_agent,url\n2024-01-01T00:00:00Z,1.2.3.4,{CHROME},/\n")
    facts = run_audit([src], tmp_path / "o", AuditOptions(lang="en", settle="lower"))
    assert facts["amount"]["settle"] == "estimate" and facts["amount"]["settle_asked"] == "lower"
    assert "no interval is estimable" in (tmp_path / "o" / "report.html").read_text()
