"""What `qinglang audit --db FILE --site NAME` reads: the site's Parquet lake, plus the records
still in segments that have not rolled yet (read up to their last whole record; a running
collector is not disturbed)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qinglang.collect import segments
from qinglang.collect.sites import SiteRegistry, lake_dir, segments_dir
from qinglang.errors import ConfigError, InputError


def site_files(db: Path, site: str, scratch: Path) -> list[Path]:
    """Parquet files holding every stored event of `site`; pending segment rows go to `scratch`."""
    if not Path(db).exists():
        raise InputError(str(db), "no such collector database")
    if SiteRegistry(db).get(site) is None:
        known = ", ".join(sorted(SiteRegistry(db).all())) or "none"
        raise ConfigError(f"unknown site {site!r} in {db} (registered: {known})")
    files = sorted((lake_dir(db) / f"site={site}").glob("*.parquet"))
    rolled = {f.stem.removeprefix("part-") for f in files}
    pending = []
    for seg in sorted(segments_dir(db).glob("seg-*.log")):
        if seg.stem in rolled:
            continue  # rolled already; the segment is about to be deleted
        table, _ = segments.read_segment(seg)
        pending.append(table.filter(pc.equal(table.column("site"), site)))
    if sum(t.num_rows for t in pending):
        scratch.mkdir(parents=True, exist_ok=True)
        path = scratch / f"pending-{site}.parquet"
        pq.write_table(pa.concat_tables(pending), path)
        files.append(path)
    if not files:
        raise InputError(str(db), f"site {site!r} has no stored events yet")
    return files
