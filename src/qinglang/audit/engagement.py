"""The engagement audit: what was bought, on which target, by which group, for how much.

Shown only when the input has engagement actions. For each target: the actions labelled invalid,
by action and by the group behind them (a lockstep block, a farm's address, a bulk controller's
address), priced at the per-action prices (settings ``price_<action>``; resale at
``price_markup`` times). For each group: members, targets and time window as evidence.
"""

from __future__ import annotations

from typing import Any

from qinglang.engine import Engine, sql_string
from qinglang.settings import SETTINGS, setting_value

TOP_TARGETS = 25
TOP_GROUPS = 20
SAMPLE_IDS = 8


def detector_ran(detectors: list[dict[str, Any]], name: str) -> bool:
    return any(d.get("name") == name and d.get("checks_run") for d in detectors)


def _group_sql(detectors: list[dict[str, Any]]) -> tuple[str, str]:
    """(joins, group expression) naming the group behind each invalid action."""
    joins, cases = [], []
    if detector_ran(detectors, "lockstep"):
        joins.append(
            "LEFT JOIN (SELECT account_id, target, min(block) AS block FROM lockstep_hits "
            "GROUP BY 1, 2) h ON h.account_id = e.account_id AND h.target = e.target"
        )
        cases.append(
            "WHEN l.category = 'sivt.lockstep' AND h.block IS NOT NULL "
            "THEN 'lockstep block ' || CAST(h.block AS VARCHAR)"
        )
    if detector_ran(detectors, "farm"):
        joins.append(
            "LEFT JOIN (SELECT device_id, min(ip) AS ip FROM farm_devices GROUP BY 1) f "
            "ON f.device_id = e.device_id"
        )
        cases.append("WHEN l.category = 'sivt.farm' AND f.ip IS NOT NULL THEN 'farm @ ' || f.ip")
    cases.append("WHEN l.category = 'sivt.bulk' AND e.ip IS NOT NULL THEN 'bulk app @ ' || e.ip")
    return " ".join(joins), "CASE " + " ".join(cases) + " ELSE l.category END"


def engagement_facts(engine: Engine, detectors: list[dict[str, Any]],
                     settings: dict[str, object] | None = None) -> dict[str, Any] | None:  # fmt: skip
    totals = engine.query(
        "SELECT target, count(*) AS n FROM events WHERE event = 'action' "
        "AND target IS NOT NULL GROUP BY 1"
    ).to_pylist()
    if not totals:
        return None
    settings = settings or {}
    joins, group = _group_sql(detectors)
    # the bought actions with their group, joined once; every figure below reads this table
    engine.materialize(
        "engagement_bought",
        f"SELECT e.target, e.action, l.category, {group} AS grp, e.account_id, e.device_id, "
        f"e.ip, e.ts FROM events e JOIN label_rows l ON e.rid = l.rid {joins} "
        f"WHERE e.event = 'action' AND l.verdict = 'invalid'",
    )
    rows = engine.query(
        "SELECT target, action, category, grp, count(*) AS n FROM engagement_bought "
        "WHERE target IS NOT NULL GROUP BY 1, 2, 3, 4"
    ).to_pylist()
    all_actions = {r["target"]: int(r["n"]) for r in totals}
    markup = setting_value(settings, "price_markup")
    prices = {
        k[len("price_") :]: setting_value(settings, k) for k in SETTINGS if k.startswith("price_")
    }
    prices.pop("markup", None)
    targets: dict[str, dict[str, Any]] = {}
    for r in rows:
        price = prices.get(str(r["action"] or ""), 0.0)
        t = targets.setdefault(
            r["target"],
            {"target": r["target"], "bought": 0, "actions": all_actions.get(r["target"], 0),
             "cost": 0.0, "by_action": {}, "groups": {}},
        )  # fmt: skip
        n = int(r["n"])
        t["bought"] += n
        t["cost"] += n * price
        t["by_action"][r["action"]] = t["by_action"].get(r["action"], 0) + n
        t["groups"][r["grp"]] = t["groups"].get(r["grp"], 0) + n
    ranked = sorted(targets.values(), key=lambda t: (-t["bought"], t["target"]))
    for t in ranked:
        t["cost"] = round(t["cost"], 2)
        t["resale"] = round(t["cost"] * markup, 2)
        t["bought_share"] = round(t["bought"] / t["actions"], 4) if t["actions"] else None
    cost = round(sum(t["cost"] for t in ranked), 2)
    return {
        "actions": sum(all_actions.values()),
        "bought": sum(t["bought"] for t in ranked),
        "targets_bought": len(ranked),
        "cost": cost,
        "resale": round(cost * markup, 2),
        "prices": prices,
        "markup": markup,
        "targets": ranked[:TOP_TARGETS],
        "groups": _groups(engine, detectors),
    }


def _groups(engine: Engine, detectors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per group: members, targets, actions, time window, with a sample of ids as evidence."""
    per = engine.query(
        "SELECT grp, category, count(*) AS actions, "
        "count(DISTINCT account_id) AS members, count(DISTINCT target) AS targets, "
        "count(DISTINCT device_id) AS devices, count(DISTINCT ip) AS ips, "
        "CAST(min(ts) AS VARCHAR) AS first, CAST(max(ts) AS VARCHAR) AS last "
        "FROM engagement_bought GROUP BY 1, 2"
    ).to_pylist()
    per.sort(key=lambda g: (-int(g["actions"]), str(g["grp"])))
    out = []
    lift = {}
    if detector_ran(detectors, "lockstep"):
        for b in engine.query(
            "SELECT block, lift, windows, density FROM lockstep_blocks"
        ).to_pylist():
            lift[f"lockstep block {b['block']}"] = (
                round(float(b["lift"]), 2),
                int(b["windows"]),
                round(float(b["density"]), 4),
            )
    top = per[:TOP_GROUPS]
    samples = _samples(engine, [g["grp"] for g in top])
    for g in top:
        item = {k: (int(v) if isinstance(v, int) else v) for k, v in g.items()}
        item["group"] = item.pop("grp")
        item["sample_targets"], item["sample_members"] = samples[g["grp"]]
        if item["group"] in lift:
            item["lift"], item["windows"], item["density"] = lift[item["group"]]
        out.append(item)
    return out


def _samples(engine: Engine, groups: list[str]) -> dict[str, tuple[list, list]]:
    """Per group: its targets with the most bought actions, and its first members by id, up to
    SAMPLE_IDS each (two queries for all groups)."""
    if not groups:
        return {}
    mine = f"FROM engagement_bought WHERE grp IN ({', '.join(sql_string(g) for g in groups)})"
    targets = engine.query(
        f"SELECT grp, target FROM (SELECT grp, target, row_number() OVER (PARTITION BY grp "
        f"ORDER BY count(*) DESC, target) AS k {mine} GROUP BY grp, target) t "
        f"WHERE k <= {SAMPLE_IDS} ORDER BY grp, k"
    ).to_pylist()
    members = engine.query(
        f"SELECT grp, account_id FROM (SELECT grp, account_id, row_number() OVER (PARTITION BY "
        f"grp ORDER BY account_id) AS k FROM (SELECT DISTINCT grp, account_id {mine}) d) m "
        f"WHERE k <= {SAMPLE_IDS} ORDER BY grp, k"
    ).to_pylist()
    out: dict[str, tuple[list, list]] = {g: ([], []) for g in groups}
    for r in targets:
        out[r["grp"]][0].append(r["target"])
    for r in members:
        out[r["grp"]][1].append(r["account_id"])
    return out
