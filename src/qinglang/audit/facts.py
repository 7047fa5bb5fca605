"""Labels -> audit facts: counts, shares with 95% intervals, the amount payable, evidence.

Everything here is a query over the engine's `events`, `labels` and `findings` tables, so it runs on
DuckDB and on Spark alike. The facts are a plain dict: the renderers draw it, `audit.json` is it.

UV is counted as a stats platform settles: distinct visitors per day, summed over the campaign. The
visitor is `visitor_id`, or where an input has none, IP + user agent. A UV is valid when at least
one of its counted events (its pageviews; where the input has none, like a click log, every event
but a server log's requests, which never count) is valid; an
invalid UV takes the category of its highest-priority invalid event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from babel.numbers import get_currency_precision

from qinglang import __version__
from qinglang.audit.detector_error import describe, pick, rates, ratio_draws
from qinglang.audit.engagement import engagement_facts
from qinglang.audit.entries import entry_facts
from qinglang.audit.notices import proxy_addresses
from qinglang.detect.useragent import classify
from qinglang.engine import Engine
from qinglang.reasons import CATEGORY_PRIORITY, CATEGORY_TEXT, REASONS
from qinglang.settings import SETTINGS, setting_value

MIN_INTERVAL_UNITS = 5  # fewer (source, day) cells than this: no interval is estimable
INTERVAL_TEXT = (
    "95% intervals come from a cluster bootstrap over (source, day) cells (Poisson weights; "
    "resamples with no UV at all are left out): they show how much the shares would move if the "
    "campaign's traffic had been drawn again, cell by cell. With fewer than "
    f"{MIN_INTERVAL_UNITS} cells no interval is estimable and none is shown. Where the detectors' "
    "own error was measured, each resample also draws, per category, a precision and a recall "
    "from the measured counts (Beta distributions, Jeffreys' prior) and scales that category's "
    "flagged UV by how far the drawn precision / recall lies from the measured one: the interval "
    "holds the sampling and the uncertainty of the measured error, around the estimate. The "
    "measured bias itself (precision below 1: part of what was flagged is valid; recall below 1: "
    "part of the invalid traffic was not caught) is stated below and not added to the figures: it "
    "was measured on other traffic."
)
VERDICT_TEXT = (
    "An event is invalid when any detector finding scores at least 0.5 (a decisive reason); "
    "supporting reasons are reported but never invalidate on their own. Its category is that of "
    "the decisive reason whose category comes first in the priority order: "
    + " > ".join(CATEGORY_PRIORITY)
    + "."
)


def day_sql(tz: str, alias: str = "e", span: tuple[datetime, datetime] | None = None) -> str:
    """The settlement day of an event, in the campaign's time zone.

    Where the zone's UTC offset stays the same over the whole `span` (no daylight-saving change
    in it), the day is the shifted UTC date, which is cheaper than a time-zone conversion per row.
    """
    if tz == "UTC":
        return f"CAST({alias}.ts AS DATE)"
    offset = fixed_offset_seconds(tz, span) if span else None
    if offset is not None:
        sign = "+" if offset >= 0 else "-"
        return f"CAST({alias}.ts {sign} INTERVAL {abs(offset)} SECOND AS DATE)"
    return f"CAST({alias}.ts AT TIME ZONE '{tz.replace(chr(39), '')}' AS DATE)"


def fixed_offset_seconds(tz: str, span: tuple[datetime, datetime]) -> int | None:
    """The zone's UTC offset in seconds if it is the same at every hour of `span`, else None."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    start, end = span
    if end < start or end - start > timedelta(days=3 * 366):
        return None
    offsets = set()
    at = start
    while at <= end + timedelta(hours=1):
        delta = at.astimezone(zone).utcoffset()
        offsets.add(int(delta.total_seconds()) if delta is not None else None)
        at += timedelta(hours=1)
    return offsets.pop() if len(offsets) == 1 else None


def counted_sql(has_pageviews: bool) -> str:
    """Whether an event of ``label_rows e`` counts in PV and UV: its page views, or where the
    input has none (a click log, an app's actions) every event but a server log's requests
    (assets, errors, probes), which are never counted."""
    return "e.event = 'pageview'" if has_pageviews else "e.event <> 'request'"


def _uv_table_sql(
    has_pageviews: bool, tz: str, span: tuple[datetime, datetime] | None = None
) -> str:
    key = "e.visitor"
    counted = counted_sql(has_pageviews)
    day = day_sql(tz, span=span)
    return f"""
        SELECT {day} AS day, {key} AS visitor,
               min_by(coalesce(e.source, '(none)'), e.ts) AS source,
               max(CASE WHEN e.prio IS NULL THEN 1 ELSE 0 END) AS any_valid,
               min(e.prio) AS prio,
               max(CASE WHEN e.event = 'conversion' THEN 1 ELSE 0 END) AS converted
        FROM label_rows e
        WHERE ({counted} OR e.event = 'conversion') AND {key} IS NOT NULL
        GROUP BY 1, 2
        HAVING max(CASE WHEN {counted} THEN 1 ELSE 0 END) = 1
    """


def compute_facts(
    engine: Engine,
    *,
    reports: list[dict[str, Any]],
    detectors: list[dict[str, Any]],
    price: dict[str, Any],
    tz: str = "UTC",
    settings: dict[str, object] | None = None,
    provenance: dict[str, str] | None = None,
    seed: int = 0,
    detector_error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`detector_error`: the measurement (audit.detector_error.load) whose error the intervals
    take in; None: sampling only."""
    settings = dict(settings or {})
    shape = engine.query(
        "SELECT count(*) AS events, count(visitor_id) AS with_visitor, "
        "count(client.visible_ms) AS with_signals, "
        "sum(CASE WHEN event = 'pageview' THEN 1 ELSE 0 END) AS pv, "
        "sum(CASE WHEN event = 'request' THEN 1 ELSE 0 END) AS requests, "
        "CAST(min(ts) AS VARCHAR) AS start, CAST(max(ts) AS VARCHAR) AS finish, "
        "min(ts) AS first_ts, max(ts) AS last_ts FROM events"
    ).to_pylist()[0]
    # apart: beside the counts, DuckDB's list of distinct sites made the pass four times slower
    sites = engine.query("SELECT site FROM events WHERE site IS NOT NULL GROUP BY site")
    shape["sites"] = sorted(sites.column("site").to_pylist())
    has_visitor = bool(shape["with_visitor"])
    has_pv = bool(shape["pv"])
    span = (shape["first_ts"], shape["last_ts"]) if shape["first_ts"] else None
    engine.materialize("uv", _uv_table_sql(has_pv, tz, span))
    cells = engine.query(
        "SELECT day, source, any_valid, prio, count(*) AS n, sum(converted) AS conv "
        "FROM uv GROUP BY 1, 2, 3, 4"
    ).to_pylist()
    counted = counted_sql(has_pv)
    # a counted event with neither a visitor id nor an IP has no UV key: it is in PV, in no UV
    pv = engine.query(
        "SELECT e.verdict, e.visitor IS NULL AS keyless, count(*) AS n FROM label_rows e "
        f"WHERE {counted} GROUP BY 1, 2"
    ).to_pylist()
    pv_by: dict[str, int] = {}
    keyless_by: dict[str, int] = {}
    for r in pv:
        pv_by[r["verdict"]] = pv_by.get(r["verdict"], 0) + int(r["n"])
        if r["keyless"]:
            keyless_by[r["verdict"]] = int(r["n"])
    pv_by_category = {
        r["category"]: int(r["n"])
        for r in engine.query(
            "SELECT e.category, count(*) AS n FROM label_rows e WHERE e.verdict = 'invalid' "
            f"AND {counted} GROUP BY 1"
        ).to_pylist()
    }
    replicates = int(setting_value(settings, "bootstrap_replicates"))
    facts: dict[str, Any] = {
        "qinglang_version": __version__,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "inputs": reports,
        "campaign": _campaign(cells, shape, tz),
        "uv_key": "visitor_id" if has_visitor else "ip+user_agent",
        "uv_key_note": _uv_note(has_visitor, has_pv, tz),
        "uv_rule": {"visitor_id": has_visitor, "pageviews": has_pv, "tz": tz},
        "price": price,
    }
    # the tracker's profile where most events carry its signals (a few beacons in a server log
    # do not make it one), else the server log's
    has_signals = int(shape["with_signals"] or 0) * 2 >= max(int(shape["events"] or 0), 1)
    error = pick(detector_error, has_signals)
    facts.update(_counts(cells, pv_by, int(shape["events"]), price, replicates, seed, error))
    facts["totals"]["pv_without_uv_key"] = sum(keyless_by.values())
    facts["totals"]["invalid_pv_without_uv_key"] = keyless_by.get("invalid", 0)
    proxy = proxy_addresses(engine, sum(pv_by.values()), counted)
    facts["notices"] = {"proxy_addresses": proxy} if proxy else {}
    if shape["requests"] and shape["requests"] == shape["events"]:
        # a server log of assets, errors and probes only: nothing to count, and the audit says why
        facts["notices"]["no_pageviews"] = {"requests": int(shape["requests"])}
    for c in facts["categories"]:
        c["pv"] = pv_by_category.get(c["category"], 0)
    facts["daily"] = _daily(cells)
    for d in facts["daily"]:  # what each day's valid UV cost, exactly
        d["payable"] = amounts(price, d["uv"], d["valid_uv"], None)["payable"]
    facts["sources"] = _sources(cells)
    evidence_n = int(setting_value(settings, "evidence_per_reason"))
    facts["evidence"] = _evidence(engine, evidence_n, tz, seed)
    facts["reasons"] = _reasons(engine)
    facts["evidence_sampling"] = {
        "seed": seed,
        "per_reason": evidence_n,
        "method": EVIDENCE_TEXT,
        "totals": {r["code"]: r["events"] for r in facts["reasons"] if r["events"]},
    }
    facts["detectors"] = detectors
    facts["method"] = {
        "uv_definition": facts["uv_key_note"],
        "verdict_rule": VERDICT_TEXT,
        "interval_method": INTERVAL_TEXT
        + " "
        + describe(facts["totals"]["interval"]["detector_error"], "en"),
        "settings": {k: settings.get(k, s.default) for k, s in SETTINGS.items()},
        "data_sources": provenance or {},
        "queries": {d["name"]: ";\n".join(d.get("queries", [])) for d in detectors},
    }
    facts["evaluation"] = None
    engagement = engagement_facts(engine, detectors, settings)
    facts["entries"] = entry_facts(engine, detectors)
    if engagement:  # only when the input has engagement actions
        facts["engagement"] = engagement
    return facts


def _uv_note(has_visitor: bool, has_pv: bool, tz: str) -> str:
    who = (
        "distinct visitor_id per day (IP + user agent for hits without one; a landing hit sent "
        "before its cookie was set counts under that cookie when the cookie's first hit, from "
        "the same site, address and user agent at most stitch_seconds later, names it as "
        "referrer)"
        if has_visitor
        else "distinct IP + user agent per day (the input has no visitor id)"
    )
    what = "pageviews" if has_pv else "all events but requests (the input has no pageviews)"
    return (
        f"UV = {who}, days in {tz}, summed over the campaign, counted on {what}. A UV is valid "
        f"when at least one of its counted events is valid."
    )


def _campaign(cells: list[dict], shape: dict, tz: str) -> dict[str, Any]:
    days = sorted({str(c["day"]) for c in cells})
    return {
        "sites": [s for s in (shape["sites"] or []) if s is not None],
        "start": days[0] if days else None,
        "end": days[-1] if days else None,
        "days": len(days),
        "timezone": tz,
    }


def _counts(cells, pv_by, events, price, replicates, seed, error=None) -> dict[str, Any]:
    k = len(CATEGORY_PRIORITY)
    keys = sorted({(str(c["day"]), str(c["source"])) for c in cells})
    index = {key: i for i, key in enumerate(keys)}
    # matrix: cell x (valid, category 0..k-1)
    m = np.zeros((len(keys), k + 1), dtype=np.float64)
    for c in cells:
        col = 0 if c["any_valid"] else 1 + int(c["prio"] if c["prio"] is not None else 0)
        m[index[(str(c["day"]), str(c["source"]))], col] += c["n"]
    total = m.sum()
    valid = m[:, 0].sum()
    invalid = total - valid
    rng = np.random.default_rng(seed)
    estimable = len(keys) >= MIN_INTERVAL_UNITS
    weights = rng.poisson(1.0, size=(replicates, len(keys))) if estimable else np.zeros((0, 0))
    boot = weights @ m if estimable else np.zeros((0, k + 1))
    # a resample of only empty or missing cells has no UV at all: it is no draw of the campaign
    # (counted as 100% invalid, it used to widen the interval to 0-100%), so it is left out
    boot = boot[boot.sum(axis=1) > 0]
    boot_total = boot.sum(axis=1)
    share_inv = 1 - boot[:, 0] / boot_total if len(boot) else np.zeros(0)
    # the detectors' own error (audit/detector_error.py): each resample draws precision /
    # recall per category (the overall measurement where a category has none of its own), as a
    # factor around 1, from its own seeded stream; the invalid share is the sum of the scaled
    # categories, so the overall and per-category intervals agree
    err_rng = np.random.default_rng([seed, 1])
    n_boot = len(boot)
    per_category = (error or {}).get("per_category") or {}
    ratios = [
        ratio_draws(per_category.get(cat) or (error or {}).get("overall"), err_rng, n_boot)
        for cat in CATEGORY_PRIORITY
    ]
    scaled = [boot[:, i + 1] * ratios[i] for i in range(k)] if n_boot else []
    share_with_error = (
        np.minimum(np.sum(scaled, axis=0) / boot_total, 1.0) if n_boot else np.zeros(0)
    )

    def ci(x: np.ndarray) -> list[float] | None:
        if not len(x):
            return None  # not estimable: too few units
        lo, hi = np.quantile(x, [0.025, 0.975])
        return [round(float(lo), 6), round(float(hi), 6)]

    share = invalid / total if total else 0.0
    share_ci = ci(share_with_error)
    categories = []
    for i, cat in enumerate(CATEGORY_PRIORITY):
        n = m[:, i + 1].sum()
        measured = per_category.get(cat)
        if n == 0:
            continue
        en, zh = CATEGORY_TEXT[cat]
        categories.append(
            {
                "category": cat,
                "label_en": en,
                "label_zh": zh,
                "uv": int(n),
                "uv_share": round(n / total, 6) if total else 0.0,
                "uv_share_ci": ci(np.minimum(scaled[i] / boot_total, 1.0)) if n_boot else None,
                "detector_error": rates(measured) if measured else None,
            }
        )
    return {
        "totals": {
            "events": events,
            "pv": sum(pv_by.values()),
            "uv": int(total),
            "valid_uv": int(valid),
            "invalid_uv": int(invalid),
            "invalid_uv_share": round(share, 6),
            "invalid_uv_share_ci": share_ci,
            "invalid_uv_share_ci_sampling": ci(share_inv),
            "interval": {
                "unit": "(source, day) cell",
                "units": len(keys),
                "replicates": int(len(boot)),
                "estimable": share_ci is not None,
                "detector_error": _error_facts(error),
            },
            "valid_pv": pv_by.get("valid", 0),
            "invalid_pv": pv_by.get("invalid", 0),
        },
        "amount": amounts(price, int(total), int(valid), share_ci),
        "categories": categories,
    }


def _error_facts(error: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the interval took in of the detectors' error, for audit.json and the report."""
    if error is None:
        return None
    return {
        "profile": error["profile"],
        "source": error["source"],
        "sha256": error["sha256"],
        "measured_on": error["measured_on"],
        "overall": {**error["overall"], **rates(error["overall"])},
    }


def amounts(
    price: dict[str, Any], total: int, valid: int, share_ci: list[float] | None
) -> dict[str, Any]:
    """What the UV cost, exactly: decimal arithmetic from the price as written, each amount
    rounded half-up once to the currency's minor unit (Babel's ISO 4217 data: 2 for CNY, 0 for
    JPY), written as a decimal string ("184.97") so no reader's float can change it; withheld is
    claimed minus payable, so the two always add up."""
    unit_price = Decimal(str(price["unit_price"]))
    per = Decimal(int(price["per"]))
    minor = Decimal(1).scaleb(-get_currency_precision(str(price.get("currency") or "XXX")))

    def cost(uv: Decimal) -> Decimal:
        return (uv * unit_price / per).quantize(minor, rounding=ROUND_HALF_UP)

    claimed, estimate = cost(Decimal(total)), cost(Decimal(valid))
    payable_ci = None
    if share_ci is not None:
        lo_share, hi_share = (Decimal(repr(x)) for x in share_ci)
        payable_ci = [cost(total * (1 - hi_share)), cost(total * (1 - lo_share))]
    settle = str(price.get("settle") or "estimate")
    # --settle lower/upper: the payable amount is that end of its 95% interval; where no
    # interval is estimable, the estimate (and the document says so)
    payable = estimate
    if payable_ci is not None and settle in ("lower", "upper"):
        payable = payable_ci[0] if settle == "lower" else payable_ci[1]
    return {
        "claimed": str(claimed),
        "payable": str(payable),
        "withheld": str(claimed - payable),
        "payable_estimate": str(estimate),
        "payable_ci": None if payable_ci is None else [str(x) for x in payable_ci],
        "settle": settle if payable_ci is not None or settle == "estimate" else "estimate",
        "settle_asked": settle,
        "minor_unit": str(minor),
    }


def _daily(cells: list[dict]) -> list[dict[str, Any]]:
    days: dict[str, dict[str, Any]] = {}
    for c in cells:
        d = days.setdefault(
            str(c["day"]),
            {"day": str(c["day"]), "uv": 0, "valid_uv": 0, "invalid_uv": 0, "by_category": {}},
        )
        d["uv"] += c["n"]
        if c["any_valid"]:
            d["valid_uv"] += c["n"]
        else:
            d["invalid_uv"] += c["n"]
            cat = CATEGORY_PRIORITY[int(c["prio"] or 0)]
            d["by_category"][cat] = d["by_category"].get(cat, 0) + c["n"]
    for d in days.values():  # in the categories' fixed order, whatever order the cells came in
        d["by_category"] = {
            c: d["by_category"][c] for c in CATEGORY_PRIORITY if c in d["by_category"]
        }
    return [days[k] for k in sorted(days)]


def _sources(cells: list[dict]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c in cells:
        s = out.setdefault(
            str(c["source"]),
            {"source": str(c["source"]), "uv": 0, "invalid_uv": 0, "conversions": 0, "_cats": {}},
        )
        s["uv"] += c["n"]
        s["conversions"] += int(c["conv"] or 0)
        if not c["any_valid"]:
            s["invalid_uv"] += c["n"]
            cat = CATEGORY_PRIORITY[int(c["prio"] or 0)]
            s["_cats"][cat] = s["_cats"].get(cat, 0) + c["n"]
    rows = []
    for s in out.values():
        cats = s.pop("_cats")
        s["invalid_share"] = round(s["invalid_uv"] / s["uv"], 6) if s["uv"] else 0.0
        s["top_category"] = max(sorted(cats), key=lambda c: cats[c]) if cats else None
        s["conversion_rate"] = round(s["conversions"] / s["uv"], 6) if s["uv"] else 0.0
        rows.append(s)
    return sorted(rows, key=lambda s: (-s["invalid_share"], -s["uv"], s["source"]))


EVIDENCE_COLUMNS = ("event_id", "ts", "ip", "user_agent", "referrer", "url", "source")


EVIDENCE_TEXT = (
    "Evidence rows are drawn at random (a fixed seed, recorded) among each reason's events, one "
    "source at a time: the first row of each source, then the second, so that no one source "
    "fills the sample. Times are shown in the zone days are counted in."
)


def evidence_order_sql(rid: str, seed: int) -> str:
    """The sample's order: Knuth's multiplicative hash ``(rid + seed) * 2654435761 mod 2**32``,
    in 64-bit integers that never overflow on either engine, whatever the row id: the operand is
    reduced mod 2**32 first and the multiplier split into its high and low 16 bits, so no product
    passes 2**48. Equal to the plain formula wherever that one did not overflow."""
    x = f"(({rid} + {int(seed)}) % 4294967296)"
    return f"(((({x} * 40503) % 65536) * 65536 + {x} * 31153) % 4294967296)"


def _evidence_pick_sql(per_reason: int, seed: int, keep: int | None = None) -> str:
    """(reason, rid) of the evidence sample: per reason, the findings in the order of a seeded
    hash of the row id, one source at a time (each source's first, then each one's second...),
    the first `per_reason` of them.

    The order is a multiplicative hash of the row id and the seed (:func:`evidence_order_sql`,
    the same on DuckDB and Spark). Sorting every finding by it (millions of rows) is the costly part, so only the
    findings whose hash falls under a per-(reason, source) limit are sorted: about `keep` per
    group. A group left with fewer than it needs (rare: the limit keeps `keep` on average, at
    least `per_reason` are needed) takes all its findings, so the sample is exactly the one
    a sort of every finding would pick."""
    n = int(per_reason)
    keep = int(keep if keep is not None else 4 * n + 20)
    mix = evidence_order_sql("f.rid", seed)
    same = "l.reason = fe.reason AND l.source IS NOT DISTINCT FROM fe.source"
    return f"""
WITH fe AS (
  SELECT f.reason, e.source, f.rid, {mix} AS m FROM findings f JOIN events e ON e.rid = f.rid),
lim AS (
  SELECT reason, source, count(*) AS n,
         CASE WHEN count(*) <= {keep} THEN 4294967296
              ELSE floor(4294967296.0 * {keep} / count(*)) END AS lim
  FROM fe GROUP BY reason, source),
cand AS (SELECT fe.reason, fe.source, fe.rid, fe.m FROM fe JOIN lim l ON {same} WHERE fe.m < l.lim),
got AS (SELECT reason, source, count(*) AS k FROM cand GROUP BY reason, source),
short AS (
  SELECT l.reason, l.source, l.lim FROM lim l
  LEFT JOIN got g ON g.reason = l.reason AND g.source IS NOT DISTINCT FROM l.source
  WHERE coalesce(g.k, 0) < least(l.n, {n})),
pool AS (
  SELECT reason, source, rid, m FROM cand
  UNION ALL
  SELECT fe.reason, fe.source, fe.rid, fe.m FROM fe JOIN short l ON {same} WHERE fe.m >= l.lim)
SELECT reason, rid FROM (
  SELECT reason, rid, row_number() OVER (PARTITION BY reason ORDER BY k, m, rid) AS rn
  FROM (SELECT reason, rid, m,
               row_number() OVER (PARTITION BY reason, source ORDER BY m, rid) AS k
        FROM pool) s) r
WHERE rn <= {n}"""


def _evidence(
    engine: Engine, per_reason: int, tz: str, seed: int
) -> dict[str, list[dict[str, Any]]]:
    picked = engine.query(_evidence_pick_sql(per_reason, seed)).to_pylist()
    rows: list[dict[str, Any]] = []
    if picked:
        # a few hundred row ids, given as a list, so the joins read only those rows; each row
        # once, then under every reason that picked it, ordered by reason, time and row id
        cols = ", ".join(f"e.{c}" for c in EVIDENCE_COLUMNS)
        ids = ", ".join(sorted({str(int(p["rid"])) for p in picked}))
        detail = {
            r.pop("rid"): r
            for r in engine.query(
                f"SELECT e.rid, {cols}, l.category, l.reasons, l.score FROM events e "
                f"JOIN labels l ON l.rid = e.rid WHERE e.rid IN ({ids}) AND l.rid IN ({ids})"
            ).to_pylist()
        }
        order = sorted(
            (p["reason"], detail[p["rid"]]["ts"], p["rid"]) for p in picked if p["rid"] in detail
        )
        rows = [{"reason": reason, **detail[rid]} for reason, _, rid in order]
    try:
        zone: Any = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        ts = r.get("ts")
        if isinstance(ts, datetime):
            r["ts"] = ts.astimezone(zone).isoformat(timespec="seconds")
        reason = r.pop("reason")
        if reason.startswith("ua.") and r.get("user_agent"):
            # which list or shape rule declared the bot (the detector's own classification),
            # on the rows of the reason that class gives (not on, say, ua.ch_mismatch)
            said = classify(r["user_agent"])
            if reason == f"ua.{said['kind']}":
                r["ua_match"] = {"source": said["source"], "matched": said["crawler"]}
        out.setdefault(reason, []).append(r)
    return out


def _reasons(engine: Engine) -> list[dict[str, Any]]:
    counts = {
        r["reason"]: int(r["n"])
        for r in engine.query(
            "SELECT reason, count(*) AS n FROM findings GROUP BY reason"
        ).to_pylist()
    }
    return [
        {
            "code": r.code,
            "category": r.category,
            "en": r.en,
            "zh": r.zh,
            "decisive": r.decisive,
            "events": counts.get(r.code, 0),
        }
        for r in REASONS.values()
    ]
