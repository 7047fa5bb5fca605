"""Every tunable of qinglang in one documented table (name, default, help).

Override on the command line with ``--setting NAME=VALUE``. A test fails when a setting used in
the code is missing here or is not documented in the README. Secrets never live here: they come
from the environment only.

Each setting has a kind, and a value is checked against it wherever it comes from (the command
line, ``AuditOptions`` from the API, an audit re-run from its record): ``number`` (finite, 0 or
more; a length of time more than 0), ``count`` (a whole number, 0 or more), ``share`` (0 to 1)
and ``switch`` (0 or 1), so ``lockstep_relational=0.5`` or ``inert_entry_min_sessions=2.5`` is an
error instead of a value some detector rounds its own way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from qinglang.errors import ConfigError

KINDS = {
    "number": "a finite number, 0 or more",
    "count": "a whole number, 0 or more",
    "share": "a share from 0 to 1",
    "switch": "0 or 1",
}


@dataclass(frozen=True)
class Setting:
    name: str
    default: float
    help: str
    kind: str = "number"


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "tiny_frame_px",
            50,
            "A frame narrower or lower than this (CSS px) is too small to read",
            kind="count",
        ),
        Setting(
            "inert_host_min_visits",
            30,
            "Framed visits a framing origin needs before its engagement rate is judged",
            kind="count",
        ),
        Setting(
            "inert_host_max_engaged",
            0.02,
            "A framing origin whose framed visits engage at most this share is injecting",
            kind="share",
        ),
        Setting(
            "regular_min_hits",
            12,
            "Hits without interaction an IP needs before its timing regularity is judged",
            kind="count",
        ),
        Setting(
            "regular_min_visits",
            8,
            "Visits without interaction an IP needs before the regularity of their starts is judged",
            kind="count",
        ),
        Setting(
            "regular_max_cv",
            0.35,
            "Inter-arrival coefficient of variation at or below which timing is inhumanly regular",
        ),
        Setting(
            "churn_min_visitors",
            8,
            "Visitor ids an IP needs before its churn is judged",
            kind="count",
        ),
        Setting(
            "churn_max_engaged",
            0.2,
            "An IP whose hits show interaction at most this share of the time is a bot pool "
            "(people behind one carrier NAT interact on most visits; a pool hiding among a few "
            "of them does not)",
            kind="share",
        ),
        Setting(
            "token_ttl_minutes",
            30,
            "Lifetime of the collector's page token: only pages open longer can hold an expired one",
        ),
        Setting(
            "cloned_min_visitors",
            5,
            "Visitor ids that must share identical beacon measurements to call them cloned",
            kind="count",
        ),
        Setting(
            "cloned_min_excess",
            20,
            "How many times more often identical measurements must occur than chance (the "
            "product of each measurement's own frequency) predicts, to call them cloned",
        ),
        Setting(
            "dc_known_person",
            1,
            "1: a data-center hit of a visitor shown to be a person stays valid (dc.human: a VPN, "
            "office-proxy or cloud-desktop user, see dc_person_visits); 0: never",
            kind="switch",
        ),
        Setting(
            "dc_person_visits",
            2,
            "Visits with a trusted interaction, visible time and a valid token that make a "
            "visitor id a person on data-center IPs (its visits without interaction stay valid "
            "too); a visit with them is kept by itself",
            kind="count",
        ),
        Setting(
            "dc_person_max_pages",
            100,
            "Page views a day from data-center IPs above which a visitor id is volume, not a "
            "person (its data-center hits are charged)",
            kind="count",
        ),
        Setting(
            "dc_min_hits",
            2,
            "Hits (static assets not counted) a data-center IP must send over the input before it "
            "alone invalidates them "
            "(a lone hit is more often a VPN or office proxy user than a bot: evidence only)",
            kind="count",
        ),
        Setting("visitor_max_ips", 6, "Distinct IPs one visitor may use in a day", kind="count"),
        Setting(
            "low_conversion_ratio",
            0.2,
            "A source converting below this fraction of the site's rate is flagged (supporting)",
            kind="share",
        ),
        Setting(
            "low_conversion_min_uv",
            1000,
            "Visitors a source needs before its rate is judged",
            kind="count",
        ),
        Setting("lockstep_window_minutes", 60, "Length of the time windows of the lockstep graph"),
        Setting(
            "lockstep_max_blocks",
            12,
            "Dense blocks searched for (each search removes one)",
            kind="count",
        ),
        Setting(
            "lockstep_min_lift",
            3,
            "A block counts when its weighted density is this many times the whole graph's",
        ),
        Setting(
            "lockstep_min_density",
            0.01,
            "A block counts when at least this share of its (account, cell) pairs are edges",
            kind="share",
        ),
        Setting("lockstep_min_accounts", 10, "Members a lockstep block needs", kind="count"),
        Setting(
            "lockstep_min_targets",
            3,
            "Distinct targets of a block an account must have acted on in its windows to be a member",
            kind="count",
        ),
        Setting(
            "lockstep_relational",
            0,
            "1: relational batch peeling (D-Cube style, runs on Spark); 0: greedy (FRAUDAR style)",
            kind="switch",
        ),
        Setting("farm_sync_seconds", 300, "Window in which a farm's phones do one script step"),
        Setting(
            "farm_min_devices",
            10,
            "Devices behind one address in one window to call a step",
            kind="count",
        ),
        Setting("farm_min_steps", 5, "Synchronized steps a device must take part in", kind="count"),
        Setting(
            "bulk_forged_share",
            0.3,
            "An address whose requests fail the client signature at least this often is forging",
            kind="share",
        ),
        Setting(
            "bulk_min_requests",
            20,
            "Requests an address needs before its forging is judged",
            kind="count",
        ),
        Setting(
            "bulk_churn_min_actions",
            3,
            "Actions an account needs before its device churn counts",
            kind="count",
        ),
        Setting("bulk_cascade_seconds", 10, "Window of an instant cascade"),
        Setting(
            "bulk_cascade_accounts",
            10,
            "Accounts from one address on one post in that window",
            kind="count",
        ),
        Setting("price_read", 0.04, "Price of a bought read (yuan), for the engagement audit"),
        Setting("price_like", 0.05, "Price of a bought like (yuan)"),
        Setting("price_vote", 0.05, "Price of a bought vote (yuan)"),
        Setting("price_follow", 0.15, "Price of a bought follow (yuan)"),
        Setting("price_repost", 0.1, "Price of a bought repost (yuan)"),
        Setting("price_comment", 0.2, "Price of a bought comment (yuan)"),
        Setting("price_markup", 5, "Resale markup of the bought actions (the case: 5x)"),
        Setting(
            "session_gap_minutes",
            30,
            "A pause longer than this ends a visitor's session (behaviour features)",
        ),
        Setting(
            "stitch_seconds",
            30,
            "A landing request without a cookie counts under the cookie whose first request "
            "(same site, address and user agent) names it as referrer at most this many "
            "seconds later",
        ),
        Setting(
            "inert_entry_min_sessions",
            100,
            "Sessions an entry (campaign tag or referring host) needs before its navigation rate "
            "is judged",
            kind="count",
        ),
        Setting(
            "inert_site_min_sessions",
            30,
            "Sessions one referring site or app needs before its navigation rate is judged apart "
            "from the rest of its campaign tag",
            kind="count",
        ),
        Setting(
            "subresource_min_share",
            0.5,
            "Share of the site's browser clients that must ask for static assets before one that "
            "never does is charged (page.no_subresources)",
            kind="share",
        ),
        Setting(
            "bootstrap_replicates",
            400,
            "Cluster-bootstrap replicates for the 95% intervals",
            kind="count",
        ),
        Setting("evidence_per_reason", 5, "Evidence rows shown per reason code", kind="count"),
    )
}


def setting_value(overrides: Mapping[str, object] | None, name: str) -> float:
    """A setting's value: the override given, else its default."""
    return float((overrides or {}).get(name, SETTINGS[name].default))  # type: ignore[arg-type]


def check_setting(name: str, value: object, flag: str = "--setting") -> float:
    """`value` as the setting's number, or a ConfigError naming where it came from (`flag`), the
    setting and what it takes."""
    if name not in SETTINGS:
        raise ConfigError(f"{flag} {name!r}: no such setting (`qinglang settings` lists them)")
    kind = SETTINGS[name].kind
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{flag} {name}: {value!r} is not a number ({KINDS[kind]})")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ConfigError(f"{flag} {name}: {value!r} is not a number ({KINDS[kind]})") from None
    if not math.isfinite(number) or number < 0:
        raise ConfigError(f"{flag} {name}: {value!r} must be {KINDS[kind]}")
    if number == 0 and name.endswith(("_minutes", "_seconds")):
        raise ConfigError(f"{flag} {name}: a length of time must be more than 0")
    bad = (
        (kind == "count" and not number.is_integer())
        or (kind == "share" and number > 1)
        or (kind == "switch" and number not in (0, 1))
    )
    if bad:
        raise ConfigError(f"{flag} {name}: {value!r} must be {KINDS[kind]}")
    return number


def check_settings(
    settings: Mapping[str, object] | None, flag: str = "setting"
) -> dict[str, float]:
    """Every value of a settings dict checked against its kind (see :func:`check_setting`)."""
    return {name: check_setting(name, value, flag) for name, value in (settings or {}).items()}


def parse_settings(items: list[str]) -> dict[str, object]:
    """Parse ``NAME=VALUE`` options into a settings dict (unknown names are an error)."""
    out: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in SETTINGS:
            known = ", ".join(SETTINGS)
            raise ConfigError(f"--setting {item!r}: expected NAME=VALUE with NAME one of {known}")
        out[name] = check_setting(name, value.strip())
    return out
