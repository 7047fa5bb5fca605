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
from qinglang.events import CLIENT_KEYS

NAME = "forgery"
CATEGORY = "sivt.forgery"
CHECKS = (
    Check("token.missing", ("token",)),
    Check("token.invalid", ("token",)),
    Check("token.replayed", ("token",)),
    Check("token.expired", ("token",)),
    # a tracker's beacon always carries its dwell time: without one anywhere there is no beacon
    # to miss (a server log's `client` may hold only the Sec-CH-UA header)
    Check("beacon.missing", ("client.dwell_ms",)),
    Check("beacon.cloned", ("visitor_id", "client.dwell_ms", "client.first_interaction_ms")),
)

# A beacon is what a running tracker reports. The Sec-CH-UA header a server log can carry is kept
# as `client.ch_ua` (what the tracker reads of the same browser), but every request of a Chromium
# browser sends it, script or no script: alone it is no beacon.
HEADER_KEYS = ("ch_ua",)
BEACON_SQL = " OR ".join(f"client.{k} IS NOT NULL" for k in CLIENT_KEYS if k not in HEADER_KEYS)


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
            f"HAVING avg(CASE WHEN {BEACON_SQL} THEN 1.0 ELSE 0.0 END) >= 0.5"
        )
        where = (
            f"NOT coalesce({BEACON_SQL}, FALSE) AND event NOT IN ('conversion', 'action') "
            f"AND coalesce(site, '') IN ({sites})"
        )
        q.append(finding_sql("beacon.missing", 0.9, "events", where))
    return findings


# Millisecond measurements of one page view, and the device it was measured on (one value: its
# sizes go together); people never repeat them all across visitors, a replayed beacon does.
MEASURES = ("dwell_ms", "visible_ms", "first_interaction_ms", "interactions", "device")
DEVICE = ("screen_w", "screen_h", "viewport_w", "viewport_h")


def _cloned(ctx: Context) -> str:
    """One captured beacon sent again and again under fresh visitor ids (the first copy with a
    valid token, the person's own, stays valid).

    A replay copies the beacon's body: its timings and the device sizes it reported. People do
    share single values (one interaction, a dwell of 15 s when trackers round, the commonest
    phone screen), so a tuple counts as cloned only when it occurs far more often than chance
    predicts: the number of measured hits times the product of each value's own frequency among
    them. This keeps the rule quiet on tens of millions of genuine visitors.
    """
    min_visitors = int(ctx.setting("cloned_min_visitors"))
    excess = ctx.setting("cloned_min_excess")
    sizes = [
        f"coalesce(CAST(client.{d} AS VARCHAR), '-')" for d in DEVICE if ctx.has(f"client.{d}")
    ]
    device = f"concat_ws('x', {', '.join(sizes)})" if sizes else "''"
    # a value the beacon left out is a value too (-1), so a replay that drops one still matches
    cols = ", ".join(f"coalesce(client.{m}, -1) AS {m}" for m in MEASURES if m != "device")
    cols += f", {device} AS device"
    ctx.engine.materialize(
        "forgery_measured",
        f"SELECT rid, ts, token, visitor_id, {cols} FROM events "
        "WHERE client.dwell_ms > 0 AND client.first_interaction_ms IS NOT NULL",
    )
    keys = ", ".join(MEASURES)
    # Counting distinct visitors is the costly part: only for tuples with enough hits.
    often = f"SELECT {keys} FROM forgery_measured GROUP BY {keys} HAVING count(*) >= {min_visitors}"
    on_often = " AND ".join(f"m.{c} = o.{c}" for c in MEASURES)
    m_keys = ", ".join(f"m.{c}" for c in MEASURES)
    tuples = (
        f"SELECT {m_keys}, count(*) AS hits "
        f"FROM forgery_measured m JOIN ({often}) o ON {on_often} GROUP BY {m_keys} "
        f"HAVING count(DISTINCT m.visitor_id) >= {min_visitors}"
    )
    ctx.engine.materialize("forgery_repeated", tuples)
    total = int(ctx.engine.query("SELECT count(*) AS n FROM forgery_measured")["n"][0].as_py())
    freq = []
    joins = []
    for i, m in enumerate(MEASURES):
        share = (
            f"SELECT {m}, count(*) * 1.0 / {total} AS p FROM forgery_measured "
            f"WHERE {m} IN (SELECT {m} FROM forgery_repeated) GROUP BY {m}"
        )
        joins.append(f"JOIN ({share}) f{i} ON t.{m} = f{i}.{m}")
        freq.append(f"f{i}.p")
    expected = f"{total} * " + " * ".join(freq)
    clones = f"SELECT t.* FROM forgery_repeated t {' '.join(joins)} WHERE t.hits >= {excess} * {expected}"
    on = " AND ".join(f"m.{c} = c.{c}" for c in MEASURES)
    # The captured original is in the cluster too: a person's genuine beacon, which carried the
    # collector's valid token and came first. The first copy with a valid token stays valid;
    # every other copy (replayed tokens, none, or later valid ones) is the clone.
    valid = "coalesce(m.token = 'valid', FALSE)"
    return (
        "SELECT rid, 'beacon.cloned' AS reason, 0.9 AS score FROM ("
        f"SELECT m.rid, {valid} AS valid, row_number() OVER ("
        f"PARTITION BY {m_keys}, {valid} ORDER BY m.ts, m.rid) AS k "
        f"FROM forgery_measured m JOIN ({clones}) c ON {on}) x "
        "WHERE NOT (valid AND k = 1)"
    )
