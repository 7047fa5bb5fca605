"""Labels against ground truth (`events.truth`: `valid` or a category).

Per category, on events: precision = of the events we put in the category, the share whose truth
is that category; recall = of the events whose truth is the category, the share we put there
(strict: the category must match). `detected` is the looser recall: flagged invalid under any
category. Overall: invalid vs valid. And the invalid UV share we estimate against the true one
(a UV is truly invalid when none of its counted events is truly valid).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from qinglang.audit.facts import counted_sql, day_sql
from qinglang.engine import Engine
from qinglang.reasons import CATEGORY_PRIORITY


def _prf(tp: float, pred: float, actual: float) -> dict[str, float]:
    precision = tp / pred if pred else (1.0 if not actual else 0.0)
    recall = tp / actual if actual else (1.0 if not pred else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


# `valid.viral`, `valid.heavy`, ...: valid events of a kind evaluation reports separately
TRUTH = "CASE WHEN coalesce(e.truth, 'valid') LIKE 'valid%' THEN 'valid' ELSE e.truth END"


def evaluate(engine: Engine, tz: str = "UTC") -> dict[str, Any]:
    """Needs the pipeline's `label_rows` (labels with the counted event columns and truth)."""
    rows = engine.query(
        f"SELECT {TRUTH} AS truth, e.verdict, coalesce(e.category, 'valid') AS "
        "category, count(*) AS n FROM label_rows e "
        "WHERE e.truth IS NOT NULL GROUP BY 1, 2, 3"
    ).to_pylist()
    if not rows:
        return {"error": "no ground truth: the input has no `truth` column"}
    per_category = []
    for cat in CATEGORY_PRIORITY:
        actual = sum(r["n"] for r in rows if r["truth"] == cat)
        pred = sum(r["n"] for r in rows if r["category"] == cat)
        if not actual and not pred:
            continue
        tp = sum(r["n"] for r in rows if r["truth"] == cat and r["category"] == cat)
        detected = sum(r["n"] for r in rows if r["truth"] == cat and r["verdict"] == "invalid")
        per_category.append(
            {
                "category": cat,
                **_prf(tp, pred, actual),
                "detected": round(detected / actual, 4) if actual else None,
                "true_positives": tp,
                "support": actual,
                "predicted": pred,
            }
        )
    tp = sum(r["n"] for r in rows if r["truth"] != "valid" and r["verdict"] == "invalid")
    pred = sum(r["n"] for r in rows if r["verdict"] == "invalid")
    actual = sum(r["n"] for r in rows if r["truth"] != "valid")
    result: dict[str, Any] = {
        "overall": {
            **_prf(tp, pred, actual),
            "true_positives": tp,
            "support": actual,
            "predicted": pred,
        },
        "per_category": per_category,
        "score_auc": score_auc(engine),
    }
    traffic = engine.query("SELECT count(*) AS n FROM events WHERE event <> 'action'")
    if traffic.to_pylist()[0]["n"]:  # UV means nothing for engagement actions alone
        result.update(_uv_share(engine, tz))
    else:
        result.update(uv_share_true=None, uv_share_estimated=None, uv_share_error_pp=None)
    engagement = engagement_accounts(engine)
    if engagement:
        result["engagement"] = engagement
    return result


def score_auc(engine: Engine) -> float | None:
    """ROC AUC of the label score for truly invalid against truly valid events (ties count half):
    how well the score ranks, whatever the verdicts. None without both kinds of truth."""
    rows = engine.query(
        f"SELECT e.score, CASE WHEN {TRUTH} = 'valid' THEN 0 ELSE 1 END AS bad, count(*) AS n "
        "FROM label_rows e WHERE e.truth IS NOT NULL GROUP BY 1, 2"
    ).to_pylist()
    if len({r["bad"] for r in rows}) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(
        [r["bad"] for r in rows], [r["score"] for r in rows], sample_weight=[r["n"] for r in rows]
    )
    return round(float(auc), 6)


def attach_truth(engine: Engine, truth_csv: str, input_name: str) -> int:
    """Fill `events.truth` from a sidecar CSV: `line,truth` (lines of the input named
    `input_name`, as its event ids `<name>:<line>` say) or `event_id,truth`. Returns the rows
    matched; a sidecar that matches nothing is an error."""
    import pyarrow.csv as pacsv

    from qinglang.errors import ConfigError

    try:
        table = pacsv.read_csv(truth_csv, convert_options=pacsv.ConvertOptions(
            column_types={"line": "int64", "event_id": "string", "truth": "string"}))  # fmt: skip
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{truth_csv}: cannot read the truth file ({exc})") from None
    names = set(table.column_names)
    if "truth" not in names or not names & {"line", "event_id"}:
        raise ConfigError(f"{truth_csv}: expected the columns line,truth or event_id,truth")
    if "event_id" not in names:
        ids = [f"{input_name}:{n}" for n in table.column("line").to_pylist()]
        table = table.append_column("event_id", pa.array(ids, pa.string()))
    engine.register("truth_sidecar", table.select(["event_id", "truth"]))
    engine.materialize(
        "events_truthed",
        "SELECT e.* REPLACE (coalesce(t.truth, e.truth) AS truth) FROM events e "
        "LEFT JOIN truth_sidecar t ON t.event_id = e.event_id",
    )
    engine.materialize("events", "SELECT * FROM events_truthed ORDER BY rid")
    matched = engine.query("SELECT count(*) AS n FROM events WHERE truth IS NOT NULL")
    n = int(matched.to_pylist()[0]["n"])
    if not n:
        raise ConfigError(f"{truth_csv}: none of its rows match an event of {input_name}")
    return n


def _uv_share(engine: Engine, tz: str) -> dict[str, Any]:
    """True vs estimated invalid UV share, on the audit's own UV definition."""
    has_pv = engine.query("SELECT count(*) AS n FROM events WHERE event = 'pageview'").to_pylist()
    counted = counted_sql(bool(has_pv[0]["n"]))  # the audit's own rule
    key = "e.visitor"
    r = engine.query(
        f"SELECT count(*) AS uv, sum(true_valid) AS true_valid, sum(est_valid) AS est_valid FROM ("
        f"SELECT {day_sql(tz)} AS day, {key} AS v, "
        f"max(CASE WHEN {TRUTH} = 'valid' THEN 1 ELSE 0 END) AS true_valid, "
        f"max(CASE WHEN e.verdict = 'valid' THEN 1 ELSE 0 END) AS est_valid "
        f"FROM label_rows e WHERE {counted} GROUP BY 1, 2)"
    ).to_pylist()[0]
    uv = int(r["uv"] or 0)
    if not uv:
        return {"uv_share_true": None, "uv_share_estimated": None, "uv_share_error_pp": None}
    true_share = 1 - float(r["true_valid"]) / uv
    est_share = 1 - float(r["est_valid"]) / uv
    return {
        "uv_share_true": round(true_share, 6),
        "uv_share_estimated": round(est_share, 6),
        "uv_share_error_pp": round(100 * (est_share - true_share), 3),
    }


def engagement_accounts(engine: Engine) -> dict[str, Any] | None:
    """Engagement: P/R/F1 for fraudulent accounts and actions, and the organic groups' FP rates.

    An account is truly fraudulent when any of its actions is; predicted so when any of its
    actions is labelled invalid. Viral-burst participants and heavy users (truth `valid.viral`,
    `valid.heavy`) are organic: the share of them flagged is their false-positive rate.
    """
    per_account = engine.query(
        "SELECT e.account_id, "
        "max(CASE WHEN coalesce(e.truth, 'valid') NOT LIKE 'valid%' THEN 1 ELSE 0 END) AS bad, "
        "max(CASE WHEN l.verdict = 'invalid' THEN 1 ELSE 0 END) AS flagged, "
        "max(CASE WHEN e.truth = 'valid.viral' THEN 1 ELSE 0 END) AS viral, "
        "max(CASE WHEN e.truth = 'valid.heavy' THEN 1 ELSE 0 END) AS heavy, "
        "count(*) AS actions, "
        "sum(CASE WHEN coalesce(e.truth, 'valid') NOT LIKE 'valid%' THEN 1 ELSE 0 END) AS bad_n, "
        "sum(CASE WHEN l.verdict = 'invalid' THEN 1 ELSE 0 END) AS flagged_n, "
        "sum(CASE WHEN coalesce(e.truth, 'valid') NOT LIKE 'valid%' AND l.verdict = 'invalid' "
        "THEN 1 ELSE 0 END) AS tp_n "
        "FROM events e JOIN label_rows l ON e.rid = l.rid "
        "WHERE e.event = 'action' AND e.account_id IS NOT NULL AND e.truth IS NOT NULL "
        "GROUP BY e.account_id"
    ).to_pylist()
    if not per_account:
        return None
    per_account = [
        {k: v if k == "account_id" else int(v) for k, v in r.items()} for r in per_account
    ]
    bad = sum(r["bad"] for r in per_account)
    flagged = sum(r["flagged"] for r in per_account)
    tp = sum(r["bad"] * r["flagged"] for r in per_account)

    def fp_rate(kind: str) -> dict[str, Any]:
        group = [r for r in per_account if r[kind] and not r["bad"]]
        hit = sum(r["flagged"] for r in group)
        return {"accounts": len(group), "flagged": hit,
                "fp_rate": round(hit / len(group), 4) if group else None}  # fmt: skip

    return {
        "accounts": {**_prf(tp, flagged, bad), "support": bad, "predicted": flagged},
        "actions": {
            **_prf(
                sum(r["tp_n"] for r in per_account),
                sum(r["flagged_n"] for r in per_account),
                sum(r["bad_n"] for r in per_account),
            ),  # fmt: skip
            "support": sum(r["bad_n"] for r in per_account),
            "predicted": sum(r["flagged_n"] for r in per_account),
        },
        "viral": fp_rate("viral"),
        "heavy": fp_rate("heavy"),
    }
