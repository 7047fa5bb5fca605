"""The `qinglang` command: `common` (the app and its one error path), `commands` (audit and
the rest), `collect` (the collector's site and serve), `data` (the bundled UA lists), `ui` (the
dashboard and its users)."""

from qinglang.cli import collect, commands, data, ui  # noqa: F401  (they register their commands)
from qinglang.cli.common import app, main

__all__ = ["app", "main"]
