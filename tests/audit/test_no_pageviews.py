"""A server log with no page view at all (real ones: a honeypot's probes, a proxy's absolute-form
request lines, a scanner's 404s) settles nothing: no UV, nothing payable, and a warning that says
why. It is never counted on every request as if the input were a click log, where a POST that
got a 404 would be a paid visitor."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from qinglang.cli import app

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:70.0) Gecko/20100101 Firefox/70.0"
LINES = [
    # a proxy's absolute form, a page's stylesheet, a scanner's POST: none is a page view
    f'176.193.141.237 - - [16/Nov/2019:00:02:08 +0300] "GET http://www.example.ru/index.php '
    f'HTTP/1.0" 200 6284 "-" "{FIREFOX}"',
    f'176.193.141.237 - - [16/Nov/2019:00:02:08 +0300] "GET /images/auth.css HTTP/1.1" 200 994 '
    f'"http://example.ru/auth/" "{FIREFOX}"',
    '132.148.144.214 - - [16/Nov/2019:04:32:55 +0300] "POST /xmlrpc.php HTTP/1.1" 404 208 "-" '
    '"Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; fr; rv:1.9.2.8) Firefox/3.6.8"',
    '218.92.0.208 - - [16/Nov/2019:06:25:09 +0300] "SSH-2.0-PUTTY" 400 182 "-" "-"',
    '45.10.1.2 - - [16/Nov/2019:06:26:00 +0300] "GET /example/anything" 200 12 "-" "-"',
]


def _audit(tmp_path, lines: list[str], lang: str = "en"):
    src = tmp_path / "access.log"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / f"out-{lang}"
    result = CliRunner().invoke(
        app,
        ["audit", str(src), "--format", "nginx", "--out", str(out), "--lang", lang,
         "--price", "1.1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    facts = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    return facts, (out / "report.html").read_text(encoding="utf-8"), " ".join(result.output.split())


def test_a_log_without_page_views_counts_no_uv_and_says_why(tmp_path):
    facts, html, output = _audit(tmp_path, LINES)
    totals = facts["totals"]
    assert totals["events"] == 5
    assert totals["pv"] == 0
    assert totals["uv"] == 0
    assert facts["uv_rule"]["pageviews"] is False  # none: its other events would count...
    assert facts["amount"]["payable"] == "0.00"
    assert facts["notices"]["no_pageviews"] == {"requests": 5}  # ...but they are all requests
    assert "None of the 5 requests is a page view" in output
    assert "None of the 5 requests is a page view" in html


def test_the_warning_is_in_chinese_too(tmp_path):
    _, html, output = _audit(tmp_path, LINES, lang="zh")
    assert "5 条请求中没有一条是页面浏览" in output
    assert "5 条请求中没有一条是页面浏览" in html


def test_one_page_view_is_the_only_paid_unit(tmp_path):
    page = (
        f'176.193.141.237 - - [16/Nov/2019:00:02:09 +0300] "GET /auth/ HTTP/1.1" 200 5000 "-" '
        f'"{FIREFOX}"'
    )
    facts, _, output = _audit(tmp_path, [*LINES, page])
    assert facts["totals"]["pv"] == 1
    assert facts["totals"]["uv"] == 1
    assert "no_pageviews" not in facts["notices"]
    assert "is a page view" not in output


def test_clicks_beside_requests_count_and_the_requests_do_not(tmp_path):
    # a click log and a server log of assets, audited together: the clicks are the paid unit
    clicks = tmp_path / "clicks.csv"
    clicks.write_text(
        "ts,event,ip,user_agent\n"
        + "".join(
            f"2019-11-16T0{k % 9}:00:00Z,click,117.136.1.{k},{FIREFOX}\n" for k in range(1, 41)
        ),
        encoding="utf-8",
    )
    log = tmp_path / "access.log"
    log.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["audit", str(clicks), str(log), "--out", str(out), "--tz", "UTC"]
    )
    assert result.exit_code == 0, result.output
    facts = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    assert facts["totals"]["events"] == 45
    assert facts["totals"]["pv"] == 40 and facts["totals"]["uv"] == 40
    assert "no_pageviews" not in facts["notices"]
