"""Audit charts as inline SVG strings (matplotlib, no pyplot global state, deterministic output).

Text is written as SVG <text> (svg.fonttype 'none': the viewer's fonts render it, and the SVG stays
small and searchable); math text is off (a source named `$x^2$` is shown as typed); ids are salted
with a fixed string and the metadata block (date, matplotlib version) is dropped, so the same facts
give byte-identical SVG. Chinese labels are used only when matplotlib has a font with Chinese
glyphs; otherwise `chart_lang()` says 'en' and the report notes it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from qinglang.audit.i18n import clean, fmt_int, t

CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
)
VALID_COLOR = "#9ab8a4"
PALETTE = (
    "#c0392b", "#e67e22", "#8e44ad", "#2c3e50", "#d35400",
    "#7f8c8d", "#16a085", "#b03a6e", "#5d6d7e", "#a04000",
)  # fmt: skip
TOP_SOURCES = 20


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Name of an installed font with Chinese glyphs that matplotlib can use, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def chart_lang(lang: str) -> str:
    """The language of chart labels: `lang`, unless Chinese is asked for and no font has it."""
    return "zh" if lang == "zh" and cjk_font() else "en"


@contextmanager
def _style(lang: str) -> Iterator[None]:
    import matplotlib

    rc: dict[str, Any] = {
        "svg.fonttype": "none",
        "svg.hashsalt": "qinglang",
        "text.parse_math": False,
        "text.usetex": False,
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 11,
        "axes.titleweight": "bold",
        "axes.titlelocation": "left",
    }
    if chart_lang(lang) == "zh":
        rc["font.sans-serif"] = [cjk_font(), "DejaVu Sans"]
    with matplotlib.rc_context(rc):  # type: ignore[arg-type]
        yield


def _svg(fig: Any, prefix: str) -> str:
    """The figure as inline SVG; element ids get `prefix` so several charts can share one page."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # drop XML declaration and DOCTYPE for inline HTML
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)
    text = re.sub(r"<[^>]+>", lambda tag: _prefix_ids(tag.group(0), prefix), text)
    return text.strip() + "\n"


def _prefix_ids(tag: str, prefix: str) -> str:
    # Only tags are rewritten: text content has its '<' escaped, so it never matches here.
    tag = re.sub(r'\sid="', f' id="{prefix}-', tag)
    return re.sub(r'(url\(#|href="#)', rf"\g<1>{prefix}-", tag)


def _label(value: object, limit: int = 40) -> str:
    return clean(value, limit) or "—"


def category_colors(categories: Sequence[str]) -> dict[str, str]:
    """A stable colour per category code, in the given order."""
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(categories)}


def daily_chart(daily: Sequence[dict], categories: Sequence[str], lang: str = "en") -> str:
    """Per-day stacked bars: valid UV at the bottom, then invalid UV by category."""
    from matplotlib.figure import Figure

    lang = chart_lang(lang)
    with _style(lang):
        fig = Figure(figsize=(9, 3.6))
        ax = fig.add_subplot()
        xs = list(range(len(daily)))
        bottom = [float(d.get("valid_uv") or 0) for d in daily]
        ax.bar(xs, bottom, color=VALID_COLOR, label=t("valid_uv", lang), width=0.8)
        for cat, color in category_colors(categories).items():
            heights = [float((d.get("by_category") or {}).get(cat) or 0) for d in daily]
            ax.bar(xs, heights, bottom=bottom, color=color, label=_label(cat), width=0.8)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        step = max(1, len(daily) // 15)
        ax.set_xticks(xs[::step], [_label(d.get("day"))[5:] for d in daily][::step])
        ax.yaxis.set_major_formatter(lambda v, _pos: fmt_int(v))
        ax.set_title(t("chart_daily", lang))
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
        fig.tight_layout()
        return _svg(fig, "daily")


def sources_chart(sources: Sequence[dict], lang: str = "en", top: int = TOP_SOURCES) -> str:
    """Horizontal bars: the `top` sources by invalid UV share, each annotated with its UV volume."""
    from matplotlib.figure import Figure

    lang = chart_lang(lang)
    rows = list(sources)[:top]
    with _style(lang):
        fig = Figure(figsize=(9, 0.8 + 0.28 * max(len(rows), 1)))
        ax = fig.add_subplot()
        ys = list(range(len(rows)))
        shares = [float(r.get("invalid_share") or 0) * 100 for r in rows]
        ax.barh(ys, shares, color=PALETTE[0], height=0.7)
        ax.set_yticks(ys, [_label(r.get("source")) for r in rows])
        ax.invert_yaxis()
        ax.set_xlim(0, 118)
        ax.set_xticks([0, 20, 40, 60, 80, 100], ["0%", "20%", "40%", "60%", "80%", "100%"])
        for y, share, row in zip(ys, shares, rows, strict=True):
            note = f"{share:.1f}% · UV {fmt_int(row.get('uv') or 0)}"
            ax.annotate(note, (share, y), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=7.5)  # fmt: skip
        ax.set_title(t("chart_sources", lang))
        fig.tight_layout()
        return _svg(fig, "sources")


def categories_chart(categories: Sequence[dict], lang: str = "en") -> str:
    """Horizontal bars: invalid UV share per category, with its 95% confidence interval."""
    from matplotlib.figure import Figure

    lang = chart_lang(lang)
    rows = list(categories)
    with _style(lang):
        fig = Figure(figsize=(9, 0.9 + 0.32 * max(len(rows), 1)))
        ax = fig.add_subplot()
        ys = list(range(len(rows)))
        shares = [float(r.get("uv_share") or 0) * 100 for r in rows]
        lo, hi = [], []
        for r, s in zip(rows, shares, strict=True):
            ci = r.get("uv_share_ci") or [None, None]
            lo.append(max(0.0, s - float(ci[0]) * 100) if ci[0] is not None else 0.0)
            hi.append(max(0.0, float(ci[1]) * 100 - s) if ci[1] is not None else 0.0)
        codes = [str(r.get("category")) for r in rows]
        colors = [category_colors(codes)[c] for c in codes]  # same colours as the daily chart
        ax.barh(ys, shares, color=colors, height=0.6, xerr=[lo, hi],
                error_kw={"ecolor": "#222", "capsize": 3, "lw": 1})  # fmt: skip
        ax.set_yticks(ys, [_label(r.get("category")) for r in rows])
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.0f}%")
        for y, share, h in zip(ys, shares, hi, strict=True):
            ax.annotate(f"{share:.1f}%", (share + h, y), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=7.5)  # fmt: skip
        ax.set_xlim(0, max([s + h for s, h in zip(shares, hi, strict=True)] + [1.0]) * 1.15)
        ax.set_title(t("chart_categories", lang))
        fig.tight_layout()
        return _svg(fig, "categories")
