"""HTML report: escaping of attacker-controlled strings, both languages, numbers, golden file."""

from __future__ import annotations

import copy
import json
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from qinglang.audit.render_html import render_html

GOLDEN = Path(__file__).parent / "golden"
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "footer", "section", "h1", "h2",
    "h3", "h4", "p", "dl", "dt", "dd", "div", "span", "table", "thead", "tbody", "tr", "th", "td",
    "code", "pre", "ul", "li", "strong", "br", "figure", "details", "summary",
    # matplotlib SVG
    "svg", "defs", "g", "path", "use", "clippath", "rect", "text", "polyline", "line",
}  # fmt: skip


def load_facts() -> dict:
    return json.loads((GOLDEN / "facts_small.json").read_text(encoding="utf-8"))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def parse_tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture(scope="module")
def html_en() -> str:
    return render_html(load_facts(), lang="en")


@pytest.fixture(scope="module")
def html_zh() -> str:
    return render_html(load_facts())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_attacker_strings_are_escaped(lang: str) -> None:
    html = render_html(load_facts(), lang=lang)
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "<svg onload" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    assert "\x1b" not in html and "\u202e" not in html


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_only_expected_markup_and_no_handlers(lang: str) -> None:
    for tag, attrs in parse_tags(render_html(load_facts(), lang=lang)):
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "xlink:href", "src"):
                assert (value or "").startswith("#"), (tag, name, value)


def test_self_contained_and_script_free(html_en: str) -> None:
    assert "Content-Security-Policy" in html_en
    assert "default-src 'none'" in html_en
    assert "<link" not in html_en and "@import" not in html_en
    assert 'src="http' not in html_en and 'href="http' not in html_en
    assert html_en.count("<svg") == 3


def test_numbers_are_formatted(html_en: str) -> None:
    for text in (
        "28,000,000",  # UV total
        "11,200,000",  # invalid UV
        "40.0%",  # invalid share
        "39.0%–41.0%",  # its 95% CI
        "30,800.00 CNY",  # claimed
        "18,480.00 CNY",  # payable
        "18,172.00–18,788.00",  # payable CI
        "12,320.00 CNY",  # withheld
        "1.10 CNY per 1,000 UV",
        "21.2%–22.8%",
        "&lt;0.01%",  # a tiny conversion rate is not shown as 0.00%
        "2017-09-01 08:15:02Z",
    ):
        assert text in html_en, text


def test_sections_in_english(html_en: str) -> None:
    for text in (
        'lang="en"',
        "Traffic audit report",
        "Evidence samples",
        "frame.zero_size",
        "Method",
        "client.webdriver",  # skipped check is listed
        "client.frame_w &lt; 2",  # SQL is escaped inside <pre>
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "Evaluation against ground truth",
        "qinglang audit &#39;logs/sept 2017.parquet&#39; beacons.ndjson --out DIR",
        "supporting",
    ):
        assert text in html_en, text


def test_sections_in_chinese(html_zh: str) -> None:
    for text in (
        'lang="zh-CN"',
        "流量审计报告",
        "独立访客（UV）",
        "浏览量（PV）",
        "95% 置信区间",
        "应付金额",
        "证据样本",
        "方法说明",
        "输入文件校验和",
        "暗刷：隐藏iframe或不可见链接加载，无人看到页面",
        "在零尺寸iframe中加载",
        "辅助",
        "复核方法",
    ):
        assert text in html_zh, text


def test_without_evaluation_and_sparse_facts() -> None:
    facts = load_facts()
    facts["evaluation"] = None
    assert "Evaluation against ground truth" not in render_html(facts, lang="en")
    sparse = {"totals": {"uv": 5}, "campaign": {"sites": ["s.example"]}}
    html = render_html(sparse, lang="en")
    assert "Traffic audit report" in html and "<svg" not in html


def test_does_not_modify_facts() -> None:
    facts = load_facts()
    before = copy.deepcopy(facts)
    render_html(facts, lang="en")
    assert facts == before


def test_rejects_unknown_language() -> None:
    with pytest.raises(ValueError, match="lang"):
        render_html(load_facts(), lang="fr")


def test_golden_report_en(html_en: str) -> None:
    path = GOLDEN / "report_en.html"
    if os.environ.get("QINGLANG_UPDATE_GOLDEN") == "1":
        path.write_text(html_en, encoding="utf-8")
        pytest.skip(f"rewrote {path}")
    expected = path.read_text(encoding="utf-8")
    assert html_en == expected, (
        f"HTML report differs from {path}; if the change is intended, rerun with "
        "QINGLANG_UPDATE_GOLDEN=1 and review the diff"
    )
