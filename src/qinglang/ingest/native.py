"""The fast path for Parquet that already speaks the contract: the engine reads it in place.

When every input is a Parquet file whose columns carry the contract's names and types (what
qinglang's simulator and collector write), no mapping is asked for, and no row would be rejected,
the audit does not copy the data through Arrow. ``events`` becomes a view over the files, so each
query reads only the columns it needs, in parallel, and memory stays flat at any size. Anything
else (other formats or types, a mapping, a single bad row) goes through the readers, which report
what they reject. Both paths give the same rows, ids and row order (a test checks).

The SQL is DuckDB's (``read_parquet`` with ``file_row_number``); the Spark engine reads through
the readers instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from qinglang.events import EVENT_KINDS, EVENT_SCHEMA, TOKEN_VERDICTS

from .common import ReadReport
from .guess import guess_format

STRING_TYPES = (pa.string(), pa.large_string())


@dataclass
class NativePlan:
    """The `events` view over the inputs, and what reading them would have reported."""

    sql: str
    reports: list[ReadReport] = field(default_factory=list)


def plan_native(
    paths: Sequence[str | Path],
    fmt: str = "auto",
    mapping: Mapping[str, str] | None = None,
    site: str | None = None,
) -> NativePlan | None:
    """A view over the inputs when they all qualify (see the module doc), else None."""
    if mapping or fmt not in ("auto", "parquet"):
        return None
    selects: list[str] = []
    reports: list[ReadReport] = []
    offset = 0
    for raw in paths:
        path = Path(raw).resolve()
        if not path.is_file() or not _is_parquet(path, fmt):
            return None
        try:
            meta = pq.ParquetFile(path)
        except (pa.ArrowException, OSError):
            return None  # the reader reports it properly
        schema, rows = meta.schema_arrow, meta.metadata.num_rows
        if rows == 0 or not _speaks_contract(schema):
            return None
        select = _select(path, schema, offset, site)
        if _bad_rows(select):
            return None
        report = ReadReport(str(raw), "parquet", fmt == "auto", rows_ok=rows, sha256=_sha256(path))
        if fmt == "auto":
            report.notes.append("guessed format parquet from the Parquet magic bytes")
        unknown = [n for n in schema.names if n not in EVENT_SCHEMA.names]
        if unknown:
            report.notes.append("ignored unknown columns: " + ", ".join(unknown))
        selects.append(select)
        reports.append(report)
        offset += rows
    if not selects:
        return None
    return NativePlan(" UNION ALL ".join(selects), reports)


def _is_parquet(path: Path, fmt: str) -> bool:
    if fmt == "parquet":
        return True
    try:
        return guess_format(path).format == "parquet"
    except Exception:  # noqa: BLE001 - anything odd is for the readers to report
        return False


def _speaks_contract(schema: pa.Schema) -> bool:
    if "ts" not in schema.names or len(set(schema.names)) != len(schema.names):
        return False
    for name in schema.names:
        if name not in EVENT_SCHEMA.names:
            continue
        have, want = schema.field(name).type, EVENT_SCHEMA.field(name).type
        if name == "ts":
            if not (pa.types.is_timestamp(have) and have.tz in (None, "UTC", "+00:00")):
                return False
        elif want == pa.string():
            if have not in STRING_TYPES:
                return False
        elif have != want:
            return False
    return True


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_EMPTY = duckdb.from_arrow(EVENT_SCHEMA.empty_table())
SQL_TYPES = dict(zip(_EMPTY.columns, (str(t) for t in _EMPTY.types), strict=True))


def _select(path: Path, schema: pa.Schema, offset: int, site: str | None) -> str:
    """Contract columns (missing ones as typed NULLs), `rid` and the made event ids."""
    row = "file_row_number"
    made_id = f"{_quote(path.name + ':')} || CAST({row} + 1 AS VARCHAR)"
    exprs: dict[str, str] = {}
    for name in EVENT_SCHEMA.names:
        if name not in schema.names:
            exprs[name] = f"CAST(NULL AS {SQL_TYPES[name]})"
        else:
            exprs[name] = f'"{name}"'
    ts_type = schema.field("ts").type
    ts = '"ts"' if ts_type.unit in ("s", "ms") else "date_trunc('millisecond', \"ts\")"
    exprs["ts"] = f"CAST({ts} AS TIMESTAMPTZ)"
    exprs["event_id"] = f"coalesce({exprs['event_id']}, {made_id})"
    exprs["event"] = f"coalesce({exprs['event']}, 'pageview')"
    if site:
        exprs["site"] = f"coalesce({exprs['site']}, {_quote(site)})"
    cols = ", ".join(f"{expr} AS {name}" for name, expr in exprs.items())
    source = f"read_parquet({_quote(str(path))}, file_row_number = true)"
    return f"SELECT {cols}, {offset} + {row} AS rid FROM {source}"


def _bad_rows(select: str) -> int:
    """Rows the Parquet reader would reject: no timestamp, an unknown event kind or verdict."""
    kinds = ", ".join(_quote(k) for k in EVENT_KINDS)
    verdicts = ", ".join(_quote(v) for v in TOKEN_VERDICTS)
    check = (
        f"SELECT count(*) FROM ({select}) WHERE ts IS NULL OR event NOT IN ({kinds}) "
        f"OR (token IS NOT NULL AND token NOT IN ({verdicts}))"
    )
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        return int(con.execute(check).fetchall()[0][0])
    finally:
        con.close()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
