"""Every tunable of qinglang in one documented table (name, default, help).

Override on the command line with ``--setting NAME=VALUE``. A test fails when a setting used in
the code is missing here or is not documented in the README. Secrets never live here: they come
from the environment only.
"""

from __future__ import annotations

from dataclasses import dataclass

from qinglang.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: float
    help: str


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "tiny_frame_px", 50, "A frame narrower or lower than this (CSS px) is too small to read"
        ),
        Setting(
            "inert_host_min_visits",
            30,
            "Framed visits a framing origin needs before its engagement rate is judged",
        ),
        Setting(
            "inert_host_max_engaged",
            0.02,
            "A framing origin whose framed visits engage at most this share is injecting",
        ),
        Setting(
            "regular_min_hits",
            12,
            "Hits without interaction an IP needs before its timing regularity is judged",
        ),
        Setting(
            "regular_max_cv",
            0.35,
            "Inter-arrival coefficient of variation at or below which timing is inhumanly regular",
        ),
        Setting("churn_min_visitors", 8, "Visitor ids an IP needs before its churn is judged"),
        Setting(
            "churn_max_engaged",
            0.2,
            "An IP whose hits show interaction at most this share of the time is a bot pool "
            "(people behind one carrier NAT interact on most visits; a pool hiding among a few "
            "of them does not)",
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
            "1: a data-center hit whose visitor id interacted anywhere in the input stays valid",
        ),
        Setting(
            "dc_min_hits",
            2,
            "Hits a data-center IP must send over the input before it alone invalidates them "
            "(a lone hit is more often a VPN or office proxy user than a bot: evidence only)",
        ),
        Setting("visitor_max_ips", 6, "Distinct IPs one visitor may use in a day"),
        Setting(
            "low_conversion_ratio",
            0.2,
            "A source converting below this fraction of the site's rate is flagged (supporting)",
        ),
        Setting("low_conversion_min_uv", 1000, "Visitors a source needs before its rate is judged"),
        Setting("bootstrap_replicates", 400, "Cluster-bootstrap replicates for the 95% intervals"),
        Setting("evidence_per_reason", 5, "Evidence rows shown per reason code"),
    )
}


def parse_settings(items: list[str]) -> dict[str, object]:
    """Parse ``NAME=VALUE`` options into a settings dict (unknown names are an error)."""
    out: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in SETTINGS:
            known = ", ".join(SETTINGS)
            raise ConfigError(f"--setting {item!r}: expected NAME=VALUE with NAME one of {known}")
        try:
            out[name] = float(value)
        except ValueError:
            raise ConfigError(f"--setting {name}: {value!r} is not a number") from None
    return out
