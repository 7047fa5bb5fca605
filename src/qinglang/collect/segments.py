"""The durable log: fsync'd append-only segments, group commit, torn-tail recovery, roll to Parquet.

A record is one line, ``<crc32 of the JSON, 8 hex> <JSON row>\\n``. A beacon is acknowledged only
after the write that holds it has been fsync'd (many beacons share one write and one fsync: group
commit). After a crash the last line of a segment may be torn: recovery keeps the longest prefix of
whole, checksummed lines and truncates the rest - everything acknowledged is in that prefix.
Closed segments roll into the lake, one Parquet file per site and segment, written to a temporary
name, fsync'd, logged in the site's lake log (lakelog.py) and renamed, then the segment is deleted
(a crash in between rolls it again to the same name). compact.py later merges these parts into one file per site and day; the parts keep the
segment's name (``part-<segment stem>.parquet``), which is how a segment that rolled is known.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from qinglang.collect import lakelog
from qinglang.events import EVENT_SCHEMA

_ENCODE = msgspec.json.Encoder().encode  # compact UTF-8 JSON, as json.dumps would write it


def encode(row: dict[str, Any]) -> bytes:
    body = _ENCODE(row)
    return b"%08x %s\n" % (zlib.crc32(body), body)


def _records(data: bytes) -> Iterator[tuple[bytes, int]]:
    """(JSON body, end offset) of each whole, checksummed line at the start of a segment."""
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            return
        line = data[pos:end]
        if len(line) < 10 or line[8:9] != b" ":
            return
        body = line[9:]
        try:
            if int(line[:8], 16) != zlib.crc32(body):
                return
        except ValueError:
            return
        pos = end + 1
        yield body, pos


def scan(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Rows of the whole, checksummed lines at the start of a segment, and where they end."""
    rows: list[dict[str, Any]] = []
    pos = 0
    for body, end in _records(path.read_bytes()):
        try:
            rows.append(json.loads(body))
        except ValueError:
            break
        pos = end
    return rows, pos


def recover(directory: Path) -> list[Path]:
    """Truncate every segment to its last whole record; all of them are closed now. Files the
    Rust front wrote out in zeros for segments it never started (`prep-*.zeros`) are deleted."""
    for spare in Path(directory).glob("prep-*.zeros"):
        spare.unlink()
    found = sorted(Path(directory).glob("seg-*.log"))
    for path in found:
        _, end = scan(path)
        if end != path.stat().st_size:
            with open(path, "r+b") as f:
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())
    return found


def next_run(closed: list[Path]) -> str:
    """This start's name part: its clock, past any earlier run's. Names stay unique across restarts,
    so a segment's Parquet files in the lake never replace those of an earlier run; re-rolling the
    same segment after a crash writes the same names again (exactly once)."""
    newest = max((p.stem.split("-")[1] for p in closed), default="")
    run = max(f"{time.time_ns() // 1_000_000:013d}", newest)
    return f"{int(newest) + 1:013d}" if run == newest else run


class SegmentLog:
    """The segments of one run, named by `run` (from `next_run`); `restart` handles earlier ones."""

    def __init__(
        self, directory: Path, run: str, roll_bytes: int = 8 << 20, roll_seconds: float = 5.0
    ):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.roll_bytes = roll_bytes
        self.roll_seconds = roll_seconds
        self._run = run
        self._n = 0
        self._fd = -1
        self._open_next()

    def _open_next(self) -> None:
        self._n += 1
        self.path = self.dir / f"seg-{self._run}-{self._n:06d}.log"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        lakelog.fsync_dir(self.dir)
        self.size = 0
        self.opened = time.monotonic()

    def append(self, data: bytes) -> None:
        """Write and fsync one group of records (the group commit). On failure the segment is cut
        back to its last committed byte, so a torn group never hides later acknowledged ones."""
        lakelog.write_durably(self._fd, data, self.size)
        self.size += len(data)

    def due(self) -> bool:
        return self.size >= self.roll_bytes or (
            self.size > 0 and time.monotonic() - self.opened >= self.roll_seconds
        )

    def rotate(self) -> Path:
        """Close the active segment and start the next; returns the closed one."""
        closed = self.path
        os.close(self._fd)
        self._open_next()
        return closed

    def close(self) -> Path | None:
        if self._fd < 0:
            return None
        os.close(self._fd)
        self._fd = -1
        if self.size == 0:
            self.path.unlink(missing_ok=True)
            return None
        return self.path


def die_with(parent: int) -> None:
    """Initializer of the rolling process: exit when the collector is gone (even by SIGKILL).
    It runs at a lower priority: serving comes first, closed segments can wait on disk. It
    ignores Ctrl-C, which a terminal sends to the whole process group: the collector's own
    shutdown still needs it to roll the last segment."""
    import signal
    import threading

    os.nice(10)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


TOKENS_SCHEMA = pa.schema(
    [("ts", pa.int64()), ("nonce", pa.string()), ("pv_id", pa.string()), ("seq", pa.int64())]
)
TOKENS_DIR = "_tokens"  # used nonces, beside the lake: what the replay check needs after a restart


def _write_durably(table: pa.Table, final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    lakelog.fsync_dir(final.parent)
    return final


class _Used(msgspec.Struct):
    ts: int
    token: tuple[str, str | None, int | None] | None = msgspec.field(default=None, name="_token")


_USED = msgspec.json.Decoder(_Used)
_READ_SCHEMA = pa.schema(
    [pa.field("ts", pa.int64()) if f.name == "ts" else f for f in EVENT_SCHEMA]
)


def _event_table(bodies: list[bytes]) -> pa.Table:
    """JSON rows as an event table, by Arrow's JSON reader (one thread: this runs in the
    background, where CPU time counts more than wall time)."""
    if not bodies:
        return EVENT_SCHEMA.empty_table()
    options = pa_json.ParseOptions(explicit_schema=_READ_SCHEMA, unexpected_field_behavior="ignore")
    table = pa_json.read_json(
        pa.py_buffer(b"\n".join(bodies)),
        read_options=pa_json.ReadOptions(use_threads=False),
        parse_options=options,
    )
    table = table.select(EVENT_SCHEMA.names)
    ts = table.column("ts").cast(EVENT_SCHEMA.field("ts").type)
    return table.set_column(table.schema.get_field_index("ts"), "ts", ts).cast(EVENT_SCHEMA)


def _json_prefix(bodies: list[bytes]) -> list[bytes]:
    """The bodies up to the first that is not JSON (where `scan` stops)."""
    for i, body in enumerate(bodies):
        try:
            json.loads(body)
        except ValueError:
            return bodies[:i]
    return bodies


def read_segment(segment: Path) -> tuple[pa.Table, list[dict[str, Any]]]:
    """A closed segment as an event table, and its used tokens: the same rows as `scan` and
    a row-by-row decode, decoded by Arrow's JSON reader (C++) instead of row by row in Python.
    Only rows whose text holds `"_token"` (every row with a used token does) are decoded in
    Python, for their token."""
    bodies = [body for body, _ in _records(segment.read_bytes())]
    try:
        table = _event_table(bodies)
    except pa.ArrowInvalid:  # a checksummed line that is not JSON: the valid prefix ends there
        bodies = _json_prefix(bodies)
        table = _event_table(bodies)
    if table.num_rows != len(bodies):  # e.g. a line of two objects: `scan` would stop there
        raise ValueError(f"{segment}: {table.num_rows} rows read from {len(bodies)} records")
    used = []
    for body in bodies:
        if b'"_token"' not in body:
            continue
        try:
            u = _USED.decode(body)
        except msgspec.DecodeError:  # a row `scan` keeps, with no token the replay check can use
            continue
        if u.token is not None:
            nonce, pv_id, seq = u.token
            used.append({"ts": u.ts, "nonce": nonce, "pv_id": pv_id, "seq": seq})
    return table, used


def _commit_part(part: pa.Table, final: Path) -> Path:
    """Write one site's part: to a temporary name, fsync'd, logged in the site's lake log
    (lakelog.py: SHA-256, rows, row digest, day), then renamed into place."""
    with lakelog.writing(final.parent) as ledger:
        tmp = final.with_suffix(".parquet.tmp")
        pq.write_table(part, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        ledger.commit(
            "roll", tmp, final, rows=part.num_rows, digest=lakelog.rows_digest(part),
            day=lakelog.first_day(part),
        )  # fmt: skip
    return final


def roll(segment: Path, lake: Path) -> list[Path]:
    """Turn one closed segment into Parquet files of the lake (one per site), then delete it.
    Each part is committed through its site's lake log (lakelog.py)."""
    table, used = read_segment(segment)
    name = f"part-{segment.stem}.parquet"
    written = []
    for site in pc.unique(table.column("site")).to_pylist():
        part = table.filter(pc.equal(table.column("site"), site))
        written.append(_commit_part(part, lake / f"site={site}" / name))
    if used:
        _write_durably(pa.Table.from_pylist(used, schema=TOKENS_SCHEMA), lake / TOKENS_DIR / name)
    segment.unlink()
    lakelog.fsync_dir(segment.parent)
    return written


def recent_tokens(lake: Path, since_ms: int) -> list[dict[str, Any]]:
    """Nonces used since `since_ms`, from the rolled token files (oldest first)."""
    out: list[dict[str, Any]] = []
    for part in sorted((lake / TOKENS_DIR).glob("*.parquet")):
        if part.stat().st_mtime * 1000 >= since_ms:
            out += pq.read_table(part).to_pylist()
    out = [r for r in out if r["ts"] >= since_ms]
    out.sort(key=lambda r: r["ts"])
    return out


def restart(directory: Path, lake: Path, ttl_s: int) -> tuple[list[Path], list[dict[str, Any]]]:
    """What a start does with the segments an earlier run left: recover them, roll them into the
    lake (their used tokens go to its token files), then read the tokens used within two token
    lifetimes. Returns the recovered segments (for `next_run`) and the used tokens, oldest first."""
    closed = recover(directory)
    since = time.time_ns() // 1_000_000 - 2_000 * ttl_s
    for seg in closed:
        roll(seg, lake)
    return closed, recent_tokens(lake, since)
