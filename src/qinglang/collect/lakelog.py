"""The lake's log: an append-only, hash-chained account of every Parquet file committed to a
site's lake, so that a published root proves later that counts were neither inflated nor deflated.

One log per site, ``<db>.lake/_log/site=NAME.jsonl``: one entry per line, each line the entry's
canonical JSON (keys sorted, no spaces, UTF-8). An entry's hash is the SHA-256 of that line;
``prev`` is the hash of the entry before it (64 zeros for the first), ``seq`` counts from 0.

``open``     the first entry: ``format``, ``site``, and ``adopted``: the files the site's directory
             already held when the log began (their contents are vouched for from then on only).
``roll``     a part (``part-<segment>.parquet``) written by segments.py `roll`.
``compact``  a day file (``day=D.parquet``) written by compact.py: ``base`` (the day file it grew
             from: sha256, rows, digest; null if there was none) and ``parts`` (file, rows, digest
             of each part merged, in the order of their rows in the day file).
``drop``     ``files``: parts deleted because a day file holds their rows already (a part rolled
             again after its compaction).
``abort``    ``voids``: the entry before it was logged, but neither its file nor its temporary
             file was found after (a power loss that lost the rename, or a file deleted); the
             lake is taken as it was before that entry. A voided roll must be rolled again (its
             segment is still there after a power loss), or `verify_lake` reports it.

``roll`` and ``compact`` carry ``file``, ``bytes``, ``sha256``, ``rows``, ``digest`` and ``day``
(a part's day is the UTC day of its first event, as compaction assigns it); every entry carries
``seq``, ``time`` (UTC) and ``op``.

Row digests. A row's canonical text is its columns in EVENT_SCHEMA's order, each value written as
``~`` (null) or ``<bytes>:<text>`` (strings as UTF-8, integers in decimal, booleans true/false, ts
as integer milliseconds since 1970 UTC); a struct (``client``) as ``{`` its fields ``}``, a list
as ``[`` its items ``]`` (each ``~`` if null). Every value is self-delimiting, so rows concatenate
unambiguously. A run of rows has the digest ``D = SHA-256("qinglang.rows.v1\\n" || row text ...)``:
any changed, deleted, inserted or reordered row changes it, however the file is rewritten. A part's
``digest`` is D of its rows. A day file holds segments (the parts merged into it, in row order; a
day file adopted by ``open`` is one segment); its ``digest`` chains their Ds:
``C0 = SHA-256("qinglang.day.v1\\n")``, ``Ck = SHA-256(C(k-1) || Dk)`` (raw 32-byte digests).
So a compaction's digest is its base's digest chained on with its parts' digests: checkable from
the log alone (compaction neither dropped nor added rows), and from the day file's rows.

Crash safety. A file is committed in this order: written to ``NAME.tmp`` and fsync'd; its entry
appended to the log (one write) and fdatasync'd; ``NAME.tmp`` renamed onto NAME; the directory
fsync'd. Every writer holds the log's flock (exclusive) for the whole of it and, before writing
anything, (1) cuts a torn last line (a crash during an append: that entry's rename never
happened, its file is not in the lake), and (2) checks that the last entry's file is in the lake
with its SHA-256; if not, and ``NAME.tmp`` has that SHA-256 (a kill between the log and the
rename), it finishes the rename; if neither has it, it appends ``abort``. So a kill at any point
leaves a log that verifies, and the collector puts no file in the lake without logging it first:
a file added by hand is one the log does not list, a file deleted one the log still lists.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import fcntl
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qinglang.events import EVENT_SCHEMA

log = logging.getLogger("qinglang.collect")

FORMAT = "qinglang.lakelog.v1"
STATEMENT = "qinglang.lake.root.v1"
LOG_DIR = "_log"
GENESIS = "0" * 64
ROWS_TAG = b"qinglang.rows.v1\n"
DAY_TAG = b"qinglang.day.v1\n"
DAY_START = hashlib.sha256(DAY_TAG).hexdigest()  # C0: the digest of a day file of no segments
PARTS_KEY = b"qinglang.parts"  # as compact.PARTS_KEY (compact imports this module)
_STEP = 4096  # rows encoded at a time (at most ~25 KB of text each: ~100 MB)
_DAY_RE = re.compile(r"^day=(\d{4}-\d{2}-\d{2})\.parquet$")
_PART_RE = re.compile(r"^part-.+\.parquet$")


def log_path(site_dir: Path) -> Path:
    """``<lake>/_log/site=NAME.jsonl`` for ``<lake>/site=NAME``."""
    site_dir = Path(site_dir)
    return site_dir.parent / LOG_DIR / f"{site_dir.name}.jsonl"


# ---------------------------------------------------------------------- row digests
_S = pa.string()  # 32-bit offsets: _STEP rows of the collector's capped fields fit


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, _S)


_NULL, _EMPTY, _COLON = _lit("~"), _lit(""), _lit(":")
_OPEN_S, _CLOSE_S, _OPEN_L, _CLOSE_L = _lit("{"), _lit("}"), _lit("["), _lit("]")


def _encode(a: pa.Array) -> pa.Array:
    """Each value's canonical text (see the module's docstring), as a string array."""
    t = a.type
    if pa.types.is_struct(t):
        fields = [_encode(a.field(i)) for i in range(t.num_fields)]
        body = pc.binary_join_element_wise(_OPEN_S, *fields, _CLOSE_S, _EMPTY)
        return pc.if_else(a.is_valid(), body, _NULL) if a.null_count else body
    if pa.types.is_list(t):
        offsets = np.asarray(a.offsets, dtype=np.int32)
        start = int(offsets[0]) if len(offsets) else 0
        end = int(offsets[-1]) if len(offsets) else 0
        items = _encode(a.values.slice(start, end - start))
        lists = pa.ListArray.from_arrays(pa.array(offsets - start, pa.int32()), items)
        body = pc.binary_join_element_wise(_OPEN_L, pc.binary_join(lists, _EMPTY), _CLOSE_L, _EMPTY)
        return pc.if_else(a.is_valid(), body, _NULL) if a.null_count else body
    if pa.types.is_string(t):
        text = a
    elif pa.types.is_timestamp(t):
        text = a.cast(pa.int64()).cast(_S)
    elif pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_large_string(t):
        text = a.cast(_S)
    else:
        raise TypeError(f"no canonical text for a {t} column")
    out = pc.binary_join_element_wise(pc.binary_length(text).cast(_S), text, _COLON)
    return pc.fill_null(out, _NULL) if a.null_count else out


def _canonical(data: pa.Table | pa.RecordBatch) -> pa.Table:
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    data = data.select(EVENT_SCHEMA.names)
    if data.schema.remove_metadata().equals(EVENT_SCHEMA):
        return data
    return data.cast(EVENT_SCHEMA)


def row_text(data: pa.Table | pa.RecordBatch) -> list[bytes]:
    """Each row's canonical text (for tests and for anyone re-implementing the digest)."""
    out: list[bytes] = []
    for batch in _canonical(data).to_batches(max_chunksize=_STEP):
        row = pc.binary_join_element_wise(*[_encode(c) for c in batch.columns], _EMPTY)
        out += [v.encode() for v in row.to_pylist()]
    return out


class RowDigest:
    """D over rows fed in order, in any number of tables or batches."""

    def __init__(self) -> None:
        self._h = hashlib.sha256(ROWS_TAG)
        self.rows = 0

    def update(self, data: pa.Table | pa.RecordBatch) -> None:
        for batch in _canonical(data).to_batches(max_chunksize=_STEP):
            n = batch.num_rows
            if not n:
                continue
            row = pc.binary_join_element_wise(*[_encode(c) for c in batch.columns], _EMPTY)
            offsets = np.frombuffer(row.buffers()[1], dtype=np.int32)[
                row.offset : row.offset + n + 1
            ]
            self._h.update(memoryview(row.buffers()[2])[int(offsets[0]) : int(offsets[-1])])
            self.rows += n

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def rows_digest(data: pa.Table | pa.RecordBatch) -> str:
    d = RowDigest()
    d.update(data)
    return d.hexdigest()


def chain(digests: Iterable[str], start: str | None = None) -> str:
    """A day file's digest: `start` (C0 if None) chained on with each segment's D."""
    c = bytes.fromhex(start or DAY_START)
    for d in digests:
        c = hashlib.sha256(c + bytes.fromhex(d)).digest()
    return c.hex()


def file_digests(path: Path, counts: list[int] | None = None) -> tuple[int, list[str]]:
    """(rows, Ds) of a Parquet file: one D per run of `counts` rows in order (one D over all rows
    if None); rows past the counts make one more D, so a mismatch shows."""
    counts = list(counts) if counts is not None else None
    done: list[str] = []
    cur = RowDigest()
    left = counts.pop(0) if counts else None
    total = 0
    with pq.ParquetFile(path) as f:
        for batch in f.iter_batches(batch_size=_STEP):
            total += batch.num_rows
            while batch.num_rows:
                if left is None:
                    cur.update(batch)
                    break
                take = min(left, batch.num_rows)
                cur.update(batch.slice(0, take))
                batch = batch.slice(take)
                left -= take
                if left == 0:
                    done.append(cur.hexdigest())
                    cur = RowDigest()
                    left = counts.pop(0) if counts else None
    if counts is None:
        return total, [cur.hexdigest()]
    if left is not None or cur.rows:  # fewer rows than counted, or more
        done.append(cur.hexdigest())
        done += [RowDigest().hexdigest() for _ in counts]
    return total, done


def first_day(table: pa.Table) -> str | None:
    """The UTC day of a table's first (smallest) event, as compaction assigns parts to days."""
    ts = table.column("ts")
    if not len(ts):
        return None
    first = pc.min(ts.cast(pa.int64())).as_py()
    return None if first is None else time.strftime("%Y-%m-%d", time.gmtime(first // 1000))


def sha256_file(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (hex) and its size in bytes, read once."""
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256")
        return digest.hexdigest(), f.tell()


def write_durably(fd: int, data: bytes, committed: int) -> None:
    """Append `data` to the file open at `fd` and fdatasync it; on failure cut the file back to
    `committed` bytes, so a torn write never hides what is written after it."""
    view = memoryview(data)
    try:
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fdatasync(fd)
    except OSError:
        os.ftruncate(fd, committed)
        raise


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def canonical_line(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_line(entry)).hexdigest()


def _day_of(name: str) -> str | None:
    m = _DAY_RE.match(name)
    return m.group(1) if m else None


def _stem(name: str) -> str:
    return name.removeprefix("part-").removesuffix(".parquet")


# ---------------------------------------------------------------------- replaying the log
@dataclass
class FileRec:
    """What the log says of a file of the lake."""

    file: str
    sha256: str
    bytes: int
    rows: int
    digest: str
    day: str | None
    seq: int
    segments: list[tuple[str, int, str]] | None = None  # day files: (file, rows, D), in row order
    stems: set[str] = field(default_factory=set)  # day files: the segment stems its footer lists

    def brief(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "rows": self.rows, "digest": self.digest}


class Replay:
    """The lake's state as the log tells it, entry by entry. `full` keeps what a verifier needs
    (segments of day files, files merged or dropped, problems); the writer keeps only the current
    files."""

    def __init__(self, full: bool = True) -> None:
        self.full = full
        self.seq = -1
        self.head = GENESIS
        self.last: dict[str, Any] | None = None
        self.last_time: str | None = None
        self.current: dict[str, FileRec] = {}
        self.gone: dict[str, FileRec] = {}  # merged or dropped: a leftover must still match
        self.touched: dict[str, tuple[int, str]] = {}  # day -> (seq, hash) of the last entry on it
        self.hashes: dict[str, int] = {}  # entry hash -> seq (full only)
        self.problems: list[str] = []
        # part -> (seq, digest, rows) of a roll an abort voided, until a roll brings it back
        self.voided: dict[str, tuple[int, str, int]] = {}
        self._undo: tuple[dict[str, FileRec | None], dict[str, FileRec | None]] | None = None
        self._undo_days: list[str | None] = []

    # a problem the log itself shows (only a verifier collects them)
    def _bad(self, message: str) -> None:
        if self.full:
            self.problems.append(message)

    def held(self) -> set[str]:
        """The stems the current day files hold."""
        out: set[str] = set()
        for rec in self.current.values():
            if _day_of(rec.file):
                out |= rec.stems
        return out

    def apply(self, entry: dict[str, Any], h: str) -> None:
        seq = entry.get("seq")
        if seq != self.seq + 1:
            self._bad(
                f"log entry {seq!r} follows entry {self.seq}: entries were removed or inserted"
            )
        if entry.get("prev") != self.head:
            self._bad(
                f"log entry {seq}: its prev is not the hash of the entry before it "
                "(an earlier entry was changed, removed or inserted)"
            )
        self.seq = seq if isinstance(seq, int) else self.seq + 1
        self.head = h
        if self.full:
            self.hashes[h] = self.seq
        op = entry.get("op")
        try:
            handler = getattr(self, f"_op_{op}")
        except AttributeError:
            self._bad(f"log entry {self.seq}: unknown operation {op!r}")
            handler = None
        if handler is not None:
            try:
                handler(entry, h)
            except (KeyError, TypeError, ValueError) as e:
                self._bad(f"log entry {self.seq} ({op}): malformed ({type(e).__name__}: {e})")
        self.last = entry
        self.last_time = entry.get("time")

    def _touch(self, days: Iterable[str | None], h: str) -> None:
        for d in days:
            if d:
                self.touched[d] = (self.seq, h)

    def _save_undo(self, names: Iterable[str]) -> None:
        names = list(names)
        self._undo = (
            {n: copy.copy(self.current.get(n)) for n in names},
            {n: copy.copy(self.gone.get(n)) for n in names},
        )

    def _rec(self, e: dict[str, Any], seq: int) -> FileRec:
        return FileRec(
            file=e["file"], sha256=e["sha256"], bytes=int(e["bytes"]), rows=int(e["rows"]),
            digest=e["digest"], day=e.get("day") or _day_of(e["file"]), seq=seq,
        )  # fmt: skip

    def _op_open(self, e: dict[str, Any], h: str) -> None:
        if self.seq != 0:
            self._bad(f"log entry {self.seq}: a second 'open' (the log was restarted)")
        if e.get("format") != FORMAT:
            self._bad(f"log entry {self.seq}: format {e.get('format')!r}, expected {FORMAT}")
        self._undo = None
        for a in e.get("adopted", []):
            rec = self._rec(a, self.seq)
            if _day_of(rec.file):
                segs = a.get("segments") or []
                rec.segments = (
                    [(s["file"], int(s["rows"]), s["digest"]) for s in segs] if self.full else None
                )
                rec.stems = set(a.get("stems") or [])
            self.current[rec.file] = rec
            self._touch([rec.day], h)

    def _op_roll(self, e: dict[str, Any], h: str) -> None:
        name = e["file"]
        if not _PART_RE.match(name):
            self._bad(f"log entry {self.seq}: rolled {name!r}, which is not a part's name")
        self._save_undo([name])
        self._undo_days = [e.get("day")]
        rec = self._rec(e, self.seq)
        if self.full:
            if self.voided.get(name, (0, rec.digest))[1] == rec.digest:
                self.voided.pop(name, None)  # rolled again: its rows are back
            before = self.current.get(name) or self.gone.get(name)
            if before is not None and before.digest != rec.digest:
                self._bad(
                    f"log entry {self.seq}: {name} rolled again with other rows than at entry "
                    f"{before.seq}"
                )
            self.gone.pop(name, None)
        self.current[name] = rec
        self._touch([rec.day], h)

    def _op_compact(self, e: dict[str, Any], h: str) -> None:
        name = e["file"]
        day = _day_of(name)
        if day is None:
            self._bad(f"log entry {self.seq}: compacted into {name!r}, not a day file's name")
        parts = e.get("parts") or []
        self._save_undo([name, *(p["file"] for p in parts)])
        self._undo_days = [day]
        old = self.current.get(name)
        base = e.get("base")
        if self.full:
            self._check_compaction(e, old, base, parts)
        rec = self._rec(e, self.seq)
        rec.day = day
        old_segments = (old.segments or []) if old is not None else []
        rec.stems = set(old.stems) if old is not None else set()
        for p in parts:
            rec.stems.add(_stem(p["file"]))
            merged = self.current.pop(p["file"], None)
            if self.full and merged is not None:
                self.gone[p["file"]] = merged
        if self.full:
            rec.segments = old_segments + [(p["file"], int(p["rows"]), p["digest"]) for p in parts]
        self.current[name] = rec
        self._touch([day], h)

    def _check_compaction(
        self, e: dict[str, Any], old: FileRec | None, base: dict | None, parts: list[dict]
    ) -> None:
        name, seq = e["file"], self.seq
        if base is None and old is not None:
            self._bad(
                f"log entry {seq}: {name} was rewritten without its {old.rows} rows "
                f"(entry {old.seq}): rows dropped"
            )
        elif base is not None and old is None:
            self._bad(
                f"log entry {seq}: {name} grew from a day file the log does not hold "
                f"({base.get('rows')} rows not accounted for)"
            )
        elif base is not None and old is not None and (
            base.get("digest") != old.digest or base.get("rows") != old.rows
            or base.get("sha256") != old.sha256
        ):  # fmt: skip
            self._bad(
                f"log entry {seq}: {name} grew from another day file than the log holds "
                f"(entry {old.seq}): its rows changed"
            )
        for p in parts:
            rec = self.current.get(p["file"])
            if rec is None:
                self._bad(
                    f"log entry {seq}: merged {p['file']} into {name}, a part the log does not "
                    "hold (added to the lake by hand?)"
                )
            elif rec.digest != p["digest"] or rec.rows != int(p["rows"]):
                self._bad(
                    f"log entry {seq}: {p['file']} was merged into {name} with other rows than "
                    f"it was rolled with (entry {rec.seq}): changed before its compaction"
                )
        start = base.get("digest") if base else None
        want_rows = (int(base.get("rows", 0)) if base else 0) + sum(int(p["rows"]) for p in parts)
        if int(e["rows"]) != want_rows or e["digest"] != chain((p["digest"] for p in parts), start):
            self._bad(
                f"log entry {seq}: {name}'s rows and digest are not its base's and parts' "
                "(compaction dropped, added or changed rows)"
            )

    def _op_drop(self, e: dict[str, Any], h: str) -> None:
        files = list(e["files"])
        self._save_undo(files)
        held = self.held() if self.full else set()
        days = []
        for name in files:
            rec = self.current.pop(name, None)
            if rec is None:
                self._bad(f"log entry {self.seq}: drops {name}, which the log does not hold")
                continue
            days.append(rec.day)
            if self.full:
                if _stem(name) not in held:
                    self._bad(
                        f"log entry {self.seq}: drops {name} ({rec.rows} rows) although no day "
                        "file holds its rows: rows deleted"
                    )
                self.gone[name] = rec
        self._undo_days = days
        self._touch(days, h)

    def _op_abort(self, e: dict[str, Any], h: str) -> None:
        voids = e.get("voids")
        last_op = (self.last or {}).get("op")
        if voids != self.seq - 1 or last_op not in ("roll", "compact") or self._undo is None:
            self._bad(
                f"log entry {self.seq}: voids entry {voids!r}, which is not a roll or compaction "
                "just before it"
            )
            return
        days = self._undo_days
        voided = self.last or {}
        if self.full and last_op == "roll":
            self.voided[voided["file"]] = (voids, voided["digest"], int(voided["rows"]))
        self._revert()
        self._touch(days, h)

    def _revert(self) -> None:
        """Undo the last roll or compaction (its file never reached the lake)."""
        if self._undo is None:
            return
        cur, gone = self._undo
        for name, rec in cur.items():
            if rec is None:
                self.current.pop(name, None)
            else:
                self.current[name] = rec
        for name, rec in gone.items():
            if rec is None:
                self.gone.pop(name, None)
            else:
                self.gone[name] = rec
        self._undo = None

    def day_figures(self) -> dict[str, dict[str, Any]]:
        """Per UTC day: rows (day files, and parts no day file holds), files, and the entry that
        last changed the day (`seq`, `hash`)."""
        held = self.held()
        days: dict[str, dict[str, Any]] = {}
        for rec in sorted(self.current.values(), key=lambda r: r.file):
            if _day_of(rec.file) is None and _stem(rec.file) in held:
                continue  # a part rolled again after its compaction: counted in its day file
            d = days.setdefault(rec.day or "unknown", {"rows": 0, "files": []})
            d["rows"] += rec.rows
            d["files"].append(rec.brief())
        for day, d in days.items():
            seq, h = self.touched.get(day, (None, None))
            d["seq"], d["hash"] = seq, h
        return dict(sorted(days.items()))


@dataclass
class _Parsed:
    entries: list[tuple[dict[str, Any] | None, bytes, str]]  # (entry or None, line, hash)
    end: int  # offset after the last whole line
    torn: int  # bytes after it (a torn last line)


def _parse(data: bytes) -> _Parsed:
    entries = []
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        line = data[pos:nl]
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                entry = None
        except ValueError:
            entry = None
        entries.append((entry, line, hashlib.sha256(line).hexdigest()))
        pos = nl + 1
    return _Parsed(entries, pos, len(data) - pos)


def _replay(parsed: _Parsed, full: bool, stop_at: str | None = None) -> Replay:
    r = Replay(full)
    for i, (entry, line, h) in enumerate(parsed.entries):
        if entry is None:
            r._bad(f"log line {i + 1} is not a JSON entry (damaged or edited)")
            r.seq += 1
            r.head = h
            continue
        if full and canonical_line(entry) != line:
            r._bad(f"log entry {entry.get('seq')} (line {i + 1}) is not in canonical form (edited)")
        r.apply(entry, h)
        if stop_at is not None and h == stop_at:
            break
    return r


# ---------------------------------------------------------------------- writing
@dataclass
class _Cache:
    ino: int
    size: int
    mtime_ns: int
    replay: Replay
    applied: bool  # the last entry's file is known to be in the lake


_CACHE: dict[str, _Cache] = {}


class Writer:
    """Appends to a site's log, under its lock (see `writing`)."""

    def __init__(self, fd: int, path: Path, site_dir: Path, cache: _Cache) -> None:
        self._fd = fd
        self.path = path
        self.site_dir = site_dir
        self._cache = cache
        self.completed: list[Path] = []  # files whose interrupted commit `_reconcile` finished

    @property
    def state(self) -> Replay:
        return self._cache.replay

    def current(self, name: str) -> FileRec | None:
        return self.state.current.get(name)

    def _append(self, body: dict[str, Any]) -> dict[str, Any]:
        r = self.state
        entry = {"seq": r.seq + 1, "time": _now(), **body, "prev": r.head}
        line = canonical_line(entry)
        write_durably(self._fd, line + b"\n", self._cache.size)
        st = os.fstat(self._fd)
        self._cache.size, self._cache.mtime_ns = st.st_size, st.st_mtime_ns
        self._cache.applied = False
        r.apply(entry, hashlib.sha256(line).hexdigest())
        return entry

    def commit(
        self, op: str, tmp: Path, final: Path, *, rows: int, digest: str, **fields: Any
    ) -> dict[str, Any]:
        """Log `final` (written and fsync'd at `tmp`), then rename it into place: the commit."""
        sha, size = sha256_file(tmp)
        entry = self._append(
            {"op": op, "file": final.name, "bytes": size, "sha256": sha, "rows": rows,
             "digest": digest, **fields}
        )  # fmt: skip
        os.replace(tmp, final)
        fsync_dir(final.parent)
        self._cache.applied = True
        return entry

    def drop(self, files: list[Path], reason: str) -> None:
        """Log that these parts go (a day file holds their rows); the caller deletes them."""
        names = [p.name for p in files if p.name in self.state.current]
        if names:
            self._append({"op": "drop", "files": names, "reason": reason})
            # the caller deletes them now; if it fails, `_reconcile` does (the next transaction)
            self._cache.applied = True

    def _genesis(self) -> None:
        adopted = [_describe(p) for p in _lake_files(self.site_dir)]
        self._append({"op": "open", "format": FORMAT, "site": _site_name(self.site_dir),
                      "adopted": adopted})  # fmt: skip
        self._cache.applied = True

    def _reconcile(self) -> None:
        """Make the lake agree with the last entry (see the module's docstring)."""
        last = self.state.last
        if self._cache.applied or last is None:
            return
        op = last.get("op")
        if op == "drop":
            for name in last.get("files", []):
                (self.site_dir / name).unlink(missing_ok=True)
            fsync_dir(self.site_dir)
        elif op in ("roll", "compact"):
            path = self.site_dir / str(last.get("file"))
            tmp = path.with_name(path.name + ".tmp")
            if _holds(path, last):
                pass
            elif _holds(tmp, last):  # a kill between the log and the rename: finish it
                log.warning("lake log %s: finishing the commit of %s (entry %s)", self.path,
                            path.name, last.get("seq"))  # fmt: skip
                os.replace(tmp, path)
                fsync_dir(self.site_dir)
                self.completed.append(path)
            else:
                log.error("lake log %s: neither %s nor its temporary file holds entry %s: voided",
                          self.path, path.name, last.get("seq"))  # fmt: skip
                self._append({"op": "abort", "voids": last.get("seq"),
                              "reason": f"neither {path.name} nor {tmp.name} holds it"})  # fmt: skip
                tmp.unlink(missing_ok=True)
        self._cache.applied = True


def _holds(path: Path, entry: dict[str, Any]) -> bool:
    """Whether `path` is the file `entry` committed (size, then SHA-256)."""
    try:
        if path.stat().st_size != entry.get("bytes"):
            return False
    except FileNotFoundError:
        return False
    return sha256_file(path)[0] == entry.get("sha256")


def _site_name(site_dir: Path) -> str:
    return Path(site_dir).name.removeprefix("site=")


def _lake_files(site_dir: Path) -> list[Path]:
    """The files readers read: day files and parts."""
    site_dir = Path(site_dir)
    return sorted(site_dir.glob("day=*.parquet")) + sorted(site_dir.glob("part-*.parquet"))


def _describe(path: Path) -> dict[str, Any]:
    """A file the log adopts (at its `open`): what a roll or compaction would have logged."""
    sha, size = sha256_file(path)
    rows, (d,) = file_digests(path)
    entry: dict[str, Any] = {"file": path.name, "bytes": size, "sha256": sha, "rows": rows}
    day = _day_of(path.name)
    if day is not None:
        meta = pq.read_metadata(path).metadata or {}
        entry.update(
            digest=chain([d]), day=day, stems=sorted(json.loads(meta.get(PARTS_KEY, b"[]"))),
            segments=[{"file": path.name, "rows": rows, "digest": d}],
        )  # fmt: skip
    else:
        table = pq.read_table(path, columns=["ts"])
        day = first_day(table) or time.strftime("%Y-%m-%d", time.gmtime(path.stat().st_mtime))
        entry.update(digest=d, day=day)
    return entry


def _load(fd: int, path: Path, full: bool, repair: bool) -> tuple[_Cache, _Parsed | None]:
    st = os.fstat(fd)
    cached = _CACHE.get(str(path))
    if (
        not full
        and cached is not None
        and (cached.ino, cached.size, cached.mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)
    ):
        return cached, None
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while block := os.read(fd, 1 << 20):
        chunks.append(block)
    parsed = _parse(b"".join(chunks))
    if parsed.torn and repair:
        log.warning("lake log %s: cut a torn last line (%d bytes, a crash while appending)",
                    path, parsed.torn)  # fmt: skip
        os.ftruncate(fd, parsed.end)
        os.fsync(fd)
        st = os.fstat(fd)
    cache = _Cache(st.st_ino, st.st_size, st.st_mtime_ns, _replay(parsed, full), False)
    return cache, parsed


@contextlib.contextmanager
def writing(site_dir: Path) -> Iterator[Writer]:
    """The site's log, locked for appending: the lake agrees with it (torn line cut, an entry
    whose rename never happened voided), and it has its first entry."""
    site_dir = Path(site_dir)
    path = log_path(site_dir)
    site_dir.mkdir(parents=True, exist_ok=True)
    new_dir = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if new_dir:
        fsync_dir(path.parent.parent)
    # readable as the lake's Parquet files are (it holds hashes and names, no visitor data)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_size == 0:
            fsync_dir(path.parent)  # the log's name is durable before anything depends on it
        cache, _ = _load(fd, path, full=False, repair=True)
        _CACHE[str(path)] = cache
        w = Writer(fd, path, site_dir, cache)
        try:
            if cache.replay.seq < 0:
                w._genesis()
            w._reconcile()
            yield w
        except BaseException:
            _CACHE.pop(str(path), None)  # re-read it next time: what is on disk is the truth
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def reading(site_dir: Path) -> Iterator[tuple[Replay, _Parsed] | None]:
    """The site's log replayed in full, under its lock (shared): no roll or compaction appends
    while it is held. None if the site has no log."""
    path = log_path(site_dir)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield None
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        cache, parsed = _load(fd, path, full=True, repair=False)
        assert parsed is not None
        yield cache.replay, parsed
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- roots
def _head(r: Replay) -> dict[str, Any]:
    return {"seq": r.seq, "hash": r.head, "time": r.last_time}


def root_of(replay: Replay, site: str, path: Path) -> dict[str, Any]:
    """What `lake_root` returns, from a replay."""
    days = replay.day_figures()
    return {
        "format": FORMAT,
        "site": site,
        "log": str(path),
        "head": _head(replay),
        "rows": sum(d["rows"] for d in days.values()),
        "files": [f for d in days.values() for f in d["files"]],
        "days": {
            k: {"rows": v["rows"], "files": len(v["files"]), "seq": v["seq"], "hash": v["hash"]}
            for k, v in days.items()
        },  # fmt: skip
        "log_problems": list(replay.problems),
    }


def _site_dir(db: Path, site: str) -> Path:
    from qinglang.collect.sites import lake_dir

    return lake_dir(Path(db)) / f"site={site}"


def _checked_site(db: Path, site: str) -> Path:
    from qinglang.collect.lake import _check

    _check(Path(db), site)
    return _site_dir(db, site)


def lake_root(db: Path, site: str) -> dict[str, Any] | None:
    """The root of a site's lake as its log tells it (nothing hashed but the log): the chain's
    head (`seq`, `hash`, `time`), the rows and files it holds, and per UTC day its rows and the
    entry that last changed it; `log_problems` lists what the log itself shows wrong (empty when
    the chain holds). None if the site has no log yet."""
    site_dir = _checked_site(db, site)
    with reading(site_dir) as got:
        if got is None:
            return None
        return root_of(got[0], site, log_path(site_dir))


def day_root(db: Path, site: str, day: str) -> dict[str, Any]:
    """The statement an operator publishes for one UTC day: the entry that last changed the day
    (its hash is the root), the day's rows and files as of that entry, and the log's head."""
    from qinglang import __version__
    from qinglang.errors import InputError

    site_dir = _checked_site(db, site)
    with reading(site_dir) as got:
        if got is None:
            raise InputError(str(db), f"site {site!r} has no lake log yet (nothing rolled)")
        replay = got[0]
    figures = replay.day_figures().get(day)
    if figures is None:
        raise InputError(str(db), f"site {site!r} holds no rows of {day} (UTC) in its lake")
    seq, h = figures["seq"], figures["hash"]
    done = _day_start_ms(day) + 86_400_000 + 5 * 60_000 <= time.time_ns() // 1_000_000
    return {
        "statement": STATEMENT,
        "qinglang": __version__,
        "site": site,
        "day": day,
        "rows": figures["rows"],
        "files": figures["files"],
        "entry": {"seq": seq, "hash": h},
        "head": _head(replay),
        "complete": done,
        "made": _now(),
        "log_problems": list(replay.problems),
    }


def _day_start_ms(day: str) -> int:
    import calendar

    return calendar.timegm(time.strptime(day, "%Y-%m-%d")) * 1000


def sign_statement(statement: dict[str, Any], key_file: Path) -> dict[str, Any]:
    """The statement with `signer` and `signature` (Ed25519 over its canonical JSON without
    `signature`, as record.canonical writes it)."""
    from qinglang.audit.record import canonical, load_private_key, public_key_info

    private = load_private_key(key_file)
    signed = {**statement, "signer": public_key_info(private.public_key())}
    signed.pop("signature", None)
    signed["signature"] = base64.b64encode(private.sign(canonical(signed))).decode("ascii")
    return signed


def check_statement(statement: dict[str, Any], key_file: Path | None = None) -> list[str]:
    """Problems with a root statement's signature (none if it is unsigned and no key is given)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from qinglang.audit.record import canonical, load_public_key, public_key_info

    sig = statement.get("signature")
    if sig is None:
        return ["the root statement is not signed"] if key_file else []
    body = {k: v for k, v in statement.items() if k != "signature"}
    try:
        raw = base64.b64decode(statement["signer"]["public_key"])
        public = Ed25519PublicKey.from_public_bytes(raw)
        public.verify(base64.b64decode(sig), canonical(body))
    except (KeyError, TypeError, ValueError, InvalidSignature):
        return ["the root statement's signature does not verify (the statement was changed)"]
    if key_file is not None:
        want = public_key_info(load_public_key(key_file))["fingerprint"]
        if statement["signer"].get("fingerprint") != want:
            return [f"the root statement is signed by another key than {key_file}"]
    return []


# ---------------------------------------------------------------------- verifying
@dataclass
class LakeCheck:
    """What `check_lake` found: `problems` (empty: the lake is what its log says), `checked`
    (what held), `notes` (harmless states, e.g. what a crash left, awaiting the next step)."""

    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    root: dict[str, Any] | None = None  # lake_root's figures, as read

    @property
    def ok(self) -> bool:
        return not self.problems


def _resolve_root(
    root: str | None, check: LakeCheck, key: Path | None = None
) -> tuple[str | None, dict | None]:
    """(entry hash, statement) from `root`: an entry's hash, or a root statement's file."""
    if root is None:
        return None, None
    text = root.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return text.lower(), None
    try:
        statement = json.loads(Path(text).read_text(encoding="utf-8"))
        h = (statement.get("entry") or statement["head"])["hash"]  # a day's, or the whole lake's
    except (OSError, ValueError, KeyError, TypeError) as e:
        check.problems.append(
            f"--root {root}: neither a log entry's hash (64 hex digits) nor a root statement "
            f"({type(e).__name__})"
        )
        return None, None
    check.problems += check_statement(statement, key)
    if statement.get("signature"):
        check.checked.append(
            f"the root statement is signed by {statement['signer'].get('fingerprint')}"
        )
    return str(h).lower(), statement


def check_lake(db: Path, site: str, root: str | None = None, key: Path | None = None) -> LakeCheck:
    """Replay the site's log and check it and the lake against each other (see `verify_lake`).
    Holds the lake's lock and the log's (shared) while it reads: compaction skips its turn and
    rolling waits (the collector goes on accepting beacons; segments wait on disk)."""
    return check_lake_dir(_checked_site(db, site), root, key)


def check_lake_dir(site_dir: Path, root: str | None = None, key: Path | None = None) -> LakeCheck:
    """`check_lake` of a site's lake directory ``<lake>/site=NAME`` (its log in ``<lake>/_log/``),
    e.g. a copy of it, without the collector's database. `key`: the public key (.pub) a root
    statement given as `root` must be signed by."""
    from qinglang.collect import compact

    check = LakeCheck()
    site_dir = Path(site_dir)
    site = _site_name(site_dir)
    want_hash, statement = _resolve_root(root, check, key)
    with compact.lake_lock(site_dir.parent, exclusive=False, wait=True):
        with reading(site_dir) as got:
            on_disk = (
                sorted(p for p in site_dir.glob("*") if p.is_file()) if site_dir.is_dir() else []
            )
            if got is None:
                if any(p.name.endswith(".parquet") for p in on_disk):
                    check.problems.append(
                        f"{log_path(site_dir)} is missing: the lake of {site!r} holds files no "
                        "log vouches for (the log was deleted, or the lake predates it)"
                    )
                else:
                    check.checked.append(f"site {site!r} has no lake yet")
                if want_hash:
                    check.problems.append(f"the published root {want_hash} is not in the log")
                return check
            replay, parsed = got
            _check_log(replay, parsed, check)
            _check_voided(replay, site_dir, check)
            if want_hash:
                _check_root(parsed, want_hash, statement, replay, check)
            _check_files(replay, site_dir, on_disk, check)
            check.root = root_of(replay, site, log_path(site_dir))
    return check


def verify_lake(db: Path, site: str, root: str | None = None, key: Path | None = None) -> list[str]:
    """Problems with a site's lake and its log; empty: every file of the lake is the one its log
    committed (SHA-256, rows and row digest), the log's chain and accounts hold (each compaction
    keeps exactly its parts' rows), no file is missing and none is added; and with `root` (a
    published entry hash, or a root statement's file from `qinglang lake root`) that the chain
    still passes through it and no day holds fewer rows now than it did then."""
    return check_lake(db, site, root, key).problems


def _check_log(replay: Replay, parsed: _Parsed, check: LakeCheck) -> None:
    check.problems += replay.problems
    n = len(parsed.entries)
    if parsed.torn:
        check.notes.append(
            f"the log ends in a torn line ({parsed.torn} bytes: a crash while appending); it is "
            "not an entry, and the next roll or compaction cuts it"
        )
    if not replay.problems:
        check.checked.append(
            f"the log's {n} entries chain from the first to the head (seq {replay.seq}, "
            f"{replay.head}), each compaction keeping exactly its base's and parts' rows"
        )


def _check_voided(replay: Replay, site_dir: Path, check: LakeCheck) -> None:
    """A voided roll's rows must come back: its segment rolls again (after a power loss it is
    still there); one that does not is a part deleted from the lake."""
    lake = site_dir.parent
    segs = lake.with_name(lake.name.removesuffix(".lake") + ".segments")
    for name, (seq, _, rows) in sorted(replay.voided.items()):
        if (segs / f"{_stem(name)}.log").exists():
            check.notes.append(
                f"{name}: its roll was voided (entry {seq}); its segment waits to roll again"
            )
        else:
            check.problems.append(
                f"{name}: its roll (entry {seq}, {rows} rows) was voided and no later roll brought "
                f"its rows back: {name} was deleted from the lake (or a power loss lost its segment)"
            )


def _check_root(
    parsed: _Parsed, want: str, statement: dict | None, now: Replay, check: LakeCheck
) -> None:
    at = _replay(parsed, full=True, stop_at=want)
    if at.head != want:
        check.problems.append(
            f"the published root {want} is not in the log: the log was rewritten or cut before it"
        )
        return
    check.checked.append(
        f"the log passes through the published root (entry {at.seq}, {at.last_time})"
    )
    then, later = at.day_figures(), now.day_figures()
    days = [statement["day"]] if statement and statement.get("day") else sorted(then)
    total = sum(d["rows"] for d in then.values())
    if statement and not statement.get("day") and statement.get("rows") != total:
        check.problems.append(
            f"the root statement says {statement.get('rows')} rows; the log held {total} at "
            "that entry"
        )
    for day in days:
        was = then.get(day, {}).get("rows", 0)
        if statement and statement.get("day") == day and statement.get("rows") != was:
            check.problems.append(
                f"the root statement says {statement.get('rows')} rows on {day}; the log held "
                f"{was} at that entry"
            )
        is_ = later.get(day, {}).get("rows", 0)
        if is_ < was:
            check.problems.append(
                f"{day}: {was} rows at the published root, {is_} now: rows removed"
            )
        elif is_ > was:
            check.notes.append(
                f"{day}: {is_ - was} rows added since the published root (late rolls)"
            )
        else:
            check.checked.append(f"{day}: {is_} rows, as at the published root")


def _check_files(replay: Replay, site_dir: Path, on_disk: list[Path], check: LakeCheck) -> None:
    current = dict(replay.current)
    last = replay.last or {}
    pending = None
    if last.get("op") in ("roll", "compact") and last.get("file") in current:
        path = site_dir / last["file"]
        if not _holds(path, last) and _holds(path.with_name(path.name + ".tmp"), last):
            pending = last
            check.notes.append(
                f"the last entry ({last['seq']}: {last['op']} {last['file']}) is logged and its "
                "file written, but not renamed yet (a kill): the next roll or compaction does it"
            )
    held = replay.held()
    good = 0
    for name, rec in sorted(current.items()):
        path = site_dir / name
        if pending is not None and name == pending["file"]:
            path = path.with_name(name + ".tmp")  # what NAME is once renamed
        if not path.exists():
            check.problems.append(
                f"{name} is missing: the log committed it (entry {rec.seq}, {rec.rows} rows)"
            )
            continue
        if _check_file(path, rec, check):
            good += 1
    check.checked.append(
        f"{good} of {len(current)} files the log holds are in the lake with their SHA-256, "
        "rows and row digests"
    )
    for path in on_disk:
        name = path.name
        if name in current:
            continue
        if name.endswith(".tmp"):
            if pending is None or name != f"{pending['file']}.tmp":
                check.notes.append(f"{name}: an unfinished write (a crash), never read")
            continue
        if not (name.startswith("part-") or name.startswith("day=")) or not name.endswith(
            ".parquet"
        ):
            check.notes.append(f"{name}: not a lake file (readers ignore it)")
            continue
        was = replay.gone.get(name)
        if was is not None and _stem(name) in held:
            if sha256_file(path)[0] == was.sha256:
                check.notes.append(f"{name}: merged into a day file, awaiting deletion")
            else:
                check.problems.append(
                    f"{name}: merged into a day file and changed since (entry {was.seq})"
                )
            continue
        check.problems.append(
            f"{name} is in the lake but not in its log: added after the fact (or the log was cut)"
        )


def _check_file(path: Path, rec: FileRec, check: LakeCheck) -> bool:
    name = path.name
    sha, _ = sha256_file(path)
    segs = rec.segments
    try:
        if segs is not None:
            rows, ds = file_digests(path, [n for _, n, _ in segs])
        else:
            rows, ds = file_digests(path)
    except (OSError, pa.ArrowException, TypeError, KeyError) as e:
        check.problems.append(f"{name}: its rows cannot be read ({type(e).__name__}: {e})")
        return False
    problems = []
    if rows != rec.rows:
        problems.append(f"{name}: {rows} rows, the log committed {rec.rows} (entry {rec.seq})")
    if segs is not None:
        bad = [f"{s[0]} (rows {sum(x[1] for x in segs[:i]) + 1}-{sum(x[1] for x in segs[: i + 1])})"
               for i, s in enumerate(segs) if i >= len(ds) or ds[i] != s[2]]  # fmt: skip
        if bad:
            problems.append(
                f"{name}: rows changed, deleted, inserted or reordered in {', '.join(bad[:5])}"
                + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            )
        elif chain(ds[: len(segs)]) != rec.digest:
            problems.append(f"{name}: its segments do not chain to the digest the log committed")
        meta = pq.read_metadata(path).metadata or {}
        stems = set(json.loads(meta.get(PARTS_KEY, b"[]")))
        if stems != rec.stems:
            problems.append(f"{name}: its footer lists other segments than the log holds")
    elif ds[0] != rec.digest:
        problems.append(f"{name}: rows changed, deleted, inserted or reordered (entry {rec.seq})")
    elif rows and first_day(pq.read_table(path, columns=["ts"])) != rec.day:
        problems.append(f"{name}: its first event is not on {rec.day}, the day the log gives it")
    if sha != rec.sha256:
        what = "and its rows" if problems else "(its rows are the same: rewritten)"
        problems.append(f"{name}: its bytes differ from the SHA-256 the log committed {what}")
    check.problems += problems
    return not problems
