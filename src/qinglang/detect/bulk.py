"""sivt.bulk: bulk-engagement apps, one controller driving many small accounts by protocol.

* bulk.forged_signature - the platform's client signature fails, on an IP where at least
  ``bulk_forged_share`` of ``bulk_min_requests`` or more requests fail it (a controller forging
  signatures), from an account whose requests mostly fail (a person behind the same carrier
  gateway fails now and then, from an old client or clock skew, not mostly);
* bulk.signature_failed - supporting: any other signature failure;
* bulk.device_churn - an account with at least ``bulk_churn_min_actions`` actions that never shows
  the same device id twice (the app sends random device info with every request);
* bulk.instant_cascade - at least ``bulk_cascade_accounts`` accounts from one IP act on the same
  post within ``bulk_cascade_seconds`` (a star: one controller, many accounts, one post). A viral
  post's reposts come over hours from thousands of addresses.
"""

from __future__ import annotations

from qinglang.detect.base import Check, Context, Findings, window_sql

NAME = "bulk"
CATEGORY = "sivt.bulk"
CHECKS = (
    Check("bulk.forged_signature", ("signature_ok", "ip")),
    Check("bulk.signature_failed", ("signature_ok",)),
    Check("bulk.device_churn", ("account_id", "device_id")),
    Check("bulk.instant_cascade", ("account_id", "ip", "target", "ts")),
)
ACTION = "event = 'action'"


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    q = findings.queries
    if "bulk.forged_signature" in run:
        q.append(_forged(ctx))
    if "bulk.signature_failed" in run:
        q.append(
            "SELECT rid, 'bulk.signature_failed' AS reason, 0.3 AS score FROM events "
            f"WHERE {ACTION} AND signature_ok = FALSE"
        )
    if "bulk.device_churn" in run:
        q.append(_churn(ctx))
    if "bulk.instant_cascade" in run:
        q.append(_cascade(ctx))
    return findings


def _forged(ctx: Context) -> str:
    share = ctx.setting("bulk_forged_share")
    min_req = int(ctx.setting("bulk_min_requests"))
    forging = (
        f"SELECT ip FROM events WHERE {ACTION} AND ip IS NOT NULL AND signature_ok IS NOT NULL "
        f"GROUP BY ip HAVING count(*) >= {min_req} "
        f"AND avg(CASE WHEN signature_ok THEN 0.0 ELSE 1.0 END) >= {share}"
    )
    failing = (
        f"SELECT account_id FROM events WHERE {ACTION} AND account_id IS NOT NULL "
        f"AND signature_ok IS NOT NULL GROUP BY account_id "
        f"HAVING avg(CASE WHEN signature_ok THEN 0.0 ELSE 1.0 END) >= 0.5"
    )
    return (
        f"SELECT e.rid, 'bulk.forged_signature' AS reason, 0.9 AS score FROM events e "
        f"JOIN ({forging}) f ON e.ip = f.ip JOIN ({failing}) a ON e.account_id = a.account_id "
        f"WHERE e.{ACTION} AND e.signature_ok = FALSE"
    )


def _churn(ctx: Context) -> str:
    min_actions = int(ctx.setting("bulk_churn_min_actions"))
    per_device = (
        f"SELECT account_id, device_id, count(*) AS n FROM events WHERE {ACTION} "
        f"AND account_id IS NOT NULL AND device_id IS NOT NULL GROUP BY 1, 2"
    )
    churners = (
        f"SELECT account_id FROM ({per_device}) GROUP BY account_id "
        f"HAVING sum(n) >= {min_actions} AND max(n) = 1"
    )
    return (
        f"SELECT e.rid, 'bulk.device_churn' AS reason, 0.85 AS score FROM events e "
        f"JOIN ({churners}) c ON e.account_id = c.account_id WHERE e.{ACTION}"
    )


def _cascade(ctx: Context) -> str:
    window_ms = int(ctx.setting("bulk_cascade_seconds") * 1000)
    min_accounts = int(ctx.setting("bulk_cascade_accounts"))
    # two offset windows, so a burst straddling a window edge is still seen whole
    parts = []
    for shift in (0, window_ms // 2):
        w = window_sql(window_ms, shift)
        acts = (
            f"SELECT rid, ip, target, account_id, {w} AS w FROM events WHERE {ACTION} "
            f"AND ip IS NOT NULL AND target IS NOT NULL AND account_id IS NOT NULL"
        )
        stars = (
            f"SELECT ip, target, w FROM ({acts}) GROUP BY 1, 2, 3 "
            f"HAVING count(DISTINCT account_id) >= {min_accounts}"
        )
        parts.append(
            f"SELECT a.rid FROM ({acts}) a JOIN ({stars}) s "
            f"ON a.ip = s.ip AND a.target = s.target AND a.w = s.w"
        )
    union = " UNION ".join(parts)
    return f"SELECT rid, 'bulk.instant_cascade' AS reason, 0.85 AS score FROM ({union})"
