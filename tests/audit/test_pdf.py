"""`qinglang audit --pdf`: report.pdf printed by Chromium in the Noto Sans CJK that qinglang's
dependencies bring (issue 13, item 7).

The Chinese audit is printed with Chromium's fontconfig emptied (FONTCONFIG_FILE: a configuration
with no font directory at all), so no system font can take part: the Chinese in the PDF's text
layer and its only embedded fonts (Noto Sans CJK SC, regular and bold) prove the embedded font did
the work. The English one is printed on the machine as it is (CI installs fonts-wqy-microhei and
DejaVu): still only the embedded font appears. The PDF is sealed: `verify` passes, a flipped byte
in it fails, `verify --rerun` compares figures and labels (not PDF bytes) and passes.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qinglang.audit import pdf
from qinglang.audit.i18n import t
from qinglang.audit.render_html import render_html
from qinglang.cli import app
from qinglang.simulate import simulate

pypdf = pytest.importorskip("pypdf")
pytest.importorskip("playwright")
needs_chromium = pytest.mark.skipif(
    pdf.chromium_path() is None, reason="no Chromium on PATH (Debian: apt-get install chromium)"
)
runner = CliRunner()
GOLDEN = Path(__file__).parent / "golden" / "facts_small.json"
NO_FONTS = (
    '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
    "<fontconfig></fontconfig>\n"
)


def embedded_fonts(reader) -> set[str]:
    """Every font the PDF's pages use, without the subset tag (ABCDEF+)."""
    names = set()
    for page in reader.pages:
        fonts = (page.get("/Resources") or {}).get("/Font") or {}
        for ref in fonts.values():
            font = ref.get_object()
            names.add(str(font.get("/BaseFont") or font.get("/Subtype")).split("+")[-1])
    return names


def page_texts(path: Path) -> tuple[list[str], set[str]]:
    reader = pypdf.PdfReader(str(path))
    return [p.extract_text() for p in reader.pages], embedded_fonts(reader)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@needs_chromium
def test_zh_audit_prints_in_the_embedded_font_alone_and_is_sealed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-fonts.conf"
    empty.write_text(NO_FONTS, encoding="utf-8")
    monkeypatch.setenv("FONTCONFIG_FILE", str(empty))  # Chromium sees no system font
    data = tmp_path / "c.parquet"
    simulate("case2017", scale=0.0004, seed=5, out=data)
    out = tmp_path / "a"
    started = time.perf_counter()
    result = runner.invoke(
        app,
        ["audit", str(data), "--out", str(out), "--pdf", "--parties", "甲公司", "乙公司",
         "--contract", "HT-2017-001", "--setting", "bootstrap_replicates=50"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "report.pdf (" in result.output
    facts = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    seal = json.loads((out / "seal.json").read_text(encoding="utf-8"))
    assert set(seal) == {"manifest.json", "report.html", "report.pdf"}

    texts, fonts = page_texts(out / "report.pdf")
    assert fonts == {"NotoSansCJKsc-Regular", "NotoSansCJKsc-Bold"}, fonts
    first = squash(texts[0])
    assert squash(t("title", "zh")) in first  # 流量审计报告
    uv = f"{facts['totals']['uv']:,}"
    assert squash(f"统计的 {uv} 个独立访客（UV）中") in first  # the headline sentence
    assert "甲公司" in first and "HT-2017-001" in first
    digest = hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    for i, text in enumerate(texts, start=1):  # every page: its number and the manifest's hash
        assert f"{i} / {len(texts)}" in text, (i, text[:200])
        assert digest in squash(text), i
    assert "qinglang CJK" not in (out / "report.html").read_text(encoding="utf-8")
    print(f"audit with --pdf: {time.perf_counter() - started:.1f} s, {len(texts)} pages")

    checked = runner.invoke(app, ["verify", str(out)])
    assert checked.exit_code == 0, checked.output
    assert "report.pdf sealed" in checked.output
    again = runner.invoke(app, ["verify", str(out), "--rerun"])  # PDF bytes are not a figure
    assert again.exit_code == 0, again.output

    body = bytearray((out / "report.pdf").read_bytes())
    body[len(body) // 2] ^= 0x01
    (out / "report.pdf").write_bytes(bytes(body))
    broken = runner.invoke(app, ["verify", str(out)])
    assert broken.exit_code == 1
    assert "report.pdf changed" in broken.output
    del seal["report.pdf"]  # a report.pdf the seal does not list is not the audit's
    (out / "seal.json").write_text(json.dumps(seal), encoding="utf-8")
    unsealed = runner.invoke(app, ["verify", str(out)])
    assert unsealed.exit_code == 1
    assert "report.pdf is not in seal.json" in unsealed.output


@needs_chromium
def test_en_report_uses_the_embedded_font_even_with_system_fonts(tmp_path: Path) -> None:
    facts = json.loads(GOLDEN.read_text(encoding="utf-8"))
    facts["manifest"] = {"sha256": "ab" * 32}
    # the golden facts hold U+FFFD (undecodable input), which Noto Sans CJK lacks: Chromium
    # rightly sets that one in a system font, so it is left out here
    html = render_html(facts, "en").replace("\ufffd", "?")
    printed = pdf.write_pdf(html, tmp_path / "report.pdf", stamp="Manifest SHA-256: " + "ab" * 32)
    texts, fonts = page_texts(tmp_path / "report.pdf")
    assert fonts == {"NotoSansCJKsc-Regular", "NotoSansCJKsc-Bold"}, fonts
    assert printed.pages == len(texts)
    assert "Traffic audit report" in texts[0]
    assert f"1 / {len(texts)}" in texts[0] and "ab" * 32 in squash(texts[-1])
    assert printed.seconds < pdf.TIMEOUT_S


@needs_chromium
def test_a_hostile_report_cannot_hang_the_printing(tmp_path: Path) -> None:
    """Megabytes of one unbroken string: Chromium is given `timeout` seconds, then closed."""
    hostile = (
        "<!DOCTYPE html><html><head></head><body><pre>" + "蛤" * 6_000_000 + "</pre></body></html>"
    )
    started = time.perf_counter()
    with pytest.raises(pdf.PdfError, match="did not print the report within 2 s"):
        pdf.write_pdf(hostile, tmp_path / "report.pdf", timeout=2)
    assert time.perf_counter() - started < 40
    assert not (tmp_path / "report.pdf").exists()  # nothing half-written


def test_the_embedded_characters_are_capped() -> None:
    every = "".join(chr(c) for c in range(0x4E00, 0x9FA6))  # 20,902 CJK ideographs
    chars = pdf.document_chars("流量" * 50 + every, limit=pdf.MAX_CHARS)
    assert len(chars) <= pdf.MAX_CHARS and "流" in chars and "量" in chars
    assert all(c in chars for c in "0123456789/")


def test_the_printed_copy_only_adds_the_font_and_the_margins() -> None:
    facts = json.loads(GOLDEN.read_text(encoding="utf-8"))
    html = render_html(facts, "zh")
    printed = pdf.pdf_html(html, stamp='清单 SHA-256："\\x')
    assert "font-src 'self'; default-src 'none'" in printed
    assert '@font-face { font-family: "qinglang CJK"; font-weight: 700' in printed
    assert 'content: "清单 SHA-256：\\22 \\5c x"' in printed  # quotes and backslashes escaped
    assert (
        printed.replace(
            printed[printed.find("<style>\n@font-face") : printed.find("</head>")], ""
        ).replace("font-src 'self'; ", "")
        == html
    )


def test_no_chromium_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QINGLANG_CHROMIUM", str(tmp_path / "no-such-chromium"))
    data = tmp_path / "e.csv"
    data.write_text("ts,ip,user_agent\n2024-01-01T00:00:00Z,1.2.3.4,curl/8.0\n", encoding="utf-8")
    result = runner.invoke(app, ["audit", str(data), "--out", str(tmp_path / "a"), "--pdf"])
    assert result.exit_code == 2, result.output
    assert "apt-get install chromium" in result.output
    assert not (tmp_path / "a" / "labels.parquet").exists()  # failed before any work
