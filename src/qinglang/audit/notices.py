"""What about the input itself the reader of an audit must know before trusting its figures.

Three things real logs do that no detector can see from inside:

* a log may hold no page view at all (only assets, errors, probes, or request lines the reader
  cannot take for a browser's: absolute-form ``GET http://host/path``, no protocol, not HTTP):
  nothing is counted or paid, and the audit says why rather than count every request;

* page views with neither a visitor cookie nor an address (a log whose addresses were blanked)
  have no UV key: they are in PV and in no UV (``totals.pv_without_uv_key``);
* a site behind a CDN or a reverse proxy logs the proxy's address unless told otherwise: then a
  handful of data-center addresses carry the traffic of thousands of browsers, and every page
  view is charged as data-center traffic. ``proxy_addresses`` finds the data-center addresses
  that each show many user agents; when they carry a tenth of the page views or more, the audit
  says so (the charges stand: a farm on a few cloud addresses rotating user agents looks the same,
  and the notice names the addresses so that whoever holds the log can check which it is).

``notice_lines(facts, lang)`` is the text the report and the terminal show.
"""

from __future__ import annotations

from typing import Any

from qinglang.audit.i18n import clean, fmt_int, fmt_pct, t
from qinglang.engine import Engine

PROXY_MIN_USER_AGENTS = 20  # one address, this many browsers: a proxy's, or a farm rotating them
PROXY_MIN_SHARE = 0.10  # of all page views, before the audit says anything
PROXY_SHOWN = 3


def proxy_addresses(engine: Engine, pv_total: int, counted: str) -> dict[str, Any] | None:
    """The data-center addresses (page views charged as ``givt.datacenter``) that each show at
    least PROXY_MIN_USER_AGENTS user agents, where together they carry PROXY_MIN_SHARE of the
    `pv_total` page views or more; else None. `counted`: the SQL condition of a counted event
    of ``label_rows`` as ``e``."""
    if pv_total <= 0:
        return None
    rows = engine.query(
        "SELECT x.ip, count(*) AS pv, count(DISTINCT x.user_agent) AS user_agents "
        "FROM label_rows e JOIN events x ON x.rid = e.rid "
        f"WHERE {counted} AND e.category = 'givt.datacenter' AND x.ip IS NOT NULL "
        f"GROUP BY x.ip HAVING count(DISTINCT x.user_agent) >= {PROXY_MIN_USER_AGENTS} "
        "ORDER BY pv DESC, x.ip"
    ).to_pylist()
    pv = sum(int(r["pv"]) for r in rows)
    if not rows or pv < PROXY_MIN_SHARE * pv_total:
        return None
    return {
        "addresses": len(rows),
        "pv": pv,
        "share": round(pv / pv_total, 6),
        "top": [
            {"ip": r["ip"], "pv": int(r["pv"]), "user_agents": int(r["user_agents"])}
            for r in rows[:PROXY_SHOWN]
        ],
    }


def notice_lines(facts: dict[str, Any], lang: str) -> list[str]:
    """The notices of `facts` as sentences (plain text; the HTML template escapes them)."""
    totals = facts.get("totals") or {}
    lines = []
    keyless = int(totals.get("pv_without_uv_key") or 0)
    pageviews = (facts.get("uv_rule") or {}).get("pageviews", True)
    if keyless:
        lines.append(
            t("keyless_pv" if pageviews else "keyless_events", lang).format(
                n=fmt_int(keyless),
                share=fmt_pct(keyless / max(int(totals.get("pv") or 0), 1)),
                invalid=fmt_int(totals.get("invalid_pv_without_uv_key")),
            )
        )
    none = (facts.get("notices") or {}).get("no_pageviews")
    if none:
        lines.append(t("no_pageviews", lang).format(n=fmt_int(none["requests"])))
    proxy = (facts.get("notices") or {}).get("proxy_addresses")
    if proxy:
        top = ("；" if lang == "zh" else "; ").join(
            t("proxy_address", lang).format(
                ip=clean(a["ip"]), pv=fmt_int(a["pv"]), uas=fmt_int(a["user_agents"])
            )
            for a in proxy["top"]
        )
        lines.append(
            t("proxy_addresses", lang).format(
                share=fmt_pct(proxy["share"]), n=fmt_int(proxy["addresses"]), top=top
            )
        )
    return lines
