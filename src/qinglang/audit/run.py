"""One audit, start to end: ingest -> detect -> facts -> files. The CLI and the tests call this.

Writes into the output directory:
    labels.parquet   one row per input event: event_id, verdict, category, reasons, score
    audit.json       the audit facts (what the report shows, as data)
    report.html      the report, in the language asked for
    report.pdf       with pdf=True: report.html printed by Chromium in an embedded CJK font (audit/pdf.py)
    rejected.csv     every row not audited, with file, line, field and reason
    manifest.json    the SHA-256 of every input and data output, the figures (audit/record.py)
    seal.json        the SHA-256 (and signature) of manifest.json, report.html and report.pdf
"""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qinglang.audit.detector_error import load as load_detector_error
from qinglang.audit.facts import compute_facts
from qinglang.audit.record import record, write_manifest, write_seal
from qinglang.audit.render_html import render_html
from qinglang.detect.ipranges import provenance
from qinglang.detect.pipeline import DETECTORS, run_pipeline
from qinglang.engine import Engine, connect
from qinglang.errors import RowError, show_value
from qinglang.evaluate import evaluate
from qinglang.ingest.common import RejectedLog

SETTLE_ON = ("estimate", "lower", "upper")  # the payable amount: the estimate or a 95% bound


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
    input_tz: str | None = None  # the zone of timestamps written without one (None: UTC, warned)
    period_from: str | None = (
        None  # first day settled (YYYY-MM-DD in `tz`); earlier events left out
    )
    period_to: str | None = None  # last day settled, inclusive
    sign_key: str | None = None  # an Ed25519 private key (qinglang keys new): signs the outputs
    buyer: str | None = None  # the parties and the contract, as the settlement document names them
    seller: str | None = None
    contract: str | None = None
    settle: str = "estimate"  # the figure the payable amount is: estimate, lower or upper (bound)
    # whose measurement of the detectors' error the intervals take in: bundled (the simulator's,
    # audit/detector_error.py), none, or a file (`qinglang evaluate --json` on labelled data)
    detector_error: str = "bundled"

    def __post_init__(self) -> None:
        """Money is checked before any work: a finite price of 0 or more, per a whole number of
        UV of 1 or more (NaN or infinity would reach the amounts and audit.json); so is every
        setting, against its kind."""
        from qinglang.errors import ConfigError

        if not isinstance(self.unit_price, int | float) or not math.isfinite(self.unit_price):
            raise ConfigError(f"--price {self.unit_price!r}: expected a finite number, 0 or more")
        if self.unit_price < 0:
            raise ConfigError(f"--price {self.unit_price!r}: a price cannot be negative")
        if isinstance(self.per, bool) or not isinstance(self.per, int) or self.per < 1:
            raise ConfigError(f"--per {self.per!r}: expected a whole number of UV, 1 or more")
        if self.settle not in SETTLE_ON:
            raise ConfigError(f"--settle {self.settle!r}: expected one of {', '.join(SETTLE_ON)}")
        if self.settings:  # from the API or a re-run's record as much as from --setting
            from qinglang.settings import check_settings

            self.settings = check_settings(self.settings)
        if self.input_tz is not None:
            _zone(self.input_tz, "--input-tz")
        _zone(self.tz, "--tz")
        start, end = _day(self.period_from, "--from"), _day(self.period_to, "--to")
        if start and end and end < start:
            raise ConfigError(f"--from {start} --to {end}: the period ends before it starts")
        if self.detector_error not in ("bundled", "none"):
            load_detector_error(self.detector_error)  # a bad file: one line, before any work
        if self.unit_price / self.per > 1e12:
            raise ConfigError(
                f"--price {self.unit_price!r} --per {self.per}: more than 1e12 per UV; "
                "check the price and its unit"
            )


Progress = Callable[..., None]  # (step, fraction done or None)


def _day(text: str | None, option: str) -> date | None:
    from qinglang.errors import ConfigError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected a day, YYYY-MM-DD") from None


def period_bounds(options: AuditOptions) -> tuple[datetime | None, datetime | None]:
    """The settlement period as UTC instants: from the start of --from's day to the end of
    --to's day, in the zone days are counted in (--tz)."""
    zone = _zone(options.tz, "--tz")
    start, end = _day(options.period_from, "--from"), _day(options.period_to, "--to")
    lo = datetime.combine(start, time(0), zone).astimezone(UTC) if start else None
    hi = datetime.combine(end + timedelta(days=1), time(0), zone).astimezone(UTC) if end else None
    return lo, hi


def options_from_record(recorded: dict[str, Any]) -> AuditOptions:
    """The AuditOptions an audit.json records (`verify --rerun`); the default detectors unless
    it names others, and no signing (the re-run is compared, not kept)."""
    known = {f.name for f in fields(AuditOptions)}
    # an audit.json is anyone's to write: its record may not choose where the re-run writes (a
    # DuckDB file) or what it signs with; the re-run runs in memory and signs nothing
    skip = ("detectors", "sign_key", "db")
    values = {k: v for k, v in recorded.items() if k in known and k not in skip}
    names = recorded.get("detectors")
    if names:
        values["detectors"] = tuple(d for d in DETECTORS if d.NAME in names)
    return AuditOptions(**values)


def _zone(name: str, option: str) -> ZoneInfo:
    from qinglang.errors import ConfigError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{option} {name!r}: not a time zone; expected an IANA name such as Asia/Shanghai or UTC"
        ) from None


def output_dir(path: Path) -> Path:
    """`--out DIR`, created if missing; a file there, or a directory that cannot be made, is the
    command line's mistake (exit 2), found before any work."""
    from qinglang.errors import InputError

    if path.exists() and not path.is_dir():
        raise InputError(
            str(path), "is a file: --out takes a directory (made if missing)", usage=True
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            str(path), f"cannot make the --out directory: {exc.strerror}", usage=True
        ) from None
    return path


def run_audit(
    inputs: Sequence[str | Path],
    out_dir: Path,
    options: AuditOptions,
    progress: Progress | None = None,
    engine: Engine | None = None,
    lake_root: dict[str, Any] | None = None,
    pdf: bool = False,
) -> dict[str, Any]:
    """One audit of `inputs` into `out_dir`. `lake_root`: for a collector's lake, the root of the
    files read (collect.lake.site_snapshot), recorded in audit.json. `pdf`: also report.pdf
    (sealed with report.html; not an option of the figures, so not in the record)."""

    def step(name: str, frac: float | None = None) -> None:
        if progress:
            progress(name, frac)

    output_dir(out_dir)
    own_engine = engine is None
    engine = engine or connect(options.engine, options.db)
    try:
        rejected = RejectedLog(out_dir / "rejected.csv")
        try:
            loaded = load_inputs(engine, inputs, options, step, rejected)
            duplicates = drop_repeated_ids(engine, loaded.reports, rejected)
            outside = keep_period(engine, options)
        finally:
            rejected.close()
        reports = [_report_dict(r) for r in loaded.reports]
        model = _load_model(options.model)
        result = run_pipeline(
            engine,
            options.settings,
            detectors=options.detectors or DETECTORS,
            on_step=lambda n: step(f"detect: {n}"),
            # what the reading learnt of the columns holds for the rows it read; once rows are
            # left out (repeated ids, outside the period) the pipeline looks again
            known_present=None if duplicates or outside else loaded.known_present,
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
                "settle": options.settle,
            },
            tz=options.tz,
            settings=options.settings,
            provenance=provenance(),
            detector_error=load_detector_error(options.detector_error),
        )
        facts["rows"] = _rows_summary(loaded.reports, duplicates, options.input_tz, rejected)
        facts["rows"]["outside_period"] = outside
        facts["rows"]["audited"] -= outside
        facts["rows"]["period"] = {"from": options.period_from, "to": options.period_to}
        if model is not None:
            facts["model"] = _model_facts(engine, model, options.model)
        if options.with_evaluation:
            facts["evaluation"] = evaluate(engine, options.tz)
        step("writing")
        engine.write_parquet(
            "SELECT event_id, verdict, category, reasons, score FROM labels ORDER BY rid",
            out_dir / "labels.parquet",
        )
        facts["settlement"] = {
            "buyer": options.buyer,
            "seller": options.seller,
            "contract": options.contract,
            "period_from": options.period_from,
            "period_to": options.period_to,
        }
        facts["method"]["statements"] = list(engine.statements)
        facts["record"] = record(
            reports, options, provenance(), (facts.get("model") or {}).get("sha256")
        )
        if lake_root is not None:
            facts["record"]["lake"] = lake_root
        (out_dir / "audit.json").write_text(
            json.dumps(facts, ensure_ascii=False, indent=1, default=str, allow_nan=False),
            encoding="utf-8",
        )
        key = Path(options.sign_key) if options.sign_key else None
        facts["manifest"] = write_manifest(out_dir, facts, key)
        html = render_html(facts, options.lang)
        (out_dir / "report.html").write_text(html, encoding="utf-8")
        pdf_error = _print_pdf(out_dir, html, facts, options.lang, pdf, step)
        write_seal(out_dir, key)  # seals report.pdf too, when printed
        if pdf_error is not None:
            raise pdf_error  # after the seal: the rest of the audit stands and verifies
        return facts
    finally:
        if own_engine:
            engine.close()


def _print_pdf(
    out_dir: Path, html: str, facts: dict[str, Any], lang: str, pdf: bool, step: Progress
) -> Exception | None:
    """report.pdf from `html`, before the seal so that it is sealed; an earlier audit's
    report.pdf is removed (it is not this audit's). The error, if printing failed."""
    from qinglang.audit.i18n import t
    from qinglang.audit.pdf import PDF_NAME, PdfError, write_pdf

    (out_dir / PDF_NAME).unlink(missing_ok=True)
    if not pdf:
        return None
    step(f"printing {PDF_NAME}")
    stamp = t("manifest_line", lang).format(sha=facts["manifest"]["sha256"])
    try:
        facts["pdf"] = asdict(write_pdf(html, out_dir / PDF_NAME, stamp=stamp))
    except PdfError as exc:
        return exc
    return None


@dataclass
class Loaded:
    reports: list[Any]  # ingest.ReadReport per input file
    known_present: dict[str, bool] | None = None  # which columns hold values, where known


def load_inputs(
    engine: Engine,
    inputs: Sequence[str | Path],
    options: AuditOptions,
    step: Progress,
    rejected: RejectedLog | None = None,
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
        input_tz=_zone(options.input_tz, "--input-tz") if options.input_tz else UTC,
        rejected=rejected,
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


def drop_repeated_ids(engine: Engine, reports: list[Any], rejected: RejectedLog) -> int:
    """An event_id seen before is a duplicate: its first row is kept, every later one is left out
    and listed in rejected.csv (under the file that held it). Returns how many were left out."""
    repeated = engine.query(
        "SELECT event_id, rid FROM (SELECT event_id, rid, row_number() OVER ("
        "  PARTITION BY event_id ORDER BY rid) AS k FROM events"
        "  WHERE event_id IN (SELECT event_id FROM events GROUP BY event_id HAVING count(*) > 1)"
        ") WHERE k > 1 ORDER BY rid"
    )
    if not repeated.num_rows:
        return 0
    # rids are given in reading order, file by file: the file of a row is where its rid falls
    ends, total = [], 0
    for report in reports:
        total += report.rows_ok
        ends.append(total)
    for batch in repeated.to_batches(max_chunksize=65_536):
        for row in batch.to_pylist():
            i = min(bisect.bisect_right(ends, row["rid"]), len(reports) - 1)
            reports[i].duplicates += 1
            rejected.write(
                RowError(
                    reports[i].path,
                    row["rid"] - (ends[i - 1] if i else 0) + 1,
                    "event_id",
                    f"event_id {show_value(row['event_id'])} repeats an earlier row (the first "
                    "is kept)",
                    unit="accepted row",
                )
            )
    engine.keep_events("rid IN (SELECT min(rid) FROM events GROUP BY event_id)")
    return repeated.num_rows


def keep_period(engine: Engine, options: AuditOptions) -> int:
    """Leave out the events outside --from/--to; returns how many (they are not errors: they
    are simply not in the period settled)."""
    lo, hi = period_bounds(options)
    if lo is None and hi is None:
        return 0
    conditions = []
    if lo is not None:
        conditions.append(f"ts >= TIMESTAMPTZ '{lo.isoformat()}'")
    if hi is not None:
        conditions.append(f"ts < TIMESTAMPTZ '{hi.isoformat()}'")
    before = int(engine.query("SELECT count(*) AS n FROM events").column(0)[0].as_py())
    return before - engine.keep_events(" AND ".join(conditions))


def _rows_summary(
    reports: list[Any], duplicates: int, input_tz: str | None, rejected: RejectedLog
) -> dict[str, Any]:
    """The headline's row counts: read, rejected (by field), audited; values cut at their
    limit; timestamps that named no zone and the zone they were read in."""
    by: Counter[str] = Counter()
    truncated: Counter[str] = Counter()
    for r in reports:
        by.update(r.rejected_by)
        truncated.update(r.truncated)
    if duplicates:
        by["event_id (repeated)"] += duplicates
    bad = sum(r.rows_bad for r in reports)
    ok = sum(r.rows_ok for r in reports)
    return {
        "read": ok + bad,
        "rejected": bad + duplicates,
        "rejected_by": dict(by.most_common()),
        "audited": ok - duplicates,
        "truncated": dict(truncated.most_common()),
        "naive_ts": sum(r.naive_ts for r in reports),
        "input_tz": input_tz,
        "naive_tz_assumed": input_tz is None and any(r.naive_ts for r in reports),
        "rejected_file": rejected.path.name,
    }


def _report_dict(report: Any) -> dict[str, Any]:
    return {
        "path": str(report.path),
        "format": report.format,
        "guessed": report.guessed,
        "sha256": report.sha256,
        "rows_ok": report.rows_ok,
        "rows_bad": report.rows_bad,
        "rejected_by": dict(report.rejected_by),
        "duplicates": report.duplicates,
        "truncated": dict(report.truncated),
        "naive_ts": report.naive_ts,
        "errors": [str(e) for e in report.errors[:20]],
        "notes": list(report.notes),
    }
