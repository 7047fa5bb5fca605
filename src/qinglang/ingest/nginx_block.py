"""nginx log lines parsed a block at a time in SQL (an in-memory DuckDB), for speed.

The per-line reader (``nginx.to_record`` and the contract's ``RowConverter``) costs about a
hundred microseconds of Python per line: minutes for a day of a busy site. Most lines of a real
log are plain: printable ASCII, no escapes, an ordinary request line, address, time and status.
For a format whose variables this module knows (:data:`BLOCK_VARIABLES`, e.g. ``combined`` and
``main``), a block of lines goes through one SQL statement that
matches the same regex (RE2 and Python's ``re`` agree on it: no backreferences, no lookaround)
and checks each field the way the per-line reader would. A line the SQL vouches for gets the
row the per-line reader would give it, byte for byte (``tests/ingest/test_nginx_block.py`` reads
logs both ways and compares); any other line (an escape, a non-ASCII byte, an odd request line,
a time outside the window, text past its limit, no match at all) goes through the per-line
reader itself, so what it accepts, cuts or rejects, and the line it names, stay exactly its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from qinglang.engine import sql_string
from qinglang.events import EVENT_SCHEMA, MAX_TEXT, TEXT_LIMITS, TS_MAX, TS_MIN

from .native import sql_vouched_ip
from .nginx_format import LogFormat

# The variables the block SQL reads (each as the per-line reader does), besides ``$cookie_<name>``
# (the first that names a visitor cookie and has a value is the visitor); a format with any other
# the per-line reader uses (a host, the whole Cookie header, another time) is read line by line.
BLOCK_VARIABLES = frozenset(
    ("remote_addr", "http_x_forwarded_for", "time_local", "request", "status",
     "body_bytes_sent", "bytes_sent",
     "http_referer", "http_user_agent", "http_sec_ch_ua")
)  # fmt: skip
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_TIME_LOCAL = (
    rf"(0[1-9]|[12][0-9]|3[01])/({_MONTHS})/[0-9]{{4}}:([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] "
    r"[+-]([01][0-9]|2[0-3])[0-5][0-9]"
)


def block_parser_for(fmt: LogFormat, used: frozenset[str], name: str, site: str | None):
    """A :class:`BlockParser` for `fmt`, or None when it names a variable the block SQL does not
    read (`used`: the variables the per-line reader reads; any other is ignored by both)."""
    read = [v for v in fmt.variables if v in used or v.startswith("cookie_")]
    if len(set(fmt.variables)) != len(fmt.variables) or "time_local" not in read:
        return None
    if any(v not in BLOCK_VARIABLES and not v.startswith("cookie_") for v in read):
        return None
    return BlockParser(fmt, name, site)


def _value(group: str) -> str:
    """A variable's group as the per-line reader holds it: null for ``-`` or empty, and nginx's
    escaped double quote decoded (``\\x22``, or ``\\"`` with ``escape=json``: every Sec-CH-UA
    header holds some). A line with any other escape is not plain (below): the per-line reader
    decodes it."""
    value = f"replace(replace(m.{group}, '\\x22', '\"'), '\\\"', '\"')"
    return f"CASE WHEN m.{group} IN ('', '-') THEN NULL ELSE {value} END"


def _extensions_sql(column: str, suffixes: Sequence[str]) -> str:
    alternatives = "|".join(re.escape(s) for s in suffixes)
    return f"regexp_matches({column}, '({alternatives})$')"


class BlockParser:
    """Parses blocks of (line number, text) in one DuckDB connection of its own."""

    def __init__(self, fmt: LogFormat, name: str, site: str | None) -> None:
        from .nginx import (  # the per-line reader's own rules
            FILE_EXTENSIONS,
            MACHINE_PATHS,
            STATIC_EXTENSIONS,
            VISITOR_COOKIE,
        )

        pattern = re.sub(r"\(\?P<(\w+)>", "(", fmt.regex.pattern)  # RE2: positional groups
        # groups named g1, g2...: DuckDB's group names must differ ignoring case, nginx's need not
        group = {var: f"g{i}" for var, i in fmt.regex.groupindex.items()}
        names = [f"g{i}" for i in sorted(fmt.regex.groupindex.values())]
        have = set(fmt.variables)
        v = {var: _value(group[var]) if var in have else "NULL" for var in BLOCK_VARIABLES}
        size = (
            f"coalesce({v['body_bytes_sent']}, {v['bytes_sent']})"
            if "body_bytes_sent" in have and "bytes_sent" in have
            else v["body_bytes_sent"]
            if "body_bytes_sent" in have
            else v["bytes_sent"]
        )
        cookies = [
            _value(group[var]) for var in fmt.variables
            if var.startswith("cookie_") and VISITOR_COOKIE.search(var[7:])
        ]  # fmt: skip
        visitor = f"coalesce({', '.join(cookies)})" if cookies else "NULL"
        machine = " OR ".join(f"starts_with(path, {sql_string(p)})" for p in MACHINE_PATHS)

        def fits(column: str, field: str) -> str:
            return f"({column} IS NULL OR length({column}) <= {TEXT_LIMITS.get(field, MAX_TEXT)})"

        # `ok`: the line is one the SQL can vouch for, field by field (see the module doc)
        self.sql = f"""
WITH g AS (
  -- a line that does not match has every group empty, so no time: never vouched for
  -- plain: printable ASCII, no backslash but those of the escaped quotes `_value` decodes
  SELECT lineno,
         regexp_full_match(replace(replace(line, '\\x22', ''), '\\"', ''), '[ -\\[\\]-~]*')
           AS plain,
         regexp_extract(line, {sql_string(pattern)}, {names!r}) AS m
  FROM block),
f AS (
  SELECT lineno, plain, {v["remote_addr"]} AS peer,
         trim(split_part({v["http_x_forwarded_for"]}, ',', 1)) AS forwarded,
         {v["time_local"]} AS time_local,
         {v["request"]} AS request, {v["status"]} AS status, {size} AS size,
         {v["http_referer"]} AS referrer, {v["http_user_agent"]} AS user_agent,
         {visitor} AS visitor_id, {v["http_sec_ch_ua"]} AS ch_ua
  FROM g),
i AS (  -- the first forwarded address when it is one, else the peer's (nginx._ip)
  SELECT *, CASE WHEN forwarded IS NOT NULL AND forwarded NOT IN ('', '-') THEN forwarded
                 ELSE peer END AS ip
  FROM f),
t AS (
  SELECT *, try_strptime(time_local, '%d/%b/%Y:%H:%M:%S %z') AS ts,
         split_part(request, ' ', 1) AS method, split_part(request, ' ', 2) AS url
  FROM i),
p AS (SELECT *, lower(split_part(url, '?', 1)) AS path FROM t),
a AS (SELECT *, coalesce({_extensions_sql("path", STATIC_EXTENSIONS)}, FALSE) AS asset FROM p)
SELECT lineno,
       plain
       AND (ip IS NULL OR {sql_vouched_ip("ip")})  -- a forwarded text that is not one: per line
       AND regexp_full_match(time_local, '{_TIME_LOCAL}') AND ts IS NOT NULL
       AND ts >= TIMESTAMPTZ '{TS_MIN.isoformat()}' AND ts < TIMESTAMPTZ '{TS_MAX.isoformat()}'
       AND (request IS NULL OR regexp_full_match(request, '[A-Z]{{1,16}} [^ ]+ [^ ]+'))
       AND (status IS NULL OR regexp_full_match(status, '[1-9][0-9][0-9]'))
       AND (size IS NULL OR regexp_full_match(size, '[0-9]{{1,18}}'))  -- under the 2**62 cap
       AND {fits("url", "url")} AND {fits("referrer", "referrer")}
       AND {fits("user_agent", "user_agent")} AND {fits("visitor_id", "visitor_id")}
       AND {fits("ch_ua", "client.ch_ua")} AS ok,
       {sql_string(name + ":")} || lineno AS event_id, ts,
       {sql_string(site) if site else "NULL"} AS site,
       CASE WHEN NOT asset AND starts_with(path, '/') AND NOT ({machine})
                 AND NOT coalesce({_extensions_sql("path", FILE_EXTENSIONS)}, FALSE)
                 AND method = 'GET'
                 AND (status IS NULL OR status = '304' OR starts_with(status, '2'))
            THEN 'pageview' ELSE 'request' END AS event,
       ip, user_agent, url, referrer, visitor_id,
       CASE WHEN request IS NOT NULL THEN method END AS method,
       TRY_CAST(status AS INTEGER) AS status, TRY_CAST(size AS BIGINT) AS bytes,
       CASE WHEN asset THEN TRUE END AS asset, ch_ua
FROM a ORDER BY lineno
"""
        self._con = duckdb.connect()
        self._con.execute("SET enable_progress_bar = false")

    def parse(self, linenos: list[int], texts: list[str]) -> tuple[pa.Table, list[int]]:
        """The rows of the lines the SQL vouches for (EVENT_SCHEMA plus ``lineno``, in line
        order), and the line numbers of the others, for the per-line reader."""
        if not linenos:
            return empty_rows(), []
        block = pa.table(
            {"lineno": pa.array(linenos, pa.int64()), "line": pa.array(texts, pa.string())}
        )
        block = pa.Table.from_batches(block.to_batches(max_chunksize=8192))  # DuckDB: a thread each
        self._con.register("block", block)
        try:
            got = self._con.sql(self.sql).to_arrow_table()
        finally:
            self._con.unregister("block")
        ok = pc.fill_null(got.column("ok"), False)
        others = got.column("lineno").filter(pc.invert(ok)).to_pylist()
        rows = got.filter(ok)
        return conform_rows(rows), others

    def close(self) -> None:
        self._con.close()


def empty_rows() -> pa.Table:
    """No rows, in the shape :meth:`BlockParser.parse` gives them."""
    return conform_rows(pa.table({"lineno": pa.array([], pa.int64())}))


def conform_rows(rows: pa.Table) -> pa.Table:
    """The block's rows in EVENT_SCHEMA's columns and types, with ``lineno`` last."""
    columns, fields = [], []
    for field in EVENT_SCHEMA:
        if field.name == "client" and "ch_ua" in rows.column_names:
            columns.append(_client_of(rows.column("ch_ua"), field.type))
        elif field.name in rows.column_names:
            columns.append(rows.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(rows.num_rows, field.type))
        fields.append(field)
    columns.append(rows.column("lineno"))
    fields.append(pa.field("lineno", pa.int64()))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _client_of(ch_ua: pa.ChunkedArray, client_type: pa.StructType) -> pa.Array:
    """The ``client`` struct the per-line reader gives a line whose only client value is its
    Sec-CH-UA header: null where the line has none."""
    hints = ch_ua.combine_chunks().cast(pa.string())
    children = [hints if f.name == "ch_ua" else pa.nulls(len(hints), f.type) for f in client_type]
    return pa.StructArray.from_arrays(children, fields=list(client_type), mask=hints.is_null())
