"""The event contract: one table, ``events``, that every reader writes and every detector reads.

See docs/ARCHITECTURE.md ("The contracts"). Columns not known for a source are null. This module owns:

* ``EVENT_SCHEMA`` / ``CLIENT_TYPE`` — the Arrow schema (the single source of truth for names and types);
* ``LABEL_SCHEMA`` — what the pipeline writes;
* ``RowConverter`` — turns one loosely-typed record (a dict from CSV/NDJSON/log parsing) into a
  contract row, or raises :class:`~qinglang.errors.FieldError` naming the field and what was expected;
* ``EventBatcher`` — accumulates converted rows into Arrow record batches.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pyarrow as pa

from qinglang.collect.contract import CONTRACT  # the tracker's beacon, for both collectors
from qinglang.errors import FieldError

# What a tracker's beacon may be (the collector accepts these).
BEACON_KINDS = tuple(CONTRACT["event_kinds"])
# `request`: a server-log line that is not a paid page view (a static asset, a HEAD, a POST, an
# error or a redirect). It feeds the behaviour features and is never counted in PV or UV.
EVENT_KINDS = (*BEACON_KINDS, "request")
TOKEN_VERDICTS = ("valid", "missing", "invalid", "replayed", "expired")

# The longest text a field keeps, in characters: the collector's own limits (it refuses a beacon
# with a longer value); the readers keep the first this many characters of a longer value and
# count it per field ("truncated"), so one hostile row has a bounded cost everywhere downstream.
MAX_URL = CONTRACT["limits"]["max_url"]  # url, referrer
MAX_UA = CONTRACT["limits"]["max_ua"]  # user_agent
MAX_TEXT = CONTRACT["limits"]["max_text"]  # every other text field, and each item of a list
MAX_LIST = CONTRACT["limits"]["max_list"]  # items of a list field (client.tells, ...)
TEXT_LIMITS = {"url": MAX_URL, "referrer": MAX_URL, "user_agent": MAX_UA}
# client sizes and times are counts of pixels or milliseconds: never negative
CLIENT_NONNEGATIVE = frozenset(
    ("frame_w", "frame_h", "viewport_w", "viewport_h", "screen_w", "screen_h", "visible_ms",
     "dwell_ms", "interactions", "first_interaction_ms")
)  # fmt: skip


# Keys of the `client` struct (all optional): the beacon contract's client fields
# (collect/contract.json; add keys there, never rename them). Integers that fit 32 bits are
# int32, larger ones (milliseconds) int64.
def _client_type(f: dict[str, Any]) -> pa.DataType:
    if f["type"] == "int":
        return pa.int32() if f["max"] < 2**31 else pa.int64()
    return {"bool": pa.bool_(), "str": pa.string(), "list": pa.list_(pa.string())}[f["type"]]


CLIENT_FIELDS: tuple[tuple[str, pa.DataType], ...] = tuple(
    (f["name"], _client_type(f)) for f in CONTRACT["client"]
)
CLIENT_TYPE = pa.struct([pa.field(n, t) for n, t in CLIENT_FIELDS])
CLIENT_KEYS = tuple(n for n, _ in CLIENT_FIELDS)

TS_TYPE = pa.timestamp("ms", tz="UTC")

EVENT_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("event_id", pa.string()),
    ("ts", TS_TYPE),
    ("site", pa.string()),
    ("event", pa.string()),
    ("visitor_id", pa.string()),
    ("account_id", pa.string()),
    ("device_id", pa.string()),
    ("ip", pa.string()),
    ("user_agent", pa.string()),
    ("url", pa.string()),
    ("referrer", pa.string()),
    ("source", pa.string()),
    ("target", pa.string()),
    ("action", pa.string()),
    ("client", CLIENT_TYPE),
    ("token", pa.string()),
    ("signature_ok", pa.bool_()),
    ("truth", pa.string()),
    # server logs (optional): the HTTP method, status and response size, and whether the request
    # was for a static asset (css, js, images, fonts: kept for behaviour, never a page view)
    ("method", pa.string()),
    ("status", pa.int32()),
    ("bytes", pa.int64()),
    ("asset", pa.bool_()),
)
EVENT_SCHEMA = pa.schema([pa.field(n, t) for n, t in EVENT_FIELDS])
EVENT_COLUMNS = tuple(n for n, _ in EVENT_FIELDS)
# What the detectors ask to be present before a check runs: every column but the ground truth,
# and each key of the tracker's client signals (detect.pipeline.present_columns)
PRESENCE_NAMES = tuple(n for n in EVENT_COLUMNS if n != "truth") + tuple(
    f"client.{k}" for k in CLIENT_KEYS
)
REQUIRED_COLUMNS = ("event_id", "ts")

LABEL_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string()),
        pa.field("verdict", pa.string()),
        pa.field("category", pa.string()),
        pa.field("reasons", pa.list_(pa.string())),
        pa.field("score", pa.float64()),
    ]
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Times outside this window are not traffic anyone settles: a row there is rejected (its line and
# value named), so one 9999-12-31 or 1970 row can neither crash day arithmetic nor stretch the
# campaign period.
TS_MIN = datetime(2000, 1, 1, tzinfo=UTC)
TS_MAX = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
TS_WINDOW = "a time from 2000-01-01 to 2099-12-31 (UTC)"
_TRUE = {"1", "true", "t", "yes", "y"}
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,19}")
_FALSE = {"0", "false", "f", "no", "n", ""}


# ---------------------------------------------------------------- value parsers (one per type)
def parse_ts(value: Any, field: str = "ts") -> datetime:
    """Accept ISO-8601 (naive = UTC), epoch seconds or epoch milliseconds, or a datetime, within
    the plausible window (TS_MIN to TS_MAX)."""
    ts = _parse_ts_any(value, field)
    if not TS_MIN <= ts < TS_MAX:
        raise FieldError(field, value, TS_WINDOW)
    return ts


def _parse_ts_any(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise FieldError(field, value, "a timestamp (ISO-8601 or epoch seconds/milliseconds)")
    if isinstance(value, int | float):
        try:
            return _from_epoch(float(value), field, value)
        except OverflowError:  # an int past the largest float
            raise FieldError(field, value, TS_WINDOW) from None
    text = str(value).strip()
    if not text or len(text) > 64:  # no timestamp is longer: bounded cost for any input
        raise FieldError(field, value, "a timestamp (ISO-8601 or epoch seconds/milliseconds)")
    try:
        return _from_epoch(float(text), field, value)
    except ValueError:
        pass
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FieldError(
            field, value, "a timestamp (ISO-8601 or epoch seconds/milliseconds)"
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _from_epoch(x: float, field: str, raw: Any) -> datetime:
    if not math.isfinite(x) or x < 0:
        raise FieldError(field, raw, "a timestamp (ISO-8601 or epoch seconds/milliseconds)")
    millis = x > 1e11  # > year 5138 in seconds means it was milliseconds
    try:
        if isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit()):
            # integers: exact arithmetic, no float rounding of the last millisecond
            return _EPOCH + timedelta(milliseconds=int(x) if millis else int(x) * 1000)
        return datetime.fromtimestamp(x / 1000.0 if millis else x, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise FieldError(field, raw, "a timestamp within the years 1970-9999") from None


def parse_bool(value: Any, field: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return None if text == "" else False
    raise FieldError(field, value, "a boolean (true/false/1/0)")


def parse_int(value: Any, field: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise FieldError(field, value, "an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        number = int(value.strip())  # exact: not through a float, which rounds past 2**53
        if abs(number) > 2**62:
            raise FieldError(field, value, "an integer")
        return number
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise FieldError(field, value, "an integer") from None
    if not math.isfinite(f) or f != int(f) or abs(f) > 2**62:
        raise FieldError(field, value, "an integer")
    return int(f)


def parse_str(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise FieldError(field, value, "a string")
    text = str(value)
    return text if text != "" else None


def parse_str_list(value: Any, field: str) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = [v for v in value.replace(";", ",").split(",") if v.strip()]
    if not isinstance(value, list):
        raise FieldError(field, value, "a list of strings")
    return [str(v).strip() for v in value]


def parse_client(
    value: Any, field: str = "client", cut: Counter[str] | None = None
) -> dict[str, Any] | None:
    """`client` arrives as a dict (NDJSON) or a JSON object text (CSV). Text is cut at MAX_TEXT
    and lists at MAX_LIST items; with `cut`, each cut is counted under ``client.<key>`` as the
    columnar reader counts it (a long item each, and a list with too many items once)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise FieldError(field, value, f"a JSON object ({exc.msg})") from None
        except (ValueError, RecursionError):  # digits past Python's limit, nesting past the stack's
            raise FieldError(field, value, "a JSON object of plain values") from None
    if not isinstance(value, Mapping):
        raise FieldError(field, value, "a JSON object")
    out: dict[str, Any] = {}
    for name, typ in CLIENT_FIELDS:
        raw = value.get(name)
        key = f"{field}.{name}"
        if pa.types.is_boolean(typ):
            out[name] = parse_bool(raw, key)
        elif pa.types.is_integer(typ):
            number = parse_int(raw, key)
            if number is not None and name in CLIENT_NONNEGATIVE and number < 0:
                raise FieldError(key, raw, "0 or more (a size or time cannot be negative)")
            bits = typ.bit_width - 1
            if number is not None and not -(2**bits) <= number < 2**bits:
                raise FieldError(key, raw, f"an integer below 2^{bits}")
            out[name] = number
        elif pa.types.is_list(typ):
            items = parse_str_list(raw, key)
            if items is not None and cut is not None:
                cut[key] += sum(len(i) > MAX_TEXT for i in items) + (len(items) > MAX_LIST)
            out[name] = None if items is None else [i[:MAX_TEXT] for i in items[:MAX_LIST]]
        else:
            text = parse_str(raw, key)
            if text is not None and cut is not None and len(text) > MAX_TEXT:
                cut[key] += 1
            out[name] = None if text is None else text[:MAX_TEXT]
    return out


def _parse_enum(value: Any, field: str, allowed: tuple[str, ...]) -> str | None:
    text = parse_str(value, field)
    if text is None:
        return None
    text = text.strip().lower()
    if text not in allowed:
        raise FieldError(field, value, "one of " + ", ".join(allowed))
    return text


_INT_LIMITS = {"status": (100, 999), "bytes": (0, 2**62)}
_METHOD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_")


def parse_ip(value: Any, field: str = "ip") -> str | None:
    """An IPv4 or IPv6 address (or an anonymised address id: digits alone), kept as written
    after trimming; anything else is refused, so `999.1.1.1` or `not-an-ip` can never count as
    a paid visitor's address."""
    text = parse_str(value, field)
    if text is None:
        return None
    text = text.strip()
    if not is_ip(text):
        raise FieldError(field, value, "an IPv4 or IPv6 address (or digits: an anonymised id)")
    return text


def is_ip(text: str) -> bool:
    """IPv4 or IPv6 text, or an anonymised address id of digits alone (datasets such as
    TalkingData's replace each address by a number)."""
    if len(text) > 64:  # the longest IPv6 text with a zone is well under this
        return False
    if text.isascii() and text.isdigit():
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _parse_bounded_int(value: Any, field: str, limits: tuple[int, int]) -> int | None:
    number = parse_int(value, field)
    lo, hi = limits
    if number is not None and not lo <= number <= hi:
        raise FieldError(field, value, f"an integer from {lo} to {hi}")
    return number


def _parse_method(value: Any) -> str | None:
    """An HTTP method token, upper-cased (at most 16 letters)."""
    text = parse_str(value, "method")
    if text is None:
        return None
    text = text.strip().upper()
    if not 0 < len(text) <= 16 or not set(text) <= _METHOD_CHARS:
        raise FieldError("method", value, "an HTTP method such as GET, POST or HEAD")
    return text


class RowConverter:
    """Convert a loose record into a contract row (a dict with every EVENT_COLUMNS key).

    Unknown keys are ignored (readers report them once). Raises FieldError on the first bad field.
    Text longer than its limit (:data:`TEXT_LIMITS`, else :data:`MAX_TEXT`) is cut there and
    counted in ``truncated`` (per field). A timestamp without a zone is read in ``naive_tz``
    (UTC unless the user names the zone of the export) and counted in ``naive``.
    """

    def __init__(self, naive_tz: tzinfo = UTC) -> None:
        self.naive_tz = naive_tz
        self.truncated: Counter[str] = Counter()
        self.naive = 0

    def convert(self, record: Mapping[str, Any], default_id: str) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for name in EVENT_COLUMNS:
            raw = record.get(name)
            if name == "ts":
                if raw is None or raw == "":
                    raise FieldError("ts", raw, "a timestamp (required)")
                row[name] = self._ts(raw)
            elif name == "client":
                row[name] = parse_client(raw, cut=self.truncated)
            elif name in ("signature_ok", "asset"):
                row[name] = parse_bool(raw, name)
            elif name in ("status", "bytes"):
                row[name] = _parse_bounded_int(raw, name, _INT_LIMITS[name])
            elif name == "method":
                row[name] = _parse_method(raw)
            elif name == "ip":
                row[name] = parse_ip(raw)
            elif name == "event":
                row[name] = _parse_enum(raw, name, EVENT_KINDS) or "pageview"
            elif name == "token":
                row[name] = _parse_enum(raw, name, TOKEN_VERDICTS)
            else:
                row[name] = parse_str(raw, name)
            value = row[name]
            if isinstance(value, str) and len(value) > TEXT_LIMITS.get(name, MAX_TEXT):
                row[name] = value[: TEXT_LIMITS.get(name, MAX_TEXT)]
                self.truncated[name] += 1
        if row["event_id"] is None:
            row["event_id"] = default_id
        return row

    def _ts(self, raw: Any) -> datetime:
        ts, naive = parse_ts_in(raw, self.naive_tz)
        self.naive += naive
        return ts


def parse_ts_in(raw: Any, naive_tz: tzinfo) -> tuple[datetime, bool]:
    """parse_ts, with a time that names no zone read in ``naive_tz``; and whether it named none."""
    if isinstance(raw, datetime | str):
        naive = _naive(raw)
        if naive is not None:
            try:
                ts = naive.replace(tzinfo=naive_tz).astimezone(UTC)
            except (OverflowError, ValueError):  # year 1 or 9999 moved past datetime's range
                raise FieldError("ts", raw, TS_WINDOW) from None
            if not TS_MIN <= ts < TS_MAX:
                raise FieldError("ts", raw, TS_WINDOW)
            return ts, True
    return parse_ts(raw), False


def cap_text(table: pa.Table) -> tuple[pa.Table, Counter[str]]:
    """The contract's text columns cut at their limits (TEXT_LIMITS, else MAX_TEXT), and how
    many values were cut, per column: the columnar twin of RowConverter's cut."""
    import pyarrow.compute as pc

    cut: Counter[str] = Counter()
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_struct(col.type):
            table = table.set_column(
                table.column_names.index(name), name, _cap_struct(col.combine_chunks(), name, cut)
            )
            continue
        if not pa.types.is_string(col.type):
            continue
        limit = TEXT_LIMITS.get(name, MAX_TEXT)
        over = pc.sum(pc.greater(pc.utf8_length(col), limit)).as_py() or 0
        if over:
            cut[name] += over
            table = table.set_column(
                table.column_names.index(name), name, pc.utf8_slice_codeunits(col, 0, limit)
            )
    return table, cut


def _cap_struct(arr: pa.StructArray, name: str, cut: Counter[str]) -> pa.StructArray:
    """A struct's text children cut at MAX_TEXT, its lists at MAX_LIST items of MAX_TEXT."""
    import pyarrow.compute as pc

    children, fields = [], []
    for i in range(arr.type.num_fields):
        field, child = arr.type.field(i), arr.field(i)
        key = f"{name}.{field.name}"
        if pa.types.is_string(child.type):
            over = pc.sum(pc.greater(pc.utf8_length(child), MAX_TEXT)).as_py() or 0
            if over:
                cut[key] += over
                child = pc.utf8_slice_codeunits(child, 0, MAX_TEXT)
        elif pa.types.is_list(child.type) and pa.types.is_string(child.type.value_type):
            sizes = pc.list_value_length(child)
            items = pc.list_flatten(child)
            long_items = pc.sum(pc.greater(pc.utf8_length(items), MAX_TEXT)).as_py() or 0
            many = pc.sum(pc.greater(sizes, MAX_LIST)).as_py() or 0
            if long_items or many:
                cut[key] += long_items + many
                child = pc.list_slice(child, 0, MAX_LIST)
                offsets = child.offsets
                values = pc.utf8_slice_codeunits(child.values, 0, MAX_TEXT)
                child = pa.ListArray.from_arrays(offsets, values, mask=child.is_null())
        children.append(child)
        fields.append(field)
    return pa.StructArray.from_arrays(children, fields=fields, mask=arr.is_null())


def _naive(raw: datetime | str) -> datetime | None:
    """The wall-clock time of an ISO-8601 text or datetime that names no zone, else None."""
    if isinstance(raw, datetime):
        return raw if raw.tzinfo is None else None
    text = raw.strip()
    if not text or text[-1] in "Zz" or not any(c in text for c in "-:"):
        return None  # UTC, or epoch digits
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None  # parse_ts names the problem
    return ts if ts.tzinfo is None else None


class EventBatcher:
    """Collect contract rows; hand out Arrow record batches of EVENT_SCHEMA."""

    def __init__(self, batch_size: int = 65_536) -> None:
        self.batch_size = batch_size
        self._rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> pa.RecordBatch | None:
        self._rows.append(row)
        if len(self._rows) >= self.batch_size:
            return self.flush()
        return None

    def flush(self) -> pa.RecordBatch | None:
        if not self._rows:
            return None
        batch = pa.RecordBatch.from_pylist(self._rows, schema=EVENT_SCHEMA)
        self._rows = []
        return batch


def empty_events() -> pa.Table:
    return EVENT_SCHEMA.empty_table()


def conform(table: pa.Table) -> pa.Table:
    """Add missing contract columns as nulls and order/cast columns to EVENT_SCHEMA.

    Raises FieldError if a present column cannot be cast to the contract's type.
    """
    cols = []
    for field in EVENT_SCHEMA:
        if field.name in table.column_names:
            col = table.column(field.name)
            if not col.type.equals(field.type):
                try:
                    col = _cast_column(col, field)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
                    raise FieldError(field.name, str(col.type), f"type {field.type} ({e})") from e
            cols.append(col)
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(cols, schema=EVENT_SCHEMA)


def _cast_column(col: pa.ChunkedArray, field: pa.Field) -> pa.ChunkedArray:
    if (
        pa.types.is_timestamp(field.type)
        and pa.types.is_timestamp(col.type)
        and col.type.tz is None
    ):
        col = col.cast(pa.timestamp(col.type.unit))  # naive timestamps are taken as UTC
        return pa.compute.assume_timezone(col, "UTC").cast(field.type)
    if pa.types.is_struct(field.type) and pa.types.is_struct(col.type):
        return pa.chunked_array([_conform_struct(c, field.type) for c in col.chunks], field.type)
    return col.cast(field.type)


def _conform_struct(arr: pa.StructArray, typ: pa.StructType) -> pa.StructArray:
    present = {arr.type.field(i).name: i for i in range(arr.type.num_fields)}
    children = []
    for f in typ:
        if f.name in present:
            children.append(arr.field(present[f.name]).cast(f.type))
        else:
            children.append(pa.nulls(len(arr), f.type))
    return pa.StructArray.from_arrays(children, fields=list(typ), mask=arr.is_null())


def rows_to_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=EVENT_SCHEMA)


def visitor_id_sql(alias: str = "e", link: str | None = None) -> str:
    """A request's visitor id (SQL). With `link`, the alias of ``visitor_links`` joined on the
    row id: a landing request sent before its cookie was set has that cookie's
    (features/visitors.py). NULL for neither."""
    return f"coalesce({alias}.visitor_id, {link}.visitor_id)" if link else f"{alias}.visitor_id"


def visitor_key_sql(alias: str = "e", link: str | None = None) -> str:
    """The UV key (SQL): the visitor id (:func:`visitor_id_sql`), else IP + user agent
    (cookieless hits, server logs)."""
    return (
        f"coalesce({visitor_id_sql(alias, link)}, "
        f"{alias}.ip || ' ' || coalesce({alias}.user_agent, ''))"
    )
