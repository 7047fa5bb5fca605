"""What every `qinglang` command shares: the app, the consoles, and the one error path.

Every failure a user can cause ends in one line on standard error and an exit code (the README's
table): 0 done; 1 the inputs exist but cannot be audited as they are (fix the data); 2 the
command line is wrong (fix the command); 3 an internal error (a bug: please report it).
Ctrl-C ends with click's "Aborted!" and 1. A traceback is printed only with `qinglang --debug ...` (or
QINGLANG_DEBUG=1).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from qinglang import __version__
from qinglang.errors import QinglangError

EXIT_OK, EXIT_DATA, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3

app = typer.Typer(
    help="qinglang (清朗): audit web traffic and engagement for fraud, and settle campaigns.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()
_debug = {"on": os.environ.get("QINGLANG_DEBUG", "") not in ("", "0")}


def fail(exc: BaseException) -> NoReturn:
    """End the command with `exc` as one line, and its exit code."""
    if _debug["on"]:
        console.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    console.print(
        f"[red]error:[/red] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code=getattr(exc, "exit_code", EXIT_DATA))


def progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal and "CI" in os.environ,
    )


def _print_version(value: bool) -> None:
    if value:
        out.print(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit", is_eager=True,
                     callback=_print_version),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the traceback of an error as well")
    ] = False,
) -> None:  # fmt: skip
    """qinglang (清朗): audit web traffic and engagement for fraud, and settle campaigns."""
    if debug:
        _debug["on"] = True


def main(argv: Sequence[str] | None = None) -> int:
    """The `qinglang` executable: run a command and return its exit code, whatever happens.
    Usage errors (unknown command or option, a value of the wrong type) are typer's: exit 2;
    Ctrl-C is click's "Aborted!": exit 1."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="qinglang")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_DATA)
    except QinglangError as exc:  # a command that let its own error through
        try:
            fail(exc)
        except typer.Exit as done:
            return int(done.exit_code)
    except Exception as exc:  # a bug: one line, the traceback with --debug
        if _debug["on"]:
            console.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
        console.print(
            f"[red]internal error:[/red] {escape(type(exc).__name__)}: {escape(str(exc)[:300])}"
            f"{at}. This is a bug in qinglang: run again with --debug and report the traceback.",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_BUG
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
