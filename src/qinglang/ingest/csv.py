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
from .textio import LineSource, bad_utf8, read_head

RecordMaker = Callable[[dict[str, str]], dict[str, Any]]


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
    reader = csv.reader(iter(lines), delimiter=sniff_delimiter(ctx), strict=True)
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
    prev = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            hint = " (unclosed quote?)" if reader.line_num > prev + 1 else ""
            ctx.bad(prev + 1, None, f"malformed CSV: {exc}{hint}")
            prev = reader.line_num
            continue
        start, end = prev + 1, reader.line_num
        prev = end
        if not row:
            continue
        if lines.has_bad(start, end):
            bad_utf8(ctx, start)
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
        batch = sink.add(record, start)
        if batch is not None:
            yield batch
    last = sink.flush()
    if last is not None:
        yield last
    if ctx.report.rows_ok + ctx.report.rows_bad == 0:
        raise InputError(str(ctx.path), "no events: the file has a header but no data rows")


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
