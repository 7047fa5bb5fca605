"""`qinglang serve --engine rust`: the HTTP side in Rust (`front/`, the `qinglang-front` binary),
the lake in Python.

The Rust front answers every request exactly as the Python collector (app.py + steps.py) would:
the same steps, statuses, reasons, records and metrics. The limits and the client-field contract
are handed to it from steps.py, so both engines share one definition. This process:

1. recovers the segments an earlier run left (torn tails cut), remembers their used tokens for the
   replay check, and rolls them into the lake;
2. writes the front's config and the sites file (rewritten when `qinglang site add` adds one);
3. starts the front, and rolls each segment it reports closed into the Parquet lake, and
   compacts the lake's parts into day files now and then (compact.py);
4. stops it by closing its stdin (on SIGTERM or Ctrl-C); if this process dies, even by SIGKILL,
   the front sees its stdin close and stops too. Acknowledged beacons are already fsync'd.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from qinglang.collect import compact, segments, steps
from qinglang.collect.sites import SiteRegistry, lake_dir, segments_dir
from qinglang.errors import ConfigError
from qinglang.events import MAX_LIST, MAX_TEXT, MAX_UA, MAX_URL

log = logging.getLogger("qinglang.collect")
FRONT_ENV = "QINGLANG_FRONT"


def find_front() -> str | None:
    """The `qinglang-front` binary: $QINGLANG_FRONT, else beside this Python (the venv's bin, where
    `cargo install --path . --root ../.venv` run in front/ puts it), else on PATH."""
    beside = Path(sys.executable).with_name("qinglang-front")
    for path in (os.environ.get(FRONT_ENV), str(beside), shutil.which("qinglang-front")):
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def limits() -> dict[str, Any]:
    return {
        "max_body": steps.MAX_BODY,
        "max_events": steps.MAX_EVENTS,
        "max_url": MAX_URL,
        "max_text": MAX_TEXT,
        "max_list": MAX_LIST,
        "max_ua": MAX_UA,
        "event_kinds": list(steps.BEACON_KINDS),
        "client_kinds": [[k, list(kind) if isinstance(kind, tuple) else kind]
                         for k, kind in steps.CLIENT_KINDS],
    }  # fmt: skip


SEGMENT_BYTES_ENV = "QINGLANG_FRONT_SEGMENT_BYTES"


def _segment_bytes() -> int:
    """The front's segment size: 32 MiB (fewer, larger lake files at high rates; the Python engine
    rolls at 8 MiB), or $QINGLANG_FRONT_SEGMENT_BYTES (smaller makes a fresher lake)."""
    text = os.environ.get(SEGMENT_BYTES_ENV, str(32 << 20))
    try:
        size = int(text)
    except ValueError:
        size = -1
    if size < 64 << 10:
        raise ConfigError(
            f"{SEGMENT_BYTES_ENV}={text!r}: give a whole number of bytes, at least 65536"
        )
    return size


def _background() -> None:
    """Run this process only on CPU time nothing else wants (SCHED_IDLE where Linux has it),
    every thread of it: Arrow's pool may have started already (a restart rolls segments)."""
    tasks = Path("/proc/self/task")
    if not hasattr(os, "SCHED_IDLE") or not tasks.is_dir():
        os.nice(19)
        return
    for task in tasks.iterdir():
        try:
            os.sched_setscheduler(int(task.name), os.SCHED_IDLE, os.sched_param(0))
        except OSError:  # the thread has just ended, or the policy is not allowed here
            continue


def _write_private(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _sites(registry: SiteRegistry) -> dict[str, Any]:
    return {
        s.name: {"origins": list(s.origins), "secret": s.secret.hex()}
        for s in registry.all().values()
    }


def serve_front(
    binary: str,
    db: Path,
    host: str,
    port: int,
    queue_size: int,
    max_connections: int = 2048,  # as uvicorn's limit_concurrency in server.py
    *,
    ttl_s: int,
    roll_seconds: float = 5.0,
) -> None:
    db = Path(db)
    registry = SiteRegistry(db)
    seg_dir, lake = segments_dir(db), lake_dir(db)
    seg_dir.mkdir(parents=True, exist_ok=True)
    closed, used = segments.restart(seg_dir, lake, ttl_s)
    sites_file, config_file = seg_dir / "front-sites.json", seg_dir / "front-config.json"
    sites = _sites(registry)
    _write_private(sites_file, sites)
    from qinglang.collect.app import TRACKER

    _write_private(
        config_file,
        {
            "listen": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "segments": str(seg_dir),
            "run": segments.next_run(closed),
            "sites_file": str(sites_file),
            "tracker": TRACKER,
            "ttl_s": ttl_s,
            "queue": queue_size,
            "roll_bytes": _segment_bytes(),
            "roll_seconds": roll_seconds,
            "max_connections": max_connections,
            "connection_seconds": float(os.environ.get("QINGLANG_FRONT_CONNECTION_SECONDS", 60)),
            "trusted_proxies": ["127.0.0.1"],  # X-Forwarded-For is believed only from here
            "used": [[r["nonce"], r["pv_id"], r["seq"], r["ts"]] for r in used],
            "limits": limits(),
        },
    )
    proc = _start(binary, config_file)
    _supervise(proc, registry, sites, sites_file, lake)
    code = proc.wait()
    if code != 0:
        raise ConfigError(f"the Rust front stopped with exit code {code}")


def _start(binary: str, config_file: Path) -> subprocess.Popen:
    """Start the front; return once it listens (or say why it did not)."""
    proc = subprocess.Popen(
        [binary, "--config", str(config_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
        # Ctrl-C in a terminal goes to this process alone: it stops the front in order (closes
        # its stdin: the front drains, fsyncs and exits 0), instead of the front dying mid-write
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    first = proc.stdout.readline()
    if not first.startswith("listening"):
        proc.wait(30)
        raise ConfigError(f"the Rust front ({binary}) did not start (exit code {proc.returncode})")
    print(f"collector (Rust front) listening on http://{first.split()[1]}", file=sys.stderr)
    return proc


def _supervise(
    proc: subprocess.Popen, registry: SiteRegistry, sites: dict, sites_file: Path, lake: Path
) -> None:
    """Roll each segment the front closes, and compact the lake between rolls (at most every
    `compact.interval()` seconds); rewrite the sites file when a site is added; stop the front
    (close its stdin) on SIGTERM or Ctrl-C. Returns when the front has exited."""
    # This process only rolls segments into Parquet now: the front has the CPU first (a backlog
    # of closed segments waits on disk, already durable, until a quieter moment).
    _background()
    ready: queue.Queue[Path | None] = queue.Queue()

    def read_front() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("closed "):
                ready.put(Path(line[len("closed ") :].strip()))
        ready.put(None)

    threading.Thread(target=read_front, daemon=True).start()

    def stop(*_: Any) -> None:
        try:
            proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    checked = time.monotonic()
    while True:
        seg: Path | None | bool
        try:
            seg = ready.get(timeout=1.0)
        except queue.Empty:
            seg = False  # nothing closed this second
        if seg is None:
            return
        if isinstance(seg, Path):
            try:
                segments.roll(seg, lake)
            except Exception as e:  # the segment stays; the next start rolls it
                log.error("rolling %s into the lake failed: %s", seg, e)
        compact.maybe_compact(lake)  # throttled; logs its errors
        if time.monotonic() - checked >= 1.0:
            checked = time.monotonic()
            now = _sites(registry)
            if now != sites:
                sites = now
                _write_private(sites_file, sites)
