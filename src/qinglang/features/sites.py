"""Each site's profile, built once per audit: what the visitor links and the sessions both read.

``materialize_site_profile(ctx)`` leaves ``site_profile`` (site, host, asset_host, has_assets,
quiet_hour), a row per quiet hour of each site (one with a NULL hour where it has none):

* ``host``: the site's own host: the commonest host of its page views' URLs; for a log of bare
  paths, the host its static assets name as referrer (the site's own pages ask for them); else
  its commonest referrer host;
* ``asset_host``: the host its static assets name as referrer, alone (NULL where it has no asset
  with a referrer): never a search engine's, whatever the site's traffic;
* ``has_assets``: 1 where its traffic fetches any static asset;
* ``quiet_hour``: an hour of the day that holds less than half an average hour's page views.
"""

from __future__ import annotations

from qinglang.features import FeatureContext
from qinglang.features.urls import host_sql

SITE_PROFILE_SQL = f"""
WITH urls AS (  -- each distinct URL once: the host is parsed per value, not per row
  SELECT coalesce(site, '') AS site, url, 2 AS kind, count(*) AS n
  FROM events WHERE event = 'pageview' GROUP BY 1, 2
  UNION ALL
  SELECT coalesce(site, '') AS site, referrer AS url, CASE WHEN asset THEN 1 ELSE 0 END AS kind,
         count(*) AS n
  FROM events WHERE referrer IS NOT NULL GROUP BY 1, 2, 3),
refs AS (SELECT site, {host_sql("url")} AS host, kind, sum(n) AS n FROM urls GROUP BY 1, 2, 3),
ranked AS (
  SELECT site, host, row_number() OVER (PARTITION BY site ORDER BY kind DESC, n DESC, host)
         AS r FROM refs WHERE host IS NOT NULL),
asset_ranked AS (
  SELECT site, host, row_number() OVER (PARTITION BY site ORDER BY n DESC, host) AS r
  FROM refs WHERE host IS NOT NULL AND kind = 1),
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
SELECT a.site, r.host, o.host AS asset_host, a.has_assets, q.h AS quiet_hour
FROM assets a LEFT JOIN ranked r ON r.site = a.site AND r.r = 1
LEFT JOIN asset_ranked o ON o.site = a.site AND o.r = 1
LEFT JOIN quiet q ON q.site = a.site
"""


def materialize_site_profile(ctx: FeatureContext) -> None:
    """Build `site_profile` once per audit."""
    if "site_profile" not in ctx.registered:
        ctx.engine.materialize("site_profile", SITE_PROFILE_SQL)
        ctx.registered.add("site_profile")
