"""CSV/TSV reader: a header row, then one event per record.

Columns are named as in the contract or mapped (``--map their_col=ts``); ``client`` holds a JSON
object text. The event id is the input's ``event_id`` or ``<file name>:<line>``, the physical line
where the record starts (the first data row under a one-line header is line 2), also when quoted
fields span several lines.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow as pa

from qinglang.errors import FieldError, InputError

from .common import ReadContext, RowSink, resolve_columns
from .textio import MAX_LINE_BYTES, LineSource, add_record, bad_line, read_head

RecordMaker = Callable[[dict[str, str]], dict[str, Any]]

# The csv module refuses a field over 128 Ki characters; a long URL or user agent is cut by the
# contract instead, so allow a field as long as a line may be (the limit is the module's, global).
if csv.field_size_limit() < MAX_LINE_BYTES:
    csv.field_size_limit(MAX_LINE_BYTES)


def read(ctx: ReadContext) -> Iterator[pa.RecordBatch]:
    return read_table(ctx, "csv")


def sniff_delimiter(ctx: ReadContext) -> str:
    if ctx.path.name.lower().removesuffix(".gz").endswith(".tsv"):
        return "\t"
    head = read_head(ctx.path, 8192).decode("utf-8", errors="replace")
    first = next((line for line in head.splitlines() if line.strip()), "")
    return "\t" if first.count("\t") > first.count(",") else ","


def read_table(
    ctx: ReadContext,
    fmt: str,
    *,
    required: tuple[str, ...] = ("ts",),
    defaults: Mapping[str, Any] | None = None,
    columns: Callable[[list[str]], dict[str, str]] | None = None,
    make_record: RecordMaker | None = None,
) -> Iterator[pa.RecordBatch]:
    """Read a delimited file. ``columns`` picks the header's columns (default: contract names
    after mapping); ``make_record`` turns the picked values into a contract record."""
    lines = LineSource(ctx, fmt)
    quotes = _QuoteCount(lines)
    reader = csv.reader(quotes, delimiter=sniff_delimiter(ctx), strict=True)
    header = _header(ctx, reader)
    pick = columns(header) if columns else resolve_columns(header, ctx.mapping, ctx)
    missing = [c for c in required if c not in pick.values()]
    if missing:
        raise InputError(
            str(ctx.path),
            f"no column for {', '.join(missing)} in the header (found: {', '.join(header)}); "
            "name it as in the contract or map it with --map THEIR_COLUMN=" + missing[0],
        )
    index = [(i, pick[name]) for i, name in enumerate(header) if name in pick]
    sink = RowSink(ctx, defaults)
    width = len(header)
    prev = lines.lineno
    while True:
        mark = quotes.count
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            spans = lines.lineno > prev + 1
            if spans or "field limit" in str(exc):
                quotes.skip_quoted(mark)  # the rest of the record, so it cannot spill into rows
            hint = " (unclosed quote?)" if spans else ""
            ctx.bad(prev + 1, None, f"malformed CSV: {exc}{hint}")
            lines.take_bad(prev + 1, lines.lineno)
            prev = lines.lineno
            continue
        start, end = prev + 1, lines.lineno
        prev = end
        if not row:
            continue
        reason = lines.take_bad(start, end)
        if reason:
            bad_line(ctx, start, reason)
            continue
        if len(row) != width:
            span = f" (record runs to line {end}: unclosed quote?)" if end > start else ""
            ctx.bad(
                start,
                None,
                f"expected {width} fields as in the header, got {len(row)}: "
                f"truncated or malformed line{span}",
            )
            continue
        record: dict[str, Any] = {target: row[i] for i, target in index}
        if make_record is not None:
            try:
                record = make_record(record)
            except FieldError as exc:
                ctx.bad_field(start, exc)
                continue
        batch = add_record(ctx, sink, record, start)
        if batch is not None:
            yield batch
    last = sink.flush()
    if last is not None:
        yield last
    if ctx.report.rows_ok + ctx.report.rows_bad == 0:
        raise InputError(str(ctx.path), "no events: the file has a header but no data rows")


class _QuoteCount:
    """The lines the csv module reads, counting their double quotes: after a malformed record
    inside a quoted field, :meth:`skip_quoted` reads past the lines left inside it, so its rest
    is not taken for rows (in well-formed CSV, quotes come in pairs within a field)."""

    def __init__(self, lines: LineSource) -> None:
        self._it = iter(lines)
        self.count = 0

    def __iter__(self) -> _QuoteCount:
        return self

    def __next__(self) -> str:
        text = next(self._it)
        self.count += text.count('"')
        return text

    def skip_quoted(self, mark: int) -> None:
        """Read lines until the quotes counted since `mark` are even (the field has closed)."""
        while (self.count - mark) % 2:
            try:
                next(self)
            except StopIteration:
                return


def _header(ctx: ReadContext, reader: Any) -> list[str]:
    while True:
        try:
            row = next(reader)
        except StopIteration:
            raise InputError(str(ctx.path), "empty file: no header and no events") from None
        except csv.Error as exc:
            raise InputError(str(ctx.path), f"cannot read the header row: {exc}") from None
        if row:
            break
    header = [h.strip() for h in row]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError(str(ctx.path), "duplicate column names in the header: " + ", ".join(dupes))
    return header
