"""Sessions for any input, and what each session did: the behaviour features.

A session is one visitor's requests with no pause longer than ``session_gap_minutes``; for a
visitor known only by IP + user agent, a page view that lands with a campaign tag (not reached by
the site's own link) starts a new one. The visitor is ``visitor_id`` (a cookie or session id;
a request sent before its cookie was set belongs to it, see ``features.visitors``), else IP +
user agent; requests with neither
belong to no session and get null features. Requests are ordered by time (then input order), so
a log whose clock goes backwards still splits where the pauses are.

``materialize_sessions(ctx)`` leaves these tables in the engine (once per audit):

* ``site_profile`` (``features.sites``): per site, its own host, whether its traffic fetches
  assets, its quiet hours;
* ``session_events``: every event that has a session, with what the features need of it
  (dropped once the two below are built: at the case's size it is gigabytes no one reads);
* ``session_map`` (rid, skey, sno): the session of every event that has one (``skey``, the
  visitor, as the row id of its first event: an integer, cheap to sort and join on);
* ``session_features``: one row per session (skey, sno, first_rid) with the columns of
  :data:`SESSION_FEATURES`. A feature that cannot be measured is null (a single page has no gaps;
  a tracker's beacons have no HTTP status), never an error. Beside them, the row id of its first
  page view (``entry_rid``: a detector that needs how the session entered joins ``events`` on it,
  so the strings are not copied into a table of every session), its ``site`` (empty when the
  input names none), whether any of its events carries the tracker's signals (``signals``), and
  whether one visitor cookie sent more than one user agent within it (``ua_switch``).

Everything is SQL in DuckDB's dialect, so DuckDB and Spark compute the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from qinglang.events import visitor_id_sql
from qinglang.features import FeatureContext
from qinglang.features.sites import materialize_site_profile
from qinglang.features.urls import host_sql, path_sql, tag_sql
from qinglang.features.visitors import materialize_visitor_links

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
    session_events: str
    session_features: str


def visitor_sql(alias: str = "e", link: str = "vl") -> str:
    """The session's visitor: like the UV key (``events.visitor_key_sql``; a request sent before
    its cookie was set belongs to that cookie, `link` being ``visitor_links`` joined on the row
    id), except that an IP alone or a user agent alone still keys a session (the UV key needs
    the IP: a page view with neither cookie nor address is in no UV, and the audit says how
    many there are)."""
    a = f"{alias}."
    return (
        f"coalesce({visitor_id_sql(alias, link)}, "
        f"CASE WHEN {a}ip IS NOT NULL OR {a}user_agent IS NOT NULL "
        f"THEN coalesce({a}ip, '') || ' ' || coalesce({a}user_agent, '') END)"
    )


def _flag(cond: str, over: str | None = None, pages: bool = False) -> str:
    """One row's 1.0/0.0 for `cond`; NULL where the row does not count (not a page view when
    `pages`, or `over` unknown, e.g. no HTTP status from a tracker's beacon)."""
    value = f"CASE WHEN {cond} THEN 1.0 ELSE 0.0 END"
    if over is not None:
        value = f"CASE WHEN {over} IS NULL THEN NULL ELSE {value} END"
    return f"CASE WHEN page THEN {value} END" if pages else value


# The features that are one value per row combined over the session: (name, how the rows
# combine, the value of one row over `session_events`' columns, NULL where the row does not
# count). Both forms are generated from this one list: the GROUP BY's `avg(value)` for sessions
# of two requests or more, and the value itself for a session of one request (a mean of one
# value is the value), so the two can never say different things.
ROW_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("asset_share", "avg", _flag("asset")),
    ("head_share", "avg", _flag("method = 'HEAD'", over="method")),
    ("post_share", "avg", _flag("method = 'POST'", over="method")),
    ("error_share", "avg", _flag("status BETWEEN 400 AND 499", over="status")),
    ("server_error_share", "avg", _flag("status >= 500", over="status")),
    ("referrer_share", "avg", _flag("referred", pages=True)),
    ("self_referral_share", "avg", _flag("self_referred", pages=True)),
    ("url_depth", "avg", "CASE WHEN page THEN CAST(depth AS DOUBLE) END"),
    ("offpeak_share", "avg", _flag("quiet", pages=True)),
    ("robots", "max", _flag("robots")),
)


def build_sql(gap_minutes: float) -> SessionSql:
    gap_ms = int(gap_minutes * 60_000)
    # Each event reduced first to the narrow facts the features need (flags, numbers, hashes of
    # its path and user agent), so the sorts that split sessions move small rows; then one
    # window for the pauses between requests, one for the pauses between page views, and one
    # GROUP BY. Strings are compared by their 64-bit hashes (text_hash), never shown.
    narrow = (
        "rid, ts, page, asset, method, status, referred, self_referred, depth, robots, "
        "path_hash, ua_hash, sig, by_cookie, site, quiet, tagged"
    )
    # A session starts after a pause longer than the gap, or, for a visitor known only by IP +
    # user agent, where a bought visit lands: a page view carrying a campaign tag (``source``,
    # ``utm_source``...) that was not reached by the site's own link. On a carrier NAT many people
    # share an IP and the commonest phone user agents, and their visits would otherwise run
    # together. A visitor with a cookie is never split this way, nor is a return from a payment
    # or login page (no campaign tag).
    new = f"pause IS NULL OR pause > {gap_ms} OR (tagged AND NOT self_referred)"
    session_events = f"""
WITH site_info AS (SELECT DISTINCT site, host, has_assets FROM site_profile),
quiet AS (SELECT DISTINCT site, quiet_hour FROM site_profile WHERE quiet_hour IS NOT NULL),
raw AS (
  SELECT e.rid, e.ts, {visitor_sql("e")} AS visitor, e.event = 'pageview' AS page, e.asset,
         e.method, e.status, e.referrer IS NOT NULL AS referred, {path_sql("e.url")} AS path,
         {host_sql("e.url")} AS host, {host_sql("e.referrer")} AS ref_host, si.host AS site_host,
         CASE WHEN e.user_agent IS NOT NULL THEN text_hash(e.user_agent) END AS ua_hash,
         e.client.visible_ms IS NOT NULL AS sig,
         {visitor_id_sql("e", "vl")} IS NOT NULL AS by_cookie,
         e.event = 'pageview' AND {visitor_id_sql("e", "vl")} IS NULL
           AND {tag_sql("e")} IS NOT NULL AS tagged,
         coalesce(e.site, '') AS site, q.quiet_hour IS NOT NULL AS quiet
  FROM events e LEFT JOIN visitor_links vl ON vl.rid = e.rid
  LEFT JOIN site_info si ON si.site = coalesce(e.site, '')
  LEFT JOIN quiet q ON q.site = coalesce(e.site, '') AND q.quiet_hour = hour(e.ts)),
k AS (
  SELECT rid, ts, visitor, page, asset, method, status, referred,
         coalesce(ref_host = host OR ref_host = site_host, FALSE) AS self_referred,
         length(path) - length(replace(path, '/', '')) AS depth, path = '/robots.txt' AS robots,
         text_hash(path) AS path_hash, ua_hash, sig, by_cookie, site, quiet, tagged
  FROM raw),
visitors AS (  -- each visitor once, keyed from here on by its first row id (an integer); read
  -- from `events` itself, so that `k` is read once and never kept whole
  SELECT {visitor_sql()} AS visitor, min(e.rid) AS skey, count(*) AS n FROM events e
  LEFT JOIN visitor_links vl ON vl.rid = e.rid
  WHERE {visitor_sql()} IS NOT NULL GROUP BY 1),
counted AS (
  SELECT v.skey, v.n, {", ".join("k." + c for c in narrow.split(", "))}
  FROM k JOIN visitors v ON v.visitor = k.visitor),
g AS (  -- pos: the row's place in its visitor's requests (rows of one second stay apart)
  SELECT *, ts_ms(ts) - ts_ms(lag(ts) OVER (PARTITION BY skey ORDER BY ts, rid)) AS pause,
         row_number() OVER (PARTITION BY skey ORDER BY ts, rid) AS pos
  FROM counted WHERE n > 1),
split AS (  -- one sort: the session number, its start, and the last page view before each row
  SELECT *,
         CAST(sum(CASE WHEN {new} THEN 1 ELSE 0 END) OVER w AS BIGINT) AS sno,
         max(CASE WHEN {new} THEN pos END) OVER w AS started,
         max(CASE WHEN page THEN ts END) OVER p AS last_page,
         max(CASE WHEN page THEN pos END) OVER p AS last_page_pos
  FROM g
  WINDOW w AS (PARTITION BY skey ORDER BY ts, rid
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
         p AS (PARTITION BY skey ORDER BY ts, rid
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
SELECT skey, {narrow}, sno, n,  -- a page view before the session's start is another session's
       CASE WHEN page AND last_page_pos >= started THEN ts_ms(ts) - ts_ms(last_page) END AS gap,
       page AND (last_page_pos IS NULL OR last_page_pos < started) AS first_page
FROM split
UNION ALL  -- a visitor's only request is a session of its own: no window needed
SELECT skey, {narrow}, CAST(1 AS BIGINT) AS sno, n, CAST(NULL AS BIGINT) AS gap,
       page AS first_page
FROM counted WHERE n = 1
"""
    session_map = "SELECT rid, skey, sno FROM session_events"
    # Sessions of two requests or more are aggregated; a visitor's only request (most of a
    # log's visitors) is a session whose features are that row's own values, so it skips the
    # GROUP BY and the joins (the same numbers: a mean of one value is the value).
    many = ",\n         ".join(
        f"CAST({agg}({value}) AS DOUBLE) AS {name}" for name, agg, value in ROW_FEATURES
    )
    one = ",\n         ".join(
        f"CAST({value} AS DOUBLE) AS {name}" for name, _, value in ROW_FEATURES
    )
    # A site whose traffic fetches no assets at all (a tracker's beacons, a log of pages only)
    # says nothing by its asset share.
    masked = {"asset_share": "CASE WHEN a.has_assets = 1 THEN f.asset_share END AS asset_share"}
    # the rows of sessions of two requests or more, read where needed (as a CTE read four
    # times, DuckDB would copy them all first)
    multi = "(SELECT * FROM session_events WHERE n > 1) multi"
    session_features = f"""
WITH bins AS (
  SELECT skey, sno, CAST(floor(ln(greatest(gap, 1)) / ln(2)) AS INTEGER) AS bin, count(*) AS n
  FROM {multi} WHERE gap IS NOT NULL GROUP BY 1, 2, 3),
ent AS (SELECT skey, sno, sum(n * ln(n)) AS nlogn FROM bins GROUP BY skey, sno),
gaps AS (
  SELECT skey, sno, median(gap) / 1000.0 AS gap_median_s,
         stddev_samp(ln(greatest(gap, 1))) AS gap_spread,
         avg(CASE WHEN gap < 1000 THEN 1.0 ELSE 0.0 END) AS subsecond_share, count(*) AS n_gaps
  FROM {multi} WHERE gap IS NOT NULL GROUP BY skey, sno),
seen AS (
  SELECT skey, sno, count(*) AS distinct_pages
  FROM (SELECT DISTINCT skey, sno, path_hash FROM {multi} WHERE page) d
  GROUP BY skey, sno),
has_assets AS (SELECT site, max(has_assets) AS has_assets FROM site_profile GROUP BY site),
sess AS (
  SELECT skey, sno, min(rid) AS first_rid, count(*) AS requests,
         sum(CASE WHEN page THEN 1 ELSE 0 END) AS pages,
         (max(ts_ms(ts)) - min(ts_ms(ts))) / 1000.0 AS duration_s,
         {many},
         min(CASE WHEN first_page THEN rid END) AS entry_rid,
         min(site) AS site,
         max(CASE WHEN sig THEN 1 ELSE 0 END) AS signals,
         max(CASE WHEN by_cookie THEN 1 ELSE 0 END) = 1
           AND min(ua_hash) <> max(ua_hash) AS ua_switch
  FROM {multi} GROUP BY skey, sno),
features AS (
  SELECT s.skey, s.sno, s.first_rid, CAST(s.requests AS DOUBLE) AS requests,
         CAST(s.pages AS DOUBLE) AS pages, s.duration_s,
         CASE WHEN s.pages >= 2 AND s.duration_s > 0 THEN s.pages * 60.0 / s.duration_s END
           AS pages_per_min,
         g.gap_median_s, g.gap_spread, g.subsecond_share,
         CASE WHEN g.n_gaps < 2 THEN NULL
              ELSE (ln(g.n_gaps) - n.nlogn / g.n_gaps) / ln(g.n_gaps) END AS gap_entropy,
         CASE WHEN s.pages > 0 THEN 1 - coalesce(d.distinct_pages, s.pages) * 1.0 / s.pages END
           AS revisit_share,
         {", ".join("s." + name for name, _, _ in ROW_FEATURES)},
         s.entry_rid, s.site, s.signals = 1 AS signals, coalesce(s.ua_switch, FALSE) AS ua_switch
  FROM sess s LEFT JOIN ent n ON n.skey = s.skey AND n.sno = s.sno
  LEFT JOIN seen d ON d.skey = s.skey AND d.sno = s.sno
  LEFT JOIN gaps g ON g.skey = s.skey AND g.sno = s.sno
  UNION ALL
  SELECT skey, sno, rid AS first_rid, CAST(1 AS DOUBLE) AS requests,
         CASE WHEN page THEN 1.0 ELSE 0.0 END AS pages, CAST(0 AS DOUBLE) AS duration_s,
         CAST(NULL AS DOUBLE) AS pages_per_min, CAST(NULL AS DOUBLE) AS gap_median_s,
         CAST(NULL AS DOUBLE) AS gap_spread, CAST(NULL AS DOUBLE) AS subsecond_share,
         CAST(NULL AS DOUBLE) AS gap_entropy, CASE WHEN page THEN 0.0 END AS revisit_share,
         {one},
         CASE WHEN page THEN rid END AS entry_rid, site, sig AS signals, FALSE AS ua_switch
  FROM session_events WHERE n = 1)
SELECT f.skey, f.sno, f.first_rid,
       {", ".join(masked.get(c, "f." + c) for c in FEATURE_NAMES)},
       f.entry_rid, f.site, f.signals, f.ua_switch
FROM features f LEFT JOIN has_assets a ON a.site = f.site
"""
    return SessionSql(session_map, session_events, session_features)


def materialize_sessions(ctx: FeatureContext) -> SessionSql:
    """Build `session_map`, `site_profile` and `session_features` once per audit."""
    sql = build_sql(ctx.setting("session_gap_minutes"))
    if "session_features" not in ctx.registered:
        materialize_visitor_links(ctx)
        materialize_site_profile(ctx)
        ctx.engine.materialize("session_events", sql.session_events)
        ctx.engine.materialize("session_map", sql.session_map)
        ctx.engine.materialize("session_features", sql.session_features)
        ctx.engine.drop("session_events")  # a row per event, read by nothing later
        ctx.registered.add("session_features")
    return sql
