"""sivt.anomaly: behaviour no person produces, judged per IP, visitor and source.

* ip.regular_timing - an IP whose hits without interaction arrive at near-constant intervals,
  or whose visits (sessions, see ``features.sessions``) start at near-constant intervals
  (round-robin proxy pools and schedulers; people arrive irregularly, so the coefficient of
  variation of their inter-arrival times is near 1). Visit starts matter because a rotator's
  visit may read two or three pages at its own pace, which hides the schedule in the gaps between
  hits, while a page that refreshes itself more often than the session gap stays inside one
  visit and its refreshes never count as starts.
  Hits or starts spaced a day or so apart are a person's daily habit, not a schedule: they must
  come more often than every ``REGULAR_WITHIN_S`` (six hours) on average;
* ip.identity_churn - an IP that shows many visitor ids (and usually many user agents) whose hits
  rarely show an interaction: a bot pool clearing cookies and rotating identities behind proxies,
  often on the same carrier NAT as a few real people. Carrier-grade NAT alone shows many visitors
  too, but its people interact on most visits;
* visitor.ip_rotation - one visitor id on many IPs in a day without interacting;
* source.low_conversion - a source converting far below the site's baseline (supporting only).
"""

from __future__ import annotations

from qinglang.detect.base import Check, Context, Findings, acted_sql, no_input_sql
from qinglang.events import visitor_key_sql
from qinglang.features.sessions import materialize_sessions
from qinglang.features.visitors import materialize_visitor_links

NAME = "anomaly"
CATEGORY = "sivt.anomaly"
CHECKS = (
    Check("ip.regular_timing", ("ip",)),
    Check("ip.identity_churn", ("ip", "visitor_id", "client.interactions")),
    Check("visitor.ip_rotation", ("ip", "visitor_id")),
    Check("source.low_conversion", ("source",)),
)
REGULAR_WITHIN_S = 6 * 3600  # a mean gap above this is a daily habit, not a schedule


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    q = findings.queries
    if "ip.regular_timing" in run:
        q.append(_regular_timing(ctx))
    if "ip.identity_churn" in run:
        q.append(_identity_churn(ctx))
    if "visitor.ip_rotation" in run:
        q.append(_visitor_ip_rotation(ctx))
    if "source.low_conversion" in run:
        q.append(_low_conversion(ctx))
    return findings


def _regular_timing(ctx: Context) -> str:
    max_cv = ctx.setting("regular_max_cv")
    hits = (
        f"SELECT rid, ip, ts FROM events WHERE ip IS NOT NULL AND event = 'pageview' "
        f"AND {no_input_sql()}"
    )
    regular = _regular_ips(ctx, "anomaly_busy_hits", hits, ctx.setting("regular_min_hits"), max_cv)
    # Visits: each session's first page view, where it carries no interaction.
    materialize_sessions(ctx)
    starts = (
        "SELECT e.rid, e.ip, e.ts, f.skey, f.sno FROM session_features f "
        f"JOIN events e ON e.rid = f.entry_rid WHERE e.ip IS NOT NULL AND {no_input_sql('e.')}"
    )
    scheduled = _regular_ips(
        ctx, "anomaly_visit_starts", starts, ctx.setting("regular_min_visits"), max_cv
    )
    return (
        f"SELECT h.rid, 'ip.regular_timing' AS reason, 0.85 AS score "
        f"FROM anomaly_busy_hits h JOIN ({regular}) r ON h.ip = r.ip "
        "UNION "  # an event both checks find is one finding
        # the scheduled visits' events on that IP without interaction (their assets too)
        "SELECT m.rid, 'ip.regular_timing' AS reason, 0.85 AS score "
        f"FROM anomaly_visit_starts s JOIN ({scheduled}) r ON s.ip = r.ip "
        "JOIN session_map m ON m.skey = s.skey AND m.sno = s.sno "
        f"JOIN events e ON e.rid = m.rid WHERE e.ip = s.ip AND {no_input_sql('e.')}"
    )


def _regular_ips(ctx: Context, table: str, rows: str, min_rows: float, max_cv: float) -> str:
    """SQL of the IPs whose `rows` (rid, ip, ts, ...) come at near-constant intervals, more often
    than every REGULAR_WITHIN_S on average. The rows of IPs with `min_rows` or more are kept in
    `table`, read once: their gaps are measured, and the caller flags from them."""
    busy = f"SELECT ip FROM ({rows}) GROUP BY ip HAVING count(*) >= {int(min_rows)}"
    ctx.engine.materialize(table, f"SELECT r.* FROM ({rows}) r JOIN ({busy}) b ON r.ip = b.ip")
    gaps = (
        "SELECT ip, ts_ms(ts) - ts_ms(lag(ts) OVER (PARTITION BY ip ORDER BY ts, rid)) AS gap "
        f"FROM {table}"
    )
    return (
        f"SELECT ip FROM ({gaps}) WHERE gap IS NOT NULL GROUP BY ip "
        f"HAVING avg(gap) > 0 AND avg(gap) <= {REGULAR_WITHIN_S * 1000} "
        f"AND stddev_samp(gap) <= {max_cv} * avg(gap)"
    )


def _identity_churn(ctx: Context) -> str:
    min_visitors = int(ctx.setting("churn_min_visitors"))
    max_engaged = ctx.setting("churn_max_engaged")
    engaged = f"CASE WHEN {acted_sql()} THEN 1.0 ELSE 0.0 END"
    # Counting distinct visitors is the costly part: only for IPs with enough hits to qualify.
    candidates = (
        f"SELECT ip FROM events WHERE ip IS NOT NULL GROUP BY ip "
        f"HAVING count(*) >= {min_visitors} AND avg({engaged}) <= {max_engaged}"
    )
    pools = (
        f"SELECT e.ip FROM events e JOIN ({candidates}) c ON e.ip = c.ip GROUP BY e.ip "
        f"HAVING count(DISTINCT e.visitor_id) >= {min_visitors}"
    )
    return (
        f"SELECT e.rid, 'ip.identity_churn' AS reason, 0.8 AS score FROM events e "
        f"JOIN ({pools}) p ON e.ip = p.ip WHERE {no_input_sql('e.')}"
    )


def _visitor_ip_rotation(ctx: Context) -> str:
    max_ips = int(ctx.setting("visitor_max_ips"))
    day = "CAST(ts AS DATE)"
    # Only the visitor's hits without interaction count, and only visitor-days with more of them
    # than the IP limit can have more IPs than it.
    quiet = f"visitor_id IS NOT NULL AND {no_input_sql()}"
    candidates = (
        f"SELECT visitor_id, {day} AS day FROM events WHERE {quiet} "
        f"GROUP BY 1, 2 HAVING count(*) > {max_ips}"
    )
    rotating = (
        f"SELECT e.visitor_id, c.day FROM events e JOIN ({candidates}) c "
        f"ON e.visitor_id = c.visitor_id AND CAST(e.ts AS DATE) = c.day "
        f"WHERE {no_input_sql('e.')} GROUP BY 1, 2 HAVING count(DISTINCT e.ip) > {max_ips}"
    )
    return (
        f"SELECT e.rid, 'visitor.ip_rotation' AS reason, 0.8 AS score FROM events e "
        f"JOIN ({rotating}) r ON e.visitor_id = r.visitor_id AND CAST(e.ts AS DATE) = r.day "
        f"WHERE {no_input_sql('e.')}"
    )


def _low_conversion(ctx: Context) -> str:
    ratio = ctx.setting("low_conversion_ratio")
    min_uv = int(ctx.setting("low_conversion_min_uv"))
    visitor = visitor_key_sql("e", link="vl")  # the audit's UV key
    materialize_visitor_links(ctx)
    ctx.engine.materialize(
        "anomaly_source_conversion",
        f"SELECT e.source, count(DISTINCT {visitor}) AS uv, "
        f"count(DISTINCT CASE WHEN e.event = 'conversion' THEN {visitor} END) AS converted "
        "FROM events e LEFT JOIN visitor_links vl ON vl.rid = e.rid "
        "WHERE e.source IS NOT NULL GROUP BY e.source",
    )
    site = (
        "SELECT sum(converted) * 1.0 / greatest(sum(uv), 1) AS rate FROM anomaly_source_conversion"
    )
    low = (
        f"SELECT s.source FROM anomaly_source_conversion s, ({site}) b WHERE b.rate > 0 "
        f"AND s.uv >= {min_uv} AND s.converted < {ratio} * b.rate * s.uv"
    )
    return (
        f"SELECT e.rid, 'source.low_conversion' AS reason, 0.2 AS score FROM events e "
        f"JOIN ({low}) l ON e.source = l.source WHERE {no_input_sql('e.')}"
    )
