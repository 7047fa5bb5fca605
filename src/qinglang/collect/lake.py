"""What `qinglang audit --db FILE --site NAME` reads: the site's Parquet lake, plus the records
still in segments that have not rolled yet (read up to their last whole record; a running
collector is not disturbed).

The lake of a site holds day files (compacted, see compact.py) and parts (rolled, not compacted
yet). A part whose segment a day file lists is skipped (a crash left it after its compaction), and
so is a segment that was rolled (its part, or a day file, names it): every event is read once.
The listing is taken under the lake's shared lock, so no compaction runs while it is taken.

`site_inputs` is what an audit should read: hard links (or copies) of those files in a directory
of the audit's own, which a later compaction cannot delete, so the paths and SHA-256 the audit
records stay true; `site_snapshot` also returns the lake's root (lakelog.py) as of that listing,
for the audit to record.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qinglang.collect import compact, lakelog, segments
from qinglang.collect.sites import SiteRegistry, is_collector_db, lake_dir, segments_dir
from qinglang.errors import ConfigError, InputError

_ATTEMPTS = 5  # a segment that rolls between the listing and its reading: list again


def site_files(db: Path, site: str, scratch: Path) -> list[Path]:
    """Parquet files holding every stored event of `site`, once each: the lake's files, read in
    place (a later compaction may delete a part: see `site_inputs`), and the rows of segments not
    rolled yet, written to `scratch`."""
    return _snapshot(Path(db), site, Path(scratch), link=False)[0]


def site_inputs(db: Path, site: str, dest: Path) -> list[Path]:
    """As `site_files`, but every file returned is in `dest` (e.g. the audit's DIR/inputs): hard
    links of the lake's files (copies where a link cannot be made, e.g. across filesystems), and
    ``pending-NAME.parquet``, the rows of segments not rolled yet. The lake never changes a file
    in place (it writes new ones and renames them), so a link keeps the content that was read,
    whatever a compaction deletes later. Files an earlier call left in `dest` and this one does not
    return (``day=*``, ``part-*``, ``pending-*``) are deleted."""
    return site_snapshot(db, site, dest)[0]


def site_snapshot(db: Path, site: str, dest: Path) -> tuple[list[Path], dict[str, Any] | None]:
    """`site_inputs`, and the lake's root (lakelog.py `root_of`: the log's head, the rows and
    files it holds, per-day figures) read under the same locks as the listing: no roll or
    compaction happens between the two, so the root describes exactly the lake files linked
    (the pending rows are not in the lake yet: no root covers them). The root is None if the
    site has no lake log."""
    dest = Path(dest)
    files, root = _snapshot(Path(db), site, dest, link=True)
    keep = {f.name for f in files}
    for pattern in (f"{compact.DAY_PREFIX}*.parquet", "part-*.parquet", "pending-*.parquet"):
        for stale in dest.glob(pattern):
            if stale.name not in keep:
                stale.unlink(missing_ok=True)
    return files, root


def _check(db: Path, site: str) -> None:
    if not db.exists():
        raise InputError(str(db), "no such collector database", usage=True)
    if not is_collector_db(db):
        raise InputError(
            str(db),
            "not a qinglang collector database (one that `qinglang site add` made)",
            usage=True,
        )
    if SiteRegistry(db).get(site) is None:
        known = ", ".join(sorted(SiteRegistry(db).all())) or "none"
        raise ConfigError(f"unknown site {site!r} in {db} (registered: {known})")


def _place(src: Path, dest: Path) -> Path:
    """`dest/<name of src>`: a hard link of `src`, or a copy; replaces what was there."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(str(dest), f"cannot make the directory: {e.strerror}", usage=True) from e
    final = dest / src.name
    with_tmp = dest / (src.name + ".tmp")
    with_tmp.unlink(missing_ok=True)
    try:
        os.link(src, with_tmp)
    except OSError:  # another filesystem, no hard links there, too many links...
        shutil.copyfile(src, with_tmp)
    os.replace(with_tmp, final)
    return final


def _snapshot(
    db: Path, site: str, scratch: Path, link: bool
) -> tuple[list[Path], dict[str, Any] | None]:
    _check(db, site)
    site_dir = lake_dir(db) / f"site={site}"
    root = None
    for attempt in range(_ATTEMPTS):
        # segments first: one that is gone by the time the lake is listed rolled before it
        seg_list = sorted(segments_dir(db).glob("seg-*.log"))
        with (
            compact.lake_lock(lake_dir(db), exclusive=False, wait=True),
            lakelog.reading(site_dir) if link else contextlib.nullcontext() as logged,
        ):
            if logged is not None:
                root = lakelog.root_of(logged[0], site, lakelog.log_path(site_dir))
            days = compact.day_files(site_dir)
            held: set[str] = set()
            for d in days:
                held |= compact.listed(d)
            parts = [p for p in compact.part_files(site_dir) if compact.stem_of(p) not in held]
            rolled = held | {compact.stem_of(p) for p in parts}
            files = days + parts
            if link:
                files = [_place(f, scratch) for f in files]
        pending = []
        try:
            for seg in seg_list:
                if seg.stem in rolled:
                    continue  # rolled already (maybe compacted); the segment is about to go
                table, _ = segments.read_segment(seg)
                pending.append(table.filter(pc.equal(table.column("site"), site)))
        except FileNotFoundError:
            if attempt == _ATTEMPTS - 1:
                raise
            continue  # it rolled after the lake was listed: list again
        break
    if sum(t.num_rows for t in pending):
        scratch.mkdir(parents=True, exist_ok=True)
        path = scratch / f"pending-{site}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(pa.concat_tables(pending), tmp)
        os.replace(tmp, path)
        files.append(path)
    if not files:
        raise InputError(str(db), f"site {site!r} has no stored events yet")
    return files, root
