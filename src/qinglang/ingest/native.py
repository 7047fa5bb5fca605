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
from functools import lru_cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from qinglang.engine import sql_string
from qinglang.events import (
    CLIENT_FIELDS,
    CLIENT_NONNEGATIVE,
    EVENT_KINDS,
    EVENT_SCHEMA,
    MAX_LIST,
    MAX_TEXT,
    PRESENCE_NAMES,
    TEXT_LIMITS,
    TOKEN_VERDICTS,
    TS_MAX,
    TS_MIN,
    is_ip,
)

from .common import ReadReport
from .guess import guess_format

STRING_TYPES = (pa.string(), pa.large_string())
GLOB_CHARS = set("*?[]{}")


@dataclass
class NativePlan:
    """The `events` view over the inputs, and what reading them would have reported."""

    sql: str
    reports: list[ReadReport] = field(default_factory=list)
    known: dict[str, bool] = field(default_factory=dict)  # column -> holds a value (from stats)


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
    known: dict[str, bool] = {}
    unknown_somewhere: set[str] = set()
    offset = 0
    for raw in paths:
        path = Path(raw).resolve()
        if not path.is_file() or GLOB_CHARS & set(str(path)) or not _is_parquet(path, fmt):
            return None  # (read_parquet would take * ? [ ] { } in a name as a pattern)
        try:
            meta = pq.ParquetFile(path)
        except (pa.ArrowException, OSError):
            return None  # the reader reports it properly
        schema, rows = meta.schema_arrow, meta.metadata.num_rows
        if rows == 0 or not _speaks_contract(schema):
            return None
        select = _select(path, schema, offset, site)
        stats = _known_from_statistics(meta)
        try:
            # the pass that checks every row also says which other columns hold a value
            bad, counted = _bad_rows(select, [n for n in PRESENCE_NAMES if n not in stats])
            if bad:
                return None
        except duckdb.Error:
            return None  # anything DuckDB cannot read in place, the readers report properly
        stats.update(counted)
        report = ReadReport(str(raw), "parquet", fmt == "auto", rows_ok=rows, sha256=_sha256(path))
        if fmt == "auto":
            report.notes.append("guessed format parquet from the Parquet magic bytes")
        unknown = [n for n in schema.names if n not in EVENT_SCHEMA.names]
        if unknown:
            report.notes.append("ignored unknown columns: " + ", ".join(unknown))
        selects.append(select)
        reports.append(report)
        offset += rows
        for column, has in stats.items():
            known[column] = known.get(column, False) or has
        unknown_somewhere |= PRIMITIVE_LEAVES - set(stats)
    if not selects:
        return None
    for column in unknown_somewhere:
        known.pop(column, None)
    known.update({"event_id": True, "ts": True, "event": True})
    if site:
        known["site"] = True
    return NativePlan(" UNION ALL ".join(selects), reports, known)


PRIMITIVE_LEAVES = frozenset(
    [f.name for f in EVENT_SCHEMA if not pa.types.is_nested(f.type)]
    + [
        f"client.{f.name}"
        for f in EVENT_SCHEMA.field("client").type
        if not pa.types.is_nested(f.type)
    ]
)


def _known_absent(schema: pa.Schema) -> list[str]:
    """Leaves the file has no column for at all: certainly without values."""
    names = set(schema.names)
    client = schema.field("client").type if "client" in names else None
    out = []
    for leaf in PRIMITIVE_LEAVES:
        top, _, key = leaf.partition(".")
        if top not in names or (key and client is not None and client.get_field_index(key) < 0):
            out.append(leaf)
    return out


def _known_from_statistics(meta: pq.ParquetFile) -> dict[str, bool]:
    """Whether each primitive column (and client key) holds a value, from the footer's null
    counts alone, where every row group has them. Lists and the struct itself are left to SQL."""
    md = meta.metadata
    have: dict[str, int] = {}
    missing: set[str] = set()
    for g in range(md.num_row_groups):
        group = md.row_group(g)
        for c in range(group.num_columns):
            col = group.column(c)
            path = col.path_in_schema
            if path not in PRIMITIVE_LEAVES:
                continue
            stats = col.statistics
            if stats is None or not stats.has_null_count:
                missing.add(path)
                continue
            have[path] = have.get(path, 0) + col.num_values - stats.null_count
    known = {path: n > 0 for path, n in have.items() if path not in missing}
    known.update({leaf: False for leaf in _known_absent(meta.schema_arrow)})
    return known


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
            # a timestamp without a zone is read by the reader, which counts it and applies
            # --input-tz
            if not (pa.types.is_timestamp(have) and have.tz in ("UTC", "+00:00")):
                return False
        elif want == pa.string():
            if have not in STRING_TYPES:
                return False
        elif have != want:
            return False
    return True


@lru_cache(maxsize=1)
def sql_types() -> dict[str, str]:
    """DuckDB's name for each contract column's type (for the typed NULLs of missing columns)."""
    con = duckdb.connect()
    try:
        empty = con.from_arrow(EVENT_SCHEMA.empty_table())
        return dict(zip(empty.columns, (str(t) for t in empty.types), strict=True))
    finally:
        con.close()


def _select(path: Path, schema: pa.Schema, offset: int, site: str | None) -> str:
    """Contract columns (missing ones as typed NULLs), `rid` and the made event ids."""
    row = "file_row_number"
    made_id = f"{sql_string(path.name + ':')} || CAST({row} + 1 AS VARCHAR)"
    exprs: dict[str, str] = {}
    for name in EVENT_SCHEMA.names:
        if name not in schema.names:
            exprs[name] = f"CAST(NULL AS {sql_types()[name]})"
        else:
            exprs[name] = f'"{name}"'
    ts_type = schema.field("ts").type
    ts = 'CAST("ts" AS TIMESTAMPTZ)'
    if ts_type.unit not in ("s", "ms"):
        ts = f"date_trunc('millisecond', {ts})"
    exprs["ts"] = ts
    exprs["event_id"] = f"coalesce({exprs['event_id']}, {made_id})"
    exprs["event"] = f"coalesce({exprs['event']}, 'pageview')"
    if site:
        exprs["site"] = f"coalesce({exprs['site']}, {sql_string(site)})"
    cols = ", ".join(f"{expr} AS {name}" for name, expr in exprs.items())
    source = f"read_parquet({sql_string(str(path))}, file_row_number = true)"
    return f"SELECT {cols}, {offset} + {row} AS rid FROM {source}"


# Addresses the SQL can vouch for: a dotted quad of 0-255, an anonymised id of digits, and
# IPv6 text of hex groups (eight, or fewer around one `::`; at most seven colons, so no more than
# eight groups). Each is a subset of what `events.is_ip` accepts (tests/ingest check it against
# ipaddress); every other distinct value (a zone, an embedded IPv4, oddities) is checked once in
# Python, as the readers check it.
_IPV4 = r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HEX = "[0-9A-Fa-f]{1,4}"
_IPV6 = rf"({_HEX}:){{7}}{_HEX}|(({_HEX}:){{0,6}}{_HEX})?::(({_HEX}:){{0,6}}{_HEX})?"


def sql_vouched_ip(column: str) -> str:
    """True where `column` holds an address of the forms above (never for one to trim)."""
    return (
        f"(regexp_full_match({column}, '{_IPV4}|[0-9]{{1,64}}') OR "
        f"(regexp_full_match({column}, '{_IPV6}') "
        f"AND length({column}) - length(replace({column}, ':', '')) <= 7))"
    )


def _bad_rows(select: str, count: Sequence[str] = ()) -> tuple[int, dict[str, bool]]:
    """Rows the Parquet reader would reject or change: no timestamp or one outside the plausible
    window, an unknown event kind or verdict, a negative client size or time, text longer than
    its limit (the reader cuts and counts it); and, in the same pass, whether each column of
    `count` holds a value."""
    kinds = ", ".join(sql_string(k) for k in EVENT_KINDS)
    verdicts = ", ".join(sql_string(v) for v in TOKEN_VERDICTS)
    too_long = " OR ".join(
        f"length({name}) > {TEXT_LIMITS.get(name, MAX_TEXT)}"
        for name, typ in zip(EVENT_SCHEMA.names, EVENT_SCHEMA.types, strict=True)
        if typ == pa.string()
    )
    for name, typ in CLIENT_FIELDS:
        if typ == pa.string():
            too_long += f" OR length(client.{name}) > {MAX_TEXT}"
        elif pa.types.is_list(typ):
            too_long += (
                f" OR len(client.{name}) > {MAX_LIST}"
                f" OR list_max(list_transform(client.{name}, lambda x: length(x))) > {MAX_TEXT}"
            )
    negative = " OR ".join(f"client.{name} < 0" for name in sorted(CLIENT_NONNEGATIVE))
    bad = (
        f"ts IS NULL OR event NOT IN ({kinds}) "
        f"OR ts < TIMESTAMPTZ '{TS_MIN.isoformat()}' OR ts >= TIMESTAMPTZ '{TS_MAX.isoformat()}' "
        f"OR (token IS NOT NULL AND token NOT IN ({verdicts})) OR {too_long} OR {negative} "
        "OR status < 100 OR status > 999 OR bytes < 0 OR bytes > 4611686018427387904 "
        "OR (method IS NOT NULL AND NOT regexp_full_match(method, '[A-Z_-]{1,16}'))"
    )
    counts = "".join(f", count({name})" for name in count)
    check = f"SELECT count(*) FILTER (WHERE {bad}){counts} FROM ({select})"
    others = (
        f"SELECT DISTINCT ip FROM ({select}) WHERE ip IS NOT NULL AND NOT {sql_vouched_ip('ip')}"
    )
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        first, *present = con.execute(check).fetchall()[0]
        odd = [row[0] for row in con.execute(others).fetchall()]
        bad = int(first) + sum(1 for ip in odd if not is_ip(ip.strip()) or ip != ip.strip())
        return bad, {name: bool(n) for name, n in zip(count, present, strict=True)}
    finally:
        con.close()


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
