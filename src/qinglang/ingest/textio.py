"""Opening inputs: gzip by magic bytes, binary and empty checks, UTF-8 lines, and the file hash;
and handing a text reader's record to its sink so that no value can end the file."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa

from qinglang.errors import InputError

from .common import ReadContext, RowSink

GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 65_536


class FileHasher:
    """SHA-256 of a file's bytes, computed in a thread while the reader works."""

    def __init__(self, path: Path) -> None:
        self._digest = ""
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except OSError as exc:
            self._error = exc
            return
        self._digest = h.hexdigest()

    def hexdigest(self) -> str:
        self._thread.join()
        return self._digest


def open_binary(path: Path) -> BinaryIO:
    """Open a file for reading bytes, decompressing gzip transparently (detected by magic)."""
    raw = open(path, "rb")  # the caller closes it
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    raw.seek(0)
    return raw


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first bytes of the (decompressed) content; past any that are whitespace alone (a file
    may open with more blank lines than one head holds), the first that are not."""
    with open_binary(path) as f:
        try:
            while chunk := f.read(size):
                if chunk.strip():
                    return chunk
            return b""
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(str(path), f"cannot decompress: {exc}") from None


def check_text(path: Path, head: bytes, fmt: str) -> None:
    """Raise InputError for an empty input to a text format, or one that is binary from its first
    line on (NUL bytes, or not UTF-8: a binary file, UTF-16, a GBK export), saying what to do
    (`fmt`: what was expected, e.g. "CSV text"). A later line that is binary is one bad row (see
    :class:`LineSource`), so one corrupt line cannot cost the file's good rows."""
    if not head.strip():
        raise InputError(str(path), "empty file: no events")
    pieces = head.split(b"\n")
    i = next(n for n, piece in enumerate(pieces) if piece.strip())
    first = pieces[i]
    offset = sum(len(piece) + 1 for piece in pieces[:i])
    decoder = codecs.getincrementaldecoder("utf-8")()
    cut = i == len(pieces) - 1 and len(head) >= HEAD_BYTES  # the head may end inside a character
    try:
        decoder.decode(first, final=not cut)
        utf8_error = None
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if b"\x00" in first or (utf8_error and b"\x00" in head):
        raise InputError(
            str(path),
            f"binary file (contains NUL bytes); expected {fmt}: is it the right file, or a "
            "compressed format other than gzip?",
        )
    if utf8_error:
        raise InputError(
            str(path),
            f"not UTF-8 text (invalid byte at offset {offset + utf8_error.start}); expected {fmt} in "
            "UTF-8. A Chinese export is often GBK: convert it first, e.g. "
            "iconv -f GBK -t UTF-8 FILE > FILE.utf8.csv",
        )


MAX_LINE_BYTES = 8 << 20  # a longer physical line is one bad row, read past without keeping it
NOT_UTF8 = "not UTF-8 text (a GBK export? convert it: iconv -f GBK -t UTF-8)"
GBK_HINT = (
    "lines that are not UTF-8 were rejected; if the file is a GBK export, convert it first, e.g. "
    "iconv -f GBK -t UTF-8 FILE > FILE.utf8"
)


class LineSource:
    """Iterate the decoded lines of a text input, counting physical lines from 1.

    A line that is not valid UTF-8, holds NUL bytes or is longer than :data:`MAX_LINE_BYTES` is
    still given (with replacement characters; a long one as one), so a CSV record's quotes keep
    their meaning, and remembered with its reason in ``bad``; the reader reports it as one bad row
    (:meth:`take_bad`). A truncated gzip stream ends the lines with one reported error.
    """

    def __init__(self, ctx: ReadContext, fmt: str) -> None:
        self.ctx = ctx
        check_text(ctx.path, read_head(ctx.path), f"{fmt} text")
        self.bad: dict[int, str] = {}
        self.lineno = 0
        # a reader that reads ahead (blocks of lines) sets this, so a cut or corrupt stream is
        # reported by report_end() after the lines before it, not when reading reaches it
        self.defer_end = False
        self._end: tuple[int, str] | None = None

    def __iter__(self) -> Iterator[str]:
        with open_binary(self.ctx.path) as f:
            while True:
                try:
                    raw = f.readline(MAX_LINE_BYTES + 1)
                    long = len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n")
                    while long:  # read past the rest of the line, a MiB at a time
                        rest = f.readline(1 << 20)
                        long = bool(rest) and not rest.endswith(b"\n")
                except (EOFError, OSError, zlib.error) as exc:
                    self._end = (self.lineno + 1, f"file ends early or is corrupt: {exc}")
                    if not self.defer_end:
                        self.report_end()
                    return
                if not raw:
                    return
                self.lineno += 1
                if len(raw) > MAX_LINE_BYTES:
                    self.bad[self.lineno] = f"line longer than {MAX_LINE_BYTES >> 20} MiB"
                    yield "\ufffd\n"
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    self.bad[self.lineno] = NOT_UTF8
                    self.ctx.note(GBK_HINT)
                    text = raw.decode("utf-8", errors="replace")
                if "\x00" in text:
                    self.bad[self.lineno] = "contains NUL bytes (binary data, not text)"
                    text = text.replace("\x00", "\ufffd")
                if self.lineno == 1 and text.startswith("\ufeff"):
                    text = text[1:]
                yield text

    def report_end(self) -> None:
        """Report a stream that ended early or corrupt (once)."""
        if self._end is not None:
            self.ctx.bad(self._end[0], None, self._end[1])
            self._end = None

    def take_bad(self, start: int, end: int) -> str | None:
        """Why a line from start to end (a record) is bad, or None; forgets lines up to end."""
        if not self.bad:
            return None
        if end - start < len(self.bad):
            found = [n for n in range(start, end + 1) if n in self.bad]
        else:
            found = sorted(n for n in self.bad if start <= n <= end)
        reason = self.bad[found[0]] if found else None
        for n in [n for n in self.bad if n <= end]:
            del self.bad[n]
        return reason


def bad_line(ctx: ReadContext, line: int, reason: str) -> None:
    ctx.bad(line, None, reason)


def add_record(ctx: ReadContext, sink: RowSink, record: Any, line: int) -> pa.RecordBatch | None:
    """``sink.add``, where a value the converter cannot handle is one bad row, not a traceback:
    it reports its problems as FieldError, but Python itself may refuse a value first (JSON text
    in ``client`` nested past the stack or with an integer of more than 4300 digits, a time at the
    ends of datetime's range moved into --input-tz). The batcher's own (Arrow) errors still
    propagate: they are not one row's."""
    try:
        return sink.add(record, line)
    except (ValueError, OverflowError, RecursionError) as exc:
        if isinstance(exc, pa.ArrowException):
            raise
        ctx.bad(line, None, f"a value that cannot be read ({type(exc).__name__}: {str(exc)[:100]})")
        return None
