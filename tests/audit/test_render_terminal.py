"""Terminal summary: markup in data is printed as typed, control characters never reach the tty."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from qinglang.audit.render_terminal import render_summary

FIXTURE = Path(__file__).parent / "golden" / "facts_small.json"


def load_facts() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def summary(lang: str = "en", **console_kw) -> tuple[str, str]:
    """(plain text, raw bytes written to the terminal)."""
    out = io.StringIO()
    console = Console(record=True, width=140, file=out, **console_kw)
    render_summary(load_facts(), console, lang=lang)
    return console.export_text(), out.getvalue()


def test_markup_in_data_is_not_interpreted() -> None:
    text, _ = summary()
    assert "[bold red]x[/]" in text
    assert "<script>alert(1)</script>" in text
    assert "$x^2$ union" in text


def test_control_characters_are_replaced() -> None:
    _, raw = summary(force_terminal=True, color_system="truecolor")
    assert "\x1b[31mred" not in raw
    assert "\u202e" not in raw
    text, _ = summary()
    assert "\ufffd[31mred" in text


def test_headline_numbers() -> None:
    text, _ = summary()
    for expected in (
        "28,000,000",
        "16,800,000",
        "11,200,000",
        "40.0%",
        "39.0%–41.0%",
        "18,480.00 CNY",
        "18,172.00–18,788.00",
        "sivt.hidden",
        "22.0%",
    ):
        assert expected in text, expected


def test_top_five_sources_only() -> None:
    facts = load_facts()
    facts["sources"] = [
        {"source": f"src-{i}", "uv": 10, "invalid_share": 1 - i / 10} for i in range(8)
    ]
    out = io.StringIO()
    console = Console(record=True, width=140, file=out)
    render_summary(facts, console)
    text = console.export_text()
    assert "src-4" in text and "src-5" not in text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_both_languages(lang: str) -> None:
    text, _ = summary(lang)
    assert ("应付金额" in text) == (lang == "zh")
    assert ("Amount payable" in text) == (lang == "en")


def test_empty_facts() -> None:
    console = Console(record=True, file=io.StringIO())
    render_summary({}, console)
    assert "Traffic audit report" in console.export_text()
