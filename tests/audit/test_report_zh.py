"""The Chinese report has no English prose outside quoted data (issue 13, item 4): the method's
text, the UV rule, the intervals and the evidence sampling are all in Chinese."""

from __future__ import annotations

import html
import re

from qinglang.audit.run import AuditOptions, run_audit
from qinglang.simulate import simulate

ENGLISH_PROSE = re.compile(r"\b[A-Za-z]{3,}\s+[A-Za-z]{2,}\s+[A-Za-z]{3,}\b")


def prose(page: str) -> list[str]:
    """The report's own text: without styles, charts, code, preformatted SQL, the evidence
    tables' data cells (user agents, URLs, paths) and the input files' table."""
    for pattern in (
        r"<style>.*?</style>", r"<svg.*?</svg>", r"<pre[^>]*>.*?</pre>", r"<code[^>]*>.*?</code>",
        r'<td class="wrap">.*?</td>', r"<title>.*?</title>",
    ):  # fmt: skip
        page = re.sub(pattern, " ", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "\n", page))
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_the_zh_report_has_no_english_prose(tmp_path):
    simulate("case2017", scale=0.0004, seed=2, out=tmp_path / "c.parquet")
    run_audit(
        [tmp_path / "c.parquet"], tmp_path / "o",
        AuditOptions(lang="zh", tz="Asia/Shanghai", unit_price=1.1, settings={"bootstrap_replicates": 50}),
    )  # fmt: skip
    lines = prose((tmp_path / "o" / "report.html").read_text(encoding="utf-8"))
    english = [line for line in lines if ENGLISH_PROSE.search(line)]
    assert not english, english[:10]
    assert any("置信区间" in line for line in lines) and any("UV = " in line for line in lines)
