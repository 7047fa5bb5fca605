"""Column conversions for the Parquet reader: vectorized, with a per-row fallback where needed.

Each returns the converted column and a :class:`Check`: which rows are bad (a boolean mask, or
None when none are), the raw values, and what was expected of each bad row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from qinglang.errors import FieldError, InputError
from qinglang.events import (
    CLIENT_FIELDS,
    CLIENT_NONNEGATIVE,
    CLIENT_TYPE,
    TS_MAX,
    TS_MIN,
    TS_TYPE,
    TS_WINDOW,
    is_ip,
    parse_bool,
    parse_client,
    parse_int,
    parse_ts_in,
)

from .common import ReadContext

TS_REQUIRED = "a timestamp (required)"
TS_FORMAT = "a timestamp (ISO-8601 or epoch seconds/milliseconds)"
MS_THRESHOLD = 100_000_000_000  # epoch values above this are milliseconds (as events.parse_ts)
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@dataclass
class Check:
    field: str
    bad: pa.Array | None  # boolean, no nulls
    raw: pa.Array
    expected: Callable[[int], str]


def ts_column(ctx: ReadContext, arr: pa.Array) -> tuple[pa.Array, Check]:
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        out = _ts_from_text(ctx, arr.cast(pa.string()))
        if out is None:
            return per_row(arr, "ts", _required_ts_parser(ctx), TS_TYPE)
    elif pa.types.is_timestamp(t):
        out = (arr if t.tz else _in_zone(ctx, arr)).cast(TS_TYPE, safe=False)
    elif pa.types.is_date(t):
        out = arr.cast(pa.timestamp("ms")).cast(TS_TYPE)
    elif pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        out = _ts_from_epoch(arr)
    elif pa.types.is_null(t):
        out = pa.nulls(len(arr), TS_TYPE)
    else:
        raise InputError(
            str(ctx.path), f"column 'ts' has type {t}, expected {TS_FORMAT} or a timestamp type"
        )
    low = pa.scalar(TS_MIN, TS_TYPE)
    high = pa.scalar(TS_MAX, TS_TYPE)
    outside = pc.fill_null(pc.or_(pc.less(out, low), pc.greater_equal(out, high)), False)
    bad = pc.or_(pc.is_null(out), outside)

    def expected(i: int) -> str:
        if not arr[i].is_valid:
            return TS_REQUIRED
        return TS_WINDOW if outside[i].as_py() else TS_FORMAT

    return out, Check("ts", bad, arr, expected)


def _ts_from_text(ctx: ReadContext, arr: pa.Array) -> pa.Array | None:
    try:  # every time with a zone offset
        return arr.cast(TS_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:  # every time without one: read in --input-tz
        return _in_zone(ctx, arr.cast(pa.timestamp("ms"))).cast(TS_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a mix, or oddities: row by row


def _in_zone(ctx: ReadContext, arr: pa.Array) -> pa.Array:
    """Wall-clock times that name no zone, as instants in ``ctx.input_tz`` (counted)."""
    ctx.report.naive_ts += len(arr) - arr.null_count
    zone = getattr(ctx.input_tz, "key", None) or "UTC"
    if zone == "UTC":
        return arr.cast(pa.timestamp(arr.type.unit, "UTC"))
    return pc.assume_timezone(arr, timezone=zone, ambiguous="earliest", nonexistent="earliest")


def _required_ts_parser(ctx: ReadContext) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise FieldError("ts", value, TS_REQUIRED)
        ts, naive = parse_ts_in(value, ctx.input_tz)
        ctx.report.naive_ts += naive
        return ts

    return parse


def _ts_from_epoch(arr: pa.Array) -> pa.Array:
    if pa.types.is_integer(arr.type):
        x = arr.cast(pa.int64(), safe=False)
        ms = pc.if_else(pc.greater(x, MS_THRESHOLD), x, pc.multiply(x, 1000))
    else:
        x = arr.cast(pa.float64())
        # beyond the last millisecond of 9999 in any unit: out of range, and rounding it could
        # overflow (1e305 seconds)
        plausible = pc.and_(pc.is_finite(x), pc.less_equal(pc.abs(x), float(MAX_MS)))
        x = pc.if_else(plausible, x, pa.scalar(None, pa.float64()))
        ms = pc.if_else(pc.greater(x, MS_THRESHOLD), x, pc.multiply(x, 1000.0))
        ms = pc.floor(pc.round(ms, 3))
    ok = pc.and_(pc.greater_equal(x, 0), pc.less_equal(ms, MAX_MS))
    ms = pc.if_else(ok, ms, pa.scalar(None, ms.type)).cast(pa.int64())
    return ms.cast(TS_TYPE)


def enum_column(
    ctx: ReadContext, arr: pa.Array, name: str, allowed: tuple[str, ...]
) -> tuple[pa.Array, Check]:
    """Text that must be one of ``allowed`` or null (matched after trimming and lower-casing)."""
    s = string_column(ctx, arr, name)
    values = pa.array(allowed)
    bad = pc.and_(pc.is_valid(s), pc.invert(pc.is_in(s, value_set=values)))
    if pc.any(bad).as_py():
        s = pc.utf8_lower(pc.utf8_trim_whitespace(s))
        s = pc.if_else(pc.equal(s, ""), pa.scalar(None, pa.string()), s)
        bad = pc.and_(pc.is_valid(s), pc.invert(pc.is_in(s, value_set=values)))
    return s, Check(name, bad, arr, lambda i: "one of " + ", ".join(allowed))


def client_column(ctx: ReadContext, arr: pa.Array) -> tuple[pa.Array, Check]:
    """A struct is conformed later; JSON object text is parsed row by row."""
    t = arr.type
    if pa.types.is_null(t):
        return arr, Check("client", None, arr, str)
    if pa.types.is_struct(t):
        try:
            conformed = _client_struct(arr)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            # a value that does not fit its key's type (text in frame_w, 2**40 for an int32):
            # that row is bad, not the file
            return per_row(arr, "client", _parse_client_fitting, CLIENT_TYPE)
        bad = None
        for name in sorted(CLIENT_NONNEGATIVE & {t.field(i).name for i in range(t.num_fields)}):
            child = pc.struct_field(arr, name)
            if pa.types.is_integer(child.type) or pa.types.is_floating(child.type):
                neg = pc.fill_null(pc.less(child, 0), False)
                bad = neg if bad is None else pc.or_(bad, neg)
        return conformed, Check("client", bad, arr, lambda i: "sizes and times of 0 or more")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return per_row(arr, "client", _parse_client_fitting, CLIENT_TYPE)
    raise InputError(str(ctx.path), f"column 'client' has type {t}, expected a struct or JSON text")


def _client_struct(arr: pa.StructArray) -> pa.StructArray:
    """A struct column as CLIENT_TYPE: known keys cast (safely), missing ones null, others
    dropped; raises an ArrowException when a value does not fit."""
    present = {arr.type.field(i).name for i in range(arr.type.num_fields)}
    children = [
        pc.struct_field(arr, f.name).cast(f.type)
        if f.name in present
        else pa.nulls(len(arr), f.type)
        for f in CLIENT_TYPE
    ]
    return pa.StructArray.from_arrays(children, fields=list(CLIENT_TYPE), mask=arr.is_null())


_INT_BOUNDS = {pa.int32(): 2**31, pa.int64(): 2**63}


def _parse_client_fitting(value: Any) -> Any:
    """events.parse_client, and every integer within its Arrow type."""
    out = parse_client(value)
    for name, typ in CLIENT_FIELDS:
        number = out.get(name) if out else None
        bound = _INT_BOUNDS.get(typ)
        if bound and number is not None and not -bound <= number < bound:
            raise FieldError(f"client.{name}", number, f"an integer that fits {typ}")
    return out


def utf8_column(arr: pa.Array, name: str) -> tuple[pa.Array, Check]:
    """Binary as text; a value that is not UTF-8 is a bad row (not the file's problem)."""
    try:
        return arr.cast(pa.string()), Check(name, None, arr, str)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out: list[str | None] = []
    bad: list[bool] = []
    for value in arr.to_pylist():
        try:
            out.append(None if value is None else value.decode("utf-8"))
            bad.append(False)
        except UnicodeDecodeError:
            out.append(None)
            bad.append(True)
    return pa.array(out, pa.string()), Check(name, pa.array(bad), arr, lambda i: "UTF-8 text")


def bounded_int_column(arr: pa.Array, name: str, lo: int, hi: int) -> tuple[pa.Array, Check]:
    """Whole numbers from lo to hi, as events.RowConverter reads status and bytes: cast
    vectorized (integers, floats, numeric text), else parsed row by row; others are bad rows."""
    expected = f"an integer from {lo} to {hi}"

    def parse(value: Any) -> int | None:
        number = parse_int(value, name)
        if number is not None and not lo <= number <= hi:
            raise FieldError(name, value, expected)
        return number

    try:
        ints = arr.cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return per_row(arr, name, parse, pa.int64())
    bad = pc.fill_null(pc.or_(pc.less(ints, lo), pc.greater(ints, hi)), False)
    return pc.if_else(bad, pa.scalar(None, pa.int64()), ints), Check(
        name, bad, arr, lambda i: expected
    )


def method_column(ctx: ReadContext, arr: pa.Array) -> tuple[pa.Array, Check]:
    """An HTTP method token, trimmed and upper-cased, as events.RowConverter reads it."""
    text = string_column(ctx, arr, "method")
    norm = pc.utf8_upper(pc.utf8_trim_whitespace(text))
    empty = pc.fill_null(pc.equal(text, ""), False)
    token = pc.match_substring_regex(norm, r"^[A-Z_\-]{1,16}$")
    bad = pc.fill_null(pc.and_(pc.invert(empty), pc.invert(token)), False)
    out = pc.if_else(pc.or_(empty, bad), pa.scalar(None, pa.string()), norm)
    return out, Check("method", bad, arr, lambda i: "an HTTP method such as GET, POST or HEAD")


def raw_value(arr: pa.Array, i: int) -> Any:
    """Row i's value as Python, for an error message (a time past Python's years as its text)."""
    try:
        return arr[i].as_py()
    except (OverflowError, ValueError, OSError):
        try:
            return f"{arr.type} {arr.cast(pa.int64())[i].as_py()}"
        except (pa.ArrowException, OverflowError, ValueError):
            return f"a {arr.type} value"


def ip_column(ctx: ReadContext, arr: pa.Array) -> tuple[pa.Array, Check]:
    """IP addresses: each distinct value parsed once (ipaddress); the others are bad rows."""
    text = string_column(ctx, arr, "ip")
    distinct = pc.unique(text.drop_null())
    good = [v for v in distinct.to_pylist() if is_ip(v.strip())]
    trimmed = pc.utf8_trim_whitespace(text)
    bad = pc.and_(pc.is_valid(text), pc.invert(pc.is_in(text, pa.array(good, pa.string()))))
    return trimmed, Check("ip", pc.fill_null(bad, False), text, lambda i: "an IPv4 or IPv6 address")


def fallback(ctx: ReadContext, arr: pa.Array, name: str) -> tuple[pa.Array, Check]:
    """A boolean column: cast vectorized, else parse each value (yes/no/t/f/...)."""
    try:
        return arr.cast(pa.bool_()), Check(name, None, arr, str)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return per_row(arr, name, lambda v: parse_bool(v, name), pa.bool_())


def per_row(
    arr: pa.Array, name: str, parse: Callable[[Any], Any], typ: pa.DataType
) -> tuple[pa.Array, Check]:
    out: list[Any] = []
    bad: list[bool] = []
    expected: dict[int, str] = {}
    for i, value in enumerate(arr.to_pylist()):
        try:
            out.append(parse(value))
            bad.append(False)
        except FieldError as exc:
            out.append(None)
            bad.append(True)
            expected[i] = exc.expected
        except (ValueError, OverflowError, RecursionError) as exc:  # Python refused it first
            out.append(None)
            bad.append(True)
            expected[i] = f"a value that can be read ({type(exc).__name__})"
    return pa.array(out, typ), Check(name, pa.array(bad, pa.bool_()), arr, expected.__getitem__)


def string_column(ctx: ReadContext, arr: pa.Array, name: str) -> pa.Array:
    if pa.types.is_string(arr.type):
        return arr
    try:
        return arr.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InputError(
            str(ctx.path), f"column '{name}' has type {arr.type}, expected text"
        ) from None
