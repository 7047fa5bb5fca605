"""Column mappings: ``--map their_col=ts`` options and TOML mapping files.

A mapping file::

    format = "csv"            # optional: a --format value
    log_format = "..."        # optional: an nginx log_format
    site = "shop.example"     # optional: fills `site` where the input has none
    [map]
    their_time = "ts"         # their column = contract column
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from qinglang.errors import ConfigError
from qinglang.events import EVENT_COLUMNS

from .guess import FORMATS

FILE_KEYS = ("map", "format", "log_format", "site")


def parse_map_options(items: Iterable[str]) -> dict[str, str]:
    """``["their_col=ts", ...]`` -> ``{"their_col": "ts"}``; ConfigError on a bad item."""
    out: dict[str, str] = {}
    for item in items:
        theirs, sep, ours = item.partition("=")
        theirs, ours = theirs.strip(), ours.strip()
        if not sep or not theirs or not ours:
            raise ConfigError(
                f"--map {item!r}: expected THEIR_COLUMN=CONTRACT_COLUMN, e.g. time=ts"
            )
        _add(out, theirs, ours, f"--map {item!r}")
    return out


def validate_mapping(mapping: Mapping[str, str], where: str = "mapping") -> dict[str, str]:
    out: dict[str, str] = {}
    for theirs, ours in mapping.items():
        _add(out, str(theirs), ours, f"{where}: {theirs} = {ours!r}")
    return out


def load_mapping_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML mapping file -> ``{"map": {...}, "format", "log_format", "site"}`` (None when
    absent). ConfigError naming the file on any problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: mapping file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read mapping file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(unknown)}; expected: {', '.join(FILE_KEYS)}"
        )
    table = data.get("map", {})
    if not isinstance(table, dict):
        raise ConfigError(f'{path}: [map] must be a table of their_column = "contract_column"')
    out: dict[str, Any] = {"map": validate_mapping(table, str(path))}
    for key in FILE_KEYS[1:]:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be a string, got {value!r}")
        out[key] = value
    if out["format"] is not None and out["format"] not in ("auto", *FORMATS):
        raise ConfigError(
            f"{path}: format {out['format']!r} is not one of: auto, " + ", ".join(FORMATS)
        )
    return out


def _add(out: dict[str, str], theirs: str, ours: Any, where: str) -> None:
    if not isinstance(ours, str) or ours not in EVENT_COLUMNS:
        close = difflib.get_close_matches(str(ours), EVENT_COLUMNS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(
            f"{where}: {ours!r} is not a contract column{hint}; expected one of "
            + ", ".join(EVENT_COLUMNS)
        )
    if theirs in out:
        raise ConfigError(f"{where}: column {theirs!r} is mapped twice")
    if ours in out.values():
        raise ConfigError(f"{where}: two columns are mapped to {ours!r}")
    out[theirs] = ours
