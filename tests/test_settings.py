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
     "dc_min_hits=-1", "lockstep_window_minutes=0", "bulk_cascade_seconds=0"],
)  # fmt: skip
def test_bad_values_are_clear_errors(item):
    with pytest.raises(ConfigError, match="--setting"):
        parse_settings([item])
