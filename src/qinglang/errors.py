"""Every error qinglang raises on purpose.

    QinglangError                 base; `transient` says whether a retry may help
    ├── InputError                a whole input cannot be read (missing, empty, binary, unknown format)
    │   └── TooManyBadRows        --strict, or every row bad: names the first problems
    ├── FieldError                one value of one field is not what the contract expects
    ├── RowError                  FieldError located in a file and line/row (what readers report)
    ├── ConfigError               a bad --map, mapping file, log format, setting or option
    └── EngineError               the engine (DuckDB/Spark) failed to run a query; transient

Each carries the command's exit code (`exit_code`): 2 when the command line is wrong (an option's
value, a file or directory named on it that does not exist or cannot be used: fix the command),
1 when the inputs exist but cannot be audited as they are (fix the data). The README's table of
exit codes is this.

Readers never raise on a bad row unless asked to be strict: they report a RowError and go on, so
the good rows are always kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class QinglangError(Exception):
    transient = False
    exit_code = 1


class InputError(QinglangError):
    """`usage=True`: the file named on the command line is not there (or not a file): exit 2."""

    def __init__(self, path: str, message: str, *, usage: bool = False) -> None:
        self.path = path
        self.message = message
        if usage:
            self.exit_code = 2
        super().__init__(f"{path}: {message}")


class FieldError(QinglangError):
    """A value that does not fit the contract: names the field, the value and what was expected."""

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"field '{field}': got {show_value(value)}, expected {expected}")


@dataclass(frozen=True)
class RowError:
    """One rejected row: file, line (physical, from 1) or Parquet row (from 1), field, message."""

    path: str
    line: int
    field: str | None
    message: str
    unit: str = "line"

    def __str__(self) -> str:
        where = (
            f"{self.path}:{self.line}" if self.unit == "line" else f"{self.path} row {self.line}"
        )
        return f"{where}: {self.message}"


class TooManyBadRows(InputError):
    def __init__(self, path: str, errors: list[RowError], total_bad: int, hint: str = "") -> None:
        self.errors = errors
        self.total_bad = total_bad
        first = "; ".join(str(e) for e in errors[:3])
        super().__init__(path, f"{total_bad} bad row(s){hint}; first: {first}")


class ConfigError(QinglangError):
    exit_code = 2


class EngineError(QinglangError):
    transient = True


def show_value(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
