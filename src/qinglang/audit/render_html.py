"""Audit facts -> one self-contained HTML report (inline CSS and SVG, no script, no remote loads).

All data is shown through a Jinja2 template with autoescaping on; every string from the input data
additionally passes through `clean()` (control and bidi-override characters removed) via `finalize`.
A Content-Security-Policy meta tag forbids scripts and remote loads as a second line of defence.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup

from qinglang.audit import charts
from qinglang.audit.i18n import clean, fmt_int, fmt_money, fmt_pct, fmt_range, fmt_ts, t
from qinglang.audit.notices import notice_lines

EVIDENCE_ROWS = 5
ERRORS_SHOWN = 5


def _finalize(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined | Markup):
        return value
    return clean(value)


def _lenient(fmt: Callable[..., str]) -> Callable[..., str]:
    """A number filter that shows a field missing from the facts as '—' instead of failing."""

    def apply(value: Any, *args: Any) -> str:
        return fmt(None if isinstance(value, jinja2.Undefined) else value, *args)

    return apply


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qinglang.audit", "templates"),
        autoescape=True,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        num=_lenient(fmt_int),
        pct=_lenient(fmt_pct),
        money=_lenient(fmt_money),
        pct_range=_lenient(fmt_range),
        money_range=_lenient(lambda pair: fmt_range(pair, fmt_money)),
        ts=_lenient(fmt_ts),
    )
    return env


def _category_order(facts: dict) -> list[str]:
    """Category codes: the categories table's first, then any seen only in the daily counts."""
    order = [c.get("category") for c in facts.get("categories") or []]
    for day in facts.get("daily") or []:
        order += [c for c in (day.get("by_category") or {}) if c not in order]
    return [c for c in order if c]


def _charts(facts: dict, lang: str) -> dict[str, Any]:
    daily, sources = facts.get("daily") or [], facts.get("sources") or []
    categories = facts.get("categories") or []
    svg = {
        "daily": charts.daily_chart(daily, _category_order(facts), lang) if daily else None,
        "sources": charts.sources_chart(sources, lang) if sources else None,
        "categories": charts.categories_chart(categories, lang) if categories else None,
    }
    # Matplotlib escapes all text it writes, so its SVG is safe to inline as markup.
    return {k: Markup(v) if v else None for k, v in svg.items()}


def _view(facts: dict, lang: str) -> dict[str, Any]:
    """The template's context: every section present, with defaults where facts leave gaps."""
    totals = facts.get("totals") or {}
    amount = facts.get("amount") or {}
    price = facts.get("price") or {}
    currency = price.get("currency") or ""
    reason_text = {r.get("code"): r for r in facts.get("reasons") or []}
    evidence_totals = (facts.get("evidence_sampling") or {}).get("totals") or {}
    evidence = [
        {
            "code": code,
            "text": (reason_text.get(code) or {}).get(lang) or "",
            "rows": list(rows or [])[:EVIDENCE_ROWS],
            "total": evidence_totals.get(code, len(rows or [])),
        }
        for code, rows in (facts.get("evidence") or {}).items()
    ]
    inputs = [
        {**{"errors": [], "notes": []}, **i, "errors": list(i.get("errors") or [])[:ERRORS_SHOWN]}
        for i in facts.get("inputs") or []
    ]
    headline = t("headline_sentence", lang).format(
        uv=fmt_int(totals.get("uv")),
        invalid=fmt_int(totals.get("invalid_uv")),
        share=fmt_pct(totals.get("invalid_uv_share")),
        ci=fmt_range(totals.get("invalid_uv_share_ci")),
        payable=fmt_money(amount.get("payable"), currency),
        claimed=fmt_money(amount.get("claimed"), currency),
        settled=_settled(amount, lang),
    )
    method = dict(facts.get("method") or {})
    if lang == "zh":  # the method's prose in Chinese; the English stays in audit.json
        method.update(_method_zh(facts))
    rows = _rows_lines(facts.get("rows"), lang)
    return {
        "lang": lang,
        "t": lambda key, **kw: t(key, lang).format(**kw) if kw else t(key, lang),
        "facts": facts,
        "version": facts.get("qinglang_version") or "",
        "generated_at": facts.get("generated_at") or "",
        "campaign": {"sites": [], "start": None, "end": None, "days": None}
        | (facts.get("campaign") or {}),
        "uv_key": facts.get("uv_key") or "",
        "uv_key_note": (method.get("uv_definition") if lang == "zh" else None)
        or facts.get("uv_key_note")
        or "",
        "price": {"unit_price": None, "per": 1000} | price,
        "currency": currency,
        "totals": totals,
        "amount": amount,
        "headline": headline,
        "notices": notice_lines(facts, lang),
        "categories": facts.get("categories") or [],
        "label_key": "label_zh" if lang == "zh" else "label_en",
        "sources": facts.get("sources") or [],
        "evidence": evidence,
        "reasons": facts.get("reasons") or [],
        "detectors": facts.get("detectors") or [],
        "method": {"uv_definition": "", "verdict_rule": "", "interval_method": ""} | method,
        "queries": method.get("queries") or {},
        "inputs": inputs,
        "rows": rows,
        "daily": facts.get("daily") or [],
        "settlement": {"buyer": None, "seller": None, "contract": None}
        | (facts.get("settlement") or {}),
        "evaluation": facts.get("evaluation"),
        "engagement": facts.get("engagement"),
        "entries": facts.get("entries"),
        "charts": _charts(facts, lang),
        "chart_note": charts.chart_lang(lang) != lang,
        "rerun": _rerun_commands(facts),
        "manifest": facts.get("manifest") or {},
    }


def render_html(facts: dict, lang: str = "zh") -> str:
    """The audit report for `facts` as one HTML document, in Chinese ('zh', default) or English."""
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    return _env().get_template("report.html.j2").render(**_view(facts, lang))


def _rows_lines(rows: dict[str, Any] | None, lang: str) -> list[str]:
    """The report's sentences on what was read, rejected and audited (plain text; escaped by
    the template like everything else)."""
    if not rows:
        return []
    lines = [
        t("rows_sentence", lang).format(
            read=fmt_int(rows.get("read")),
            rejected=fmt_int(rows.get("rejected")),
            audited=fmt_int(rows.get("audited")),
            file=clean(rows.get("rejected_file") or "rejected.csv"),
        )
    ]
    if rows.get("outside_period"):
        period = rows.get("period") or {}
        lines.append(
            t("rows_outside", lang).format(
                n=fmt_int(rows["outside_period"]),
                start=clean(period.get("from") or "…"),
                end=clean(period.get("to") or "…"),
            )
        )
    if rows.get("truncated"):
        cut = ", ".join(f"{clean(k)} {fmt_int(v)}" for k, v in rows["truncated"].items())
        lines.append(t("rows_truncated", lang).format(cut=cut))
    if rows.get("naive_tz_assumed"):
        lines.append(t("rows_naive", lang).format(n=fmt_int(rows.get("naive_ts"))))
    return lines


def _rerun_commands(facts: dict[str, Any]) -> str:
    """`qinglang verify DIR --rerun`, then the audit's own command as recorded."""
    recorded = (facts.get("record") or {}).get("command")
    if not recorded:
        recorded = (
            "qinglang audit "
            + " ".join(shlex.quote(clean(i.get("path"))) for i in facts.get("inputs") or [])
            + " --out DIR"
        )
    return "qinglang verify DIR --rerun\n" + clean(recorded)


def _method_zh(facts: dict[str, Any]) -> dict[str, str]:
    from qinglang.audit.detector_error import describe
    from qinglang.audit.facts import MIN_INTERVAL_UNITS
    from qinglang.reasons import CATEGORY_PRIORITY

    out = {
        "verdict_rule": t("verdict_rule_text", "zh").format(order=" > ".join(CATEGORY_PRIORITY)),
        "interval_method": t("interval_text", "zh").format(min_units=MIN_INTERVAL_UNITS)
        + describe(((facts.get("totals") or {}).get("interval") or {}).get("detector_error"), "zh"),
    }
    rule = facts.get("uv_rule")
    if rule:
        what = t("uv_what_pv" if rule.get("pageviews") else "uv_what_all", "zh")
        key = "uv_note_visitor" if rule.get("visitor_id") else "uv_note_ip"
        out["uv_definition"] = t(key, "zh").format(tz=clean(rule.get("tz")), what=what)
    return out


def _settled(amount: dict[str, Any], lang: str) -> str:
    asked, used = amount.get("settle_asked") or "estimate", amount.get("settle") or "estimate"
    if asked != used:
        return t("settled_fallback", lang)
    return t(f"settled_on_{used}", lang) if used in ("lower", "upper", "estimate") else ""
