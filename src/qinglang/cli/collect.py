"""The collector's commands: `qinglang site add|snippet`, `qinglang serve` and `qinglang lake root`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qinglang import __version__
from qinglang.cli.common import app, console, fail, out
from qinglang.errors import ConfigError, QinglangError

site_app = typer.Typer(help="Register the sites the collector counts for.", no_args_is_help=True)
app.add_typer(site_app, name="site")
DB_HELP = "The collector's database file (sites; the lake lives beside it)"
URL_HELP = "Where visitors' browsers reach the collector"


@site_app.command("add")
def site_add(
    name: Annotated[str, typer.Argument(help="Site name (a-z 0-9 . _ -)")],
    origin: Annotated[list[str], typer.Option(help="Origin the site is served from (repeatable)")],
    db: Annotated[Path, typer.Option(help=DB_HELP)] = Path("qinglang.db"),
    collector: Annotated[str, typer.Option(help=URL_HELP)] = "http://127.0.0.1:8080",
) -> None:
    """Register a site with its own secret and print the snippet to paste into its pages."""
    from qinglang.collect.sites import SiteRegistry, snippet

    try:
        site = SiteRegistry(db).add(name, origin)
    except QinglangError as exc:
        fail(exc)
        return
    console.print(f"site {site.name} registered for {', '.join(site.origins)}; paste this:")
    out.print(snippet(collector, site.name), markup=False, highlight=False)


@site_app.command("snippet")
def site_snippet(
    name: Annotated[str, typer.Argument(help="Site name")],
    db: Annotated[Path, typer.Option(help=DB_HELP)] = Path("qinglang.db"),
    collector: Annotated[str, typer.Option(help=URL_HELP)] = "http://127.0.0.1:8080",
) -> None:
    """Print the snippet of a registered site again."""
    from qinglang.collect.sites import SiteRegistry, snippet

    try:
        found = SiteRegistry(db).get(name)
    except QinglangError as exc:
        fail(exc)
        return
    if found is None:
        fail(ConfigError(f"unknown site {name!r} in {db}"))
    out.print(snippet(collector, name), markup=False, highlight=False)


@app.command()
def serve(
    db: Annotated[Path, typer.Option(help=DB_HELP)] = Path("qinglang.db"),
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8080,
    queue: Annotated[int, typer.Option(help="Beacons waiting for fsync before 503")] = 2048,
    setting: Annotated[
        list[str], typer.Option(help="NAME=VALUE; the collector reads token_ttl_minutes")
    ] = [],  # noqa: B006
    engine: Annotated[
        str,
        typer.Option(
            envvar="QINGLANG_ENGINE",
            help="rust: the qinglang-front binary (fast; built from front/); python: the ASGI "
            "app under uvicorn; auto: rust if the binary is found",
        ),
    ] = "auto",
    create: Annotated[
        bool, typer.Option("--create", help="Start with a new, empty database if --db is missing")
    ] = False,
) -> None:
    """Run the collector: /t.js, /b, /b.gif, /healthz and /metrics. Ctrl-C stops it (exit 0)."""
    from qinglang.collect.front import find_front, serve_front
    from qinglang.collect.server import serve as run_server
    from qinglang.collect.sites import lake_dir, open_collector_db
    from qinglang.settings import parse_settings, setting_value

    try:
        if engine not in ("auto", "rust", "python"):
            raise ConfigError(f"--engine {engine!r}: expected auto, rust or python")
        ttl = setting_value(parse_settings(setting), "token_ttl_minutes")
        front = find_front() if engine != "python" else None
        if engine == "rust" and front is None:
            raise ConfigError(
                "--engine rust: no qinglang-front binary (build it: see README, "
                "'Collector engines'; or set QINGLANG_FRONT to its path)"
            )
        sites = sorted(open_collector_db(db, create).all())
        ttl_s = int(ttl * 60)
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        console.print(
            f"qinglang {__version__} collector ({'rust front' if front else 'python'}) starting on "
            f"http://{where}\n  database {db.resolve()}\n  sites {', '.join(sites) or 'none yet'}"
            f"\n  lake {lake_dir(db.resolve())}\nCtrl-C stops it.",
            markup=False,
            highlight=False,
        )
        if front is None and engine == "auto":
            console.print(
                "  the Python engine: about a tenth of nginx's rate. For the fast engine, build "
                "the Rust front into this venv (needs cargo): cargo install --locked --path front "
                f"--root {Path(sys.executable).parent.parent} (README: 'Collector engines')",
                markup=False,
                highlight=False,
            )
        try:
            if front is not None:
                serve_front(front, db, host, port, queue, ttl_s=ttl_s)
            else:
                run_server(db, host, port, queue_size=queue, ttl_s=ttl_s)
        except KeyboardInterrupt:  # the engines flush on the way out
            pass
        console.print("collector stopped", highlight=False)
    except QinglangError as exc:
        fail(exc)


lake_app = typer.Typer(
    help="The collector's Parquet lake and its tamper-evident log.", no_args_is_help=True
)
app.add_typer(lake_app, name="lake")


@lake_app.command("root")
def lake_root(
    site: Annotated[str, typer.Option(help="The site whose lake to state")],
    db: Annotated[Path, typer.Option(help=DB_HELP)] = Path("qinglang.db"),
    day: Annotated[
        str | None, typer.Option(help="The UTC day (YYYY-MM-DD); without it, the whole lake")
    ] = None,
    sign: Annotated[
        Path | None,
        typer.Option(help="Sign the statement with this Ed25519 private key (qinglang keys new)"),
    ] = None,
) -> None:
    """Print the root to publish for a day of a site's lake: the hash of the log entry that last
    changed that day, and the day's rows and files as of it (JSON on standard output; signed with
    --sign). Anyone holding it can later check that the lake still agrees (qinglang verify)."""
    import time

    from qinglang.audit.record import canonical
    from qinglang.collect import lakelog
    from qinglang.errors import InputError

    try:
        if day is not None:
            try:
                time.strptime(day, "%Y-%m-%d")
            except ValueError:
                raise ConfigError(f"--day {day!r}: expected a UTC day as YYYY-MM-DD") from None
            statement = lakelog.day_root(db, site, day)
        else:
            root = lakelog.lake_root(db, site)
            if root is None:
                raise InputError(str(db), f"site {site!r} has no lake log yet (nothing rolled)")
            statement = {"statement": lakelog.STATEMENT, "qinglang": __version__, **root}
        if sign is not None:
            statement = lakelog.sign_statement(statement, sign)
    except QinglangError as exc:
        fail(exc)
    entry = statement.get("entry") or statement["head"]
    what = f"{day} (UTC)" if day else "the lake"
    note = "" if not day or statement.get("complete") else "; the day is not complete yet"
    console.print(
        f"{site}: {statement['rows']} rows in {what}, closed by log entry {entry['seq']}"
        f"{note}\nroot {entry['hash']}" + (" (signed)" if sign else ""),
        markup=False,
        highlight=False,
    )
    if statement.get("log_problems"):
        console.print(
            f"[yellow]warning:[/yellow] the log itself shows {len(statement['log_problems'])} "
            f"problem(s), e.g. {escape(statement['log_problems'][0])}; run qinglang verify first",
            highlight=False,
        )
    text = canonical(statement).decode().rstrip("\n")
    out.print(text, markup=False, highlight=False, soft_wrap=True)
