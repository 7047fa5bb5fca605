"""sivt.behaviour: sessions that behave unlike the site's own visitors, on several counts at once.

Every session (see ``features.sessions``) is measured on a few groups of evidence, each of which a
person can show alone: a reader who clicks fast, a poller that refreshes like a clock, a visitor
who opens a bookmarked deep page. So no group may invalidate alone. Each group gives a strength
``e`` in [0, 1] and has a weight ``w`` below 0.5; the session's risk is their noisy-OR,
``1 - prod(1 - w * e)``. Two strong groups are needed to reach 0.5, the invalid mark.

| group (reason) | weight | strength |
|---|---|---|
| ``session.fast`` | 0.4 | the session's median pause between pages sits far below the site's own sessions (robust z of its log below -2, full at -4), or most pauses are under a second |
| ``session.regular`` | 0.3 | five pauses or more, all within a few percent of each other (spread of log pauses <= 0.1, fading out at 0.3) |
| ``session.no_referrer`` | 0.35 | three page views or more and not one with a referrer: the pages were typed in or requested by a script, not reached by links |
| ``session.probing`` | 0.4 | most requests answered 4xx, HEAD requests, or robots.txt asked for |
| ``session.crawl`` | 0.3 | ten page views or more, more than 99% of the site's other sessions have, none of them revisited |
| ``session.offpeak`` | 0.15 | all its page views in the site's own quiet hours |

The score of every event of a session is the session's risk (a graded risk even below 0.5); the
groups that fired are its supporting reasons, and ``session.outlier`` carries the risk (decisive
at 0.5). The weights and cut-offs are fixed, documented here and in the README, and were chosen
before looking at the evaluation data; the site's own distribution is the only thing learnt.
"""

from __future__ import annotations

from qinglang.detect.base import INVALID_AT, Check, Context, Findings
from qinglang.features.sessions import materialize_sessions

NAME = "behaviour"
CATEGORY = "sivt.behaviour"
CHECKS = (Check("session.outlier", ("ts",)),)

GROUPS: tuple[tuple[str, float, str], ...] = (
    # (reason, weight, strength in [0, 1] as SQL over session_features f and site_pace p)
    (
        "session.fast",
        0.4,
        "greatest(CASE WHEN f.pages >= 3 AND p.mad > 0 THEN least(greatest("
        "((p.med - ln(greatest(f.gap_median_s, 0.001))) / (1.4826 * p.mad) - 2) / 2, 0), 1) "
        "ELSE 0 END, CASE WHEN f.pages >= 3 AND f.subsecond_share >= 0.5 THEN 1 ELSE 0 END)",
    ),
    (
        "session.regular",
        0.3,
        "CASE WHEN f.pages >= 6 AND f.gap_spread IS NOT NULL "
        "THEN least(greatest((0.3 - f.gap_spread) / 0.2, 0), 1) ELSE 0 END",
    ),
    (
        "session.no_referrer",
        0.35,
        "CASE WHEN f.pages >= 3 AND f.referrer_share = 0 THEN 1 ELSE 0 END",
    ),
    (
        "session.probing",
        0.4,
        "CASE WHEN (f.requests >= 3 AND f.error_share >= 0.5) OR f.head_share > 0 "
        "OR f.robots = 1 THEN 1 ELSE 0 END",
    ),
    (
        "session.crawl",
        0.3,
        "CASE WHEN f.pages_rank >= 0.99 AND f.pages >= 10 AND f.revisit_share = 0 "
        "THEN 1 ELSE 0 END",
    ),
    ("session.offpeak", 0.15, "CASE WHEN f.pages >= 1 AND f.offpeak_share = 1 THEN 1 ELSE 0 END"),
)

# The site's own pace: median and MAD of the sessions' log median pause (sessions of 3+ pages).
SITE_PACE_SQL = """
WITH s AS (
  SELECT site, pages, ln(greatest(gap_median_s, 0.001)) AS x FROM session_features),
m AS (SELECT site, median(CASE WHEN pages >= 3 THEN x END) AS med FROM s GROUP BY site),
d AS (SELECT s.site, median(abs(s.x - m.med)) AS mad FROM s JOIN m ON s.site = m.site
      WHERE s.pages >= 3 GROUP BY s.site)
SELECT m.site, m.med, d.mad FROM m LEFT JOIN d ON d.site = m.site
"""
# Each session with the share of the site's other sessions that have fewer pages than it
# (percent_rank, from a histogram of page counts rather than a sort of every session).
RANKED_SQL = """
WITH f AS (SELECT * FROM session_features),
h AS (SELECT site, pages, count(*) AS n FROM f GROUP BY site, pages),
c AS (SELECT site, pages,
             sum(n) OVER (PARTITION BY site ORDER BY pages
                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - n AS fewer,
             sum(n) OVER (PARTITION BY site) AS total FROM h)
SELECT f.*, CASE WHEN c.total > 1 THEN c.fewer * 1.0 / (c.total - 1) ELSE 0 END AS pages_rank
FROM f JOIN c ON c.site = f.site AND c.pages = f.pages
"""


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    if not run:
        return findings
    materialize_sessions(ctx)
    ctx.engine.materialize("site_pace", SITE_PACE_SQL)
    strengths = ", ".join(f"{sql} AS e{i}" for i, (_, _, sql) in enumerate(GROUPS))
    risk = " * ".join(f"(1 - {w} * e{i})" for i, (_, w, _) in enumerate(GROUPS))
    # Only the sessions with a risk: a session that shows nothing yields no finding at all.
    ctx.engine.materialize(
        "session_risk",
        f"SELECT * FROM (SELECT skey, sno, 1 - {risk} AS risk, "
        f"{', '.join(f'e{i}' for i in range(len(GROUPS)))} "
        f"FROM (SELECT f.skey, f.sno, {strengths} FROM ({RANKED_SQL}) f "
        f"LEFT JOIN site_pace p ON p.site = f.site) x) r WHERE risk > 0",
    )
    flagged = "session_map m JOIN session_risk r ON r.skey = m.skey AND r.sno = m.sno"
    findings.queries.append(
        f"SELECT m.rid, 'session.outlier' AS reason, r.risk AS score FROM {flagged}"
    )
    for i, (reason, weight, _) in enumerate(GROUPS):
        # supporting evidence, shown on sessions the risk says are worth a look
        findings.queries.append(
            f"SELECT m.rid, '{reason}' AS reason, {weight} * r.e{i} AS score FROM {flagged} "
            f"WHERE r.e{i} > 0 AND r.risk >= {INVALID_AT / 2}"
        )
    return findings
