"""sivt.hidden without a tracker: entries whose visitors never go past the first page.

Traffic injected into hidden frames or pop-unders is loaded by real browsers on real devices, so
one visit of it looks like a person who left at once. What no injection can fake is the people:
nobody reads the page, so nobody clicks through to a second one. Sessions are grouped by how they
entered the site: the campaign tag of the landing page (``source``, else ``utm_source``,
``utm_campaign``, ``from``, ``channel`` or ``source`` in its query), else the referring host, else
``(direct)``. A tag is one seller, but a seller's traffic comes through many sites and apps, and
an injecting snippet sits on some of them: so a tagged entry is split by the referring host of its
sessions (where the browser sent none, ``(none) · `` and the browser family ua-parser reads
in its user agent: an in-app web view names its app, as ``WeChat Browser``), each site or app
with ``inert_site_min_sessions`` or more judged on its own and the entry's other sessions
together as ``via = ''`` (an entry is judged from ``inert_entry_min_sessions``; what is left of
a tag once its sites are apart, from ``inert_site_min_sessions`` too). The Wilson bound below
decides what a group's size can say: a group none of whose sessions navigates reaches ``P = 0.5``
from about 35 sessions where the site's people go on 20% of the time (16 where they go on 40%);
a smaller or less one-sided group gets a graded score, not a charge. Each such group (a *unit*) is judged as below; every session is in exactly one, so
the units' bounds add up:

* ``r``, the share of its sessions that navigated (a second page reached by a link from the site);
* ``b``, what the site's people do: the session-weighted 75th percentile of ``r`` over units;
  sessions of declared bots (crawler, library and headless user agents, charged by their own
  detectors) are left out of both;
* the share of the unit's sessions that cannot be people is at least ``1 - ub/b`` (``ub``, the
  Wilson 95% upper bound of ``r``), and among its sessions that did not navigate it is
  ``P = (1 - ub/b) / (1 - r)``.

entry.inert - every event of a session that did not navigate, scored ``P``: decisive from 0.5, a
graded risk below. Where the session carries the tracker's own visibility signals, those decide
(``sivt.hidden``'s frame and visibility checks), and this score stays supporting (at most 0.45).
"""

from __future__ import annotations

from qinglang.detect.base import Check, Context, Findings
from qinglang.detect.crawler import UA_INFO
from qinglang.features.sessions import materialize_sessions
from qinglang.features.urls import host_sql, tag_sql

NAME = "entry"
CATEGORY = "sivt.hidden"
CHECKS = (Check("entry.inert", ("referrer",)),)


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    if not run:
        return findings
    materialize_sessions(ctx)
    min_sessions = int(ctx.setting("inert_entry_min_sessions"))
    min_site_sessions = int(ctx.setting("inert_site_min_sessions"))
    declared = ctx.has("user_agent")
    if declared:
        ctx.lookup(*UA_INFO)
    ctx.engine.materialize(
        "entry_sessions", _entry_units_sql(_entry_sessions_sql(declared), min_site_sessions)
    )
    ctx.engine.materialize("entry_stats", _entry_stats_sql(min_sessions, min_site_sessions))
    findings.queries.append(
        "SELECT m.rid, 'entry.inert' AS reason, "
        "CASE WHEN s.signals THEN least(t.p, 0.45) ELSE t.p END AS score "
        "FROM entry_sessions s JOIN entry_stats t "
        "ON t.site = s.site AND t.entry = s.entry AND t.via = s.via "
        "JOIN session_map m ON m.skey = s.skey AND m.sno = s.sno "
        "WHERE NOT s.navigated AND t.p > 0"
    )
    return findings


def _entry_sessions_sql(declared: bool) -> str:
    tag = tag_sql("e")
    ref = host_sql("e.referrer")
    # Declared bots (crawlers, libraries, headless UAs) are charged by their own detectors and
    # say nothing of how people who came the same way behave: they are left out of the rates.
    bots = (
        "LEFT JOIN ua_info u ON u.user_agent = e.user_agent WHERE f.pages > 0 AND u.kind IS NULL"
        if declared
        else "WHERE f.pages > 0"
    )
    # without a referrer, the app whose web view loaded the page is the next clue to where the
    # visit came from (ua-parser's browser family: "WeChat Browser", "Chrome Mobile WebView"...)
    no_referrer = "'(none) · ' || coalesce(u.browser, '?')" if declared else "'(none)'"
    return f"""
SELECT f.skey, f.sno, f.site,
       coalesce({tag},
                CASE WHEN e.referrer IS NULL THEN '(direct)' WHEN {ref} = p.host THEN NULL
                     ELSE {ref} END) AS entry,
       CASE WHEN {tag} IS NOT NULL THEN coalesce({ref}, {no_referrer}) ELSE '' END AS via,
       coalesce(f.self_referral_share, 0) > 0 AND f.pages >= 2 AS navigated, f.signals
FROM session_features f JOIN events e ON e.rid = f.entry_rid  -- its first page view
LEFT JOIN (SELECT DISTINCT site, host FROM site_profile) p ON p.site = f.site
{bots}
"""


def _entry_units_sql(sessions: str, min_sessions: int) -> str:
    """Each session's unit: its referring host within a tagged entry where that host brought
    enough sessions, else the rest of its entry (``via = ''``); and its entry's size. Sessions
    that entered by the site's own link (no entry) are in no unit. The sizes are counted per
    (site, entry, via) in one GROUP BY, a few thousand rows, and joined back: cheaper than a
    window over every session."""
    return f"""
WITH s AS ({sessions}),
sizes AS (SELECT site, entry, via, count(*) AS n FROM s WHERE entry IS NOT NULL
          GROUP BY site, entry, via),
units AS (
  SELECT site, entry, via, CASE WHEN via <> '' AND n >= {min_sessions} THEN via ELSE '' END AS unit,
         sum(n) OVER (PARTITION BY site, entry) AS entry_n
  FROM sizes)
SELECT s.skey, s.sno, s.site, s.entry, u.unit AS via, s.navigated, s.signals, u.entry_n
FROM s JOIN units u ON u.site = s.site AND u.entry = s.entry AND u.via = s.via
"""


def _entry_stats_sql(min_sessions: int, min_site_sessions: int) -> str:
    z2 = 1.96**2
    return f"""
WITH c AS (
  SELECT site, entry, via, count(*) AS n, avg(CASE WHEN navigated THEN 1.0 ELSE 0.0 END) AS r
  FROM entry_sessions WHERE entry IS NOT NULL GROUP BY site, entry, via
  -- a site or app within a tag; an entry whole; what is left of a tag once its sites are apart
  HAVING (via <> '' AND count(*) >= {min_site_sessions})
      OR (via = '' AND max(entry_n) >= {min_sessions}
          AND (count(*) = max(entry_n) OR count(*) >= {min_site_sessions}))),
w AS (
  SELECT site, r, sum(n) OVER (PARTITION BY site ORDER BY r, entry, via
                               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) * 1.0
           / sum(n) OVER (PARTITION BY site) AS cum FROM c),
b AS (SELECT site, min(r) AS b FROM w WHERE cum >= 0.75 GROUP BY site),
u AS (
  SELECT c.site, c.entry, c.via, c.n, c.r, b.b,
         (c.r + {z2} / (2 * c.n) + 1.96 * sqrt(c.r * (1 - c.r) / c.n + {z2} / (4 * c.n * c.n)))
           / (1 + {z2} / c.n) AS ub
  FROM c JOIN b ON b.site = c.site WHERE b.b > 0 AND c.r < 1)
SELECT site, entry, via, n, r, b, ub, least(greatest(1 - ub / b, 0) / (1 - r), 1) AS p FROM u
"""


def prepare(ctx: Context) -> None:
    if ctx.has("referrer", "user_agent"):
        ctx.prefetch(*UA_INFO)
