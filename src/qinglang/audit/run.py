"""One audit, start to end: ingest -> detect -> facts -> files. The CLI and the tests call this.

Writes into the output directory:
    labels.parquet   one row per input event: event_id, verdict, category, reasons, score
    audit.json       the audit facts (what the report shows, as data)
    report.html      the report, in the language asked for
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qinglang.audit.facts import compute_facts
from qinglang.audit.render_html import render_html
from qinglang.detect.ipranges import provenance
from qinglang.detect.pipeline import DETECTORS, run_pipeline
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
    model: str | None = None  # a model file from `qinglang train`
    detectors: tuple[Any, ...] | None = None  # default: detect.pipeline.DETECTORS

    def __post_init__(self) -> None:
        """Money is checked before any work: a finite price of 0 or more, per a whole number of
        UV of 1 or more (NaN or infinity would reach the amounts and audit.json)."""
        from qinglang.errors import ConfigError

        if not isinstance(self.unit_price, int | float) or not math.isfinite(self.unit_price):
            raise ConfigError(f"--price {self.unit_price!r}: expected a finite number, 0 or more")
        if self.unit_price < 0:
            raise ConfigError(f"--price {self.unit_price!r}: a price cannot be negative")
        if isinstance(self.per, bool) or not isinstance(self.per, int) or self.per < 1:
            raise ConfigError(f"--per {self.per!r}: expected a whole number of UV, 1 or more")
        if self.unit_price / self.per > 1e12:
            raise ConfigError(
                f"--price {self.unit_price!r} --per {self.per}: more than 1e12 per UV; "
                "check the price and its unit"
            )


Progress = Callable[..., None]  # (step, fraction done or None)


def run_audit(
    inputs: Sequence[str | Path],
    out_dir: Path,
    options: AuditOptions,
    progress: Progress | None = None,
    engine: Engine | None = None,
) -> dict[str, Any]:
    def step(name: str, frac: float | None = None) -> None:
        if progress:
            progress(name, frac)

    out_dir.mkdir(parents=True, exist_ok=True)
    own_engine = engine is None
    engine = engine or connect(options.engine, options.db)
    try:
        loaded = load_inputs(engine, inputs, options, step)
        reports = [_report_dict(r) for r in loaded.reports]
        model = _load_model(options.model)
        result = run_pipeline(
            engine,
            options.settings,
            detectors=options.detectors or DETECTORS,
            on_step=lambda n: step(f"detect: {n}"),
            known_present=loaded.known_present,
            model=model,
        )
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
        if model is not None:
            facts["model"] = _model_facts(engine, model, options.model)
        if options.with_evaluation:
            facts["evaluation"] = evaluate(engine, options.tz)
        step("writing")
        engine.write_parquet(
            "SELECT event_id, verdict, category, reasons, score FROM labels ORDER BY rid",
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


@dataclass
class Loaded:
    reports: list[Any]  # ingest.ReadReport per input file
    known_present: dict[str, bool] | None = None  # which columns hold values, where known


def load_inputs(
    engine: Engine, inputs: Sequence[str | Path], options: AuditOptions, step: Progress
) -> Loaded:
    """Fill the engine's `events` from the inputs; what reading them reported.

    Contract-typed Parquet is read in place by DuckDB (ingest.native); everything else, and
    every input on Spark, goes through the readers.
    """
    from qinglang.ingest import read_events
    from qinglang.ingest.native import plan_native

    if engine.name == "duckdb":
        plan = plan_native(inputs, options.fmt, options.mapping, options.site)
        if plan is not None:
            step(f"reading {len(plan.reports)} Parquet file(s) in place")
            engine.attach_events(plan.sql)
            return Loaded(plan.reports, plan.known)
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
    return Loaded(stream.reports)


def _load_model(path: str | None) -> Any:
    if path is None:
        return None
    from qinglang.learn.model import load

    return load(path)


def _model_facts(engine: Engine, model: Any, path: str | None) -> dict[str, Any]:
    """What the audit says of the model it used: its file's hash, what it was trained on, its
    cross-validated metrics, and the features whose distribution here differs sharply from the
    training data's (population stability index > 0.25: the model may not transfer)."""
    from qinglang.learn.model import drift, model_sha256

    names = ", ".join(model.feature_names)
    sample = engine.query(
        f"SELECT {names} FROM event_features ORDER BY rid LIMIT 200000"
    )  # the first 200k events: enough for decile shares, bounded cost
    meta = model.meta
    return {
        "path": str(path),
        "sha256": model_sha256(path) if path else None,
        "trained": meta.get("created_utc"),
        "training_sha256": meta.get("training_sha256"),
        "training_rows": meta.get("training_rows"),
        "metrics": meta.get("metrics"),
        "drift": drift(model, sample),
    }


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
