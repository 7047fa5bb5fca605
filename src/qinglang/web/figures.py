"""A site's figures for the dashboard: page views, visitors and invalid shares over time, and
sources ranked by invalid share, from the lake's rollups (rollups.py) plus its live tail.

Each UTC day's categories come from the newest finished audit of the site whose period covers
that day (its labels.parquet, joined by event_id; an audit without from/to covers every day), so
an audit of one day replaces that day's categories only; events that audit did not label are
``unaudited``. Times are UTC.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from qinglang.collect import compact
from qinglang.collect.lake import site_files
from qinglang.collect.sites import lake_dir
from qinglang.errors import ConfigError, InputError
from qinglang.web import audits as audits_mod
from qinglang.web.rollups import Store, _list, connect, day_of, next_day, rollup_sql

GRAINS = ("hour", "day")
MAX_HOURS = 24 * 31  # an hourly series covers at most 31 days
MAX_DAYS = 3660
NOT_INVALID = ("valid", "unaudited")
# Figures computed at once per process (each on DuckDBs of rollups.THREADS threads): requests
# beyond it wait their turn, so open tabs and scripted callers cannot pile up queries and memory.
AT_ONCE = 2


FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)  # the days a from/to may name


def parse_day(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{field} {text[:40]!r}: expected a day as YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ConfigError(f"{field} {text!r}: expected a day from {FIRST_DAY} to {LAST_DAY}")
    return day


class Figures:
    def __init__(self, db: Path) -> None:
        self.db = Path(db)
        self.store = Store(self.db)
        self.audits_root = audits_mod.audits_root(self.db)
        self.scratch = self.db.with_name(self.db.name + ".web") / "pending"
        self._list_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._slots = threading.BoundedSemaphore(AT_ONCE)

    def _files(self, site: str) -> list[Path]:
        """Every stored event's file, once (collect.lake.site_files); [] when none yet."""
        with self._guard:
            lock = self._list_locks.setdefault(site, threading.Lock())
        with lock:  # the pending rows' file is rewritten by each listing
            try:
                return site_files(self.db, site, self.scratch / f"site={site}")
            except InputError:
                return []

    def sources_of(
        self, site: str
    ) -> tuple[list[Path], list[Path], list[Path], str | None, list[Path] | None]:
        """(rollup files of the day files, the live tail (parts, pending rows), the day files of
        the days the tail touches, the audit id, the labels of the hours it holds) for `site`."""
        done = audits_mod.done_with_labels(self.audits_root / f"site={site}")
        files = self._files(site)
        site_dir = lake_dir(self.db) / f"site={site}"
        days = [f for f in files if f.parent == site_dir and f.name.startswith(compact.DAY_PREFIX)]
        tail = [f for f in files if f not in days]
        touched: set[str] = set()
        if tail:
            con = connect()
            try:
                touched = {
                    r[0]
                    for r in con.execute(
                        f"SELECT DISTINCT strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H') FROM "
                        f"read_parquet({_list(tail)}, union_by_name = true)"
                    ).fetchall()
                }
            finally:
                con.close()
        touched_days = {h[:10] for h in touched}  # UTC hours of the tail, and their days
        seen = [  # the day files holding events of the tail's days: visitors once
            f for f in days if day_of(f) in touched_days or next_day(day_of(f)) in touched_days
        ]
        all_days = {day_of(f) for f in days} | touched_days
        all_days |= {next_day(d) for d in all_days}
        labels, audit_of = self._labels(site, done, all_days, files)
        rollups = self.store.refresh(site, days, labels, audit_of)
        live_labels = [labels[h] for h in sorted(touched) if h in labels] if done else None
        newest = next((a.id for a in done if a.id in audit_of.values()), None)
        return rollups, tail, seen, newest, live_labels

    def _labels(
        self, site: str, done: list[audits_mod.AuditInfo], days: set[str], files: list[Path]
    ) -> tuple[dict[str, Path], dict[str, str]]:
        """The labels by UTC hour, each day's from the newest audit in `done` covering it, and
        which audit that is per day."""
        audit_of: dict[str, str] = {}
        by_id = {a.id: a for a in done}
        for d in days:
            chosen = next((a for a in done if audits_mod.covers(a, d)), None)
            if chosen is not None:
                audit_of[d] = chosen.id
        labels: dict[str, Path] = {}
        for audit_id in set(audit_of.values()):
            split = self.store.labels_by_hour(site, by_id[audit_id].path, files)
            labels.update({h: p for h, p in split.items() if audit_of.get(h[:10]) == audit_id})
        self.store.keep_labels(site, set(audit_of.values()))
        return labels, audit_of

    def site(
        self, site: str, grain: str = "day", start: date | None = None, end: date | None = None
    ) -> dict[str, Any]:
        """The figures of `site` from `start` to `end` (UTC days, inclusive) by `grain`."""
        if grain not in GRAINS:
            raise ConfigError(f"grain {grain[:20]!r}: expected hour or day")
        with self._slots:
            try:
                return self._site(site, grain, start, end)
            except duckdb.IOException:  # a file replaced under the listing (a compaction, a
                return self._site(site, grain, start, end)  # new audit's rollups): list again

    def _site(self, site: str, grain: str, start: date | None, end: date | None) -> dict[str, Any]:
        rollups, live, seen, audit_id, labels = self.sources_of(site)
        con = connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            parts = []
            if rollups:
                parts.append(f"SELECT kind, t, key, cat, n FROM read_parquet({_list(rollups)})")
            if live:
                parts.append(
                    f"SELECT kind, t, key, cat, n FROM ({rollup_sql(live, labels, False, seen)})"
                )
            if not parts:
                return _empty(site, grain, audit_id)
            con.execute("CREATE TEMP TABLE rows AS " + " UNION ALL ".join(parts))
            last = con.execute("SELECT strftime(max(t), '%Y-%m-%d') FROM rows").fetchall()[0][0]
            if last is None:
                return _empty(site, grain, audit_id)
            last_day = date.fromisoformat(last)
            end = end or last_day
            span = 2 if grain == "hour" else 30
            start = start or end - timedelta(days=span - 1)
            if start > end:
                raise ConfigError("from: the first day is after the last (to)")
            limit = MAX_HOURS // 24 if grain == "hour" else MAX_DAYS
            if (end - start).days + 1 > limit:
                raise ConfigError(f"from/to: at most {limit} days at grain {grain}")
            hi = end + timedelta(days=1)
            con.execute(
                f"CREATE TEMP TABLE r AS SELECT * FROM rows WHERE t >= TIMESTAMPTZ "
                f"'{start.isoformat()} 00:00:00+00' AND t < TIMESTAMPTZ '{hi.isoformat()} 00:00:00+00'"
            )
            return {
                "site": site,
                "grain": grain,
                "from": start.isoformat(),
                "to": end.isoformat(),
                "audit": audit_id,
                "totals": _totals(con),
                "series": _series(con, grain),
                "sources": _sources(con),
            }
        finally:
            con.close()


def _empty(site: str, grain: str, audit_id: str | None) -> dict[str, Any]:
    return {"site": site, "grain": grain, "from": None, "to": None, "audit": audit_id,
            "totals": {"pv": 0, "by_category": []}, "series": [], "sources": []}  # fmt: skip


def _totals(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    rows = con.execute(
        "SELECT cat, sum(n) FROM r WHERE kind = 'hour_pv' GROUP BY cat ORDER BY 2 DESC, 1"
    ).fetchall()
    pv = sum(int(n) for _, n in rows)
    audited = sum(int(n) for c, n in rows if c != "unaudited")
    return {
        "pv": pv,
        "audited_pv": audited,
        "invalid_pv": sum(int(n) for c, n in rows if c not in NOT_INVALID),
        "by_category": [
            {"category": c, "pv": int(n), "share": round(int(n) / pv, 6) if pv else 0.0}
            for c, n in rows
        ],
    }


def _series(con: duckdb.DuckDBPyConnection, grain: str) -> list[dict[str, Any]]:
    uv_kind = "hour_uv" if grain == "hour" else "day_uv"
    rows = con.execute(
        f"SELECT strftime(date_trunc('{grain}', t), '%Y-%m-%dT%H:%MZ') AS p, kind, cat, "
        f"sum(n)::BIGINT FROM r WHERE kind IN ('hour_pv', '{uv_kind}') GROUP BY ALL ORDER BY p"
    ).fetchall()
    points: dict[str, dict[str, Any]] = {}
    for p, kind, cat, n in rows:
        point = points.setdefault(
            p, {"t": p, "pv": 0, "uv": 0, "pv_by_category": {}, "uv_by_category": {}}
        )
        which = "pv" if kind == "hour_pv" else "uv"
        point[which] += int(n)
        point[f"{which}_by_category"][cat] = int(n)
    for point in points.values():
        audited = point["uv"] - point["uv_by_category"].get("unaudited", 0)
        invalid = audited - point["uv_by_category"].get("valid", 0)
        point["invalid_uv_share"] = round(invalid / audited, 6) if audited else None
    return list(points.values())


def _sources(con: duckdb.DuckDBPyConnection, limit: int = 50) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT key, sum(n) AS pv, sum(n) FILTER (cat NOT IN ('valid', 'unaudited')) AS bad, "
        "sum(n) FILTER (cat <> 'unaudited') AS audited FROM r WHERE kind = 'src' GROUP BY key"
    ).fetchall()
    out = [
        {
            "source": key,
            "pv": int(pv),
            "audited_pv": int(audited or 0),
            "invalid_pv": int(bad or 0),
            "invalid_share": round(int(bad or 0) / int(audited), 6) if audited else None,
        }
        for key, pv, bad, audited in rows
    ]
    out.sort(key=lambda s: (-(s["invalid_share"] or 0), -s["pv"], s["source"]))
    return out[:limit]
