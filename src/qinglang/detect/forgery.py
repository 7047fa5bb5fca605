"""sivt.forgery (协议刷): requests that imitate the tracker without running it.

The collector checks the signed page-view token every tracker run must echo and records its
verdict in `token`. Missing, invalid and replayed tokens mean no genuine tracker run stands behind
the hit. An expired token alone is what a tab left open for hours sends; it only counts as forgery
when nothing else shows a person (no trusted interaction). A hit with no tracker signals at all,
on a site whose tracker does send them, is a beacon-less hit.
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
)


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    q = findings.queries
    for verdict in ("missing", "invalid", "replayed"):
        if f"token.{verdict}" in run:
            q.append(finding_sql(f"token.{verdict}", 0.97, "events", f"token = '{verdict}'"))
    if "token.expired" in run:
        score = "CASE WHEN coalesce(client.interactions, 0) > 0 THEN 0.2 ELSE 0.8 END"
        q.append(finding_sql("token.expired", score, "events", "token = 'expired'"))
    if "beacon.missing" in run:
        # Sites whose tracker reports signals for most hits; there, a hit without any is forged.
        sites = (
            "SELECT coalesce(site, '') FROM events GROUP BY 1 "
            "HAVING avg(CASE WHEN client IS NULL THEN 0.0 ELSE 1.0 END) >= 0.5"
        )
        where = f"client IS NULL AND event <> 'conversion' AND coalesce(site, '') IN ({sites})"
        q.append(finding_sql("beacon.missing", 0.9, "events", where))
    return findings
