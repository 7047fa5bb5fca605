"""sivt.farm: device farms, one controller driving many phones behind the same network.

* farm.sync - behind one IP, at least ``farm_min_devices`` devices act on the same target within one
  ``farm_sync_seconds`` window (a script step); a device that takes part in at least
  ``farm_min_steps`` such steps on that IP is a farm phone, and all its actions are flagged. People
  behind one carrier gateway do not act on the same post in the same minutes step after step,
  not even on a viral post (they arrive over hours, through thousands of gateways);
* farm.few_models - supporting: the farm's address shows many devices but few user agents (phones
  bought in bulk); evidence only, never decisive on its own.
"""

from __future__ import annotations

from qinglang.detect.base import Check, Context, Findings, window_sql

NAME = "farm"
CATEGORY = "sivt.farm"
CHECKS = (
    Check("farm.sync", ("device_id", "ip", "target", "ts")),
    Check("farm.few_models", ("device_id", "ip", "target", "ts", "user_agent")),
)


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    if "farm.sync" not in run:
        return findings
    window_ms = int(ctx.setting("farm_sync_seconds") * 1000)
    min_devices = int(ctx.setting("farm_min_devices"))
    min_steps = int(ctx.setting("farm_min_steps"))
    acts = (
        f"SELECT rid, ip, device_id, target, user_agent, "
        f"{window_sql(window_ms)} AS w FROM events "
        f"WHERE event = 'action' AND ip IS NOT NULL AND device_id IS NOT NULL "
        f"AND target IS NOT NULL"
    )
    steps = (
        f"SELECT ip, target, w FROM ({acts}) GROUP BY 1, 2, 3 "
        f"HAVING count(DISTINCT device_id) >= {min_devices}"
    )
    ctx.engine.materialize(
        "farm_devices",
        f"SELECT a.ip, a.device_id FROM ({acts}) a JOIN ({steps}) s "
        f"ON a.ip = s.ip AND a.target = s.target AND a.w = s.w "
        f"GROUP BY 1, 2 HAVING count(DISTINCT a.target || '|' || CAST(a.w AS VARCHAR)) "
        f">= {min_steps}",
    )
    if "farm.few_models" in run:
        models = (
            "SELECT f.ip, count(DISTINCT f.device_id) AS devices, "
            "count(DISTINCT e.user_agent) AS uas FROM farm_devices f JOIN events e "
            "ON e.ip = f.ip AND e.device_id = f.device_id GROUP BY f.ip"
        )
        few = f"SELECT ip FROM ({models}) WHERE devices >= {min_devices} AND uas * 5 <= devices"
        ctx.engine.materialize("farm_few_models", few)
        findings.queries.append(
            "SELECT DISTINCT e.rid, 'farm.few_models' AS reason, 0.3 AS score FROM events e "
            "JOIN farm_devices f ON e.device_id = f.device_id "
            "JOIN farm_few_models m ON f.ip = m.ip WHERE e.event = 'action'"
        )
    findings.queries.append(
        "SELECT DISTINCT e.rid, 'farm.sync' AS reason, 0.9 AS score FROM events e "
        "JOIN farm_devices f ON e.device_id = f.device_id WHERE e.event = 'action'"
    )
    return findings
