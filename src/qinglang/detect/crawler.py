"""givt.crawler: traffic that declares a bot in its user agent, by class.

Declared bots are general invalid traffic: they announce themselves in the user agent, and
several maintained lists (crawlerdetect, Matomo device-detector, crawler-user-agents, isbot)
merged with shape rules recognise them (`detect/useragent.py`). Each class is its own reason:
`ua.crawler` (search engines, SEO, archivers, scrapers), `ua.monitor` (uptime and security
scanners, validators, service agents), `ua.feed_reader`, `ua.link_preview`, `ua.http_library`,
`ua.ai_agent`, `ua.mail_prefetch`. Which list or rule matched is in `ua_info.source`. Headless
browsers are left to `automation`, which is where they belong.
"""

from __future__ import annotations

from qinglang.detect.base import Check, Context, Findings, finding_sql
from qinglang.detect.useragent import KINDS, classify_many

NAME = "crawler"
CATEGORY = "givt.crawler"
CHECKS = (
    *(Check(f"ua.{kind}", ("user_agent",)) for kind in KINDS),
    Check("ua.empty", ("user_agent",)),
)


UA_INFO = ("ua_info", {"user_agent": "user_agent"}, "user_agent IS NOT NULL", classify_many)


def prepare(ctx: Context) -> None:
    if ctx.has("user_agent"):
        ctx.prefetch(*UA_INFO)


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    if not run:
        return findings
    ctx.lookup(*UA_INFO)
    joined = "events JOIN ua_info USING (user_agent)"
    findings.queries += [
        *(finding_sql(f"ua.{kind}", 0.99, joined, f"ua_info.kind = '{kind}'") for kind in KINDS),
        finding_sql("ua.empty", 0.9, "events", "user_agent IS NULL OR trim(user_agent) = ''"),
    ]
    return findings
