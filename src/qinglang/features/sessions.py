"""Sessions for any input, and what each session did: the behaviour features.

A session is one visitor's requests with no pause longer than ``session_gap_minutes``. The
visitor is ``visitor_id`` (a cookie or session id), else IP + user agent; requests with neither
belong to no session and get null features. Requests are ordered by time (then input order), so
a log whose clock goes backwards still splits where the pauses are.

``materialize_sessions(ctx)`` leaves two tables in the engine:

* ``session_map`` (rid, skey, sno): the session of every event that has one;
* ``session_features``: one row per session (skey, sno, first_rid) with the columns of
  :data:`SESSION_FEATURES`. A feature that cannot be measured is null (a single page has no gaps;
  a tracker's beacons have no HTTP status), never an error.

Everything is SQL in DuckDB's dialect, so DuckDB and Spark compute the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from qinglang.detect.base import Context

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
    session_features: str


def visitor_sql(alias: str = "") -> str:
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
    session_map = f"""
SELECT rid, skey, CAST(sum(CASE WHEN gap IS NULL OR gap > {gap_ms} THEN 1 ELSE 0 END)
         OVER (PARTITION BY skey ORDER BY ts, rid ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
         AS BIGINT) AS sno
FROM (SELECT rid, ts, skey,
             ts_ms(ts) - ts_ms(lag(ts) OVER (PARTITION BY skey ORDER BY ts, rid)) AS gap
      FROM (SELECT rid, ts, {visitor_sql()} AS skey FROM events) k
      WHERE skey IS NOT NULL) g
"""
    # Per site: its own host (where its assets are referred from, else its commonest referrer
    # host), whether its traffic fetches assets at all, and its quiet hours (hours that hold less
    # than half an average hour's page views).
    site_profile = f"""
WITH refs AS (
  SELECT coalesce(site, '') AS site, {host_sql("referrer")} AS host,
         sum(CASE WHEN asset THEN 1 ELSE 0 END) AS from_assets, count(*) AS n
  FROM events WHERE referrer IS NOT NULL GROUP BY 1, 2),
ranked AS (
  SELECT site, host, row_number() OVER (PARTITION BY site ORDER BY from_assets DESC, n DESC,
         host) AS r FROM refs WHERE host IS NOT NULL),
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
    page = "e.event = 'pageview'"
    share = "avg(CASE WHEN {col} IS NULL THEN NULL WHEN {cond} THEN 1.0 ELSE 0.0 END)"
    page_share = f"avg(CASE WHEN {page} THEN (CASE WHEN {{cond}} THEN 1.0 ELSE 0.0 END) END)"
    session_features = f"""
WITH ev AS (
  SELECT m.skey, m.sno, e.rid, e.ts, e.event, e.asset, e.method, e.status, e.referrer,
         coalesce(e.site, '') AS site, {path_sql("e.url")} AS path, {host_sql("e.url")} AS host,
         {host_sql("e.referrer")} AS ref_host, hour(e.ts) AS h
  FROM session_map m JOIN events e ON e.rid = m.rid),
pages AS (
  SELECT skey, sno, path, h, site,
         ts_ms(ts) - ts_ms(lag(ts) OVER (PARTITION BY skey, sno ORDER BY ts, rid)) AS gap,
         row_number() OVER (PARTITION BY skey, sno, path ORDER BY ts, rid) AS seen
  FROM ev WHERE event = 'pageview'),
gaps AS (
  SELECT skey, sno, median(gap) / 1000.0 AS gap_median_s,
         stddev_samp(ln(greatest(gap, 1))) AS gap_spread,
         avg(CASE WHEN gap < 1000 THEN 1.0 ELSE 0.0 END) AS subsecond_share,
         count(*) AS n_gaps
  FROM pages WHERE gap IS NOT NULL GROUP BY skey, sno),
bins AS (
  SELECT skey, sno, CAST(floor(ln(greatest(gap, 1)) / ln(2)) AS INTEGER) AS bin, count(*) AS n
  FROM pages WHERE gap IS NOT NULL GROUP BY 1, 2, 3),
entropy AS (
  SELECT b.skey, b.sno,
         CASE WHEN g.n_gaps < 2 THEN NULL
              ELSE -sum(b.n * 1.0 / g.n_gaps * ln(b.n * 1.0 / g.n_gaps)) / ln(g.n_gaps) END
           AS gap_entropy
  FROM bins b JOIN gaps g ON b.skey = g.skey AND b.sno = g.sno GROUP BY b.skey, b.sno, g.n_gaps),
quiet AS (
  SELECT p.skey, p.sno, avg(CASE WHEN s.quiet_hour IS NULL THEN 0.0 ELSE 1.0 END) AS offpeak_share,
         avg(CASE WHEN p.seen > 1 THEN 1.0 ELSE 0.0 END) AS revisit_share
  FROM pages p LEFT JOIN site_profile s ON s.site = p.site AND s.quiet_hour = p.h
  GROUP BY p.skey, p.sno),
sess AS (
  SELECT e.skey, e.sno, min(e.rid) AS first_rid, count(*) AS requests,
         sum(CASE WHEN {page} THEN 1 ELSE 0 END) AS pages,
         (max(ts_ms(e.ts)) - min(ts_ms(e.ts))) / 1000.0 AS duration_s,
         CASE WHEN max(s.has_assets) = 1
              THEN avg(CASE WHEN e.asset THEN 1.0 ELSE 0.0 END) END AS asset_share,
         {share.format(col="e.method", cond="e.method = 'HEAD'")} AS head_share,
         {share.format(col="e.method", cond="e.method = 'POST'")} AS post_share,
         {share.format(col="e.status", cond="e.status BETWEEN 400 AND 499")} AS error_share,
         {share.format(col="e.status", cond="e.status >= 500")} AS server_error_share,
         {page_share.format(cond="e.referrer IS NOT NULL")} AS referrer_share,
         {page_share.format(cond="e.ref_host IS NOT NULL AND (e.ref_host = e.host OR e.ref_host = s.host)")}
           AS self_referral_share,
         avg(CASE WHEN {page} THEN length(e.path) - length(replace(e.path, '/', '')) END)
           AS url_depth,
         CAST(max(CASE WHEN e.path = '/robots.txt' THEN 1 ELSE 0 END) AS DOUBLE) AS robots
  FROM ev e LEFT JOIN (SELECT DISTINCT site, host, has_assets FROM site_profile) s
    ON s.site = e.site
  GROUP BY e.skey, e.sno)
SELECT s.skey, s.sno, s.first_rid, CAST(s.requests AS DOUBLE) AS requests,
       CAST(s.pages AS DOUBLE) AS pages, s.duration_s,
       CASE WHEN s.pages >= 2 AND s.duration_s > 0 THEN s.pages * 60.0 / s.duration_s END
         AS pages_per_min,
       g.gap_median_s, g.gap_spread, g.subsecond_share, n.gap_entropy, s.asset_share,
       s.head_share, s.post_share, s.error_share, s.server_error_share, s.referrer_share,
       s.self_referral_share, s.url_depth, q.revisit_share, q.offpeak_share, s.robots
FROM sess s
LEFT JOIN gaps g ON g.skey = s.skey AND g.sno = s.sno
LEFT JOIN entropy n ON n.skey = s.skey AND n.sno = s.sno
LEFT JOIN quiet q ON q.skey = s.skey AND q.sno = s.sno
"""
    return SessionSql(session_map, site_profile, session_features)


def materialize_sessions(ctx: Context) -> SessionSql:
    """Build `session_map`, `site_profile` and `session_features` once per audit."""
    sql = build_sql(ctx.setting("session_gap_minutes"))
    if "session_features" not in ctx.registered:
        ctx.engine.materialize("session_map", sql.session_map)
        ctx.engine.materialize("site_profile", sql.site_profile)
        ctx.engine.materialize("session_features", sql.session_features)
        ctx.registered.add("session_features")
    return sql
