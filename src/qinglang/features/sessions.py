"""Sessions for any input, and what each session did: the behaviour features.

A session is one visitor's requests with no pause longer than ``session_gap_minutes``. The
visitor is ``visitor_id`` (a cookie or session id), else IP + user agent; requests with neither
belong to no session and get null features. Requests are ordered by time (then input order), so
a log whose clock goes backwards still splits where the pauses are.

``materialize_sessions(ctx)`` leaves these tables in the engine (once per audit):

* ``site_profile``: per site, its own host, whether its traffic fetches assets, its quiet hours;
* ``session_events``: every event that has a session, with what the features need of it;
* ``session_map`` (rid, skey, sno): the session of every event that has one;
* ``session_features``: one row per session (skey, sno, first_rid) with the columns of
  :data:`SESSION_FEATURES`. A feature that cannot be measured is null (a single page has no gaps;
  a tracker's beacons have no HTTP status), never an error. Beside them, how the session entered
  (``entry_url``, ``entry_referrer``, ``entry_source``, ``entry_user_agent`` of its first page
  view), its ``site`` (empty when the input names none) and whether any of
  its events carries the tracker's signals (``signals``), and whether one visitor cookie sent more
  than one user agent within it (``ua_switch``).

Everything is SQL in DuckDB's dialect, so DuckDB and Spark compute the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from qinglang.engine import Engine


class FeatureContext(Protocol):
    """What building features needs of a detector's context (detect.base.Context has it): the
    engine, the settings, and the set of tables already built in this audit."""

    engine: Engine
    registered: set[str]

    def setting(self, name: str) -> float: ...


# (name, what it measures). The README's behaviour table is checked against this list.
SESSION_FEATURES: tuple[tuple[str, str], ...] = (
    ("requests", "requests in the session (pages, assets, everything)"),
    ("pages", "paid page views"),
    ("duration_s", "seconds from the first request to the last"),
    ("pages_per_min", "page views per minute (two pages or more)"),
    ("gap_median_s", "median pause between page views, seconds"),
    ("gap_spread", "spread of the pauses: standard deviation of their natural log"),
    ("subsecond_share", "share of pauses between page views under one second"),
    ("gap_entropy", "entropy of the pauses in powers-of-two bins, 0 (one bin) to 1 (even)"),
    ("asset_share", "share of requests for static assets (null where the input has none)"),
    ("head_share", "share of HEAD requests"),
    ("post_share", "share of POST requests"),
    ("error_share", "share of requests answered 4xx"),
    ("server_error_share", "share of requests answered 5xx"),
    ("referrer_share", "share of page views with a referrer"),
    ("self_referral_share", "share of page views referred by the site's own pages"),
    ("url_depth", "mean number of path segments of the pages"),
    ("revisit_share", "share of page views of a page already seen in the session"),
    ("offpeak_share", "share of page views in the site's own quiet hours"),
    ("robots", "1 when the session asked for /robots.txt"),
)
FEATURE_NAMES = tuple(name for name, _ in SESSION_FEATURES)


@dataclass(frozen=True)
class SessionSql:
    """The SQL pieces, so the method section can print exactly what ran."""

    session_map: str
    site_profile: str
    session_events: str
    session_features: str


def visitor_sql(alias: str = "") -> str:
    """The session's visitor: like the UV key (``events.visitor_key_sql``), except that an IP
    alone or a user agent alone still keys a session (the UV key needs the IP). Left apart on
    purpose until the UV key's rule for logs without addresses is settled."""
    a = f"{alias}." if alias else ""
    return (
        f"coalesce({a}visitor_id, CASE WHEN {a}ip IS NOT NULL OR {a}user_agent IS NOT NULL "
        f"THEN coalesce({a}ip, '') || ' ' || coalesce({a}user_agent, '') END)"
    )


def host_sql(column: str) -> str:
    """The lower-cased host of a URL column (null for a path without one)."""
    return (
        f"lower(nullif(regexp_extract({column}, '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#:]+)', 1), ''))"
    )


def path_sql(column: str) -> str:
    """The path of a URL column (or of a bare path), without query or fragment."""
    rest = f"regexp_replace({column}, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*', '')"
    return f"coalesce(nullif(regexp_extract({rest}, '^([^?#]*)', 1), ''), '/')"


def build_sql(gap_minutes: float) -> SessionSql:
    gap_ms = int(gap_minutes * 60_000)
    # Per site: its own host (the commonest host of its page URLs; for logs of bare paths, where
    # its assets are referred from, else its commonest referrer host), whether its traffic
    # fetches assets at all, and its quiet hours (hours that hold less than half an average
    # hour's page views).
    site_profile = f"""
WITH refs AS (
  SELECT coalesce(site, '') AS site, {host_sql("url")} AS host, 2 AS kind, count(*) AS n
  FROM events WHERE event = 'pageview' GROUP BY 1, 2
  UNION ALL
  SELECT coalesce(site, '') AS site, {host_sql("referrer")} AS host,
         CASE WHEN asset THEN 1 ELSE 0 END AS kind, count(*) AS n
  FROM events WHERE referrer IS NOT NULL GROUP BY 1, 2, 3),
ranked AS (
  SELECT site, host, row_number() OVER (PARTITION BY site ORDER BY kind DESC, n DESC, host)
         AS r FROM refs WHERE host IS NOT NULL),
hours AS (
  SELECT coalesce(site, '') AS site, hour(ts) AS h, count(*) AS n
  FROM events WHERE event = 'pageview' GROUP BY 1, 2),
quiet AS (
  SELECT h.site, h.h FROM hours h
  JOIN (SELECT site, sum(n) AS total FROM hours GROUP BY site) t ON h.site = t.site
  WHERE h.n * 48 < t.total),
assets AS (
  SELECT coalesce(site, '') AS site, max(CASE WHEN asset THEN 1 ELSE 0 END) AS has_assets
  FROM events GROUP BY 1)
SELECT a.site, r.host, a.has_assets, q.h AS quiet_hour
FROM assets a LEFT JOIN ranked r ON r.site = a.site AND r.r = 1
LEFT JOIN quiet q ON q.site = a.site
"""
    share = "avg(CASE WHEN {col} IS NULL THEN NULL WHEN {cond} THEN 1.0 ELSE 0.0 END)"
    page_share = "avg(CASE WHEN page THEN (CASE WHEN {cond} THEN 1.0 ELSE 0.0 END) END)"
    # One pass over the session's events (one window, for the pauses between its page views),
    # one GROUP BY, and a small one for the entropy's bins.
    cols = (
        "skey, rid, ts, page, asset, method, status, referrer, url, source, sig, user_agent, "
        "by_cookie, site, path, host, ref_host, h"
    )
    session_events = f"""
WITH site_info AS (SELECT DISTINCT site, host, has_assets FROM site_profile),
quiet AS (SELECT DISTINCT site, quiet_hour FROM site_profile WHERE quiet_hour IS NOT NULL),
k AS (
  SELECT rid, ts, {visitor_sql()} AS skey, event = 'pageview' AS page, asset, method, status,
         referrer, url, source, client.visible_ms IS NOT NULL AS sig, user_agent,
         visitor_id IS NOT NULL AS by_cookie, coalesce(site, '') AS site, {path_sql("url")} AS path, {host_sql("url")} AS host,
         {host_sql("referrer")} AS ref_host, hour(ts) AS h
  FROM events),
counted AS (
  SELECT k.*, c.n FROM k JOIN (SELECT skey, count(*) AS n FROM k WHERE skey IS NOT NULL
                               GROUP BY skey) c ON c.skey = k.skey),
g AS (
  SELECT *, ts_ms(ts) - ts_ms(lag(ts) OVER (PARTITION BY skey ORDER BY ts, rid)) AS pause
  FROM counted WHERE n > 1),
split AS (
  SELECT *, CAST(sum(CASE WHEN pause IS NULL OR pause > {gap_ms} THEN 1 ELSE 0 END) OVER (
           PARTITION BY skey ORDER BY ts, rid ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
         AS BIGINT) AS sno
  FROM g),
u AS (
  SELECT {cols}, sno,
         CASE WHEN page THEN ts_ms(ts) - ts_ms(lag(ts) OVER (
           PARTITION BY skey, sno, page ORDER BY ts, rid)) END AS gap,
         page AND row_number() OVER (
           PARTITION BY skey, sno, page ORDER BY ts, rid) = 1 AS first_page
  FROM split
  UNION ALL  -- a visitor's only request is a session of its own: no window needed
  SELECT {cols}, CAST(1 AS BIGINT) AS sno, CAST(NULL AS BIGINT) AS gap, page AS first_page
  FROM counted WHERE n = 1)
SELECT u.*, s.host AS site_host, s.has_assets, q.quiet_hour IS NOT NULL AS quiet
FROM u LEFT JOIN site_info s ON s.site = u.site
LEFT JOIN quiet q ON q.site = u.site AND q.quiet_hour = u.h
"""
    session_map = "SELECT rid, skey, sno FROM session_events"
    session_features = f"""
WITH bins AS (
  SELECT skey, sno, CAST(floor(ln(greatest(gap, 1)) / ln(2)) AS INTEGER) AS bin, count(*) AS n
  FROM session_events WHERE gap IS NOT NULL GROUP BY 1, 2, 3),
ent AS (SELECT skey, sno, sum(n * ln(n)) AS nlogn FROM bins GROUP BY skey, sno),
gaps AS (
  SELECT skey, sno, median(gap) / 1000.0 AS gap_median_s,
         stddev_samp(ln(greatest(gap, 1))) AS gap_spread,
         avg(CASE WHEN gap < 1000 THEN 1.0 ELSE 0.0 END) AS subsecond_share, count(*) AS n_gaps
  FROM session_events WHERE gap IS NOT NULL GROUP BY skey, sno),
seen AS (SELECT skey, sno, count(*) AS distinct_pages
         FROM (SELECT DISTINCT skey, sno, path FROM session_events WHERE page) d GROUP BY skey, sno),
sess AS (
  SELECT skey, sno, min(rid) AS first_rid, count(*) AS requests,
         sum(CASE WHEN page THEN 1 ELSE 0 END) AS pages,
         (max(ts_ms(ts)) - min(ts_ms(ts))) / 1000.0 AS duration_s,
         CASE WHEN max(has_assets) = 1 THEN avg(CASE WHEN asset THEN 1.0 ELSE 0.0 END) END
           AS asset_share,
         {share.format(col="method", cond="method = 'HEAD'")} AS head_share,
         {share.format(col="method", cond="method = 'POST'")} AS post_share,
         {share.format(col="status", cond="status BETWEEN 400 AND 499")} AS error_share,
         {share.format(col="status", cond="status >= 500")} AS server_error_share,
         {page_share.format(cond="referrer IS NOT NULL")} AS referrer_share,
         {page_share.format(cond="ref_host IS NOT NULL AND (ref_host = host OR ref_host = site_host)")}
           AS self_referral_share,
         avg(CASE WHEN page THEN length(path) - length(replace(path, '/', '')) END) AS url_depth,
         {page_share.format(cond="quiet")} AS offpeak_share,
         CAST(max(CASE WHEN path = '/robots.txt' THEN 1 ELSE 0 END) AS DOUBLE) AS robots,
         max(CASE WHEN first_page THEN url END) AS entry_url,
         max(CASE WHEN first_page THEN referrer END) AS entry_referrer,
         max(CASE WHEN first_page THEN source END) AS entry_source,
         max(CASE WHEN first_page THEN user_agent END) AS entry_user_agent,
         min(site) AS site,
         max(CASE WHEN sig THEN 1 ELSE 0 END) AS signals,
         max(CASE WHEN by_cookie THEN 1 ELSE 0 END) = 1
           AND min(user_agent) <> max(user_agent) AS ua_switch
  FROM session_events GROUP BY skey, sno)
SELECT s.skey, s.sno, s.first_rid, CAST(s.requests AS DOUBLE) AS requests,
       CAST(s.pages AS DOUBLE) AS pages, s.duration_s,
       CASE WHEN s.pages >= 2 AND s.duration_s > 0 THEN s.pages * 60.0 / s.duration_s END
         AS pages_per_min,
       g.gap_median_s, g.gap_spread, g.subsecond_share,
       CASE WHEN g.n_gaps < 2 THEN NULL
            ELSE (ln(g.n_gaps) - n.nlogn / g.n_gaps) / ln(g.n_gaps) END AS gap_entropy,
       s.asset_share, s.head_share, s.post_share, s.error_share, s.server_error_share,
       s.referrer_share, s.self_referral_share, s.url_depth,
       CASE WHEN s.pages > 0 THEN 1 - d.distinct_pages * 1.0 / s.pages END AS revisit_share,
       s.offpeak_share, s.robots,
       s.entry_url, s.entry_referrer, s.entry_source, s.entry_user_agent, s.site,
       s.signals = 1 AS signals, coalesce(s.ua_switch, FALSE) AS ua_switch
FROM sess s LEFT JOIN ent n ON n.skey = s.skey AND n.sno = s.sno
LEFT JOIN seen d ON d.skey = s.skey AND d.sno = s.sno
LEFT JOIN gaps g ON g.skey = s.skey AND g.sno = s.sno
"""
    return SessionSql(session_map, site_profile, session_events, session_features)


def materialize_sessions(ctx: FeatureContext) -> SessionSql:
    """Build `session_map`, `site_profile` and `session_features` once per audit."""
    sql = build_sql(ctx.setting("session_gap_minutes"))
    if "session_features" not in ctx.registered:
        ctx.engine.materialize("site_profile", sql.site_profile)
        ctx.engine.materialize("session_events", sql.session_events)
        ctx.engine.materialize("session_map", sql.session_map)
        ctx.engine.materialize("session_features", sql.session_features)
        ctx.registered.add("session_features")
    return sql
