"""What every reader shares: the per-file report, the read context and the row sink.

A reader is a function ``read(ctx) -> Iterator[pa.RecordBatch]``. It hands loose records to a
:class:`RowSink` (text formats) or builds whole batches itself (Parquet), and reports every bad row
through :meth:`ReadContext.bad`, which keeps the first errors, counts all of them and raises at
once when reading is strict.
"""

from __future__ import annotations

import csv as csv_module
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

import pyarrow as pa

from qinglang.errors import FieldError, InputError, RowError, TooManyBadRows
from qinglang.events import EVENT_COLUMNS, EventBatcher, RowConverter

MAX_ERRORS = 100  # RowErrors kept per file; all are counted


@dataclass
class ReadReport:
    """What reading one file did: counts, the first errors, notes, and the file's SHA-256."""

    path: str
    format: str
    guessed: bool
    rows_ok: int = 0
    rows_bad: int = 0
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sha256: str = ""
    rows_skipped: int = 0  # rows left out on purpose by a documented rule (nginx static assets)
    rejected_by: Counter[str] = field(default_factory=Counter)  # bad rows per field ("row": none)
    truncated: Counter[str] = field(default_factory=Counter)  # values cut at their limit, per field
    naive_ts: int = 0  # timestamps without a zone, read in the --input-tz zone (UTC by default)
    duplicates: int = 0  # accepted rows left out after all: their event_id came earlier


@dataclass
class ReadContext:
    """One file being read, and the options that apply to it."""

    path: Path
    report: ReadReport
    mapping: Mapping[str, str] = field(default_factory=dict)
    log_format: str | None = None
    strict: bool = False
    site: str | None = None
    batch_size: int = 65_536
    advance: Callable[[int], None] = lambda n: None  # called with rows newly read
    input_tz: tzinfo = UTC  # the zone of timestamps written without one
    rejected: RejectedLog | None = None  # every rejected row, for rejected.csv

    @property
    def name(self) -> str:
        return self.path.name

    def bad(self, line: int, field: str | None, message: str, unit: str = "line") -> None:
        """Report one bad row; raise TooManyBadRows at once when strict."""
        error = RowError(str(self.path), line, field, message, unit)
        self.report.rows_bad += 1
        self.report.rejected_by[field or "row"] += 1
        if len(self.report.errors) < MAX_ERRORS:
            self.report.errors.append(error)
        if self.rejected is not None:
            self.rejected.write(error)
        if self.strict:
            raise TooManyBadRows(str(self.path), [error], 1)

    def bad_field(self, line: int, exc: FieldError, unit: str = "line") -> None:
        self.bad(line, exc.field, str(exc), unit)

    def note(self, text: str) -> None:
        if text not in self.report.notes:
            self.report.notes.append(text)


class RejectedLog:
    """`rejected.csv`: every rejected row (file, line or row, unit, field, reason), written as it
    is found, so the full list costs no memory. Text that a spreadsheet would run as a formula
    (=, +, -, @ first) is quoted with a leading apostrophe; the csv module quotes the rest."""

    COLUMNS = ("file", "line", "unit", "field", "reason")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115  (closed by close())
        self._w = csv_module.writer(self._f)
        self._w.writerow(self.COLUMNS)
        self.rows = 0

    def write(self, error: RowError) -> None:
        cells = (error.path, error.line, error.unit, error.field or "", error.message)
        self._w.writerow([_inert(str(c)) for c in cells])
        self.rows += 1

    def close(self) -> None:
        self._f.close()


def _inert(text: str) -> str:
    text = text.replace("\x00", "\\0")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class RowSink:
    """Convert loose records with the contract's RowConverter and batch the good ones."""

    def __init__(self, ctx: ReadContext, defaults: Mapping[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.defaults = dict(defaults or {})
        self._converter = RowConverter(ctx.input_tz)
        self._converter.truncated = ctx.report.truncated  # counted straight into the report
        self._batcher = EventBatcher(ctx.batch_size)
        self._pending = 0
        self._naive = 0

    def add(self, record: Mapping[str, Any], line: int) -> pa.RecordBatch | None:
        if self.defaults:
            record = {**self.defaults, **{k: v for k, v in record.items() if v not in (None, "")}}
        try:
            row = self._converter.convert(record, f"{self.ctx.name}:{line}")
        except FieldError as exc:
            self.ctx.bad_field(line, exc)
            self._tick()
            return None
        if row["site"] is None and self.ctx.site:
            row["site"] = self.ctx.site
        self.ctx.report.rows_ok += 1
        self._tick()
        return self._batcher.add(row)

    def flush(self) -> pa.RecordBatch | None:
        self.ctx.report.naive_ts += self._converter.naive - self._naive
        self._naive = self._converter.naive
        self._tick(force=True)
        return self._batcher.flush()

    def _tick(self, force: bool = False) -> None:
        self._pending += 0 if force else 1
        if self._pending and (force or self._pending >= self.ctx.batch_size):
            self.ctx.advance(self._pending)
            self._pending = 0


def resolve_columns(
    names: Iterable[str], mapping: Mapping[str, str], ctx: ReadContext
) -> dict[str, str]:
    """Map the input's column names to contract columns: their name -> contract name.

    ``--map`` wins over a column that already has the contract's name (noted); names are matched
    exactly, else case-insensitively. Unknown columns are noted once and left out.
    """
    names = list(names)
    out: dict[str, str] = {}
    for name in names:
        key = name.strip()
        target = mapping.get(key, key if key in EVENT_COLUMNS else key.lower())
        if target in EVENT_COLUMNS:
            out[name] = target
    taken: dict[str, str] = {}
    for name, target in list(out.items()):
        if target not in taken:
            taken[target] = name
            continue
        first = taken[target]
        if name.strip() in mapping or first.strip() in mapping:
            loser = first if name.strip() in mapping else name
            taken[target] = name if loser == first else first
            del out[loser]
            ctx.note(
                f"column '{_short(loser)}' ignored: the mapping gives '{target}' from another column"
            )
        else:
            raise InputError(str(ctx.path), f"two columns give '{target}': '{first}' and '{name}'")
    missing = [k for k in mapping if k not in {n.strip() for n in names}]
    if missing:
        ctx.note("mapped columns not in the input: " + ", ".join(sorted(missing)))
    unknown = [n for n in names if n not in out and n.strip() not in mapping]
    if unknown:
        shown = [_short(n) for n in unknown[:20]] + (
            [f"... {len(unknown) - 20} more"] if len(unknown) > 20 else []
        )
        ctx.note("ignored unknown columns: " + ", ".join(shown))
    return out


def _short(name: str, limit: int = 60) -> str:
    """A column name as a note shows it: a header is the input's to choose, so at most 60."""
    return name if len(name) <= limit else name[: limit - 3] + "..."
