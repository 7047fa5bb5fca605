"""What the pages and the API show, as data: one function per view, so the two always agree.
Each takes the app's state and a site already checked by tenancy.py."""

from __future__ import annotations

import math
import re
from typing import Any

from qinglang.errors import ConfigError
from qinglang.reasons import REASONS
from qinglang.web import audits as audits_mod
from qinglang.web.accounts import User
from qinglang.web.figures import parse_day
from qinglang.web.rollups import SOURCE_CHARS, source_of

CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,40}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
EVIDENCE_FIELDS = ("event_id", "ts", "ip", "user_agent", "url", "referrer", "source", "score")


def sites(state: Any, user: User) -> list[dict[str, str]]:
    return [{"site": s, "role": r} for s, r in sorted(user.grants.items()) if state.site_exists(s)]


def figures(state: Any, site: str, params: Any) -> dict[str, Any] | None:
    """The site's live figures; None in read-only mode (no lake)."""
    if state.figures is None:
        return None
    return state.figures.site(  # type: ignore[no-any-return]
        site,
        grain=str(params.get("grain", "day")),
        start=parse_day(params.get("from"), "from"),
        end=parse_day(params.get("to"), "to"),
    )


def audits(state: Any, site: str) -> list[dict[str, Any]]:
    return [a.public() for a in audits_mod.list_audits(state.audits_dir(site))]


def audit(state: Any, site: str, audit_id: str) -> dict[str, Any] | None:
    info = audits_mod.find_audit(state.audits_dir(site), audit_id)
    if info is None:
        return None
    out: dict[str, Any] = {**info.public(), "summary": None}
    if info.state == "done":
        f = audits_mod.load_facts(info)
        out["summary"] = {
            "totals": {k: f["totals"].get(k) for k in (
                "events", "pv", "uv", "valid_uv", "invalid_uv", "invalid_uv_share",
                "invalid_uv_share_ci", "valid_pv", "invalid_pv", "pv_without_uv_key",
                "invalid_pv_without_uv_key")},
            "amount": f.get("amount"),
            "notices": f.get("notices") or {},
            "period": f.get("campaign"),
            "categories": [
                {k: c.get(k) for k in ("category", "uv", "uv_share", "uv_share_ci", "pv")}
                for c in f.get("categories", [])
            ],
        }  # fmt: skip
    return out


def category(state: Any, site: str, audit_id: str, cat: str) -> dict[str, Any] | None:
    """A category of an audit: its reason codes with their counts, and each one's evidence."""
    info = audits_mod.find_audit(state.audits_dir(site), audit_id)
    if info is None or info.state != "done" or not CATEGORY_RE.match(cat):
        return None
    f = audits_mod.load_facts(info)
    reasons = [r for r in f.get("reasons", []) if r.get("category") == cat and r.get("events")]
    if not reasons and not any(c.get("category") == cat for c in f.get("categories", [])):
        return None
    evidence = f.get("evidence", {})
    return {
        "audit": audit_id,
        "category": cat,
        "reasons": [
            {
                "code": r["code"],
                "events": r["events"],
                "en": r.get("en"),
                "zh": r.get("zh"),
                "evidence": [
                    {k: row.get(k) for k in EVIDENCE_FIELDS} | {"reasons": row.get("reasons")}
                    for row in evidence.get(r["code"], [])
                ],
            }
            for r in sorted(reasons, key=lambda r: -r["events"])
        ],
    }


def source(state: Any, site: str, audit_id: str, name: str) -> dict[str, Any] | None:
    """A source's evidence rows in an audit's sample, by reason code (the figures rank sources
    live; an audit keeps evidence rows per reason, so a source shows the sampled rows it has)."""
    info = audits_mod.find_audit(state.audits_dir(site), audit_id)
    if info is None or info.state != "done" or not name or len(name) > SOURCE_CHARS:
        return None
    evidence = audits_mod.load_facts(info).get("evidence", {})
    out = []
    for code, rows in sorted(evidence.items()):
        mine = [
            {k: row.get(k) for k in EVIDENCE_FIELDS} | {"reasons": row.get("reasons")}
            for row in rows
            if source_of(row.get("source"), row.get("url"), row.get("referrer")) == name
        ]
        if mine:
            r = REASONS.get(code)
            out.append({"code": code, "events": len(mine), "en": r.en if r else code,
                        "zh": r.zh if r else code, "evidence": mine})  # fmt: skip
    return {"audit": audit_id, "source": name, "sampled": True, "reasons": out}


def audit_options(fields: Any, lang: str) -> dict[str, Any]:
    """The options of an audit to run, from a form or JSON body; ConfigError names the field."""

    def text(name: str, limit: int = 40) -> str:
        value = fields.get(name)
        return "" if value is None else str(value).strip()[:limit]

    try:
        price = float(text("price") or "1")
    except ValueError:
        raise ConfigError("price: expected a number such as 1.1") from None
    if not math.isfinite(price) or price < 0 or price > 1e9:
        raise ConfigError("price: expected a number from 0 to 1e9")
    per_text = text("per") or "1000"
    if not per_text.isdigit() or not 1 <= int(per_text) <= 10**9:
        raise ConfigError("per: expected a whole number of UV from 1 to 1e9")
    currency = (text("currency") or "CNY").upper()
    if not CURRENCY_RE.match(currency):
        raise ConfigError("currency: expected a three-letter code such as CNY")
    start = parse_day(text("from") or None, "from")
    end = parse_day(text("to") or None, "to")
    if start and end and start > end:
        raise ConfigError("from: the first day is after the last (to)")
    return {
        "price": price,
        "per": int(per_text),
        "currency": currency,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "lang": lang,
        "tz": "UTC",
    }
