"""sivt.forgery in server logs: pages asked for by something that does not render them.

A browser that shows a page also asks for what the page needs: its stylesheet, scripts and
images. A request that imitates a visit without running the page (a script replaying the page
URL, a counter-pinging tool) asks for the page alone. In an access log that is the log's own
"hit without a beacon":

* page.no_subresources - a client (IP + user agent over the whole input: assets and pages of one
  visit share them even when the first page came before the cookie) whose user agent claims a
  browser, that asked for at least one page and for nothing else at all (no asset, no script's
  request, no beacon, no form post), on a site where most such clients do ask for assets
  (``subresource_min_share``).

It runs only where the input marks assets (server logs read with their static requests). A
returning visitor whose assets all came from the browser cache and whose pages run no script
that calls the site would look the same: that is why the site's own share must be high, and why
the client is judged over the whole input rather than per visit. (In the real human sessions of
`../shared/data/webbot-humans`, one participant fetched no asset in the whole log, cached from
an earlier visit; the page's scripts still posted to the site, so nothing else was missing.)
"""

from __future__ import annotations

from qinglang.detect.base import Check, Context, Findings
from qinglang.detect.crawler import UA_INFO  # one user-agent lookup, shared

NAME = "subresources"
CATEGORY = "sivt.forgery"
CHECKS = (Check("page.no_subresources", ("asset", "user_agent")),)

CLIENT = "coalesce(e.ip, '') || ' ' || e.user_agent"


def prepare(ctx: Context) -> None:
    if ctx.has("asset", "user_agent"):
        ctx.prefetch(*UA_INFO)


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    if not run:
        return findings
    ctx.lookup(*UA_INFO)
    min_share = ctx.setting("subresource_min_share")
    # Clients that claim a browser (no bot, library or headless match, a Mozilla-style UA).
    ctx.engine.materialize(
        "subresource_clients",
        f"SELECT {CLIENT} AS client_key, coalesce(e.site, '') AS site, "
        f"sum(CASE WHEN e.event = 'pageview' THEN 1 ELSE 0 END) AS pages, "
        f"sum(CASE WHEN e.asset THEN 1 ELSE 0 END) AS assets, "
        f"sum(CASE WHEN e.event = 'request' THEN 1 ELSE 0 END) AS others "
        f"FROM events e JOIN ua_info u ON u.user_agent = e.user_agent "
        f"WHERE u.kind IS NULL AND e.user_agent LIKE 'Mozilla/%' GROUP BY 1, 2",
    )
    # per site, the share of its browser clients with a page that fetched assets: once, for the
    # sites it applies to (below) and for those it does not, which are said, not left to look
    # like sites where it found nothing (a small log of scanners' old user agents)
    ctx.engine.materialize(
        "subresource_sites",
        "SELECT site, avg(CASE WHEN assets > 0 THEN 1.0 ELSE 0.0 END) AS share, count(*) AS n "
        "FROM subresource_clients WHERE pages > 0 GROUP BY site",
    )
    sites = f"SELECT site FROM subresource_sites WHERE share >= {min_share}"
    rows = ctx.engine.query("SELECT * FROM subresource_sites ORDER BY site").to_pylist()
    below = [row for row in rows if row["share"] < min_share]
    if len(below) == len(rows):  # it applies nowhere (or there is no browser's page to judge)
        findings.checks_run.remove("page.no_subresources")
    if not rows:
        findings.checks_skipped.append(
            ("page.no_subresources", ["no client with a browser's user agent asked for a page"])
        )
    for row in below:
        where = (
            f"site {row['site']}"
            if row["site"]
            else ("events without a site" if len(rows) > 1 else "the input")
        )
        findings.checks_skipped.append(
            (
                "page.no_subresources",
                [
                    f"{where}: {row['share']:.1%} of its {row['n']} browser clients with a page "
                    f"fetch assets, under subresource_min_share ({min_share:g})"
                ],
            )
        )
    bare = (
        f"SELECT c.client_key, c.site FROM subresource_clients c JOIN ({sites}) s "
        "ON s.site = c.site WHERE c.pages > 0 AND c.others = 0"
    )
    findings.queries.append(
        f"SELECT e.rid, 'page.no_subresources' AS reason, 0.8 AS score FROM events e "
        f"JOIN ({bare}) b ON b.client_key = {CLIENT} AND b.site = coalesce(e.site, '') "
        f"WHERE e.user_agent IS NOT NULL"
    )
    return findings
