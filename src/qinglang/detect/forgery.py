"""sivt.forgery (协议刷): requests that imitate the tracker without running it.

The collector checks the signed page-view token every tracker run must echo and records its
verdict in `token`. Missing, invalid and replayed tokens mean no genuine tracker run stands behind
the hit. An expired token alone is what a tab left open for hours sends; it only counts as forgery
when nothing else shows a person (no trusted interaction). A hit with no tracker signals at all,
on a site whose tracker does send them, is a beacon-less hit. And a captured beacon sent again under
fresh visitor ids repeats its millisecond measurements exactly: a cloned beacon.
"""

from __future__ import annotations

from qinglang.detect.base import Check, Context, Findings, finding_sql

NAME = "forgery"
CATEGORY = "sivt.forgery"
CHECKS = (
    Check("token.missing", ("token",)),
    Check("token.invalid", ("token",)),
    Check("token.replayed", ("token",)),
    Check("token.expired", ("token",)),
    Check("beacon.missing", ("client",)),
    Check("beacon.cloned", ("visitor_id", "client.dwell_ms", "client.first_interaction_ms")),
)


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    q = findings.queries
    for verdict in ("missing", "invalid", "replayed"):
        if f"token.{verdict}" in run:
            q.append(finding_sql(f"token.{verdict}", 0.97, "events", f"token = '{verdict}'"))
    if "token.expired" in run:
        # A genuine page can only hold an expired token after being open longer than its TTL.
        ttl_ms = int(ctx.setting("token_ttl_minutes") * 60_000)
        score = f"CASE WHEN coalesce(client.dwell_ms, 0) >= {ttl_ms} THEN 0.2 ELSE 0.8 END"
        q.append(finding_sql("token.expired", score, "events", "token = 'expired'"))
    if "beacon.cloned" in run:
        q.append(_cloned(ctx))
    if "beacon.missing" in run:
        # Sites whose tracker reports signals for most hits; there, a hit without any is forged.
        sites = (
            "SELECT coalesce(site, '') FROM events GROUP BY 1 "
            "HAVING avg(CASE WHEN client IS NULL THEN 0.0 ELSE 1.0 END) >= 0.5"
        )
        where = f"client IS NULL AND event <> 'conversion' AND coalesce(site, '') IN ({sites})"
        q.append(finding_sql("beacon.missing", 0.9, "events", where))
    return findings


# Millisecond measurements of one page view; people never repeat them exactly across visitors.
MEASURES = "client.dwell_ms, client.visible_ms, client.first_interaction_ms, client.interactions"


def _cloned(ctx: Context) -> str:
    """One captured beacon sent again and again under fresh visitor ids."""
    min_visitors = int(ctx.setting("cloned_min_visitors"))
    measured = "client.dwell_ms > 0 AND client.first_interaction_ms IS NOT NULL"
    clones = (
        f"SELECT {MEASURES} FROM events WHERE {measured} GROUP BY {MEASURES} "
        f"HAVING count(DISTINCT visitor_id) >= {min_visitors}"
    )
    cols = [m.split(".")[1] for m in MEASURES.split(", ")]
    on = " AND ".join(f"e.client.{c} = c.{c}" for c in cols)
    return (
        f"SELECT e.rid, 'beacon.cloned' AS reason, 0.9 AS score FROM events e "
        f"JOIN ({clones}) c ON {on} WHERE e.{measured.replace(' AND ', ' AND e.')}"
    )
