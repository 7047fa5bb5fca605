"""One row of features per event: its session's behaviour and, for clicks, its entities' counts.

``materialize_event_features(ctx)`` leaves ``event_features`` (rid + :data:`FEATURES`) in the
engine. This is what ``qinglang train`` learns from and what ``audit --model`` scores; each feature
belongs to one group, and a model's finding is reported by the groups that drove it
(``model.pace``, ``model.navigation``, ...).
"""

from __future__ import annotations

from qinglang.features import FeatureContext
from qinglang.features.clicks import CLICK_FEATURE_NAMES, materialize_clicks
from qinglang.features.sessions import FEATURE_NAMES as SESSION_FEATURE_NAMES
from qinglang.features.sessions import materialize_sessions

FEATURES: tuple[str, ...] = SESSION_FEATURE_NAMES + CLICK_FEATURE_NAMES

FEATURE_GROUP: dict[str, str] = {
    **dict.fromkeys(("requests", "pages", "duration_s"), "model.volume"),
    **dict.fromkeys(("pages_per_min", "gap_median_s", "subsecond_share"), "model.pace"),
    **dict.fromkeys(("gap_spread", "gap_entropy"), "model.rhythm"),
    **dict.fromkeys(
        ("asset_share", "head_share", "post_share", "error_share", "server_error_share", "robots"),
        "model.requests",
    ),
    **dict.fromkeys(
        ("referrer_share", "self_referral_share", "url_depth", "revisit_share"), "model.navigation"
    ),
    "offpeak_share": "model.time",
    **dict.fromkeys(CLICK_FEATURE_NAMES, "model.clicks"),
}
assert set(FEATURE_GROUP) == set(FEATURES), "every feature needs its reason group"


def materialize_event_features(ctx: FeatureContext) -> None:
    if "event_features" in ctx.registered:
        return
    materialize_sessions(ctx)
    materialize_clicks(ctx.engine)
    session_cols = ", ".join(f"f.{name}" for name in SESSION_FEATURE_NAMES)
    click_cols = ", ".join(f"c.{name}" for name in CLICK_FEATURE_NAMES)
    ctx.engine.materialize(
        "event_features",
        f"SELECT e.rid, {session_cols}, {click_cols} FROM events e "
        "LEFT JOIN session_map m ON m.rid = e.rid "
        "LEFT JOIN session_features f ON f.skey = m.skey AND f.sno = m.sno "
        "LEFT JOIN click_features c ON c.rid = e.rid",
    )
    ctx.registered.add("event_features")
