"""Whose cookie a request sent before it had one.

A site that sets its visitor cookie on the first response logs that first request (usually the
landing page) without it, and every later request of the same browser with it. Keyed as it comes,
one person is two visitors: the landing page under IP + user agent, the rest under the cookie. The
UV count then counts every visitor of two page views or more twice, and the cookie's session starts
on its second page, so its entry (campaign tag, referring site) is lost.

``materialize_visitor_links(ctx)`` leaves ``visitor_links`` (rid, visitor_id): the landing
page view of a cookie, found from the cookie's *first* request: the page view without a visitor
id that it names as its referrer (same path and query), from the same site, address and user
agent, at most ``stitch_seconds`` before it (equal times count, as a log's clock has whole seconds), and
the only such request in that window. A browser's first request with its new cookie is the
landing page's own asset, script or next page, so it names the landing page; a script's
cookieless hits on other pages of the same address stay apart, and where two cookieless requests
of the named page fall in the window (two browsers landing together, or a script hitting the
same page: behind a carrier NAT they share an address and a phone model) neither is linked. Each
landing request goes to one cookie at most (the first after it). The first request's referrer
must name the site's own host: the page view's own where its URL has one, else the host the
site's static assets name as referrer (a log of bare paths whose assets are served elsewhere, a
CDN, gets no links). A cookie set before the log began is not new, and its first logged request
names where the visitor came from (a search engine's bare origin reads as the page `/`). Under
`Referrer-Policy: origin` every referrer reads as `/` and a cookieless `/` on a shared address
can be taken for a landing page. Redirects and HEAD requests are not page
views, so they neither land nor compete with the page view that follows them.
A browser that never returns the cookie (most bots) makes no first request to link to, and a
cookie first seen elsewhere (another address or user agent) is not a new browser: neither is
linked. The UV key and the sessions read a request's visitor as
``coalesce(visitor_id, the link, IP + user agent)``. The table is empty where the input has no
visitor ids or no addresses.

Nothing here joins many rows to many: each first request finds its landing request by one window
over (site, address, user agent, page), whose frame only grows forward (linear on DuckDB and on
Spark), so the cost is a sort whatever the rows hold.
"""

from __future__ import annotations

from qinglang.features import FeatureContext
from qinglang.features.sites import materialize_site_profile
from qinglang.features.urls import host_sql, page_sql

EMPTY_SQL = "SELECT CAST(NULL AS BIGINT) AS rid, CAST(NULL AS VARCHAR) AS visitor_id LIMIT 0"


# Times as fixed-width text that sorts as they do: ms since the epoch plus this (positive for any
# time after the year -1200; the readers keep 2000-2099), zero-padded to 16 digits.
_SHIFT_MS = 10**14


def links_sql(window_s: float) -> str:
    window_ms = int(window_s * 1000)
    key = "coalesce(e.site, '') AS site, e.ip, coalesce(e.user_agent, '') AS ua"
    part = "PARTITION BY site, ip, ua, page ORDER BY ts, first, rid"

    def stamp(ts: str) -> str:
        return f"lpad(CAST(ts_ms({ts}) + {_SHIFT_MS} AS VARCHAR), 16, '0')"

    def ms(text: str, start: int) -> str:
        return f"CAST(substr({text}, {start}, 16) AS BIGINT) - {_SHIFT_MS}"

    return f"""
WITH lone AS (  -- page views without a cookie, where there is an address (a redirect or a
  -- HEAD before the page is a request, not a landing page, and does not compete with it)
  SELECT e.rid, e.ts, {key}, e.url FROM events e
  WHERE e.visitor_id IS NULL AND e.ip IS NOT NULL AND e.url IS NOT NULL
    AND e.event = 'pageview'),
named AS (  -- cookies that sent a request from one of those addresses (the candidates)
  SELECT DISTINCT e.visitor_id FROM events e
  JOIN (SELECT DISTINCT ip FROM lone) k ON k.ip = e.ip
  WHERE e.visitor_id IS NOT NULL),
own AS (  -- the site's own host where its pages are logged as paths: the host its static
  -- assets name as referrer (the site's own pages ask for them; features.sites)
  SELECT DISTINCT site, asset_host AS host FROM site_profile),
firsts AS (  -- each such cookie's first request ever, the page it names as its referrer, and
  -- that page's host (a returning visitor's first logged request names where it came from, a
  -- search engine's bare origin reading as the page '/': its host is not the site's)
  SELECT visitor_id, ts, site, ip, ua, {page_sql("referrer")} AS page,
         {host_sql("referrer")} AS ref_host FROM (
    SELECT e.visitor_id, e.ts, {key}, e.referrer,
           row_number() OVER (PARTITION BY e.visitor_id ORDER BY e.ts, e.rid) AS r
    FROM events e JOIN named n ON n.visitor_id = e.visitor_id) x
  WHERE r = 1 AND ip IS NOT NULL AND referrer IS NOT NULL),
pages AS (SELECT DISTINCT site, ip, ua, page, ref_host FROM firsts),
stream AS (  -- per (site, address, user agent, page): its cookieless page views and the first
  -- requests that name it on the site's own host (the page view's own, where its URL has one)
  SELECT l.rid, l.ts, l.site, l.ip, l.ua, p.page, 0 AS first, CAST(NULL AS VARCHAR) AS visitor_id
  FROM lone l LEFT JOIN own o ON o.site = l.site
  JOIN pages p
    ON p.site = l.site AND p.ip = l.ip AND p.ua = l.ua AND p.page = {page_sql("l.url")}
   AND p.ref_host = coalesce({host_sql("l.url")}, o.host)
  UNION ALL
  SELECT CAST(NULL AS BIGINT) AS rid, ts, site, ip, ua, page, 1 AS first, visitor_id FROM firsts),
stamped AS (  -- a cookieless request as sortable text: its time, its row id, and the time of
  -- the cookieless request of the same page before it (zeros for none)
  SELECT rid, ts, site, ip, ua, page, first, visitor_id,
         CASE WHEN first = 0 THEN {stamp("ts")} || lpad(CAST(rid AS VARCHAR), 20, '0')
              || coalesce(max(CASE WHEN first = 0 THEN {stamp("ts")} END) OVER (
                   {part} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                 '0000000000000000') END AS landing
  FROM stream),
latest AS (  -- for each first request, the latest cookieless request of its page before it
  SELECT visitor_id, ts, max(landing) OVER (
           {part} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS landing
  FROM stamped),
near AS (  -- within the window, and the only one there: two would be two browsers, or a script
  SELECT CAST(substr(landing, 17, 20) AS BIGINT) AS rid, visitor_id, ts FROM latest
  WHERE visitor_id IS NOT NULL AND landing IS NOT NULL
    AND ts_ms(ts) - ({ms("landing", 1)}) <= {window_ms}
    AND ts_ms(ts) - ({ms("landing", 37)}) > {window_ms}),
ranked AS (  -- a landing request named by two cookies goes to the first after it
  SELECT rid, visitor_id, row_number() OVER (PARTITION BY rid ORDER BY ts, visitor_id) AS k
  FROM near)
SELECT rid, visitor_id FROM ranked WHERE k = 1
"""


def materialize_visitor_links(ctx: FeatureContext) -> None:
    """Build `visitor_links` once per audit (empty without visitor ids, addresses, URLs or
    referrers: then nothing can be linked, and nothing is scanned)."""
    if "visitor_links" in ctx.registered:
        return
    if ctx.has("visitor_id", "ip", "url", "referrer"):
        materialize_site_profile(ctx)
        ctx.engine.materialize("visitor_links", links_sql(ctx.setting("stitch_seconds")))
    else:
        ctx.engine.materialize("visitor_links", EMPTY_SQL)
    ctx.registered.add("visitor_links")
