"""Whose cookie a request sent before it had one.

A site that sets its visitor cookie on the first response logs that first request (usually the
landing page) without it, and every later request of the same browser with it. Keyed as it comes,
one person is two visitors: the landing page under IP + user agent, the rest under the cookie. The
UV count then counts every visitor of two page views or more twice, and the cookie's session starts
on its second page, so its entry (campaign tag, referring site) is lost.

``materialize_visitor_links(ctx)`` leaves ``visitor_links`` (rid, visitor_id): each request without
a visitor id whose address, user agent and site are those of a cookie's *first* request, made at
most ``stitch_seconds`` before it (the nearest such first request; equal times count, as a log's
clock has whole seconds). The UV key and the sessions read a request's visitor as
``coalesce(visitor_id, the link, IP + user agent)``. A browser that never returns the cookie (most
bots) makes no first request to link to, and a cookie first seen elsewhere (another address or user
agent) is not a new browser: neither is linked. Behind a carrier NAT, two people with the same
phone model landing within the window can be linked to the nearer cookie; the window keeps that
rare. The table is empty where the input has no visitor ids or no addresses.

Nothing here joins one request to many: the nearest first request is found by one window over the
requests and first requests of each (site, address, user agent), so its cost is bounded by a sort
whatever the rows hold.
"""

from __future__ import annotations

from typing import Protocol

from qinglang.engine import Engine


class LinkContext(Protocol):
    engine: Engine
    registered: set[str]

    def has(self, *columns: str) -> bool: ...

    def setting(self, name: str) -> float: ...


EMPTY_SQL = "SELECT CAST(NULL AS BIGINT) AS rid, CAST(NULL AS VARCHAR) AS visitor_id LIMIT 0"


def links_sql(window_s: float) -> str:
    window_ms = int(window_s * 1000)
    key = "coalesce(e.site, '') AS site, e.ip, coalesce(e.user_agent, '') AS ua"
    return f"""
WITH lone AS (  -- requests without a cookie, where there is an address
  SELECT e.rid, e.ts, {key} FROM events e WHERE e.visitor_id IS NULL AND e.ip IS NOT NULL),
named AS (  -- cookies that sent a request from one of those addresses (the candidates; the
  -- site and user agent are matched below, where there are few rows left)
  SELECT DISTINCT e.visitor_id FROM events e
  JOIN (SELECT DISTINCT ip FROM lone) k ON k.ip = e.ip
  WHERE e.visitor_id IS NOT NULL),
firsts AS (  -- each such cookie's first request ever
  SELECT visitor_id, ts, site, ip, ua FROM (
    SELECT e.visitor_id, e.ts, {key},
           row_number() OVER (PARTITION BY e.visitor_id ORDER BY e.ts, e.rid) AS r
    FROM events e JOIN named n ON n.visitor_id = e.visitor_id) x
  WHERE r = 1 AND ip IS NOT NULL),
stream AS (  -- per (site, address, user agent): its lone requests and its cookies' first ones
  SELECT l.rid, l.ts, l.site, l.ip, l.ua, 0 AS first, CAST(NULL AS VARCHAR) AS next
  FROM lone l JOIN (SELECT DISTINCT site, ip, ua FROM firsts) f
    ON f.site = l.site AND f.ip = l.ip AND f.ua = l.ua
  UNION ALL  -- the first request as one sortable text: its time (ms, zero-padded), its cookie
  SELECT CAST(NULL AS BIGINT) AS rid, ts, site, ip, ua, 1 AS first,
         lpad(CAST(ts_ms(ts) AS VARCHAR), 16, '0') || visitor_id AS next
  FROM firsts),
nearest AS (  -- the earliest first request at or after each lone one (the same second counts)
  SELECT rid, ts, min(next) OVER (
           PARTITION BY site, ip, ua ORDER BY ts, first
           ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS next
  FROM stream)
SELECT rid, substr(next, 17) AS visitor_id FROM nearest
WHERE rid IS NOT NULL AND next IS NOT NULL
  AND CAST(substr(next, 1, 16) AS BIGINT) - ts_ms(ts) <= {window_ms}
"""


def materialize_visitor_links(ctx: LinkContext) -> None:
    """Build `visitor_links` once per audit (empty without visitor ids or addresses)."""
    if "visitor_links" in ctx.registered:
        return
    if ctx.has("visitor_id", "ip"):
        ctx.engine.materialize("visitor_links", links_sql(ctx.setting("stitch_seconds")))
    else:
        ctx.engine.materialize("visitor_links", EMPTY_SQL)
    ctx.registered.add("visitor_links")


def linked_visitor_sql(alias: str = "e", link: str = "vl") -> str:
    """A request's visitor id: its own, else the cookie it was linked to (NULL for neither)."""
    return f"coalesce({alias}.visitor_id, {link}.visitor_id)"
