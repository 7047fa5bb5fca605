"""Entries whose visitors never go past the first page: what `entry.inert` measured, per entry.

`entry.inert` (detect/entry.py) charges a session that did not navigate only when, for its entry
(campaign tag or referring host; a tag split by the hosts that referred enough of its sessions),
more likely than not such a session is no person (P >= 0.5). The
entry as a whole says more: with ``r`` the share of its sessions that navigated and ``b`` what the
site's people do, at least ``1 - ub/b`` of its sessions cannot be people (``ub`` the Wilson 95%
upper bound of ``r``), ``1 - r/b`` at the point estimate. This section shows, per entry, that
bound in sessions beside the sessions charged one by one, so both parties see how much of an
entry's traffic is judged not human in aggregate even where no single visit can be charged.
"""

from __future__ import annotations

from typing import Any

from qinglang.audit.engagement import detector_ran
from qinglang.engine import Engine

MAX_ENTRIES = 30


def entry_facts(engine: Engine, detectors: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Per entry with a navigation rate below the site's people's: sessions, rates, the bound
    and the sessions charged (entry.inert >= 0.5). None when the detector did not run."""
    if not detector_ran(detectors, "entry"):
        return None
    rows = engine.query(
        """
SELECT t.site, t.entry, t.via, t.n AS sessions, t.r AS navigated_share, t.b AS people_navigated_share,
       greatest(1 - t.r / t.b, 0) AS not_people_share,
       greatest(1 - t.ub / t.b, 0) AS not_people_share_lower,
       t.p AS inert_score,
       sum(CASE WHEN s.navigated THEN 0 ELSE 1 END) AS inert_sessions,
       sum(CASE WHEN NOT s.navigated AND t.p >= 0.5 AND NOT coalesce(s.signals, FALSE)
                THEN 1 ELSE 0 END) AS charged_sessions
FROM entry_stats t
JOIN entry_sessions s ON s.site = t.site AND s.entry = t.entry AND s.via = t.via
WHERE t.p > 0
GROUP BY t.site, t.entry, t.via, t.n, t.r, t.b, t.ub, t.p
ORDER BY greatest(1 - t.ub / t.b, 0) * t.n DESC, t.site, t.entry, t.via"""
    ).to_pylist()
    if not rows:
        return None
    out = []
    for r in rows:
        n = int(r["sessions"])
        out.append(
            {
                "site": r["site"],
                "entry": r["entry"],
                # a tagged entry's referring host ('(none) · <browser family>' without a referrer), '' for
                # the rest of it
                "via": r["via"],
                "sessions": n,
                "navigated_share": round(float(r["navigated_share"]), 6),
                "people_navigated_share": round(float(r["people_navigated_share"]), 6),
                "not_people_share": round(float(r["not_people_share"]), 6),
                "not_people_share_lower": round(float(r["not_people_share_lower"]), 6),
                # whole sessions: the bound rounded down, the point estimate to the nearest
                "not_people_sessions_lower": int(float(r["not_people_share_lower"]) * n),
                "not_people_sessions": round(float(r["not_people_share"]) * n),
                "inert_score": round(float(r["inert_score"]), 6),
                "inert_sessions": int(r["inert_sessions"]),
                "charged_sessions": int(r["charged_sessions"]),
            }
        )
    return {  # the totals are over every such entry; the list shows the largest bounds
        "entries": out[:MAX_ENTRIES],
        "count": len(out),
        "sessions": sum(e["sessions"] for e in out),
        "not_people_sessions_lower": sum(e["not_people_sessions_lower"] for e in out),
        "charged_sessions": sum(e["charged_sessions"] for e in out),
    }
