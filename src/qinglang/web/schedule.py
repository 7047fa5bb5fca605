"""`qinglang ui --audit-every 1h`: audits each site's lake on a timer, in the audit runner.

A site is audited when it has stored events and its lake changed since its last scheduled audit
(files listed, with sizes and mtimes); a site whose audit is still running is skipped.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from qinglang.collect.sites import SiteRegistry, lake_dir
from qinglang.errors import ConfigError
from qinglang.web.audits import Busy

_EVERY = re.compile(r"^(\d{1,6})(s|m|h|d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_SECONDS = 60


def parse_every(text: str) -> float:
    m = _EVERY.match(text.strip())
    if not m:
        raise ConfigError(f"--audit-every {text!r}: expected a number and a unit, e.g. 30m, 1h, 1d")
    seconds = int(m.group(1)) * _UNIT[m.group(2)]
    if seconds < MIN_SECONDS:
        raise ConfigError(f"--audit-every {text!r}: at least 1m")
    return float(seconds)


def _lake_state(db: Path, site: str) -> tuple[tuple[str, int, int], ...]:
    d = lake_dir(db) / f"site={site}"
    if not d.is_dir():
        return ()
    return tuple(
        sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in d.glob("*.parquet"))
    )


class Scheduler:
    def __init__(self, db: Path, runner: Any, every_s: float) -> None:
        self.db = Path(db)
        self.runner = runner
        self.every_s = every_s
        self._stop = threading.Event()
        self._seen: dict[str, tuple[tuple[str, int, int], ...]] = {}
        self._pending: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._loop, name="qinglang-schedule", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def tick(self) -> list[str]:
        """Submit the audits that are due; returns the sites submitted."""
        started = []
        for site in sorted(SiteRegistry(self.db).all()):
            running = self._pending.get(site)
            if running is not None and not running.done():
                continue
            state = _lake_state(self.db, site)
            if not state or self._seen.get(site) == state:
                continue
            try:
                _, self._pending[site] = self.runner.submit(site, {"lang": "zh"}, kind="scheduled")
            except Busy:  # one of the site's audits is queued or running: the next tick
                continue
            self._seen[site] = state
            started.append(site)
        return started

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.every_s)
