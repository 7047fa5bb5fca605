"""Parquet reader: the fast path. Columns are named as in the contract or mapped.

Batches are checked and converted with Arrow compute, never row by row on the good path:
``ts`` may be a timestamp (naive = UTC), a date, epoch seconds or milliseconds (as for
``events.parse_ts``: above 1e11 means milliseconds) or ISO-8601 text; ``event`` must be one of
``EVENT_KINDS`` (null or no column = ``pageview``), ``token`` one of ``TOKEN_VERDICTS`` or null;
``status`` (100-999), ``bytes`` (0 to 2**62) and ``method`` (an HTTP token, upper-cased) as the row
readers read them. Bad rows are reported with their row number (from 1) and filtered out, also
when one value does not fit its column's contract type (text in an integer column, bytes that are
not UTF-8, a client key out of its integer range): that row is bad, not the file. Missing or empty
event ids become ``<file name>:<row>``. A column whose type can never be the contract's (a list
for ``url``) is an InputError.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qinglang.errors import FieldError, InputError
from qinglang.events import EVENT_KINDS, TOKEN_VERDICTS, cap_text, conform

from .common import ReadContext, resolve_columns
from .parquet_cols import (
    Check,
    bounded_int_column,
    client_column,
    enum_column,
    fallback,
    ip_column,
    method_column,
    raw_value,
    string_column,
    ts_column,
    utf8_column,
)

# as events.RowConverter reads them
STATUS_RANGE = (100, 999)
BYTES_RANGE = (0, 2**62)

MAGIC = b"PAR1"


def read(ctx: ReadContext) -> Iterator[pa.RecordBatch]:
    pf = _open(ctx)
    pick = resolve_columns(pf.schema_arrow.names, ctx.mapping, ctx)
    if "ts" not in pick.values():
        raise InputError(
            str(ctx.path),
            f"no 'ts' column (found: {', '.join(pf.schema_arrow.names)}); "
            "name it ts or map it with --map THEIR_COLUMN=ts",
        )
    if pf.metadata.num_rows == 0:
        raise InputError(str(ctx.path), "no events: the Parquet file has no rows")
    row0 = 0
    for batch in _batches(ctx, pf, list(pick)):
        table = pa.Table.from_batches([batch]).rename_columns([pick[c] for c in batch.schema.names])
        out = convert(ctx, table, row0)
        row0 += batch.num_rows
        ctx.report.rows_ok += out.num_rows
        ctx.advance(batch.num_rows)
        if out.num_rows:
            yield from out.to_batches()


def _open(ctx: ReadContext) -> pq.ParquetFile:
    path = str(ctx.path)
    with open(ctx.path, "rb") as f:
        head = f.read(4)
        if not head:
            raise InputError(path, "empty file: no events")
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(size - 4, 0))
        tail = f.read(4)
    if head != MAGIC or tail != MAGIC:
        what = "truncated Parquet file (no footer)" if head == MAGIC else "binary file"
        raise InputError(path, f"not a Parquet file: {what}, expected PAR1 magic bytes")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(path, f"cannot read Parquet: {exc}") from None


def _batches(ctx: ReadContext, pf: pq.ParquetFile, columns: list[str]) -> Iterator[pa.RecordBatch]:
    it = pf.iter_batches(batch_size=ctx.batch_size, columns=columns)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            raise InputError(str(ctx.path), f"corrupt Parquet data: {exc}") from None
        yield batch


def convert(ctx: ReadContext, table: pa.Table, row0: int) -> pa.Table:
    """One batch -> contract rows; reports and drops bad rows (row numbers from row0 + 1)."""
    n = table.num_rows
    cols = {name: table.column(name).combine_chunks() for name in table.column_names}
    checks: list[Check] = []
    for name, col in list(cols.items()):
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
            cols[name], check = utf8_column(col, name)
            checks.append(check)
    cols["ts"], check = ts_column(ctx, cols["ts"])
    checks.append(check)
    for name, allowed, default in (
        ("event", EVENT_KINDS, "pageview"),
        ("token", TOKEN_VERDICTS, None),
    ):
        if name in cols:
            cols[name], check = enum_column(ctx, cols[name], name, allowed)
            checks.append(check)
        if default and name in cols:
            cols[name] = pc.coalesce(cols[name], pa.scalar(default))
        elif default:  # no such column: every row has the default, as in the row readers
            cols[name] = pa.repeat(pa.scalar(default), n)
    if "client" in cols:
        cols["client"], check = client_column(ctx, cols["client"])
        checks.append(check)
    if "ip" in cols:
        cols["ip"], check = ip_column(ctx, cols["ip"])
        checks.append(check)
    for name in ("signature_ok", "asset"):
        if name in cols:
            cols[name], check = fallback(ctx, cols[name], name)
            checks.append(check)
    for name, (lo, hi) in (("status", STATUS_RANGE), ("bytes", BYTES_RANGE)):
        if name in cols:
            cols[name], check = bounded_int_column(cols[name], name, lo, hi)
            checks.append(check)
    if "method" in cols:
        cols["method"], check = method_column(ctx, cols["method"])
        checks.append(check)
    cols["event_id"] = _ids(ctx, cols.get("event_id"), n, row0)
    if ctx.site:
        site = cols.get("site", pa.nulls(n, pa.string()))
        cols["site"] = pc.coalesce(string_column(ctx, site, "site"), pa.scalar(ctx.site))
    table = pa.Table.from_arrays(list(cols.values()), names=list(cols))
    bad = _report_bad(ctx, [c for c in checks if c.bad is not None], row0)
    if bad is not None:
        table = table.filter(pc.invert(bad))
    table, cut = cap_text(table)
    ctx.report.truncated.update(cut)
    try:
        return conform(table)
    except FieldError as exc:
        raise InputError(
            str(ctx.path), f"column '{exc.field}' has type {exc.value}, expected {exc.expected}"
        ) from None


def _ids(ctx: ReadContext, ids: pa.Array | None, n: int, row0: int) -> pa.Array:
    if ids is not None:
        ids = string_column(ctx, ids, "event_id")
        empty = pc.fill_null(pc.equal(ids, ""), False)
        if pc.any(empty).as_py():  # an empty id is none, as in the row readers
            ids = pc.if_else(empty, pa.scalar(None, pa.string()), ids)
        if ids.null_count == 0:
            return ids
    rows = pa.array(np.arange(row0 + 1, row0 + n + 1, dtype=np.int64)).cast(pa.string())
    made = pc.binary_join_element_wise(pa.scalar(ctx.name + ":"), rows, "")
    return made if ids is None else pc.coalesce(ids, made)


def _report_bad(ctx: ReadContext, checks: list[Check], row0: int) -> pa.Array | None:
    """Report bad rows (RowErrors for the first ones, a count for all); their mask, or None."""
    if not checks:
        return None
    bad = checks[0].bad
    for c in checks[1:]:
        bad = pc.or_(bad, c.bad)
    indices = pc.indices_nonzero(bad)
    if len(indices) == 0:
        return None
    # every bad row is reported (kept in memory for the first MAX_ERRORS, listed in
    # rejected.csv for all): the first check that fails names the field
    masks = [(c, c.bad.to_pylist()) for c in checks if c.bad is not None]
    for i in indices.to_pylist():
        c = next(c for c, mask in masks if mask[i])
        exc = FieldError(c.field, raw_value(c.raw, i), c.expected(i))
        ctx.bad(row0 + i + 1, c.field, str(exc), unit="row")
    return bad
