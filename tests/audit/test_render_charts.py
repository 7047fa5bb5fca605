"""Charts: valid standalone SVG, text shown as typed (no math text), deterministic bytes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from qinglang.audit import charts

FIXTURE = Path(__file__).parent / "golden" / "facts_small.json"
SVG = "{http://www.w3.org/2000/svg}"


def load_facts() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def all_charts(lang: str = "en") -> dict[str, str]:
    facts = load_facts()
    order = [c["category"] for c in facts["categories"]]
    return {
        "daily": charts.daily_chart(facts["daily"], order, lang),
        "sources": charts.sources_chart(facts["sources"], lang),
        "categories": charts.categories_chart(facts["categories"], lang),
    }


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_charts_are_valid_svg_without_script(lang: str) -> None:
    for name, svg in all_charts(lang).items():
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg", name
        tags = {el.tag for el in root.iter()}
        assert f"{SVG}script" not in tags and f"{SVG}foreignObject" not in tags, name
        for el in root.iter():
            assert not any(attr.startswith("on") for attr in el.attrib), (name, el.tag)


def test_labels_are_shown_as_typed() -> None:
    text = "".join(ET.fromstring(all_charts()["sources"]).itertext())
    assert "<script>alert(1)</script>" in text
    assert '"><img src=x onerror=alert(2)>' in text
    assert "$x^2$ union" in text  # not turned into math text
    assert "\x1b" not in text and "\u202e" not in text
    assert "UV 15,000,000" in text and "95.0%" in text


def test_deterministic_and_without_metadata() -> None:
    first, second = all_charts(), all_charts()
    assert first == second
    for svg in first.values():
        assert "<metadata" not in svg and "<?xml" not in svg and "Matplotlib v" not in svg


def test_ids_are_unique_across_charts() -> None:
    ids: list[str] = []
    for svg in all_charts().values():
        ids += [el.attrib["id"] for el in ET.fromstring(svg).iter() if "id" in el.attrib]
    assert len(ids) == len(set(ids))


def test_top_twenty_sources_and_long_labels() -> None:
    rows = [{"source": f"s{i}-" + "x" * 80, "uv": i, "invalid_share": 0.5} for i in range(30)]
    text = "".join(ET.fromstring(charts.sources_chart(rows)).itertext())
    assert "s19-" in text and "s20-" not in text
    assert "x" * 41 not in text


def test_chart_language_falls_back_without_cjk_font() -> None:
    assert charts.chart_lang("en") == "en"
    assert charts.chart_lang("zh") == ("zh" if charts.cjk_font() else "en")
