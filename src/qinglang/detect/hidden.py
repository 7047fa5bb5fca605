"""sivt.hidden (暗刷): the page was loaded where no person could see it.

A snippet on other sites or apps loads the audited page in an iframe of zero or tiny size, moves it
off screen, makes it transparent, or clicks an invisible link into a background tab. Real devices,
real IPs, a real tracker run - but the page is never visible and nobody touches it. Signals:

* the frame is zero-sized or too small to read (`client.frame_w/h`) and nobody interacted;
* the page was never visible (`client.visible_ms` = 0: Page Visibility + IntersectionObserver,
  which also catches off-screen and, where v2 is supported, transparent frames) and nobody
  interacted;
* a framing origin whose framed visits almost never show a trusted interaction (an inert host):
  what is left when a browser cannot measure visibility (transparent frames on WebKit).
"""

from __future__ import annotations

from qinglang.detect.base import Check, Context, Findings, acted_sql, finding_sql, no_input_sql

NAME = "hidden"
CATEGORY = "sivt.hidden"
CHECKS = (
    Check("frame.zero_size", ("client.framed", "client.frame_w", "client.frame_h")),
    Check("frame.tiny", ("client.framed", "client.frame_w", "client.frame_h")),
    Check("view.never_visible", ("client.visible_ms",)),
    Check("frame.inert_host", ("client.framed", "client.interactions")),
)

NO_INPUT = no_input_sql()
# Where the frame sits: the first ancestor origin if the browser gives it, else the referrer host.
HOST = (
    "coalesce(regexp_extract(client.ancestor_origins[1], '^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#]+)', 1),"
    " regexp_extract(referrer, '^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#]+)', 1))"
)


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    q = findings.queries
    tiny = int(ctx.setting("tiny_frame_px"))
    if "frame.zero_size" in run:
        where = f"client.framed AND (client.frame_w = 0 OR client.frame_h = 0) AND {NO_INPUT}"
        q.append(finding_sql("frame.zero_size", 0.97, "events", where))
    if "frame.tiny" in run:
        where = (
            f"client.framed AND client.frame_w > 0 AND client.frame_h > 0 "
            f"AND (client.frame_w < {tiny} OR client.frame_h < {tiny}) AND {NO_INPUT}"
        )
        q.append(finding_sql("frame.tiny", 0.95, "events", where))
    if "view.never_visible" in run:
        where = f"client.visible_ms = 0 AND {NO_INPUT} AND event IN ('pageview', 'heartbeat')"
        q.append(finding_sql("view.never_visible", 0.9, "events", where))
    if "frame.inert_host" in run:
        q.append(_inert_hosts(ctx))
    return findings


def _inert_hosts(ctx: Context) -> str:
    min_visits = int(ctx.setting("inert_host_min_visits"))
    max_engaged = ctx.setting("inert_host_max_engaged")
    hosts = (
        f"SELECT {HOST} AS host, count(*) AS visits, "
        f"avg(CASE WHEN {acted_sql()} THEN 1.0 ELSE 0.0 END) AS engaged "
        f"FROM events WHERE client.framed GROUP BY 1"
    )
    return (
        f"SELECT e.rid, 'frame.inert_host' AS reason, 0.85 AS score "
        f"FROM (SELECT rid, {HOST} AS host FROM events WHERE client.framed AND {NO_INPUT}) e "
        f"JOIN ({hosts}) h ON e.host = h.host "
        f"WHERE h.visits >= {min_visits} AND h.engaged <= {max_engaged}"
    )
