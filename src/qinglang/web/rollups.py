"""Hourly rollups of a site's lake, kept per UTC day, so that a page never scans events.

Each UTC day that the compacted day files of ``DB.lake/site=NAME/`` hold gets one small Parquet
file of counts in ``DB.web/rollups/site=NAME/``, of that day's events in its own day file and
in the day before's (a day file can run past its midnight), named after those files' names,
sizes and mtimes and the audit whose labels it joined (each day's categories come from the
newest finished audit whose period covers that day, see figures.py): a day file that compaction
rewrote, or a newer audit, makes a new rollup (the old one is deleted). Only the live tail is
read per request: the parts and the segments not compacted yet, with the day files holding
events of the days they touch, so that a visitor counts once per UTC day and hour.

Rows (`ROLLUP_COLUMNS`): ``kind`` is ``hour_pv`` (page views per hour and category),
``hour_uv`` and ``day_uv`` (visitors per hour or day, each under one category: ``valid`` if
any of their page views was, else ``unaudited`` if any was not audited, else their most
frequent invalid category) and ``src`` (page views per day, source and category; at most
`MAX_SOURCES` sources per day, the rest as ``(other)``). Times are UTC. A page view is an event
of kind ``pageview``; its category is its day's audit's label (``valid`` or the invalid
category), or ``unaudited`` for events that audit did not cover.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import threading
from datetime import date, timedelta
from pathlib import Path

import duckdb

from qinglang.collect import compact
from qinglang.events import visitor_key_sql
from qinglang.features.urls import URL_HOST_RE, host_sql

THREADS = 2  # DuckDB threads of each dashboard query (figures, rollups, labels by hour)


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for one dashboard computation, capped at THREADS threads."""
    return duckdb.connect(config={"threads": THREADS})


MAX_SOURCES = 200
ROLLUP_COLUMNS = ("f", "kind", "t", "key", "cat", "n")
_UTM_SOURCE = r"[?&]utm_source=([^&#]{1,100})"
_HOST_RE = re.compile(URL_HOST_RE)  # the sessions' host, in Python
_UTM_RE = re.compile(_UTM_SOURCE)
SOURCE_CHARS = 200


def source_of(source: str | None, url: str | None, referrer: str | None) -> str:
    """An event's source as the rollups' SQL derives it (`rollup_sql`): its `source`, else the
    URL's `utm_source`, else the referrer's host, else `(direct)`."""
    if source:
        return source[:SOURCE_CHARS]
    utm = _UTM_RE.search(url or "")
    if utm and utm.group(1):
        return utm.group(1)[:SOURCE_CHARS]
    host = _HOST_RE.match(referrer or "")
    if host and host.group(1):
        return host.group(1).lower()[:SOURCE_CHARS]
    return "(direct)"


def _lit(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _list(paths: list[Path]) -> str:
    return "[" + ", ".join(_lit(p) for p in paths) + "]"


def rollup_sql(
    files: list[Path],
    labels: list[Path] | None,
    per_file: bool = True,
    seen: list[Path] | None = None,
) -> str:
    """Rollup rows (`ROLLUP_COLUMNS`) of the pageviews in `files`, labelled by `labels`: per
    UTC day of the events (`per_file`: `f` is the day, whichever file holds the event; a day
    file can run past its midnight), or all files' together.
    `seen`: files whose rollups are counted apart (the day files of the days `files` touch): a
    visitor they hold in an hour or a day is not counted again here (their page views are)."""
    join = f"LEFT JOIN read_parquet({_list(labels)}) l ON l.event_id = e.event_id" if labels else ""
    cat = (
        "CASE WHEN l.event_id IS NULL THEN 'unaudited' WHEN l.verdict = 'invalid' "
        "THEN coalesce(l.category, 'invalid') ELSE 'valid' END"
        if labels
        else "'unaudited'"
    )
    source = (
        "coalesce(nullif(e.source, ''), "
        f"nullif(regexp_extract(e.url, '{_UTM_SOURCE}', 1), ''), "
        f"{host_sql('e.referrer')}, '(direct)')"
    )
    return f"""
WITH ev AS (
  SELECT {"strftime(e.ts AT TIME ZONE 'UTC', '%Y-%m-%d')" if per_file else "''"} AS f, e.ts, {visitor_key_sql("e")} AS v,
         left({source}, {SOURCE_CHARS}) AS src, {cat} AS cat
  FROM read_parquet({_list(files)}, filename = true, union_by_name = true) e {join}
  WHERE e.event = 'pageview'),
vis AS (
  SELECT f, date_trunc('hour', ts) AS h, v, bool_or(cat = 'valid') AS ok,
         bool_or(cat = 'unaudited') AS un, mode(cat) FILTER (cat NOT IN ('valid', 'unaudited')) AS bad
  FROM ev GROUP BY ALL),
vday AS (
  SELECT f, date_trunc('day', h) AS d, v, bool_or(ok) AS ok, bool_or(un) AS un,
         mode(bad) AS bad FROM vis GROUP BY ALL),{_seen_sql(seen)}
srcs AS (
  SELECT f, date_trunc('day', ts) AS d, src, cat, count(*) AS n FROM ev GROUP BY ALL),
top AS (
  SELECT f, src FROM (SELECT f, src, row_number() OVER (PARTITION BY f ORDER BY sum(n) DESC,
         src) AS r FROM srcs GROUP BY f, src) WHERE r <= {MAX_SOURCES})
SELECT f, 'hour_pv' AS kind, date_trunc('hour', ts) AS t, NULL::VARCHAR AS key, cat,
       count(*) AS n FROM ev GROUP BY ALL
UNION ALL
SELECT f, 'hour_uv', h, NULL, {_VISITOR_CAT}, count(*) FROM vis
{"ANTI JOIN seen_h USING (h, v)" if seen else ""} GROUP BY ALL
UNION ALL
SELECT f, 'day_uv', d, NULL, {_VISITOR_CAT}, count(*) FROM vday
{"ANTI JOIN seen_d USING (d, v)" if seen else ""} GROUP BY ALL
UNION ALL
SELECT s.f, 'src', s.d, CASE WHEN t.src IS NULL THEN '(other)' ELSE s.src END, s.cat, sum(s.n)
FROM srcs s LEFT JOIN top t ON t.f = s.f AND t.src = s.src GROUP BY ALL"""


def split_labels_sql(labels: Path, inputs: list[Path], out: Path) -> str:
    """An audit's labels with the UTC hour of their events, written partitioned by that hour."""
    return f"""COPY (
  SELECT strftime(min(e.ts) AT TIME ZONE 'UTC', '%Y-%m-%dT%H') AS d, l.event_id,
         any_value(l.verdict) AS verdict, any_value(l.category) AS category
  FROM read_parquet({_lit(labels)}) l
  JOIN read_parquet({_list(inputs)}, union_by_name = true) e ON e.event_id = l.event_id
  GROUP BY l.event_id) TO {_lit(out)} (FORMAT parquet, PARTITION_BY (d))"""


@functools.cache
def rollup_version() -> str:
    """A hash of the SQL that makes the stored rollups and label splits, as this code writes it
    (with stand-in paths): files made by other code carry another and are made again."""
    sql = rollup_sql([Path("day.parquet")], [Path("labels.parquet")]) + split_labels_sql(
        Path("labels.parquet"), [Path("day.parquet")], Path("out")
    )
    return hashlib.sha256(sql.encode()).hexdigest()[:12]


def _split_name(audit_id: str) -> str:
    """The directory of an audit's label split: its id and the version of the code that split it."""
    return f"{audit_id}.v{rollup_version()}"


def _seen_sql(seen: list[Path] | None) -> str:
    if not seen:
        return ""
    key = "coalesce(visitor_id, ip || '|' || user_agent)"
    return f"""
seen_h AS (
  SELECT DISTINCT date_trunc('hour', ts) AS h, {key} AS v
  FROM read_parquet({_list(seen)}, union_by_name = true)
  WHERE event = 'pageview' AND {key} IN (SELECT v FROM ev)),
seen_d AS (SELECT DISTINCT date_trunc('day', h) AS d, v FROM seen_h),"""


_VISITOR_CAT = (
    "CASE WHEN ok THEN 'valid' WHEN un THEN 'unaudited' ELSE coalesce(bad, 'invalid') END"
)


class Store:
    """The rollup files of one database, and the lock that keeps two refreshes apart."""

    def __init__(self, db: Path) -> None:
        self.root = Path(db).with_name(Path(db).name + ".web") / "rollups"
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, site: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(site, threading.Lock())

    def site_dir(self, site: str) -> Path:
        return self.root / f"site={site}"

    @staticmethod
    def name_for(day: str, files: list[Path], audit_id: str | None) -> str:
        """The rollup file of a day: named by the day, the state of its source files, the audit
        that labels it and how rollups are computed (`rollup_version`), so a rollup made by
        other code is never read as this code's: it is recomputed, and the old file deleted."""
        state = "|".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
        key = f"{day}|{state}|{audit_id or '-'}|{rollup_version()}"
        tag = hashlib.sha256(key.encode()).hexdigest()[:20]
        return f"{compact.DAY_PREFIX}{day}.{tag}.parquet"

    def refresh(
        self, site: str, day_files: list[Path], labels: dict[str, Path], audit_of: dict[str, str]
    ) -> list[Path]:
        """The rollups of the UTC days `day_files` hold, computing those missing (in one scan),
        deleting those of files gone or changed. A day's rollup counts the events of that day
        in its own day file and in the day before's (which may run past its midnight), so each
        visitor counts once a day and once an hour. `labels`: the labels by UTC hour
        (`labels_by_hour`), each day's from the audit `audit_of[day]`."""
        out = self.site_dir(site)
        out.mkdir(parents=True, exist_ok=True)
        by_day = {day_of(f): f for f in day_files}

        def sources(d: str) -> list[Path]:
            return [f for f in (by_day.get(prev_day(d)), by_day.get(d)) if f is not None]

        with self.lock(site):
            days = sorted(set(by_day) | {next_day(d) for d in by_day})
            want = {self.name_for(d, sources(d), audit_of.get(d)): d for d in days}
            missing = [(n, d) for n, d in want.items() if not (out / n).is_file()]
            if missing:
                files = sorted({f for _, d in missing for f in sources(d)})
                todo = {d for _, d in missing}
                self._compute(missing, files, [p for h, p in sorted(labels.items())
                                               if h[:10] in todo], out)  # fmt: skip
            for old in out.glob("*.parquet"):
                if old.name not in want:
                    old.unlink(missing_ok=True)
        return [out / n for n in want]

    def _compute(
        self, days: list[tuple[str, str]], files: list[Path], labels: list[Path], out: Path
    ) -> None:
        con = connect()
        try:
            con.execute(f"CREATE TEMP TABLE r AS {rollup_sql(files, labels)}")
            for name, day in days:
                final = out / name
                tmp = final.with_name(final.name + ".tmp")
                con.execute(
                    f"COPY (SELECT kind, t, key, cat, n FROM r WHERE f = {_lit(day)}) "
                    f"TO {_lit(tmp)} (FORMAT parquet)"
                )
                os.replace(tmp, final)
        finally:
            con.close()

    def labels_by_hour(self, site: str, audit_dir: Path, lake_files: list[Path]) -> dict[str, Path]:
        """An audit's labels split by the UTC hour of their events (``YYYY-MM-DDTHH``; made once
        per audit, under ``DB.web/labels/site=NAME/<audit id>/``), so that a page joins the
        labels of the hours its live tail holds, not every label. The events' times come from
        the audit's own inputs (the lake files it read, linked in its ``inputs/``), else from
        `lake_files`."""
        final = self.root.parent / "labels" / f"site={site}" / _split_name(audit_dir.name)
        with self.lock(f"labels:{site}"):
            if not final.is_dir():
                self._split_labels(audit_dir, lake_files, final)
        return {p.name.removeprefix("d="): p / "*.parquet" for p in final.glob("d=*")}

    @staticmethod
    def _split_labels(audit_dir: Path, lake_files: list[Path], final: Path) -> None:
        inputs = sorted((audit_dir / "inputs").glob("*.parquet")) or lake_files
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        if not inputs:
            tmp.mkdir()
        else:
            con = connect()
            try:
                con.execute(split_labels_sql(audit_dir / "labels.parquet", inputs, tmp))
            finally:
                con.close()
        tmp.rename(final)

    def keep_labels(self, site: str, audit_ids: set[str]) -> None:
        """Delete the label splits of audits no day takes its categories from any more."""
        with self.lock(f"labels:{site}"):
            keep = {_split_name(a) for a in audit_ids}
            for old in (self.root.parent / "labels" / f"site={site}").glob("*"):
                if old.name not in keep and not old.name.endswith(".tmp"):
                    shutil.rmtree(old, ignore_errors=True)


def day_of(day_file: Path) -> str:
    return day_file.stem.removeprefix(compact.DAY_PREFIX)


def next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def prev_day(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()
