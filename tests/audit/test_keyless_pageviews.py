"""A log whose page views carry neither a visitor cookie nor an address (IPs blanked to `-`, as
in the shared real human logs): those page views have no UV key. They are counted in PV and in
no UV, and the audit says so, with how many of them are invalid, instead of settling as if they
were not there."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from qinglang.cli import app

LOG_FORMAT = (
    '$remote_addr - [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '$cookie_vid "$http_user_agent"'
)
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1"
)


def _line(ip: str, minute: int, path: str, vid: str, ua: str) -> str:
    return (
        f'{ip} - [01/Sep/2017:10:{minute:02d}:00 +0800] "GET {path} HTTP/1.1" 200 2000 '
        f'"https://www.baidu.com/" {vid} "{ua}"'
    )


def _log(blank: bool) -> str:
    lines = [
        _line("117.136.1.1", 1, "/", "-", PHONE),  # a person, by address
        _line("117.136.1.2", 2, "/a", "-", PHONE),  # another
        _line("-", 3, "/b", "c0ffee", PHONE),  # a person by cookie, no address
    ]
    if blank:
        lines += [
            _line("-", 4, "/", "-", PHONE),  # no cookie, no address: no UV key
            _line("-", 5, "/c", "-", PHONE),
            _line("-", 6, "/", "-", "python-requests/2.31"),  # and invalid
        ]
    return "\n".join(lines) + "\n"


def _audit(tmp_path, blank: bool, lang: str):
    src = tmp_path / f"access-{blank}.log"
    src.write_text(_log(blank), encoding="utf-8")
    out = tmp_path / f"out-{blank}-{lang}"
    result = CliRunner().invoke(
        app,
        [
            "audit",
            str(src),
            "--format",
            "nginx",
            "--log-format",
            LOG_FORMAT,
            "--out",
            str(out),
            "--lang",
            lang,
        ],
    )
    assert result.exit_code == 0, result.output
    facts = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    return facts, (out / "report.html").read_text(encoding="utf-8"), result.output


def test_page_views_without_a_uv_key_are_counted_and_reported(tmp_path):
    facts, html, output = _audit(tmp_path, blank=True, lang="en")
    totals = facts["totals"]
    assert totals["pv"] == 6
    assert totals["uv"] == 3  # two addresses and one cookie
    assert totals["pv_without_uv_key"] == 3
    assert totals["invalid_pv_without_uv_key"] == 1  # the HTTP library's page view
    assert "3 page views (50.0% of PV) have neither a visitor id nor an IP address" in html
    assert "(1 of them invalid)" in html
    assert "warning: 3 page views (50.0% of PV) have neither" in " ".join(output.split())


def test_the_chinese_report_says_it_too(tmp_path):
    _, html, _ = _audit(tmp_path, blank=True, lang="zh")
    assert "3 次页面浏览（占 PV 的 50.0%）既无访客 ID 也无 IP 地址" in html


def test_no_note_when_every_page_view_has_a_key(tmp_path):
    facts, html, output = _audit(tmp_path, blank=False, lang="en")
    assert facts["totals"]["pv_without_uv_key"] == 0
    assert facts["totals"]["invalid_pv_without_uv_key"] == 0
    assert "neither a visitor id nor an IP address" not in html
    assert "neither a visitor id" not in output


def _chrome(version: int) -> str:
    return (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{version}.0.0.0 Safari/537.36"
    )


def _proxy_log(user_agents: int) -> str:
    """A site behind a CDN whose log holds the edge's address (an AWS one here): every browser
    comes from the same two addresses; and a few people with their own addresses."""
    lines = [
        _line(f"52.94.76.{1 + k % 2}", k % 60, f"/p{k}", "-", _chrome(100 + k % user_agents))
        for k in range(2 * user_agents)
    ]
    lines += [_line(f"117.136.2.{k}", k, "/", "-", PHONE) for k in range(1, 6)]
    return "\n".join(lines) + "\n"


def _audit_text(tmp_path, text: str, lang: str = "en"):
    src = tmp_path / f"proxy-{lang}.log"
    src.write_text(text, encoding="utf-8")
    out = tmp_path / f"proxy-out-{lang}"
    result = CliRunner().invoke(
        app,
        ["audit", str(src), "--format", "nginx", "--log-format", LOG_FORMAT,
         "--out", str(out), "--lang", lang],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    facts = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    return facts, (out / "report.html").read_text(encoding="utf-8"), " ".join(result.output.split())


def test_a_log_that_holds_its_proxy_s_addresses_says_so(tmp_path):
    facts, html, output = _audit_text(tmp_path, _proxy_log(user_agents=25))
    proxy = facts["notices"]["proxy_addresses"]
    assert proxy["addresses"] == 2 and proxy["pv"] == 50
    assert proxy["share"] == round(50 / 55, 6)
    assert proxy["top"][0] == {"ip": "52.94.76.1", "pv": 25, "user_agents": 25}
    sentence = "90.9% of page views come from 2 data-center addresses that each show many browsers"
    assert sentence in html and sentence in output
    assert "52.94.76.1: 25 page views, 25 user agents; 52.94.76.2" in html
    _, html_zh, _ = _audit_text(tmp_path, _proxy_log(user_agents=25), lang="zh")
    assert "90.9% 的页面浏览来自 2 个数据中心地址" in html_zh


def test_a_data_center_address_with_few_browsers_is_not_a_proxy(tmp_path):
    facts, html, output = _audit_text(tmp_path, _proxy_log(user_agents=19))
    assert facts["notices"] == {}
    assert "data-center addresses that each show" not in html + output


def test_an_input_counted_on_all_its_events_says_events():
    from qinglang.audit.notices import notice_lines

    facts = {
        "uv_rule": {"pageviews": False},
        "totals": {"pv": 10, "pv_without_uv_key": 4, "invalid_pv_without_uv_key": 1},
    }
    (line,) = notice_lines(facts, "en")
    assert line.startswith("4 counted events (40.0%) have neither a visitor id nor an IP address")
    (line_zh,) = notice_lines(facts, "zh")
    assert line_zh.startswith("4 条计入的事件（占 40.0%）")
