"""One audit, start to end: ingest -> detect -> facts -> files. The CLI and the tests call this.

Writes into the output directory:
    labels.parquet   one row per input event: event_id, verdict, category, reasons, score
    audit.json       the audit facts (what the report shows, as data)
    report.html      the report, in the language asked for
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qinglang.audit.facts import compute_facts
from qinglang.audit.render_html import render_html
from qinglang.detect.ipranges import provenance
from qinglang.detect.pipeline import run_pipeline
from qinglang.engine import Engine, connect
from qinglang.evaluate import evaluate


@dataclass
class AuditOptions:
    fmt: str = "auto"
    mapping: dict[str, str] | None = None
    log_format: str | None = None
    strict: bool = False
    site: str | None = None
    unit_price: float = 1.0
    per: int = 1000
    currency: str = "CNY"
    lang: str = "zh"
    tz: str = "UTC"
    engine: str = "duckdb"
    db: str = ":memory:"
    settings: dict[str, object] | None = None
    with_evaluation: bool = False


Progress = Callable[[str, float | None], None]  # (step, fraction done or None)


def run_audit(
    inputs: Sequence[str | Path],
    out_dir: Path,
    options: AuditOptions,
    progress: Progress | None = None,
    engine: Engine | None = None,
) -> dict[str, Any]:
    from qinglang.ingest import read_events

    def step(name: str, frac: float | None = None) -> None:
        if progress:
            progress(name, frac)

    out_dir.mkdir(parents=True, exist_ok=True)
    own_engine = engine is None
    engine = engine or connect(options.engine, options.db)
    try:
        stream = read_events(
            [str(p) for p in inputs],
            fmt=options.fmt,
            mapping=options.mapping,
            log_format=options.log_format,
            strict=options.strict,
            site=options.site,
            on_rows=lambda n: step(f"reading ({n:,} rows)"),
        )
        step("reading")
        engine.load_events(stream.to_reader())
        reports = [_report_dict(r) for r in stream.reports]
        result = run_pipeline(engine, options.settings, on_step=lambda n: step(f"detect: {n}"))
        step("audit")
        detectors = [asdict(r) for r in result.runs]
        facts = compute_facts(
            engine,
            reports=reports,
            detectors=detectors,
            price={
                "unit_price": options.unit_price,
                "per": options.per,
                "currency": options.currency,
            },
            tz=options.tz,
            settings=options.settings,
            provenance=provenance(),
        )
        if options.with_evaluation:
            facts["evaluation"] = evaluate(engine, options.tz)
        step("writing")
        engine.write_parquet(
            "SELECT event_id, verdict, category, reasons, score FROM labels ORDER BY event_id",
            out_dir / "labels.parquet",
        )
        (out_dir / "audit.json").write_text(
            json.dumps(facts, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
        )
        (out_dir / "report.html").write_text(render_html(facts, options.lang), encoding="utf-8")
        return facts
    finally:
        if own_engine:
            engine.close()


def _report_dict(report: Any) -> dict[str, Any]:
    return {
        "path": str(report.path),
        "format": report.format,
        "guessed": report.guessed,
        "sha256": report.sha256,
        "rows_ok": report.rows_ok,
        "rows_bad": report.rows_bad,
        "errors": [str(e) for e in report.errors[:20]],
        "notes": list(report.notes),
    }
