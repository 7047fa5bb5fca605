"""The report's entries section: per entry, how much of its traffic cannot be people (the bound
behind entry.inert) beside what was charged one session at a time."""

from __future__ import annotations

import json

from tests.audit.campaigns import CHROME

from qinglang.audit.run import AuditOptions, run_audit


def server_log_csv(tmp_path, navigate: dict[str, int], sessions: int = 150):
    """`sessions` sessions per entry tag, `navigate[tag]` of which go on to a second page."""
    lines = ["ts,ip,user_agent,url,referrer"]
    for e, (tag, goes_on) in enumerate(navigate.items()):
        for i in range(sessions):
            ip, minute = f"10.{e}.{i // 200}.{i % 200}", f"{i % 60:02d}"
            first = f"https://shop.example/p1?utm_source={tag}"
            lines.append(f"2024-01-01T0{e}:{minute}:00Z,{ip},{CHROME},{first},https://ads.example/")
            if i < goes_on:
                lines.append(
                    f"2024-01-01T0{e}:{minute}:40Z,{ip},{CHROME},https://shop.example/p2,{first}"
                )
    path = tmp_path / "log.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_entry_below_the_charge_still_shows_its_bound(tmp_path):
    src = server_log_csv(tmp_path, {"good": 60, "meh": 38, "<b>bad</b>": 7})
    facts = run_audit([src], tmp_path / "o", AuditOptions(tz="UTC", lang="en"))
    entries = {e["entry"]: e for e in facts["entries"]["entries"]}
    assert "good" not in entries  # as its people do: nothing to say
    bad, meh = entries["<b>bad</b>"], entries["meh"]
    # bad: 7 of 150 went on where the site's people do 60 of 150: most of its one-page
    # sessions cannot be people, and each is charged
    assert bad["inert_sessions"] == 143 and bad["charged_sessions"] == 143
    assert 0.7 < bad["not_people_share_lower"] < bad["not_people_share"] < 0.95
    # meh: a quarter went on; some of it cannot be people, no session more likely than not
    assert meh["charged_sessions"] == 0 and meh["not_people_sessions_lower"] > 0
    assert meh["not_people_share_lower"] < meh["not_people_share"] < 0.5
    total = facts["entries"]
    assert total["charged_sessions"] == 143 and total["count"] == 2
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "Entries whose visitors do not go past the first page" in html
    assert "&lt;b&gt;bad&lt;/b&gt;" in html and "<b>bad</b>" not in html
    saved = json.loads((tmp_path / "o" / "audit.json").read_text(encoding="utf-8"))
    assert saved["entries"] == facts["entries"]


def test_no_entries_section_without_the_detector(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(f"ts,ip,user_agent,url\n2024-01-01T00:00:00Z,1.2.3.4,{CHROME},/p\n")
    facts = run_audit([src], tmp_path / "o", AuditOptions(tz="UTC", lang="en"))
    assert facts["entries"] is None
