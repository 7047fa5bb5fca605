"""sivt.automation: browsers driven by programs (headless, WebDriver, CDP, stealth kits, emulators).

Signals, strongest first: the browser's own `navigator.webdriver`; a headless user agent or
client hint; automation tells the tracker observed (see STRONG_TELLS); and contradictions between
the user agent and what the browser itself reports (client hints, navigator.platform), which is
what stealth kits that only patch the UA string leave behind.
"""

from __future__ import annotations

from qinglang.collect.contract import CONTRACT
from qinglang.detect.base import Check, Context, Findings, finding_sql
from qinglang.detect.crawler import UA_INFO
from qinglang.detect.useragent import consistency_many

NAME = "automation"
CATEGORY = "sivt.automation"
CHECKS = (
    Check("client.webdriver", ("client.webdriver",)),
    Check("ua.headless", ("user_agent",)),
    Check("client.tell", ("client.tells",)),
    Check("ua.ch_mismatch", ("user_agent", "client.ch_ua")),
    Check("ua.platform_mismatch", ("user_agent", "client.platform")),
    Check("client.emulator", ("user_agent",)),
)

# The tracker's tell codes and their strength live in the beacon contract
# (collect/contract.json, "tells"): strong tells no ordinary browser shows (one decides); weak
# ones, contradictions some real browsers show too (privacy modes, odd locales, `swiftshader`:
# people on virtual machines and GPU-less Linux render WebGL in software), only add up; benign
# ones (no plugins: every phone) are ignored. A code the contract does not list counts as weak.
_TELLS = CONTRACT["tells"]
STRONG_TELLS = tuple(t["code"] for t in _TELLS if t["strength"] == "strong")
WEAK_TELLS = tuple(t["code"] for t in _TELLS if t["strength"] == "weak")
BENIGN_TELLS = tuple(t["code"] for t in _TELLS if t["strength"] == "benign")


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    q = findings.queries
    if "client.webdriver" in run:
        q.append(finding_sql("client.webdriver", 0.98, "events", "client.webdriver"))
    if "client.tell" in run:
        strong = _list(STRONG_TELLS)
        known = _list(STRONG_TELLS + BENIGN_TELLS)
        weak = f"(list_size(list_distinct(client.tells)) - list_size(list_common(client.tells, {known})))"
        score = (
            f"CASE WHEN list_any(client.tells, {strong}) THEN 0.95 ELSE 1 - pow(0.7, {weak}) END"
        )
        where = f"list_any(client.tells, {strong}) OR {weak} > 0"
        q.append(finding_sql("client.tell", score, "events", where))
    if "ua.headless" in run:
        ctx.lookup(*UA_INFO)
        q.append(
            finding_sql(
                "ua.headless",
                0.97,
                "events JOIN ua_info USING (user_agent)",
                "ua_info.kind = 'headless'",
            )
        )
        q.append(
            finding_sql(
                "client.emulator", 0.8, "events JOIN ua_info USING (user_agent)", "ua_info.emulator"
            )
        )
    consistency = run & {"ua.ch_mismatch", "ua.platform_mismatch"}
    if consistency:
        ch = "client.ch_ua" if ctx.has("client.ch_ua") else "CAST(NULL AS VARCHAR)"
        platform = "client.platform" if ctx.has("client.platform") else "CAST(NULL AS VARCHAR)"
        ctx.lookup(
            "ua_consistency",
            {"user_agent": "user_agent", "ch_ua": ch, "platform": platform},
            f"user_agent IS NOT NULL AND ({ch} IS NOT NULL OR {platform} IS NOT NULL)",
            consistency_many,
        )
        source = (
            f"events JOIN ua_consistency c ON events.user_agent = c.user_agent "
            f"AND {ch} IS NOT DISTINCT FROM c.ch_ua AND {platform} IS NOT DISTINCT FROM c.platform"
        )
        q.append(
            f"SELECT rid, c.reason AS reason, CASE WHEN c.reason = 'client.emulator' THEN 0.8 "
            f"ELSE 0.9 END AS score FROM {source}"
        )
    return findings
