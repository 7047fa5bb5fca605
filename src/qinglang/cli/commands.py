"""The audit commands: simulate, audit, train, evaluate, demo, injection, reasons, settings."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qinglang import __version__
from qinglang.cli.common import app, console, fail, out, progress
from qinglang.errors import ConfigError, QinglangError


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


@app.command()
def simulate(
    scenario: Annotated[str, typer.Argument(help="Scenario name, e.g. case2017")],
    out_file: Annotated[Path, typer.Option("--out", help="Parquet file to write")],
    scale: Annotated[float, typer.Option(help="1.0 = the full case (~28M UV)")] = 0.01,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data)")] = 1,
    access_log: Annotated[
        Path | None,
        typer.Option(
            help="Also write the traffic as an nginx combined access log (and FILE.truth.csv)"
        ),
    ] = None,
) -> None:
    """Write simulated traffic with ground truth (`truth` column) to a Parquet file."""
    from qinglang.simulate import SCENARIOS
    from qinglang.simulate import simulate as run_sim

    if scenario not in SCENARIOS:
        fail(ConfigError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}"))
    with progress() as bar:
        task = bar.add_task(f"simulating {scenario}", total=None)
        summary = run_sim(
            scenario,
            scale,
            seed,
            out_file,
            on_progress=lambda d, n: bar.update(task, completed=d, total=n),
        )
    out.print(f"wrote {summary.rows:,} events ({summary.uv_total:,} UV) to {out_file}")
    if access_log is not None:
        from qinglang.simulate.accesslog import write_access_log

        lines = write_access_log(out_file, access_log, seed=seed)
        out.print(f"wrote {lines:,} log lines to {access_log} (truth in {access_log}.truth.csv)")


@app.command()
def audit(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for labels, audit.json, report")
    ],
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Input files (CSV, Parquet, NDJSON, logs); none with --db and --site"),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="auto|csv|parquet|ndjson|nginx|talkingdata|engagement")
    ] = "auto",
    map_: Annotated[
        list[str], typer.Option("--map", help="their_col=contract_col (repeatable)")
    ] = [],  # noqa: B006
    map_file: Annotated[Path | None, typer.Option("--map-file", help="TOML mapping file")] = None,
    log_format: Annotated[str | None, typer.Option(help="nginx log_format string")] = None,
    strict: Annotated[bool, typer.Option(help="Stop at the first bad row")] = False,
    site: Annotated[str | None, typer.Option(help="Site name where the input has none")] = None,
    price: Annotated[float, typer.Option(help="Unit price")] = 1.0,
    per: Annotated[int, typer.Option(help="Price is per this many UV")] = 1000,
    currency: Annotated[str, typer.Option()] = "CNY",
    lang: Annotated[str, typer.Option(help="Report language: zh or en")] = "zh",
    tz: Annotated[str, typer.Option(help="Time zone that days are counted in")] = "Asia/Shanghai",
    input_tz: Annotated[
        str | None,
        typer.Option(
            help="Time zone of timestamps written without one (default: read as UTC, with a "
            "warning)"
        ),
    ] = None,
    period_from: Annotated[
        str | None, typer.Option("--from", help="First day settled, YYYY-MM-DD in --tz")
    ] = None,
    period_to: Annotated[
        str | None, typer.Option("--to", help="Last day settled (inclusive), YYYY-MM-DD in --tz")
    ] = None,
    engine: Annotated[str, typer.Option(help="duckdb (default) or spark")] = "duckdb",
    db: Annotated[
        str,
        typer.Option(
            help="DuckDB database file (default: in memory); with no INPUTS, the collector's "
            "database (`qinglang serve --db`), audited for --site"
        ),
    ] = ":memory:",
    setting: Annotated[list[str], typer.Option(help="NAME=VALUE (see `qinglang settings`)")] = [],  # noqa: B006
    evaluate_truth: Annotated[
        bool, typer.Option("--evaluate", help="Also score against `truth`")
    ] = False,
    model: Annotated[
        Path | None, typer.Option(help="A model file from `qinglang train` (adds model.* findings)")
    ] = None,
    sign: Annotated[
        Path | None,
        typer.Option(help="Sign the outputs with this Ed25519 private key (qinglang keys new)"),
    ] = None,
    parties: Annotated[
        tuple[str, str] | None,
        typer.Option(help="BUYER SELLER, as the settlement document names them"),
    ] = None,
    contract: Annotated[str | None, typer.Option(help="The contract's reference")] = None,
    settle: Annotated[
        str,
        typer.Option(help="The payable amount: estimate, or the lower or upper 95% bound"),
    ] = "estimate",
    detector_error: Annotated[
        str,
        typer.Option(
            "--detector-error",
            help="The detectors' measured error the intervals take in: bundled (measured on "
            "the simulator), none, or FILE (`qinglang evaluate --json` on your labelled data)",
        ),
    ] = "bundled",
    evidence: Annotated[
        int | None,
        typer.Option(help="Evidence samples per reason code (the setting evidence_per_reason)"),
    ] = None,
    pdf: Annotated[
        bool,
        typer.Option(
            "--pdf",
            help="Also report.pdf: the report printed by Chromium, in the CJK font qinglang "
            "brings (sealed with the report)",
        ),
    ] = False,
) -> None:
    """Ingest, detect and report: labels.parquet, audit.json and report.html in --out.

    With no INPUTS, audits what the collector stored for --site in --db (its Parquet lake).
    """
    from qinglang.audit.run import AuditOptions, output_dir
    from qinglang.settings import parse_settings

    collected = not inputs  # the collector's lake for --site in --db
    if collected and (db == ":memory:" or not site):
        fail(ConfigError("give INPUTS, or --db (the collector's database) and --site"))
    if lang not in ("zh", "en"):
        fail(ConfigError(f"--lang {lang!r}: expected zh or en"))
    try:
        if pdf:
            from qinglang.audit.pdf import check

            check()  # no Chromium: one line naming what to install, before any work
        if collected:
            mapping, log_format, read_site = None, None, None
            fmt = "parquet"
        else:
            fmt, mapping, log_format, read_site = _reading(fmt, map_, map_file, log_format, site)
        options = AuditOptions(
            fmt=fmt,
            mapping=mapping or None,
            log_format=log_format,
            strict=strict,
            site=read_site,
            unit_price=price,
            per=per,
            currency=currency,
            lang=lang,
            tz=tz,
            engine=engine,
            db=":memory:" if collected else db,
            settings=parse_settings(
                [*setting, *([f"evidence_per_reason={evidence}"] if evidence is not None else [])]
            ),
            with_evaluation=evaluate_truth,
            model=str(model) if model else None,
            input_tz=input_tz,
            period_from=period_from,
            period_to=period_to,
            sign_key=str(sign) if sign else None,
            buyer=parties[0] if parties else None,
            seller=parties[1] if parties else None,
            contract=contract,
            settle=settle,
            detector_error=detector_error,
        )
        if collected:
            from qinglang.collect.lake import site_snapshot

            output_dir(out_dir)  # a bad --out is exit 2 before anything is linked into it
            # the lake's files, hard-linked (or copied) into DIR/inputs with the rows not yet
            # rolled, and the lake log's root of exactly those files: what the audit records
            # stays true after a later compaction, and ties to the roots the operator publishes
            files, root = site_snapshot(Path(db), site, out_dir / "inputs")
            facts = _run_with_progress(files, out_dir, options, lake_root=root, pdf=pdf)
        else:
            with _stdin_as_file(inputs) as files:
                facts = _run_with_progress(files, out_dir, options, pdf=pdf)
    except QinglangError as exc:
        fail(exc)
        return
    _show_audit(facts, out_dir, lang)


@contextlib.contextmanager
def _stdin_as_file(inputs: list[Path]) -> Iterator[list[Path]]:
    """`-` among the inputs reads standard input (any text format, or Parquet bytes): it is
    copied to a file named `stdin` in a temporary directory, so ids read `stdin:<line>`."""
    if not any(str(p) == "-" for p in inputs):
        yield inputs
        return
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="qinglang-stdin-") as scratch:
        path = Path(scratch) / "stdin"
        with open(path, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f)
        yield [path if str(p) == "-" else p for p in inputs]


def _reading(fmt, map_, map_file, log_format, site):  # type: ignore[no-untyped-def]
    """How to read the inputs: --format, --map, --map-file, --log-format and --site together
    (a mapping file's `format`, `log_format` and `site` apply where the options leave them)."""
    from qinglang.ingest import load_mapping_file, parse_map_options

    mapping: dict[str, str] = {}
    if map_file:
        spec = load_mapping_file(map_file)
        mapping.update(spec["map"])
        fmt = spec["format"] if spec["format"] and fmt == "auto" else fmt
        log_format = log_format or spec["log_format"]
        site = site or spec["site"]
    mapping.update(parse_map_options(map_))
    return fmt, mapping, log_format, site


def _show_audit(facts: dict, out_dir: Path, lang: str) -> None:
    from qinglang.audit.render_terminal import render_summary

    _print_inputs(facts)
    for shift in (facts.get("model") or {}).get("drift", []):
        console.print(
            f"[yellow]warning:[/yellow] feature {escape(shift['feature'])} is distributed unlike "
            f"the model's training data (PSI {shift['psi']:.2f} > 0.25): the model may not "
            "transfer to this site",
            highlight=False,
        )
    shown = "en" if lang == "en" else "zh"
    render_summary(facts, out, lang=shown)
    from qinglang.audit.notices import notice_lines

    for line in notice_lines(facts, shown):
        console.print(f"[yellow]warning:[/yellow] {escape(line)}", highlight=False)
    if facts.get("evaluation"):
        print_evaluation(facts["evaluation"])
    printed = facts.get("pdf")
    pdf = f", report.pdf ({printed['pages']} pages)" if printed else ""
    out.print(f"wrote {out_dir}/labels.parquet, audit.json, report.html{pdf}")


def _run_with_progress(inputs, out_dir, options, lake_root=None, pdf=False):  # type: ignore[no-untyped-def]
    from qinglang.audit.run import run_audit

    started = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("starting", total=None)
        facts = run_audit(
            inputs,
            out_dir,
            options,
            progress=lambda s, f: bar.update(task, description=s),
            lake_root=lake_root,
            pdf=pdf,
        )
    console.print(f"audit took {time.perf_counter() - started:.1f}s")
    return facts


def _print_inputs(facts: dict) -> None:
    for r in facts["inputs"]:
        guessed = " (guessed)" if r["guessed"] else ""
        console.print(
            f"read {r['path']} as {r['format']}{guessed}: {r['rows_ok']:,} rows, "
            f"{r['rows_bad']:,} rejected",
            markup=False,
            highlight=False,
        )
        for err in r["errors"][:5]:
            console.print(f"  {err}", markup=False, highlight=False)
        for note in r["notes"]:
            console.print(f"  note: {note}", markup=False, highlight=False)
    rows = facts.get("rows")
    if not rows:
        return
    by = ", ".join(f"{n:,} {field}" for field, n in rows["rejected_by"].items())
    console.print(
        f"rows: {rows['read']:,} read, {rows['rejected']:,} rejected{f' ({by})' if by else ''}, "
        f"{rows['audited']:,} audited; every rejected row is in {rows['rejected_file']}",
        markup=False,
        highlight=False,
    )
    if rows.get("outside_period"):
        p = rows["period"]
        console.print(
            f"  {rows['outside_period']:,} events outside the period {p['from'] or '…'} to "
            f"{p['to'] or '…'} left out",
            markup=False,
            highlight=False,
        )
    if rows["truncated"]:
        cut = ", ".join(f"{n:,} {field}" for field, n in rows["truncated"].items())
        console.print(f"  values cut at their length limit: {cut}", markup=False, highlight=False)
    if rows["naive_tz_assumed"]:
        console.print(
            f"[yellow]warning:[/yellow] {rows['naive_ts']:,} timestamps name no time zone and were "
            "read as UTC; if the export is in local time give --input-tz (e.g. Asia/Shanghai)",
            highlight=False,
        )


def print_evaluation(ev: dict) -> None:
    table = Table(title="Evaluation against ground truth (events)")
    for col in ("category", "precision", "recall", "F1", "detected", "support"):
        table.add_column(col, justify="right" if col != "category" else "left")
    for r in ev["per_category"]:
        table.add_row(
            r["category"],
            f"{r['precision']:.3f}",
            f"{r['recall']:.3f}",
            f"{r['f1']:.3f}",
            f"{r['detected']:.3f}" if r["detected"] is not None else "-",
            f"{r['support']:,}",
        )
    o = ev["overall"]
    table.add_row(
        "[b]overall (invalid)[/b]",
        f"{o['precision']:.3f}",
        f"{o['recall']:.3f}",
        f"{o['f1']:.3f}",
        "",
        f"{o['support']:,}",
    )
    out.print(table)
    if ev.get("score_auc") is not None:
        out.print(f"score ROC AUC (invalid vs valid events): {ev['score_auc']:.4f}")
    if ev.get("engagement"):
        print_engagement(ev["engagement"])
    if ev.get("uv_share_true") is not None:
        out.print(
            f"invalid UV share: estimated {100 * ev['uv_share_estimated']:.2f}%, "
            f"true {100 * ev['uv_share_true']:.2f}%, error {ev['uv_share_error_pp']:+.2f} pp"
        )


def print_engagement(eng: dict) -> None:
    table = Table(title="Engagement: fraudulent accounts and actions")
    for col in ("unit", "precision", "recall", "F1", "support", "predicted"):
        table.add_column(col, justify="right" if col != "unit" else "left")
    for unit in ("accounts", "actions"):
        r = eng[unit]
        table.add_row(unit, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}",
                      f"{r['support']:,}", f"{r['predicted']:,}")  # fmt: skip
    out.print(table)
    for kind, label in (
        ("viral", "organic viral-burst accounts"),
        ("heavy", "organic heavy users"),
    ):
        g = eng[kind]
        if g["accounts"]:
            out.print(
                f"{label}: {g['flagged']:,} of {g['accounts']:,} flagged "
                f"(false-positive rate {100 * g['fp_rate']:.2f}%)"
            )


@app.command()
def injection(
    edges: Annotated[int, typer.Option(help="Edges of the random graph")] = 1_000_000,
    seeds: Annotated[int, typer.Option(help="Seeds to average over")] = 1,
    relational: Annotated[bool, typer.Option(help="Also run the relational variant")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """The FRAUDAR injection experiment: F-measure of the lockstep search vs density and camouflage."""
    from qinglang.experiment import injection as run_injection

    with progress() as bar:
        task = bar.add_task("injecting", total=8)
        rows = run_injection(
            seeds=tuple(range(1, seeds + 1)),
            edges=edges,
            relational=relational,
            on_step=lambda s: bar.update(task, description=s, advance=1),
        )
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"Injected 200 x 200 block with camouflage into {edges:,} edges")
    cols = ["camouflage", "density", "greedy F", "greedy s"]
    cols += ["relational F", "relational s"] if relational else []
    for col in cols:
        table.add_column(col, justify="right")
    for r in rows:
        cells = [r["camouflage"], f"{r['density']:g}", f"{r['greedy_f']:.3f}",
                 f"{r['greedy_seconds']:.2f}"]  # fmt: skip
        if relational:
            cells += [f"{r['relational_f']:.3f}", f"{r['relational_seconds']:.2f}"]
        table.add_row(*cells)
    out.print(table)


@app.command()
def train(
    inputs: Annotated[list[Path], typer.Argument(help="Input files, as for `audit`")],
    labels: Annotated[Path, typer.Option(help="CSV: event_id or visitor_id, and label")],
    out_file: Annotated[Path, typer.Option("--out", help="Model file to write (JSON)")],
    fmt: Annotated[str, typer.Option("--format")] = "auto",
    map_: Annotated[
        list[str], typer.Option("--map", help="their_col=contract_col (repeatable)")
    ] = [],  # noqa: B006
    map_file: Annotated[Path | None, typer.Option("--map-file", help="TOML mapping file")] = None,
    log_format: Annotated[str | None, typer.Option(help="nginx log_format string")] = None,
    site: Annotated[str | None, typer.Option(help="Site name where the input has none")] = None,
    setting: Annotated[list[str], typer.Option(help="NAME=VALUE (see `qinglang settings`)")] = [],  # noqa: B006
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same model)")] = 0,
) -> None:
    """Learn a model from your own labels; `audit --model FILE` then applies it."""
    from qinglang.audit.run import AuditOptions
    from qinglang.settings import parse_settings
    from qinglang.training import train as run_train

    try:
        fmt, mapping, log_format, site = _reading(fmt, map_, map_file, log_format, site)
        options = AuditOptions(
            fmt=fmt, mapping=mapping or None, log_format=log_format, site=site,
            settings=parse_settings(setting),
        )  # fmt: skip
        with progress() as bar:
            task = bar.add_task("starting", total=None)
            with _stdin_as_file(inputs) as files:
                result = run_train(files, labels, out_file, options, seed=seed,
                               step=lambda s, *_: bar.update(task, description=s))  # fmt: skip
    except QinglangError as exc:
        fail(exc)
        return
    if result.warning:
        console.print(f"[yellow]warning:[/yellow] {escape(result.warning)}", highlight=False)
    m = result.model.meta
    table = Table(title=f"Cross-validated ({m['cv'].get('folds', '?')} folds, by session)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result.model.metrics.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(table)
    rows = m["training_rows"]
    out.print(
        f"trained on {rows['valid']:,} valid and {rows['invalid']:,} invalid events; "
        f"wrote {result.path}"
    )


@app.command()
def evaluate(
    inputs: Annotated[list[Path], typer.Argument(help="Labelled input (with a `truth` column)")],
    fmt: Annotated[str, typer.Option("--format")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
    tz: Annotated[str, typer.Option(help="Time zone that days are counted in")] = "Asia/Shanghai",
    setting: Annotated[list[str], typer.Option(help="NAME=VALUE (see `qinglang settings`)")] = [],  # noqa: B006
    log_format: Annotated[str | None, typer.Option(help="nginx log_format string")] = None,
    truth: Annotated[
        Path | None,
        typer.Option(
            help="CSV of line,truth (or event_id,truth) for an input without a truth column"
        ),
    ] = None,
) -> None:
    """Precision, recall and F1 per category, score AUC and the invalid-UV-share error."""
    from qinglang.audit.run import AuditOptions, load_inputs
    from qinglang.detect.pipeline import run_pipeline
    from qinglang.engine import connect
    from qinglang.evaluate import evaluate as run_eval

    try:
        engine = connect()
        loaded = load_inputs(
            engine, inputs, AuditOptions(fmt=fmt, log_format=log_format), lambda *_: None
        )
        if truth is not None:
            from qinglang.evaluate import attach_truth

            attach_truth(engine, str(truth), inputs[0].name)
        from qinglang.settings import parse_settings

        run_pipeline(engine, parse_settings(setting), known_present=loaded.known_present)
        result = run_eval(engine, tz)
    except QinglangError as exc:
        fail(exc)
        return
    if "error" in result:
        fail(QinglangError(result["error"]))
    if as_json:
        out.print_json(json.dumps(result))
    else:
        print_evaluation(result)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the demo")] = Path(
        "qinglang-demo"
    ),
    scale: Annotated[float, typer.Option(help="Scale of case2017 (1.0 = 28M UV)")] = 0.01,
    seed: Annotated[int, typer.Option()] = 1,
    lang: Annotated[str, typer.Option(help="Report language: zh or en")] = "zh",
) -> None:
    """Simulate the 2017 case, audit it, print the summary and the evaluation, write the report."""
    from qinglang.audit.render_terminal import render_summary
    from qinglang.audit.run import AuditOptions, output_dir
    from qinglang.simulate import simulate as run_sim

    try:
        output_dir(out_dir)
    except QinglangError as exc:
        fail(exc)
    data = out_dir / f"case2017-scale{scale:g}-seed{seed}.parquet"
    with progress() as bar:
        task = bar.add_task("simulating case2017", total=None)
        summary = run_sim(
            "case2017",
            scale,
            seed,
            data,
            on_progress=lambda d, n: bar.update(task, completed=d, total=n),
        )
    console.print(f"simulated {summary.rows:,} events, {summary.uv_total:,} UV -> {data}")
    options = AuditOptions(
        unit_price=1.1,
        per=1000,
        currency="CNY",
        lang=lang,
        tz="Asia/Shanghai",
        with_evaluation=True,
    )
    try:
        facts = _run_with_progress([data], out_dir, options)
    except QinglangError as exc:
        fail(exc)
        return
    render_summary(facts, out, lang="en")
    print_evaluation(facts["evaluation"])
    out.print(f"report: {out_dir / 'report.html'}")


@app.command()
def verify(
    out_dir: Annotated[Path | None, typer.Argument(help="An audit's output directory")] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            help="A public key (.pub): the audit, or the published root, must be signed by it"
        ),
    ] = None,
    rerun: Annotated[
        bool, typer.Option("--rerun", help="Also redo the audit and compare every figure and label")
    ] = False,
    db: Annotated[
        Path | None,
        typer.Option(
            help="A collector's database: check a site's lake against its log (with --site)"
        ),
    ] = None,
    site: Annotated[str | None, typer.Option(help="The site whose lake --db checks")] = None,
    root: Annotated[
        str | None,
        typer.Option(
            help="A published root: a log entry's hash, or a file from `qinglang lake root`"
        ),
    ] = None,
) -> None:
    """Check an audit: its seal and signature, every output and input against the manifest, and
    with --rerun that redoing it gives the same figures and labels. With --db and --site, check a
    collector's lake against its hash-chained log (and a published --root). Exit 0 when all
    hold, 1 naming what does not."""
    from qinglang.audit.verify import verify as check

    if out_dir is None and db is None and site is None:
        fail(ConfigError("give an audit directory, or --db and --site (a collector's lake)"))
    ok = True
    if db is not None or site is not None:
        from qinglang.collect.lakelog import check_lake

        if db is None or site is None:
            fail(ConfigError("--db and --site go together"))
        try:
            lake = check_lake(db, site, root, key)
        except QinglangError as exc:
            fail(exc)
        ok = _print_checks(lake.checked, lake.problems, lake.notes) and ok
    if out_dir is not None:
        try:
            verdict = check(out_dir, key if db is None else None, rerun)
        except QinglangError as exc:
            fail(exc)
        ok = _print_checks(verdict.checked, verdict.problems) and ok
    if not ok:
        raise typer.Exit(code=1)
    out.print("verified", highlight=False)


def _print_checks(checked: list[str], problems: list[str], notes: list[str] | None = None) -> bool:
    for line in checked:
        out.print(f"ok: {line}", markup=False, highlight=False)
    for line in notes or []:
        out.print(f"note: {line}", markup=False, highlight=False)
    for line in problems:
        console.print(f"[red]FAILED:[/red] {escape(line)}", highlight=False, soft_wrap=True)
    return not problems


keys_app = typer.Typer(help="Ed25519 keys that sign audits.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("new")
def keys_new(
    base: Annotated[Path, typer.Argument(help="Writes BASE.key (private, mode 0600) and BASE.pub")],
) -> None:
    """Make a key pair for `audit --sign BASE.key`; give BASE.pub to whoever checks the audits."""
    from qinglang.audit.record import new_key_pair

    try:
        private, public, fingerprint = new_key_pair(base)
    except QinglangError as exc:
        fail(exc)
    out.print(
        f"private key {private} (keep it secret)\npublic key {public}\n{fingerprint}", markup=False
    )


@app.command()
def reasons(lang: Annotated[str, typer.Option(help="zh or en")] = "en") -> None:
    """List every reason code with its category and meaning."""
    from qinglang.reasons import reason_table

    table = Table()
    for col in ("code", "category", "role", "description"):
        table.add_column(col)
    for r in reason_table(lang):
        table.add_row(r["code"], r["category"], r["role"], r["description"])
    out.print(table)


@app.command()
def settings() -> None:
    """List every setting with its default and meaning (override with --setting NAME=VALUE)."""
    from qinglang.settings import KINDS, SETTINGS

    table = Table()
    for col in ("name", "default", "takes", "help"):
        table.add_column(col)
    for s in SETTINGS.values():
        table.add_row(s.name, f"{s.default:g}", KINDS[s.kind], s.help)
    out.print(table)
