from __future__ import annotations

from types import ModuleType

from qinglang.detect.base import Context
from qinglang.detect.pipeline import present_columns, run_pipeline
from qinglang.engine import Engine


def findings_of(
    module: ModuleType, engine: Engine, settings: dict | None = None
) -> dict[str, set[str]]:
    """Run one detector alone: {event_id: {reason, ...}} for findings scoring >= 0.5."""
    ctx = Context(engine=engine, present=present_columns(engine), settings=settings or {})
    found = module.detect(ctx)
    out: dict[str, set[str]] = {}
    for q in found.queries:
        q = f"SELECT e.event_id, f.reason, f.score FROM ({q}) f JOIN events e ON e.rid = f.rid"
        for row in engine.query(q).to_pylist():
            if row["score"] >= 0.5:
                out.setdefault(row["event_id"], set()).add(row["reason"])
    return out


def labels_of(engine: Engine) -> dict[str, dict]:
    run_pipeline(engine)
    return {r["event_id"]: r for r in engine.query("SELECT * FROM labels").to_pylist()}
