"""The settings table: every setting documented, and --setting values checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from qinglang.errors import ConfigError
from qinglang.settings import SETTINGS, parse_settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_has_help_and_is_named_in_the_readme():
    for name, setting in SETTINGS.items():
        assert setting.help.strip(), name
        assert f"`{name}`" in README or name.startswith("price_"), name


def test_values_parse_as_numbers():
    assert parse_settings(["dc_min_hits=3", "lockstep_relational=0"]) == {
        "dc_min_hits": 3.0,
        "lockstep_relational": 0.0,
    }


@pytest.mark.parametrize(
    "item",
    ["nope=1", "dc_min_hits", "dc_min_hits=x", "dc_min_hits=nan", "dc_min_hits=inf",
     "dc_min_hits=-1", "lockstep_window_minutes=0", "bulk_cascade_seconds=0",
     "lockstep_relational=0.5", "dc_known_person=2", "inert_entry_min_sessions=2.5",
     "evidence_per_reason=1e400", "subresource_min_share=1.5", "churn_max_engaged=-0.1",
     "tiny_frame_px=50.5"],
)  # fmt: skip
def test_bad_values_are_clear_errors(item):
    with pytest.raises(ConfigError, match="--setting"):
        parse_settings([item])


def test_every_setting_has_a_kind_its_default_satisfies():
    from qinglang.settings import KINDS, check_setting

    for name, setting in SETTINGS.items():
        assert setting.kind in KINDS, name
        assert check_setting(name, setting.default) == setting.default, name


@pytest.mark.parametrize(
    ("item", "value"),
    [("lockstep_relational=1", 1.0), ("inert_entry_min_sessions=250", 250.0),
     ("subresource_min_share=1", 1.0), ("subresource_min_share=0", 0.0),
     ("session_gap_minutes=7.5", 7.5), ("dc_min_hits= 3 ", 3.0)],
)  # fmt: skip
def test_values_of_each_kind_are_taken(item, value):
    name = item.partition("=")[0]
    assert parse_settings([item]) == {name: value}


def test_settings_given_to_the_audit_directly_are_checked_as_well():
    """The API and a re-run hand AuditOptions a dict, not --setting strings."""
    from qinglang.audit.run import AuditOptions

    assert AuditOptions(settings={"lockstep_relational": 1}).settings == {
        "lockstep_relational": 1.0
    }
    for bad in ({"lockstep_relational": 0.5}, {"nope": 1}, {"dc_min_hits": "x"},
                {"dc_min_hits": True}, {"dc_min_hits": None}, {"dc_min_hits": 10**400}):  # fmt: skip
        with pytest.raises(ConfigError, match="^setting "):
            AuditOptions(settings=bad)
