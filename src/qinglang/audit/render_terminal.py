"""Audit facts -> a short summary on a rich Console.

Every value is passed as a `rich.text.Text` (never as a markup string), so a source named
`[bold red]x[/]` is printed as typed; control characters (e.g. ANSI escapes in a source name) are
replaced by `clean()` before they reach the terminal.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from qinglang.audit.i18n import clean, fmt_int, fmt_money, fmt_pct, fmt_range, t

TOP_CATEGORIES = 5
TOP_SOURCES = 5


def _cell(value: object, style: str = "") -> Text:
    return Text(clean(value), style=style)


def _headline(facts: dict, lang: str) -> Table:
    totals = facts.get("totals") or {}
    amount = facts.get("amount") or {}
    currency = (facts.get("price") or {}).get("currency") or ""
    campaign = facts.get("campaign") or {}
    title = f"{t('title', lang)}: {', '.join(campaign.get('sites') or [])}"
    period = f"{campaign.get('start') or ''} – {campaign.get('end') or ''}"
    table = Table(title=_cell(title, "bold"), caption=_cell(period), show_header=False)
    table.add_column(justify="left", style="dim")
    table.add_column(justify="right")
    table.add_column(justify="left", style="dim")
    rows = [
        (t("uv", lang), fmt_int(totals.get("uv")), ""),
        (t("valid_uv", lang), fmt_int(totals.get("valid_uv")), ""),
        (t("invalid_uv", lang), fmt_int(totals.get("invalid_uv")), ""),
        (
            t("invalid_share", lang),
            fmt_pct(totals.get("invalid_uv_share")),
            f"{t('ci95', lang)} {fmt_range(totals.get('invalid_uv_share_ci'))}",
        ),
        (t("claimed", lang), fmt_money(amount.get("claimed"), currency), ""),
        (
            t("payable", lang),
            fmt_money(amount.get("payable"), currency),
            f"{t('ci95', lang)} {fmt_range(amount.get('payable_ci'), fmt_money)}",
        ),
        (t("withheld", lang), fmt_money(amount.get("withheld"), currency), ""),
    ]
    for label, value, note in rows:
        style = "bold green" if label == t("payable", lang) else ""
        table.add_row(_cell(label), _cell(value, style), _cell(note))
    return table


def _categories(facts: dict, lang: str) -> Table:
    rows = sorted(facts.get("categories") or [], key=lambda c: -(c.get("uv") or 0))
    label_key = "label_zh" if lang == "zh" else "label_en"
    table = Table(title=_cell(t("categories", lang), "bold"))
    for name, justify in (("category", "left"), ("description", "left"), ("share_of_uv", "right"),
                          ("ci95", "right"), ("UV", "right")):  # fmt: skip
        header = name if name == "UV" else t(name, lang)
        table.add_column(_cell(header), justify=justify)  # type: ignore[arg-type]
    for c in rows[:TOP_CATEGORIES]:
        table.add_row(
            _cell(c.get("category"), "cyan"),
            _cell(c.get(label_key) or c.get("label_en")),
            _cell(fmt_pct(c.get("uv_share"))),
            _cell(fmt_range(c.get("uv_share_ci"))),
            _cell(fmt_int(c.get("uv"))),
        )
    return table


def _sources(facts: dict, lang: str) -> Table:
    table = Table(title=_cell(t("sources", lang), "bold"))
    for name, justify in (("source", "left"), ("UV", "right"), ("invalid_share", "right"),
                          ("top_category", "left")):  # fmt: skip
        header = name if name == "UV" else t(name, lang)
        table.add_column(_cell(header), justify=justify)  # type: ignore[arg-type]
    for s in (facts.get("sources") or [])[:TOP_SOURCES]:
        table.add_row(
            _cell(clean(s.get("source"), 60)),
            _cell(fmt_int(s.get("uv"))),
            _cell(fmt_pct(s.get("invalid_share")), "red"),
            _cell(s.get("top_category"), "cyan"),
        )
    return table


def render_summary(facts: dict, console: Console, lang: str = "en") -> None:
    """Print the headline numbers, top categories and top sources of `facts` on `console`."""
    console.print(_headline(facts, lang))
    if facts.get("categories"):
        console.print(_categories(facts, lang))
    if facts.get("sources"):
        console.print(_sources(facts, lang))
