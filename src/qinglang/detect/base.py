"""What every detector is: a function from the `events` table (and a context) to findings.

A detector is a module with ``NAME``, ``CATEGORY``, ``CHECKS`` and ``detect(ctx) -> Findings``,
and optionally ``prepare(ctx)``, which the pipeline calls for every detector before any detects:
the place to ``ctx.prefetch`` a slow Python lookup so that it overlaps the other detectors' SQL.
It does no I/O of its own and does not know which engine runs it: it returns SQL (DuckDB dialect;
the engine translates) that selects one row per (event, reason)::

    SELECT rid, '<reason code>' AS reason, <score 0..1> AS score FROM ...

A finding with score >= 0.5 invalidates its event; below that it is supporting evidence only.
Checks whose input columns hold no values at all (server logs have no tracker signals) are
skipped, and the detector says which and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from qinglang.engine import Engine

INVALID_AT = 0.5
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qinglang-lookup")


@dataclass(frozen=True)
class Check:
    """One named test inside a detector: the reason code it emits and the columns it needs."""

    reason: str
    needs: tuple[str, ...]


@dataclass
class Findings:
    queries: list[str] = field(default_factory=list)
    checks_run: list[str] = field(default_factory=list)
    checks_skipped: list[tuple[str, list[str]]] = field(default_factory=list)


@dataclass
class Context:
    """What a detector may know: the engine (to register lookups), which columns hold values."""

    engine: Engine
    present: frozenset[str]
    settings: dict[str, object] = field(default_factory=dict)
    registered: set[str] = field(default_factory=set)
    pending: dict[str, Future[pa.Table]] = field(default_factory=dict)
    model: Any = None  # a learn.model.Model given with `audit --model`, for detect/model.py

    def has(self, *columns: str) -> bool:
        return all(c in self.present for c in columns)

    def plan(self, checks: Iterable[Check]) -> tuple[set[str], Findings]:
        """Split checks into the ones that can run and the ones skipped (with missing columns)."""
        runnable: set[str] = set()
        findings = Findings()
        for check in checks:
            missing = [c for c in check.needs if c not in self.present]
            if missing:
                findings.checks_skipped.append((check.reason, missing))
            else:
                runnable.add(check.reason)
                findings.checks_run.append(check.reason)
        return runnable, findings

    def lookup(
        self, name: str, keys: dict[str, str], where: str, fn: Callable[[list], pa.Table]
    ) -> None:
        """Register table `name`: `fn` applied to the distinct values of the `keys` expressions.

        The way Python-side knowledge (a UA library, IP ranges) meets the engine: only distinct
        values cross, never the event rows. With one key `fn` gets values, else tuples.
        """
        if name in self.registered:  # another detector asked for the same lookup first
            return
        pending = self.pending.pop(name, None)
        table = pending.result() if pending else fn(self._distinct(keys, where))
        self.registered.add(name)
        self.engine.register(name, table)

    def prefetch(
        self, name: str, keys: dict[str, str], where: str, fn: Callable[[list], pa.Table]
    ) -> None:
        """Start a lookup's Python work in a thread now; `lookup(name, ...)` collects it.

        The engine keeps running the other detectors' SQL meanwhile (DuckDB releases the GIL).
        Only `fn` runs in the thread: every engine call stays on the caller's thread.
        """
        if name in self.registered or name in self.pending:
            return
        values = self._distinct(keys, where)
        self.pending[name] = _EXECUTOR.submit(fn, values)

    def _distinct(self, keys: dict[str, str], where: str) -> list:
        cols = ", ".join(f"{expr} AS {alias}" for alias, expr in keys.items())
        distinct = self.engine.query(f"SELECT DISTINCT {cols} FROM events WHERE {where}")
        columns = [distinct.column(alias).to_pylist() for alias in keys]
        values: list = columns[0] if len(columns) == 1 else list(zip(*columns, strict=True))
        return sorted(values, key=repr)

    def setting(self, name: str) -> float:
        from qinglang.settings import setting_value

        return setting_value(self.settings, name)


def acted_sql(alias: str = "") -> str:
    """True when the hit carries a trusted interaction (no tracker signal counts as none)."""
    return f"coalesce({alias}client.interactions, 0) > 0"


def no_input_sql(alias: str = "") -> str:
    """True when the hit carries no trusted interaction."""
    return f"coalesce({alias}client.interactions, 0) = 0"


def window_sql(window_ms: int, shift_ms: int = 0, alias: str = "") -> str:
    """The fixed time window (of `window_ms`, shifted by `shift_ms`) an event falls in."""
    shifted = f"ts_ms({alias}ts) + {shift_ms}" if shift_ms else f"ts_ms({alias}ts)"
    return f"CAST(floor(({shifted}) / {window_ms}) AS BIGINT)"


def finding_sql(reason: str, score: float | str, source: str, where: str) -> str:
    """One (event, reason) selection. `score` may be a SQL expression."""
    return f"SELECT rid, '{reason}' AS reason, {score} AS score FROM {source} WHERE {where}"
