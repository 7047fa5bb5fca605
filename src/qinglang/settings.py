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
        Setting(
            "rotation_min_visitors",
            8,
            "Visitors per IP and day before user-agent rotation is judged",
        ),
        Setting("rotation_min_ua_ratio", 0.6, "Distinct user agents per visitor on a rotating IP"),
        Setting(
            "rotation_max_engaged",
            0.05,
            "A rotating IP whose visitors engage at most this share is a bot pool",
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
