"""The report as a settlement document: the parties, the contract and the period settled, a
daily table with each day's amount, PV per category (issue 13, item 6)."""

from __future__ import annotations

from decimal import Decimal

from qinglang.audit.run import AuditOptions, run_audit

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


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
