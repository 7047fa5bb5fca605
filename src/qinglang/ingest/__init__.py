"""Readers: one per source format, each turning a file into record batches of the event contract.

``read_events(paths, fmt=...)`` returns an :class:`EventStream`; iterating it reads the files in
order and yields ``pa.RecordBatch`` of ``EVENT_SCHEMA``, while ``stream.reports`` says, per file,
what was read, what was rejected (``RowError``: file, line or row, field, expected) and what was
noticed. Bad rows are reported and skipped; ``strict=True`` makes the first one fatal
(``TooManyBadRows``), as is a file with bad rows and no good one. A missing, empty or binary file,
or one whose format cannot be guessed, is an ``InputError``. Formats: see :data:`FORMATS` and the
module of each (``csv``, ``parquet``, ``ndjson``, ``nginx``, ``talkingdata``, ``engagement``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

import pyarrow as pa

from qinglang.errors import ConfigError, InputError, QinglangError, TooManyBadRows
from qinglang.events import EVENT_SCHEMA

from . import csv, engagement, ndjson, nginx, parquet, talkingdata
from .common import ReadContext, ReadReport, RejectedLog
from .guess import FORMATS, guess_format
from .mapping import load_mapping_file, parse_map_options, validate_mapping
from .nginx_format import compile_format
from .textio import FileHasher

__all__ = [
    "FORMATS",
    "EventStream",
    "ReadReport",
    "RejectedLog",
    "load_mapping_file",
    "parse_map_options",
    "read_events",
]

Reader = Callable[[ReadContext], Iterator[pa.RecordBatch]]
READERS: dict[str, Reader] = {
    "csv": csv.read,
    "parquet": parquet.read,
    "ndjson": ndjson.read,
    "nginx": nginx.read,
    "talkingdata": talkingdata.read,
    "engagement": engagement.read,
}


class EventStream:
    """Record batches of EVENT_SCHEMA from the given files, read once, in order."""

    schema = EVENT_SCHEMA

    def __init__(
        self,
        paths: list[Path],
        fmt: str,
        options: dict[str, Any],
        on_rows: Callable[[int], None] | None,
    ) -> None:
        self.reports: list[ReadReport] = []
        self._paths = paths
        self._fmt = fmt
        self._options = options
        self._on_rows = on_rows
        self._rows = 0
        self._started = False

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self._started:
            raise RuntimeError("an EventStream can be read only once")
        self._started = True
        return self._run()

    def to_reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(EVENT_SCHEMA, iter(self))

    def _advance(self, n: int) -> None:
        self._rows += n
        if self._on_rows is not None:
            self._on_rows(self._rows)

    def _run(self) -> Iterator[pa.RecordBatch]:
        for path in self._paths:
            yield from self._read_file(path)

    def _read_file(self, path: Path) -> Iterator[pa.RecordBatch]:
        guessed = self._fmt == "auto"
        report = ReadReport(str(path), self._fmt, guessed)
        self.reports.append(report)
        _check_file(path)
        hasher = FileHasher(path)
        ctx = ReadContext(path, report, advance=self._advance, **self._options)
        try:
            if guessed:
                guess = guess_format(path, ctx.log_format)
                report.format, ctx.log_format = guess.format, guess.log_format
                ctx.note(guess.note)
            yield from READERS[report.format](ctx)
        except QinglangError:
            report.sha256 = hasher.hexdigest()
            raise
        report.sha256 = hasher.hexdigest()
        if report.rows_ok + report.rows_bad + report.rows_skipped == 0:
            raise InputError(str(path), "no events")
        if report.rows_ok == 0 and report.rows_bad:
            how = "guessed" if guessed else "given"
            raise TooManyBadRows(
                str(path),
                report.errors,
                report.rows_bad,
                f" and not one good row: read as {report.format} ({how}); if that is not what the "
                "file holds, give --format (and --map or --log-format)",
            )


def read_events(
    paths: Sequence[str | Path],
    fmt: str = "auto",
    mapping: Mapping[str, str] | None = None,
    log_format: str | None = None,
    strict: bool = False,
    site: str | None = None,
    batch_size: int = 65536,
    on_rows: Callable[[int], None] | None = None,
    input_tz: tzinfo = UTC,
    rejected: RejectedLog | None = None,
) -> EventStream:
    """Read event files of one format (or ``auto``: guessed per file). Options are checked now
    (ConfigError), and every path must be an existing file (InputError); reading is lazy.
    ``input_tz``: the zone of timestamps written without one; ``rejected``: where every
    rejected row is listed (``rejected.csv``)."""
    if fmt not in ("auto", *FORMATS):
        raise ConfigError(f"unknown format {fmt!r}; expected one of: auto, " + ", ".join(FORMATS))
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if log_format is not None:
        compile_format(log_format)
    files = [Path(p) for p in paths]
    for path in files:
        _check_file(path)
    options = {
        "mapping": validate_mapping(mapping or {}),
        "log_format": log_format,
        "strict": strict,
        "site": site,
        "batch_size": batch_size,
        "input_tz": input_tz,
        "rejected": rejected,
    }
    return EventStream(files, fmt, options, on_rows)


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise InputError(str(path), "is a directory; give the event files in it", usage=True)
    if not path.exists():
        raise InputError(str(path), "no such file", usage=True)
    if not path.is_file():
        raise InputError(str(path), "not a regular file", usage=True)
