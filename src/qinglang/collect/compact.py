"""Compaction: a site's rolled parts merged into one Parquet file per UTC day.

Every roll writes one small part per site (``part-<segment stem>.parquet``, segments.py `roll`);
left alone, a campaign would leave hundreds of thousands of files, each an audit input. A
compaction step merges them. In ``<db>.lake/site=NAME/``:

``part-seg-<run>-<n>.parquet``
    a rolled segment's rows of this site, until compacted.
``day=YYYY-MM-DD.parquet``
    the compacted parts whose first (smallest) event ``ts`` falls on that UTC day. A part belongs
    to exactly one day, so the few seconds of a segment that spans midnight stay in the earlier
    day's file. The footer's key-value metadata ``qinglang.parts`` lists (JSON) the stems of the
    segments whose rows the file holds.
``day=YYYY-MM-DD.parquet.tmp``
    a compaction being written; one left by a crash is deleted by the next step (renamed into
    place instead if the lake log holds it already: see step 3).

``<db>.lake/.lock`` is an advisory lock (flock): a compaction holds it exclusively and skips its
turn when it is held; readers (lake.py) hold it shared while they list and link the lake.

Exactly once. A day file is authoritative for every stem it lists: readers skip a part whose stem
a day file lists, and count a pending segment as rolled when its stem is listed or rolled. One
step, for one day of one site:

1. delete the parts some day file lists already (left by a crash between 3 and 4, or rolled again
   from a segment a restart found), and day temporary files a crash left;
2. write the rows of the day's file (if any) and of the chosen parts, with the union of their
   stems, to ``day=D.parquet.tmp``, then fsync it;
3. log it in the site's lake log (lakelog.py: its SHA-256, rows, its base's and parts' row
   digests) and fdatasync the log, then ``os.replace`` it onto ``day=D.parquet`` and fsync the
   directory: the commit point (a kill between the log and the rename: the log's recovery, at
   the next roll or step, finishes the rename from the temporary file, which it then keeps);
4. delete the merged parts and fsync the directory.

Step 1's deletions of parts the log still holds (rolled again after their compaction) are logged
(``drop``) before they happen. A step that has nothing to do does not touch the log.

A kill before 3 leaves the old day file and the parts, as they were (the temporary file is never
read); a kill after 3 leaves parts the new day file lists, which readers skip and step 1 deletes.
The stems stay known after their parts are gone, so a segment that was rolled and compacted but
not yet deleted is never read again as pending rows.

When. A complete UTC day (past midnight by ``GRACE_MS``) is compacted whenever it has parts (late
parts, e.g. rolled at a restart, are merged into its file again). The current day is compacted
once it has ``threshold`` parts (``$QINGLANG_COMPACT_PARTS``, 256) holding at least a quarter of
the bytes of its day file so far, or ``4 x threshold`` parts in any case: the rewrites of a
growing day file stay a small multiple of its size. The collector runs a step at most every
``$QINGLANG_COMPACT_SECONDS`` (60) seconds, beside its rolling, at the rolling's low priority.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qinglang.collect import lakelog
from qinglang.events import EVENT_SCHEMA

log = logging.getLogger("qinglang.collect")

PARTS_KEY = lakelog.PARTS_KEY  # the day file's footer: JSON list of the segment stems it holds
DAY_PREFIX = "day="
PART_PREFIX = "part-"
LOCK_NAME = ".lock"
DAY_MS = 86_400_000
GRACE_MS = 5 * 60_000  # a day is complete this long after its midnight (late rolls land first)
THRESHOLD = 256  # parts of the current day before it is compacted
GROWTH = 4  # ... and they hold at least 1/GROWTH of its day file's bytes (or GROWTH x threshold)
EVERY_S = 60.0  # the collector's compaction steps, at most this often
ROW_GROUP = 128 * 1024  # rows per row group of a day file (small parts are gathered)
PARTS_ENV, SECONDS_ENV = "QINGLANG_COMPACT_PARTS", "QINGLANG_COMPACT_SECONDS"


def _env(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        log.warning("$%s is not a number: using %s", name, default)
        return default
    return value if value >= 0 else default


def threshold() -> int:
    return max(1, int(_env(PARTS_ENV, THRESHOLD)))


def interval() -> float:
    return _env(SECONDS_ENV, EVERY_S)


# ---------------------------------------------------------------------- the lake, as compaction sees it
def day_files(site_dir: Path) -> list[Path]:
    return sorted(Path(site_dir).glob(f"{DAY_PREFIX}*.parquet"))


def part_files(site_dir: Path) -> list[Path]:
    return sorted(Path(site_dir).glob(f"{PART_PREFIX}*.parquet"))


def stem_of(part: Path) -> str:
    """The segment a part was rolled from: ``part-seg-1-000001.parquet`` -> ``seg-1-000001``."""
    return part.stem.removeprefix(PART_PREFIX)


def listed(day_file: Path) -> set[str]:
    """The segment stems a day file holds (from its footer)."""
    meta = pq.read_metadata(day_file).metadata or {}
    return set(json.loads(meta.get(PARTS_KEY, b"[]")))


def contained(site_dir: Path) -> set[str]:
    """Every segment stem some day file of the site holds."""
    out: set[str] = set()
    for f in day_files(site_dir):
        out |= listed(f)
    return out


@contextlib.contextmanager
def lake_lock(lake: Path, exclusive: bool, wait: bool) -> Iterator[bool]:
    """The lake's advisory lock; yields whether it is held (False: busy and not `wait`; or no lake
    yet, or one this process cannot lock, e.g. read-only: then readers go on without it)."""
    path = Path(lake) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        try:
            fd = os.open(path, os.O_RDONLY)  # a lake this process may only read
        except OSError:
            yield False
            return
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, mode | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _utc_day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def _day_start_ms(day: str) -> int:
    import calendar

    return calendar.timegm(time.strptime(day, "%Y-%m-%d")) * 1000


_DAYS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> day: parts never change


def part_day(part: Path) -> str:
    """The UTC day of a part's first event (of its file's mtime if it has no rows)."""
    st = part.stat()
    key = (str(part), st.st_size, st.st_mtime_ns)
    day = _DAYS.get(key)
    if day is None:
        ts = pq.read_table(part, columns=["ts"]).column("ts")
        first = pc.min(ts.cast(pa.int64())).as_py() if len(ts) else None
        day = _utc_day(first if first is not None else st.st_mtime_ns // 1_000_000)
        if len(_DAYS) > 200_000:
            _DAYS.clear()
        _DAYS[key] = day
    return day


# ---------------------------------------------------------------------- one step
def _delete(paths: Iterable[Path]) -> None:
    """Delete parts that a day file holds (step 1 and step 4)."""
    for p in paths:
        p.unlink(missing_ok=True)


def _merge(
    sources: list[Path], stems: set[str], tmp: Path, hashed: list[bool]
) -> list[tuple[int, str | None]]:
    """Write the rows of `sources`, in order, to `tmp` with `stems` in its footer; fsync it.
    Returns each source's rows and, where `hashed` says so, its row digest (lakelog.py)."""
    schema = EVENT_SCHEMA.with_metadata({PARTS_KEY: json.dumps(sorted(stems)).encode()})
    out: list[tuple[int, str | None]] = []
    with pq.ParquetWriter(tmp, schema) as writer:
        buf: list[pa.Table] = []
        held = 0
        for src, digest in zip(sources, hashed, strict=True):
            rows = 0
            d = lakelog.RowDigest() if digest else None
            with pq.ParquetFile(src) as f:
                for i in range(f.num_row_groups):
                    t = f.read_row_group(i).select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
                    if d is not None:
                        d.update(t)
                    buf.append(t)
                    held += t.num_rows
                    rows += t.num_rows
                    if held >= ROW_GROUP:
                        writer.write_table(pa.concat_tables(buf).combine_chunks())
                        buf, held = [], 0
            out.append((rows, d.hexdigest() if d is not None else None))
        if held:
            writer.write_table(pa.concat_tables(buf).combine_chunks())
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    return out


def compact_day(site_dir: Path, day: str, parts: list[Path], ledger: lakelog.Writer) -> Path:
    """Merge `parts` into the day file of `day` (steps 2-4), committed through the site's lake
    log `ledger` (its digest chains its base's digest on with the parts' row digests). The caller
    holds the lake's lock and has already deleted the parts a day file holds (step 1)."""
    site_dir = Path(site_dir)
    final = site_dir / f"{DAY_PREFIX}{day}.parquet"
    tmp = final.with_name(final.name + ".tmp")
    stems = {stem_of(p) for p in parts}
    sources = list(parts)
    hashed = [True] * len(parts)
    base = None
    base_info: dict[str, Any] | None = None
    if final.exists():
        stems |= listed(final)
        sources.insert(0, final)
        base = ledger.current(final.name)
        hashed.insert(0, base is None)  # a day file the log does not hold: one segment
    try:
        merged = _merge(sources, stems, tmp, hashed)
        if final.exists():
            (base_rows, base_d), merged = merged[0], merged[1:]
            if base is None:
                sha, _ = lakelog.sha256_file(final)
                base_info = {
                    "sha256": sha,
                    "rows": base_rows,
                    "digest": lakelog.chain([str(base_d)]),
                }
            else:
                base_info = {"sha256": base.sha256, "rows": base.rows, "digest": base.digest}
                if base_rows != base.rows:  # the log is kept as it is: verify_lake names it
                    log.warning("%s holds %d rows, its lake log %d", final, base_rows, base.rows)
        infos = [
            {"file": p.name, "rows": n, "digest": d}
            for p, (n, d) in zip(parts, merged, strict=True)
        ]
        rows = (base_info["rows"] if base_info else 0) + sum(n for n, _ in merged)
        digest = lakelog.chain(
            [str(i["digest"]) for i in infos], base_info["digest"] if base_info else None
        )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # the commit point: logged, then renamed; from here the day file holds the parts' rows (a
    # temporary file a failure leaves here is renamed by the log's recovery if it was logged,
    # else deleted by the next step)
    ledger.commit("compact", tmp, final, rows=rows, digest=digest, day=day, base=base_info,
               parts=infos)  # fmt: skip
    _delete(parts)
    lakelog.fsync_dir(site_dir)
    return final


def _due(day: str, parts: list[Path], site_dir: Path, now_ms: int, limit: int) -> bool:
    if not parts:
        return False
    if _day_start_ms(day) + DAY_MS + GRACE_MS <= now_ms:
        return True  # a complete day: every part goes into its file
    if len(parts) < limit:
        return False
    if len(parts) >= GROWTH * limit:
        return True
    final = site_dir / f"{DAY_PREFIX}{day}.parquet"
    size = final.stat().st_size if final.exists() else 0
    return GROWTH * sum(p.stat().st_size for p in parts) >= size


def _plan(
    site_dir: Path, now_ms: int, limit: int, force: bool
) -> tuple[list[Path], list[Path], list[tuple[str, list[Path]]]]:
    """What a step does: the temporary files to delete, the parts a day file holds already (to
    delete), and the days due with their parts."""
    tmps = list(site_dir.glob(f"{DAY_PREFIX}*.parquet.tmp"))
    held = contained(site_dir)
    parts = part_files(site_dir)
    done = [p for p in parts if stem_of(p) in held]
    by_day: dict[str, list[Path]] = {}
    for p in parts:
        if stem_of(p) not in held:
            by_day.setdefault(part_day(p), []).append(p)
    due = [
        (day, day_parts)
        for day, day_parts in sorted(by_day.items())
        if force or _due(day, day_parts, site_dir, now_ms, limit)
    ]
    return tmps, done, due


def compact_site(
    site_dir: Path, now_ms: int | None = None, limit: int | None = None, force: bool = False
) -> list[Path]:
    """One compaction step for one site (the caller holds the lake's lock): clear what a crash
    left (step 1), then compact each day that is due (every day with parts if `force`), each
    committed through the site's lake log, held (lakelog.writing) for the whole step. Returns
    the day files written."""
    site_dir = Path(site_dir)
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    limit = threshold() if limit is None else limit
    if not any(_plan(site_dir, now_ms, limit, force)):
        return []  # nothing to do: the log is not touched
    with lakelog.writing(site_dir) as ledger:
        # a day file whose commit a kill interrupted (logged, not renamed) is renamed by the log's
        # recovery: written by this step; then the step is planned again
        written = [p for p in ledger.completed if p.name.startswith(DAY_PREFIX)]
        tmps, done, due = _plan(site_dir, now_ms, limit, force)
        for tmp in tmps:
            tmp.unlink(missing_ok=True)  # only compaction writes these, and it holds the lock
        if done:
            ledger.drop(done, "a day file holds its rows (rolled again after its compaction)")
            _delete(done)
            lakelog.fsync_dir(site_dir)
        for day, day_parts in due:
            written.append(compact_day(site_dir, day, day_parts, ledger))
    return written


def compact(
    lake: Path,
    now_ms: int | None = None,
    limit: int | None = None,
    force: bool = False,
    wait: bool = False,
) -> list[Path]:
    """One compaction step for every site of the lake, under its lock. If another process holds
    the lock (a compaction, or an audit listing the lake), returns [] unless `wait`."""
    lake = Path(lake)
    if not lake.is_dir():
        return []
    written: list[Path] = []
    with lake_lock(lake, exclusive=True, wait=wait) as locked:
        if not locked:
            return []
        for site_dir in sorted(lake.glob("site=*")):
            if site_dir.is_dir():
                written += compact_site(site_dir, now_ms, limit, force)
    return written


_last: dict[str, float] = {}


def maybe_compact(lake: Path) -> list[Path]:
    """A compaction step if the last one in this process was `interval()` ago or more; errors are
    logged, never raised (the collector goes on rolling; the next step tries again)."""
    key = str(lake)
    now = time.monotonic()
    if key in _last and now - _last[key] < interval():
        return []
    _last[key] = now
    try:
        return compact(lake)
    except Exception as e:
        log.error("compacting the lake %s failed: %s", lake, e)
        return []
