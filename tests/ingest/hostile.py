"""Hostile inputs for the fuzz tests (tests/ingest/test_fuzz_readers.py, tests/audit/test_fuzz_audit.py).

A :class:`Case` is one input file: known-good rows (whose ids and values the test checks) mixed
with hostile rows (long strings, raw bytes, control characters, lone surrogates, NUL, extreme
numbers and dates, quotes and newlines inside fields, deep nesting), and how many rows it holds.

Text is built as ``str`` and written with :func:`enc`: a lone surrogate U+DC80..U+DCFF becomes
that raw byte (0x80..0xFF, as ``surrogateescape``), any other lone surrogate its CESU bytes
(``ED xx xx``); both are invalid UTF-8, which is the point.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

from qinglang.errors import FieldError
from qinglang.events import EVENT_KINDS, TOKEN_VERDICTS, TS_MAX, TS_MIN, RowConverter, is_ip


def _raw_bytes(exc: UnicodeError) -> tuple[bytes, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = bytearray()
    for ch in exc.object[exc.start : exc.end]:
        cp = ord(ch)
        if 0xDC80 <= cp <= 0xDCFF:
            out.append(cp - 0xDC00)
        else:
            out += ch.encode("utf-8", "surrogatepass")
    return bytes(out), exc.end


codecs.register_error("qinglang-hostile", _raw_bytes)


def enc(text: str) -> bytes:
    return text.encode("utf-8", "qinglang-hostile")


def clean(text: str) -> str:
    """The text Arrow can hold (Parquet strings are valid UTF-8): surrogates become '?'."""
    return text.encode("utf-8", "replace").decode("utf-8")


T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"

# ------------------------------------------------------------------------------- hostile values
NASTY = [
    "", " ", "-", '"', '""', "'", "\\", '\\"', "\\x22", "\\x", "\\xZZ", "\\u0000", "\n", "\r",
    "\r\n", "\t", "\x00", "\x00\x00\x00", "\x01\x02\x7f", "\x1b[31mred\x1b[0m", "\x1c\x1d\x1e",
    "\u0085", "\u2028\u2029", "\ufeff", "\ufffe", "\uffff", "\ud800", "\udfff", "\ud83d", "\udcff",
    "\udc80\udcc3", "é", "中文", "😀", "\u202e\u0644", "a\u0301", "null", "None", "true", "NaN",
    "nan", "inf", "-inf", "Infinity", "-Infinity", "1e308", "-1e308", "1e309", "2e-324", "-0",
    "-0.0", "0", "0x10", "1_000", "٣٢", "１２３", "9" * 30, "-" + "9" * 30, str(2**31), str(2**63),
    str(2**64), str(-(2**63) - 1), "1" * 400, "9" * 5000,
    # dates: plausible, extreme, malformed
    "0000-01-01", "0001-01-01T00:00:00", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
    "1999-12-31T23:59:59.999+00:00", "2000-01-01T00:00:00Z", "2024-03-01T08:00:00",
    "2024-03-01T08:00:00+08:00", "2024-03-01T08:00:00-23:59", "2024-03-01T08:00:00+24:00",
    "2024-03-01 08:00:00", "2024-03-01", "2024-02-30T00:00:00Z", "2024-13-01T00:00:00Z",
    "2024-03-01T25:00:00Z", "2024-03-01T08:00:00.123456789Z", "2024-W09-5", "20240301T080000Z",
    "2099-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "9999-12-31T23:59:59.999999+14:00",
    "10000-01-01T00:00:00", "10/Oct/2023:13:55:36 -0700", "31/Feb/2024:00:00:00 +0000",
    "00/Jan/0000:00:00:00 +9999", "01/Jan/2024:00:00:00 +2400", "01/Xyz/2024:00:00:00 +0000",
    "946684800", "946684799", "4102444800", "1709280000000", "1709280000.5", "-1709280000",
    "100000000000", "253402300800000",
    # injection-looking text (must stay inert text)
    "<script>alert(1)</script>", "=cmd|' /C calc'!A0", "+1+1", "@SUM(A1)", "' OR 1=1 --",
    "${jndi:ldap://x/a}", "%s%n%x", "../../../etc/passwd", "{}", "[]", '{"a":', "[[[[",
    "1.2.3.4", "::1", "999.1.1.1", "1.2.3.4, 5.6.7.8", "fe80::1%eth0", "unknown",
]  # fmt: skip
LONG_UNITS = [
    "A", "é", "中", "😀", '\\"', '"', '""', "\\x", "\\x41", "%", " ", "[", "{", "\x00", "\udcff",
    "\t", ",", "-", "9", "\\", "\r", "a=b;", "/..", "<a>",
]  # fmt: skip
LONG_SIZES = [2_000, 9_000, 70_000, 140_000]

CHAR = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates: invalid UTF-8 once written
    st.characters(max_codepoint=0x20),  # control characters, NUL
    st.sampled_from('"\\,;\t\n\r[]{}:'),
)
SMALL_TEXT = st.text(CHAR, max_size=30)
RAW = st.binary(max_size=30).map(lambda b: b.decode("utf-8", "surrogateescape"))
LONG_TEXT = st.builds(
    lambda unit, n: unit * max(1, n // len(unit)),
    st.sampled_from(LONG_UNITS),
    st.sampled_from(LONG_SIZES),
)
ATOM = st.one_of(st.sampled_from(NASTY), SMALL_TEXT, RAW)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _iso(dt: datetime, sep: str) -> str:
    return dt.isoformat(sep=sep)


DATES = st.one_of(
    st.builds(
        _iso,
        st.datetimes(
            min_value=datetime(1, 1, 1),
            max_value=datetime(9999, 12, 31),
            timezones=st.one_of(
                st.none(),
                st.just(UTC),
                st.builds(
                    timezone,
                    st.timedeltas(
                        min_value=timedelta(hours=-23, minutes=-59),
                        max_value=timedelta(hours=23, minutes=59),
                    ).map(lambda d: timedelta(minutes=d // timedelta(minutes=1))),
                ),
            ),
        ),
        st.sampled_from(["T", " "]),
    ),
    st.integers(min_value=-(2**64), max_value=2**64).map(str),
    st.floats().map(repr),
)
NUMBERS = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.floats().map(repr),
    st.sampled_from(["1e308", "-0", "NaN", "inf", "2147483648", "9223372036854775808"]),
)
HOSTILE_TEXT = st.one_of(
    ATOM,
    DATES,
    NUMBERS,
    LONG_TEXT,
    st.lists(st.one_of(ATOM, LONG_TEXT), min_size=2, max_size=4).map("".join),
)


def no_newline(text: str) -> str:
    return text.replace("\n", "")


def _client_ints_bounded() -> bool:
    """Whether the contract refuses a client integer past its Arrow type (events.parse_client).
    Until it does, such a value fails a whole Arrow batch (tracked by the strict xfail
    test_client_integers_past_their_arrow_type_are_bad_rows) and the fuzz keeps client integers
    within int32; once it does, they come back here by themselves."""
    record = {"ts": "2024-03-01T08:00:00Z", "client": {"frame_w": 2**31}}
    try:
        RowConverter().convert(record, "probe")
    except FieldError:
        return True
    return False


CLIENT_INTS_BOUNDED = _client_ints_bounded()


def _client_value(value: Any) -> Any:
    if CLIENT_INTS_BOUNDED or isinstance(value, bool) or not isinstance(value, int):
        return value
    return value % 2**31


# ------------------------------------------------------------------------------------- cases
@dataclass
class Case:
    fmt: str
    name: str
    content: bytes = b""
    table: pa.Table | None = None  # Parquet
    rows: int = 0  # rows the reader must account for: rows_ok + rows_bad + rows_skipped
    good: dict[str, dict[str, Any]] = field(default_factory=dict)  # event_id -> expected values
    # a text file whose first non-blank line is binary (NUL) or not UTF-8 is refused as a whole
    binary_start: bool = False

    def __repr__(self) -> str:
        data = repr(self.table.to_pylist())[:3000] if self.table is not None else self.content
        shown = repr(data[:1500]) + (f"...({len(data)} in all)" if len(data) > 1500 else "")
        return f"Case({self.fmt}, rows={self.rows}, good={list(self.good)}, {shown})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def write(self, directory: Any) -> Any:
        path = directory / self.name
        if self.table is not None:
            pq.write_table(self.table, path)
        else:
            path.write_bytes(self.content)
        return path


def good_values(i: int) -> dict[str, Any]:
    return {
        "ts": T0 + timedelta(minutes=i),
        "ip": f"10.0.{i // 250}.{i % 250 + 1}",
        "url": f"https://site.example/p{i}?q={i}",
        "user_agent": UA,
    }


def _starts_binary(content: bytes, head: int = 65_536) -> bool:
    """Whether the first line with text, as far as the first 64 KiB of text hold it, has a NUL
    or is not UTF-8 (what makes a text reader refuse the whole file)."""
    start = len(content) - len(content.lstrip())
    start -= start % head  # the readers skip whole blocks of whitespace
    block = content[start : start + head]
    lines = block.split(b"\n")
    for i, line in enumerate(lines):
        if line.strip():
            if b"\x00" in line:
                return True
            cut = i == len(lines) - 1 and len(block) >= head  # may end inside a character
            try:
                codecs.getincrementaldecoder("utf-8")().decode(line, final=not cut)
            except UnicodeDecodeError:
                return True
            return False
    return False


def _blank(line: bytes, first: bool) -> bool:
    """What the line readers skip: a line that is whitespace once decoded (the first line's
    byte-order mark aside)."""
    text = line.decode("utf-8", "replace")
    return not (text.removeprefix("\ufeff") if first else text).strip()


def _hostile_id(draw: Any, k: int) -> str:
    value = draw(st.one_of(st.just(f"bad-{k}"), HOSTILE_TEXT))
    return f"bad-{k}" if value.lstrip().startswith("good-") else value


def _order(draw: Any, n_good: int, n_bad: int, good_first: bool = False) -> list[int | None]:
    """Where the good rows (their index) and the hostile rows (None) go; with good_first, a good
    row comes first (what --format auto reads to guess)."""
    slots: list[int | None] = draw(st.permutations([*range(n_good), *([None] * n_bad)]))
    if good_first and n_good:
        slots.remove(0)
        slots.insert(0, 0)
    return slots


# ---- CSV family ---------------------------------------------------------------------------
CSV_COLUMNS = ["event_id", "ts", "ip", "user_agent", "url", "referrer", "status", "event", "client"]


def _csv_text(rows: list[list[str]], style: str) -> str:
    buf = io.StringIO()
    if style == "all":
        writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    else:  # minimal quoting, CRLF: a field with a CR or LF is quoted
        writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerows(rows)
    return buf.getvalue()


RAW_CSV_LINE = st.one_of(ATOM, LONG_TEXT, RAW).map(
    lambda s: s.replace('"', "").replace("\n", "").replace("\r", "")
)


@st.composite
def csv_case(
    draw: Any, n_good: int = 8, n_bad: int = 8, fmt: str = "csv", good_first: bool = False
) -> Case:
    """A CSV (csv, talkingdata or engagement columns) written by csv.writer, so a hostile value
    may hold quotes, commas and newlines and still be one record; plus raw lines (no quote)."""
    if fmt == "talkingdata":
        columns = [
            "click_id",
            "ip",
            "app",
            "device",
            "os",
            "channel",
            "click_time",
            "is_attributed",
        ]
    elif fmt == "engagement":
        columns = ["event_id", "ts", "account_id", "action", "target", "ip", "device_id"]
        columns += ["user_agent", "signature_ok"]
    else:
        columns = list(CSV_COLUMNS)
    style = draw(st.sampled_from(["all", "minimal"]))
    records: list[list[str] | str] = []
    good: dict[str, dict[str, Any]] = {}
    for k, slot in enumerate(_order(draw, n_good, n_bad, good_first)):
        if slot is not None:
            values = good_values(slot)
            eid = f"good-{slot}"
            base = _good_csv_row(fmt, slot, eid, values)
            records.append([base[c] for c in columns])
            good[eid] = {"ts": values["ts"], "ip": values["ip"]}
            if fmt == "csv":
                good[eid].update(url=values["url"], user_agent=values["user_agent"])
            continue
        if draw(st.integers(0, 4)) == 0:  # a raw line: any bytes but no quote and no newline
            line = draw(RAW_CSV_LINE)
            records.append(line if line.strip("\r") else "x")
            continue
        base = _good_csv_row(fmt, 10_000 + k, f"bad-{k}", good_values(10_000 + k))
        bad_cols = draw(st.lists(st.sampled_from(columns), min_size=1, max_size=4, unique=True))
        for c in bad_cols:
            base[c] = _hostile_id(draw, k) if c in ("event_id", "click_id") else draw(HOSTILE_TEXT)
        records.append([base[c] for c in columns])
    text = _csv_text([columns], style)
    for rec in records:
        text += rec + "\n" if isinstance(rec, str) else _csv_text([rec], style)
    return Case(
        fmt, f"hostile.{'csv' if fmt != 'tsv' else 'tsv'}", enc(text), rows=len(records), good=good
    )


def _good_csv_row(fmt: str, i: int, eid: str, v: dict[str, Any]) -> dict[str, str]:
    ts = v["ts"].isoformat().replace("+00:00", "Z")
    if fmt == "talkingdata":
        return {"click_id": eid, "ip": v["ip"], "app": "3", "device": "1", "os": "13",
                "channel": "379", "click_time": ts, "is_attributed": "0"}  # fmt: skip
    if fmt == "engagement":
        return {"event_id": eid, "ts": ts, "account_id": f"acct{i}", "action": "like",
                "target": "post9", "ip": v["ip"], "device_id": f"dev{i}",
                "user_agent": v["user_agent"], "signature_ok": "true"}  # fmt: skip
    client = json.dumps({"framed": False, "frame_w": 0, "tells": ["x"]})
    return {"event_id": eid, "ts": ts, "ip": v["ip"], "user_agent": v["user_agent"],
            "url": v["url"], "referrer": "https://ref.example/", "status": "200",
            "event": "pageview", "client": client}  # fmt: skip


# ---- NDJSON -------------------------------------------------------------------------------
def _deep(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)


JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**1000), max_value=10**1000),
    st.floats(),
    HOSTILE_TEXT,
)
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(SMALL_TEXT, c, max_size=3),
    max_leaves=6,
)
NDJSON_KEYS = [
    "event_id", "ts", "ip", "user_agent", "url", "event", "token", "client", "status", "bytes",
    "method", "signature_ok", "asset", "site",
]  # fmt: skip
CLIENT_KEYS = ["framed", "frame_w", "visible_ms", "tells", "tz", "webdriver", "pv_id"]
RAW_JSON_LINES = [
    '{"ts": ' + "9" * 5000 + "}",  # more digits than Python converts to int by default
    '{"ts": ' + "9" * 400 + "}",  # an int no float can hold
    '{"ts": -' + "9" * 400 + "}",
    '{"ts": 1e400}',
    '{"ts": "2024-03-01T08:00:00Z", "url": "\\ud800"}',  # an escaped lone surrogate
    '{"ts": "2024-03-01T08:00:00Z", "\\udfff": 1}',
    '{"ts": "2024-03-01T08:00:00Z", "user_agent": "a\\u0000b"}',
    '{"ts": "2024-03-01T08:00:00Z", "client": {"frame_w": 2147483648}}',
    '{"ts": "2024-03-01T08:00:00Z", "client": {"visible_ms": 9223372036854775808}}',
    '{"ts": "2024-03-01T08:00:00Z", "status": 1e400}',
    '{"ts": NaN}', '{"ts": Infinity}', '{"ts": -0.0}', "[]", "null", '"x"', "1", "{", "}",
    '{"ts": "2024-03-01T08:00:00Z"', '{"ts": "2024-03-01T08:00:00Z"}}', "\ufeff{}",
    '{"ts": "2024-03-01T08:00:00Z", "ts": "1970-01-01"}',
    '{"ts": "2024-03-01T08:00:00Z", "client": "{\\"frame_w\\": -1}"}',
]  # fmt: skip


@st.composite
def ndjson_line(draw: Any, k: int) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        line = draw(st.sampled_from(RAW_JSON_LINES))
        return line if CLIENT_INTS_BOUNDED or "_w" not in line and "_ms" not in line else "{}"
    if kind == 1:
        return draw(st.one_of(ATOM, LONG_TEXT, RAW).map(no_newline))
    if kind == 2:
        depth = draw(st.sampled_from([50, 500, 900, 960, 980, 985, 990, 995, 1000, 3000, 100_000]))
        key = draw(st.sampled_from(["ts", "url", "client", "event_id", "zzz"]))
        inner = _deep(depth, draw(st.sampled_from(["list", "dict"])))
        return f'{{"ts": "2024-03-01T08:00:00Z", "{key}": {inner}}}'
    obj: dict[str, Any] = {"event_id": f"bad-{k}", "ts": "2024-03-01T08:00:00Z", "ip": "10.9.9.9"}
    for key in draw(st.lists(st.sampled_from(NDJSON_KEYS), min_size=1, max_size=4, unique=True)):
        obj[key] = draw(JSON_VALUE)
        if (
            key == "event_id"
            and isinstance(obj[key], str)
            and obj[key].lstrip().startswith("good-")
        ):
            obj[key] = f"bad-{k}"
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(CLIENT_KEYS), max_size=3))
        obj["client"] = {c: _client_value(draw(JSON_VALUE)) for c in keys}
    try:
        return json.dumps(obj, ensure_ascii=draw(st.booleans()))
    except ValueError:  # an int past Python's str conversion limit
        big = "9" * 5000
        return f'{{"ts": "2024-03-01T08:00:00Z", "event_id": "bad-{k}", "status": {big}}}'


@st.composite
def ndjson_case(draw: Any, n_good: int = 8, n_bad: int = 8, good_first: bool = False) -> Case:
    lines: list[str] = []
    good: dict[str, dict[str, Any]] = {}
    for k, slot in enumerate(_order(draw, n_good, n_bad, good_first)):
        if slot is None:
            lines.append(draw(ndjson_line(k)))
            continue
        v = good_values(slot)
        eid = f"good-{slot}"
        lines.append(json.dumps({"event_id": eid, "ts": v["ts"].isoformat(), "ip": v["ip"],
                                 "url": v["url"], "user_agent": v["user_agent"],
                                 "client": {"visible_ms": 100}}))  # fmt: skip
        good[eid] = v
    raw = [enc(line) for line in lines]
    content = b"\n".join(raw) + b"\n"
    rows = sum(1 for n, line in enumerate(raw) if not _blank(line, n == 0))
    return Case("ndjson", "hostile.ndjson", content, rows=rows, good=good,
                binary_start=_starts_binary(content))  # fmt: skip


# ---- nginx --------------------------------------------------------------------------------
NGINX_FIELDS = ["ip", "user", "time", "request", "status", "bytes", "referer", "ua", "xff"]
RAW_NGINX_LINES = [
    '1.2.3.4 - - [01/Mar/2024:08:00:00 +0000] "' + '\\"' * 50_000 + '" 200 1 "-" "-"',
    '1.2.3.4 - - [01/Mar/2024:08:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "' + "\\" * 9_999 + '"',
    '1.2.3.4 - - [01/Mar/2024:08:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "' + '"' * 9_999,
    '1.2.3.4 - - [01/Mar/2024:08:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"' + " " * 50_000 + "x",
    "1.2.3.4 " * 20_000,
    '1.2.3.4 - - [' + "[" * 30_000 + '] "GET / HTTP/1.1" 200 1 "-" "-"',
    '1.2.3.4 - - [01/Mar/2024:08:00:00 +0000] "GET /\\xff\\xfe\\xc3 HTTP/1.1" 200 1 "-" "\\x00"',
    '1.2.3.4 - - [01/Mar/2024:08:00:00 +0000] "\\x16\\x03\\x01\\x00" 400 0 "-" "-"',
    '- - - [01/Mar/2024:08:00:00 +0000] "GET / HTTP/1.1" - - "-" "-"',
]  # fmt: skip


@st.composite
def nginx_line(draw: Any, k: int) -> str:
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return draw(st.sampled_from(RAW_NGINX_LINES))
    if kind == 1:
        return draw(st.one_of(ATOM, LONG_TEXT, RAW).map(no_newline))
    v = {"ip": "10.9.9.9", "user": "-", "time": "01/Mar/2024:08:00:00 +0000",
         "request": f"GET /bad{k} HTTP/1.1", "status": "200", "bytes": "512",
         "referer": "-", "ua": UA, "xff": "-"}  # fmt: skip
    for key in draw(st.lists(st.sampled_from(NGINX_FIELDS), min_size=1, max_size=4, unique=True)):
        v[key] = no_newline(draw(HOSTILE_TEXT))
    if draw(st.booleans()):  # as nginx writes it: ", \ and bytes outside printable ASCII escaped
        for key in ("request", "referer", "ua", "xff"):
            v[key] = _nginx_escape(v[key])
    return (
        f'{v["ip"]} - {v["user"]} [{v["time"]}] "{v["request"]}" {v["status"]} {v["bytes"]} '
        f'"{v["referer"]}" "{v["ua"]}" "{v["xff"]}"'
    )


def _nginx_escape(text: str) -> str:
    out = []
    for b in enc(text):
        ch = chr(b)
        out.append(f"\\x{b:02X}" if b < 0x20 or b >= 0x7F or ch in '"\\' else ch)
    return "".join(out)


@st.composite
def nginx_case(draw: Any, n_good: int = 8, n_bad: int = 8, good_first: bool = False) -> Case:
    """The `main` log format (combined + X-Forwarded-For). No event ids: a good row's id is
    `<file name>:<line>`."""
    lines: list[str] = []
    expect: list[tuple[int, dict[str, Any]]] = []
    for k, slot in enumerate(_order(draw, n_good, n_bad, good_first)):
        if slot is None:
            lines.append(draw(nginx_line(k)))
            continue
        v = good_values(slot)
        when = v["ts"].strftime("%d/%b/%Y:%H:%M:%S +0000")
        lines.append(f'{v["ip"]} - - [{when}] "GET /p{slot}?q={slot} HTTP/1.1" 200 {slot} '
                     f'"-" "{UA}" "-"')  # fmt: skip
        expect.append((len(lines), {**v, "url": f"/p{slot}?q={slot}"}))
    raw = [enc(line) for line in lines]
    content = b"\n".join(raw) + b"\n"
    rows = sum(1 for n, line in enumerate(raw) if not _blank(line, n == 0))
    good = {f"access.log:{n}": v for n, v in expect}
    return Case("nginx", "access.log", content, rows=rows, good=good,
                binary_start=_starts_binary(content))  # fmt: skip


# ---- Parquet ------------------------------------------------------------------------------
TS_KINDS = ["iso", "large_iso", "dict_iso", "epoch_s", "epoch_ms", "float", "ts_ms_utc",
            "ts_us", "ts_ns_utc", "ts_ms_offset", "date32"]  # fmt: skip
INT64 = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from(
        [
            0,
            -1,
            2**31,
            -(2**31) - 1,
            2**62 + 1,
            2**63 - 1,
            -(2**63),
            100_000_000_000,
            99_999_999_999,
            253_402_300_799_999,
            253_402_300_800_000,
        ]
    ),  # fmt: skip
)
FLOATS = st.one_of(st.floats(), st.sampled_from([-0.0, 1e308, -1e308, 5e-324, 1.7e9, 1.7e12]))
PQ_TEXT = HOSTILE_TEXT.map(clean)


def _ts_value(kind: str, i: int | None, draw: Any) -> Any:
    """Row i's good time in this representation, or (i None) a hostile one."""
    if i is not None:
        t = T0 + timedelta(minutes=i)
        if kind in ("iso", "large_iso", "dict_iso"):
            return t.isoformat()
        if kind == "epoch_s":
            return int(t.timestamp())
        if kind in ("epoch_ms", "ts_ms_utc", "ts_ms_offset"):
            return int(t.timestamp()) * 1000
        if kind == "float":
            return t.timestamp()
        if kind == "ts_us":
            return int(t.timestamp()) * 1_000_000
        if kind == "ts_ns_utc":
            return int(t.timestamp()) * 1_000_000_000
        return (t.date() - date(1970, 1, 1)).days
    if draw(st.integers(0, 5)) == 0:
        return None
    if kind in ("iso", "large_iso", "dict_iso"):
        return draw(PQ_TEXT)
    if kind == "float":
        return draw(FLOATS)
    if kind == "date32":
        return draw(st.integers(min_value=-(2**31), max_value=2**31 - 1))
    return draw(INT64)


def _ts_array(kind: str, values: list[Any]) -> pa.Array:
    if kind == "iso":
        return pa.array(values, pa.string())
    if kind == "large_iso":
        return pa.array(values, pa.large_string())
    if kind == "dict_iso":
        return pa.array(values, pa.string()).dictionary_encode()
    if kind == "float":
        return pa.array(values, pa.float64())
    if kind == "date32":
        return pa.array(values, pa.int32()).cast(pa.date32())
    ints = pa.array(values, pa.int64())
    unit, tz = {
        "ts_ms_utc": ("ms", "UTC"), "ts_us": ("us", None), "ts_ns_utc": ("ns", "UTC"),
        "ts_ms_offset": ("ms", "+08:00"),
    }.get(kind, (None, None))  # fmt: skip
    return ints if unit is None else ints.cast(pa.timestamp(unit, tz))


def _expected_ts(kind: str, i: int) -> datetime:
    """Row i's time as read; naive (a wall-clock time, read in --input-tz) for ts_us."""
    t = T0 + timedelta(minutes=i)
    if kind == "ts_us":
        return t.replace(tzinfo=None)
    return datetime(t.year, t.month, t.day, tzinfo=UTC) if kind == "date32" else t


@st.composite
def parquet_case(draw: Any, n_good: int = 8, n_bad: int = 8, good_first: bool = False) -> Case:
    """Typed columns, each of a type chosen per file; hostile rows hold hostile values of it."""
    ts_kind = draw(st.sampled_from(TS_KINDS))
    status_kind = draw(st.sampled_from(["int64", "int32", "string", "float", "none"]))
    client_kind = draw(st.sampled_from(["struct", "json", "none"]))
    flag_kind = draw(st.sampled_from(["bool", "string", "int64"]))
    url_kind = draw(st.sampled_from(["string", "large_string", "binary"]))
    cols: dict[str, list[Any]] = {c: [] for c in ["event_id", "ts", "ip", "user_agent", "url",
                                                  "event", "token", "method", "bytes",
                                                  "status", "client", "signature_ok", "asset"]}  # fmt: skip
    good: dict[str, dict[str, Any]] = {}
    order = _order(draw, n_good, n_bad, good_first)
    for k, slot in enumerate(order):
        i = slot if slot is not None else 10_000 + k
        v = good_values(i)
        row: dict[str, Any] = {
            "event_id": f"good-{i}" if slot is not None else f"bad-{k}",
            "ts": _ts_value(ts_kind, i, draw),
            "ip": v["ip"], "user_agent": v["user_agent"], "url": v["url"],
            "event": "pageview", "token": "valid", "method": "GET", "bytes": 512,
            "status": {"string": "200", "float": 200.0}.get(status_kind, 200),
            "client": {"frame_w": 10, "tells": ["a"], "tz": "UTC", "webdriver": False},
            "signature_ok": {"string": "yes", "int64": 1}.get(flag_kind, True),
            "asset": {"string": "no", "int64": 0}.get(flag_kind, False),
        }  # fmt: skip
        if client_kind == "json":
            row["client"] = json.dumps(row["client"])
        if url_kind == "binary":
            row["url"] = row["url"].encode()
        if slot is not None:
            good[row["event_id"]] = {**v, "ts": _expected_ts(ts_kind, i)}
        else:
            for c in draw(
                st.lists(st.sampled_from(list(cols)), min_size=1, max_size=4, unique=True)
            ):
                row[c] = _hostile_parquet(draw, c, k, ts_kind, status_kind, client_kind,
                                          flag_kind, url_kind)  # fmt: skip
        for c in cols:
            cols[c].append(row[c])
    arrays: dict[str, pa.Array] = {
        "event_id": pa.array(cols["event_id"], pa.string()),
        "ts": _ts_array(ts_kind, cols["ts"]),
    }
    for c in ("ip", "user_agent", "event", "token", "method"):
        arrays[c] = pa.array(cols[c], pa.string())
    if draw(st.booleans()):
        arrays["event"] = arrays["event"].dictionary_encode()
    arrays["url"] = pa.array(cols["url"], {"string": pa.string(), "large_string": pa.large_string(),
                                          "binary": pa.binary()}[url_kind])  # fmt: skip
    arrays["bytes"] = pa.array(cols["bytes"], pa.int64())
    if status_kind != "none":
        typ = {
            "int64": pa.int64(),
            "int32": pa.int32(),
            "string": pa.string(),
            "float": pa.float64(),
        }
        arrays["status"] = pa.array(cols["status"], typ[status_kind])
    if client_kind == "struct":
        arrays["client"] = pa.array(cols["client"], CLIENT_STRUCT)
    elif client_kind == "json":
        arrays["client"] = pa.array(cols["client"], pa.string())
    flag_type = {"bool": pa.bool_(), "string": pa.string(), "int64": pa.int64()}[flag_kind]
    arrays["signature_ok"] = pa.array(cols["signature_ok"], flag_type)
    arrays["asset"] = pa.array(cols["asset"], flag_type)
    table = pa.table(arrays)
    return Case("parquet", "hostile.parquet", table=table, rows=len(order), good=good)


CLIENT_STRUCT = pa.struct([("frame_w", pa.int64()), ("tells", pa.list_(pa.string())),
                           ("tz", pa.string()), ("webdriver", pa.bool_())])  # fmt: skip


def _hostile_parquet(draw: Any, c: str, k: int, ts_kind: str, status_kind: str,
                     client_kind: str, flag_kind: str, url_kind: str) -> Any:  # fmt: skip
    if c == "ts":
        return _ts_value(ts_kind, None, draw)
    if c == "event_id":
        return clean(_hostile_id(draw, k))
    if c == "bytes":
        return draw(st.one_of(st.none(), INT64))
    if c == "status":
        if status_kind == "int64":
            return draw(st.one_of(st.none(), INT64))
        if status_kind == "int32":
            return draw(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)))
        if status_kind == "float":
            return draw(st.one_of(st.none(), FLOATS))
        return draw(st.one_of(st.none(), PQ_TEXT))
    if c == "client":
        if client_kind == "struct":
            return draw(st.one_of(st.none(), st.fixed_dictionaries({
                "frame_w": st.one_of(st.none(), INT64),
                "tells": st.one_of(st.none(), st.lists(st.one_of(st.none(), PQ_TEXT), max_size=40)),
                "tz": st.one_of(st.none(), PQ_TEXT),
                "webdriver": st.one_of(st.none(), st.booleans()),
            })))  # fmt: skip
        return draw(st.one_of(st.none(), PQ_TEXT, JSON_VALUE.map(lambda v: clean(json.dumps(v)))))
    if c in ("signature_ok", "asset"):
        if flag_kind == "bool":
            return draw(st.one_of(st.none(), st.booleans()))
        if flag_kind == "int64":
            return draw(st.one_of(st.none(), INT64))
        return draw(st.one_of(st.none(), PQ_TEXT))
    if c == "url" and url_kind == "binary":
        return draw(st.one_of(st.none(), st.binary(max_size=40), HOSTILE_TEXT.map(enc)))
    return draw(st.one_of(st.none(), PQ_TEXT))


# ---- all formats ----------------------------------------------------------------------------
FORMATS = ("csv", "ndjson", "nginx", "parquet", "talkingdata", "engagement")


def case_for(
    fmt: str, n_good: int, n_bad: int, good_first: bool = False
) -> st.SearchStrategy[Case]:
    if fmt == "ndjson":
        return ndjson_case(n_good, n_bad, good_first)
    if fmt == "nginx":
        return nginx_case(n_good, n_bad, good_first)
    if fmt == "parquet":
        return parquet_case(n_good, n_bad, good_first)
    return csv_case(n_good, n_bad, fmt, good_first)


# ------------------------------------------------------------------------------ the contract
_METHOD = set(string.ascii_uppercase + "-_")
_CLIENT_INT32 = ("frame_w", "frame_h", "viewport_w", "viewport_h", "screen_w", "screen_h",
                 "interactions")  # fmt: skip


def contract_problems(row: dict[str, Any]) -> list[str]:
    """What in an accepted row breaks the event contract (empty: nothing)."""
    out = []
    if not isinstance(row["event_id"], str) or not row["event_id"]:
        out.append(f"event_id {row['event_id']!r}")
    ts = row["ts"]
    if not isinstance(ts, datetime) or ts.tzinfo is None or not TS_MIN <= ts < TS_MAX:
        out.append(f"ts {ts!r}")
    if row["event"] not in EVENT_KINDS:
        out.append(f"event {row['event']!r}")
    if row["token"] is not None and row["token"] not in TOKEN_VERDICTS:
        out.append(f"token {row['token']!r}")
    if row["ip"] is not None and not is_ip(row["ip"]):
        out.append(f"ip {row['ip']!r}")
    if row["status"] is not None and not 100 <= row["status"] <= 999:
        out.append(f"status {row['status']!r}")
    if row["bytes"] is not None and not 0 <= row["bytes"] <= 2**62:
        out.append(f"bytes {row['bytes']!r}")
    method = row["method"]
    if method is not None and not (0 < len(method) <= 16 and set(method) <= _METHOD):
        out.append(f"method {method!r}")
    client = row["client"]
    if client is not None:
        for key in _CLIENT_INT32 + ("visible_ms", "dwell_ms", "first_interaction_ms"):
            if client.get(key) is not None and client[key] < 0:
                out.append(f"client.{key} {client[key]!r}")
    return out
