"""The audits a dashboard shows: listed from a directory per site, run in the background.

A collector database `DB` keeps them in ``DB.audits/site=NAME/<id>/`` (the outputs of
`qinglang audit --db DB --site NAME`, plus ``web-status.json``: running, done or failed, and
the options it was run with). `qinglang ui AUDIT_DIR` lists the audits of a directory instead,
read-only. One audit runs at a time (a worker thread); the rest wait in its queue, which holds
at most one audit per site and `MAX_QUEUED` in all (`Busy` otherwise). ``web-status.json``
records who started each audit (`by`: a user name, or ``scheduled``). Of the scheduled audits,
the newest `KEEP_SCHEDULED` are kept.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import secrets
import shutil
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qinglang.errors import QinglangError

AUDIT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
DOWNLOADS = {
    "report.html": "text/html; charset=utf-8",
    "audit.json": "application/json",
    "manifest.json": "application/json",
    "seal.json": "application/json",
    "report.pdf": "application/pdf",
}
STATUS = "web-status.json"
log = logging.getLogger("qinglang.web")
MAX_QUEUED = 8  # audits queued or running at once, all sites together
KEEP_SCHEDULED = 24  # finished --audit-every audits kept per site (the newest)


class Busy(QinglangError):
    """An audit cannot be queued now (one of the site's is queued or running; the queue is full)."""


def audits_root(db: Path) -> Path:
    return db.with_name(db.name + ".audits")


@dataclass
class AuditInfo:
    id: str
    path: Path
    state: str  # running, done, failed
    created: str
    options: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    files: list[str] = field(default_factory=list)
    order: float = 0.0  # when it was submitted, finer than `created` (two in one second)
    by: str | None = None  # who started it: a user name, or "scheduled"

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "created": self.created,
            "options": self.options,
            "error": self.error,
            "files": self.files,
            "by": self.by,
        }


def _info(path: Path) -> AuditInfo | None:
    status: dict[str, Any] = {}
    try:
        status = json.loads((path / STATUS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        if not (path / "audit.json").is_file():
            return None
        status = {"state": "done"}
    files = [n for n in DOWNLOADS if (path / n).is_file()]
    created = status.get("created") or datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    state = status.get("state", "done")
    if state == "done" and "audit.json" not in files:
        state = "failed"
    order = status.get("submitted")
    return AuditInfo(path.name, path, state, created, status.get("options", {}),
                     status.get("error"), files,
                     float(order) if isinstance(order, int | float) else 0.0,
                     str(status["by"]) if status.get("by") else None)  # fmt: skip


def list_audits(site_dir: Path) -> list[AuditInfo]:
    """The audits in `site_dir` (a directory of audit directories, or one audit), newest first."""
    if (site_dir / "audit.json").is_file():
        found = _info(site_dir)
        return [found] if found else []
    if not site_dir.is_dir():
        return []
    infos = [
        i
        for p in site_dir.iterdir()
        if p.is_dir() and AUDIT_ID_RE.match(p.name) and (i := _info(p)) is not None
    ]
    return sorted(infos, key=lambda i: (i.created, i.order, i.id), reverse=True)


def find_audit(site_dir: Path, audit_id: str) -> AuditInfo | None:
    if not AUDIT_ID_RE.match(audit_id):
        return None
    return next((a for a in list_audits(site_dir) if a.id == audit_id), None)


def done_with_labels(site_dir: Path) -> list[AuditInfo]:
    """The finished audits that left labels, newest first."""
    return [
        a
        for a in list_audits(site_dir)
        if a.state == "done" and (a.path / "labels.parquet").is_file()
    ]


def covers(info: AuditInfo, day: str) -> bool:
    """Whether the audit's period holds the UTC day `day` (YYYY-MM-DD): an audit run without
    `from`/`to` covers every day."""
    start, end = info.options.get("from") or "", info.options.get("to") or ""
    return (not start or str(start) <= day) and (not end or day <= str(end))


def prune_scheduled(site_dir: Path, keep: int = KEEP_SCHEDULED) -> list[str]:
    """Delete all but the newest `keep` finished scheduled audits of a site; returns their ids.
    Safe for the live categories: a scheduled audit covers every day, so the newest one
    supersedes every older one (audits run from the form or the API are kept)."""
    old = [a for a in list_audits(site_dir) if a.id.split("-")[1:2] == ["scheduled"]
           and a.state in ("done", "failed")][keep:]  # fmt: skip
    for a in old:
        shutil.rmtree(a.path, ignore_errors=True)
    return [a.id for a in old]


def load_facts(info: AuditInfo) -> dict[str, Any]:
    """audit.json of a finished audit (parsed once per version of the file: it can be large)."""
    path = info.path / "audit.json"
    st = path.stat()
    return _parsed(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _parsed(path: str, size: int, mtime_ns: int) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _write_status(path: Path, status: dict[str, Any]) -> None:
    tmp = path / (STATUS + ".tmp")
    tmp.write_text(json.dumps(status, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path / STATUS)


class Runner:
    """Runs audits of a collector's sites one at a time in a worker thread."""

    def __init__(self, db: Path, on_done: Any = None) -> None:
        self.db = Path(db)
        self.root = audits_root(self.db)
        self.on_done = on_done
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qinglang-audit")
        self._lock = threading.Lock()
        self._active: dict[str, tuple[str, Future]] = {}  # site -> its queued or running audit

    def site_dir(self, site: str) -> Path:
        return self.root / f"site={site}"

    def submit(
        self, site: str, options: dict[str, Any], kind: str = "manual", by: str | None = None
    ) -> tuple[str, Future]:
        """Queue an audit of `site` started by `by`; `Busy` if one of the site's is queued or
        running, or `MAX_QUEUED` are."""
        with self._lock:
            self._active = {s: a for s, a in self._active.items() if not a[1].done()}
            if site in self._active:
                raise Busy(f"audit {self._active[site][0]} of {site} is queued or running; "
                           "run another when it is done")  # fmt: skip
            if len(self._active) >= MAX_QUEUED:
                raise Busy(f"{MAX_QUEUED} audits are queued or running; try again later")
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            audit_id = f"{stamp}-{kind}-{secrets.token_hex(3)}"
            path = self.site_dir(site) / audit_id
            path.mkdir(parents=True)
            created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            status = {"state": "running", "created": created, "options": options, "kind": kind,
                      "by": by or kind, "submitted": time.time()}  # fmt: skip
            _write_status(path, status)
            future = self._pool.submit(self._run, site, path, status)
            self._active[site] = (audit_id, future)
        return audit_id, future

    def _run(self, site: str, path: Path, status: dict[str, Any]) -> None:
        from qinglang.audit.run import AuditOptions, run_audit
        from qinglang.collect.lake import site_snapshot

        o = status["options"]
        started = time.monotonic()
        try:
            files, root = site_snapshot(self.db, site, path / "inputs")
            run_audit(
                files,
                path,
                AuditOptions(
                    fmt="parquet",
                    unit_price=float(o.get("price", 1.0)),
                    per=int(o.get("per", 1000)),
                    currency=str(o.get("currency", "CNY")),
                    lang=str(o.get("lang", "zh")),
                    tz=str(o.get("tz", "UTC")),
                    period_from=o.get("from") or None,
                    period_to=o.get("to") or None,
                ),
                lake_root=root,
            )
            status.update(state="done")
        except QinglangError as exc:
            status.update(state="failed", error=str(exc)[:500])
        except Exception:  # a bug: logged with its detail; the status names it only
            ref = secrets.token_hex(4)
            log.exception("audit %s of %s failed (ref %s)", path.name, site, ref)
            status.update(state="failed", error=f"internal error (see the server log, ref {ref})")
        status["seconds"] = round(time.monotonic() - started, 2)
        _write_status(path, status)
        if status.get("kind") == "scheduled":
            prune_scheduled(self.site_dir(site))
        if self.on_done is not None and status["state"] == "done":
            self.on_done(site)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
