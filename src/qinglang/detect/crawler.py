"""givt.crawler: traffic that says it is a crawler, a spider or an HTTP library.

Declared bots are general invalid traffic: they announce themselves in the user agent, and
crawlerdetect (a maintained port of the CrawlerDetect pattern list) recognises them. Headless
browsers are left to `automation`, which is where they belong.
"""

from __future__ import annotations

from qinglang.detect.base import Check, Context, Findings, finding_sql
from qinglang.detect.useragent import classify_many

NAME = "crawler"
CATEGORY = "givt.crawler"
CHECKS = (
    Check("ua.crawler", ("user_agent",)),
    Check("ua.http_library", ("user_agent",)),
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
        finding_sql("ua.crawler", 0.99, joined, "ua_info.kind = 'crawler'"),
        finding_sql("ua.http_library", 0.99, joined, "ua_info.kind = 'http_library'"),
        finding_sql("ua.empty", 0.9, "events", "user_agent IS NULL OR trim(user_agent) = ''"),
    ]
    return findings
