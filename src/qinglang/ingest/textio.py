"""Opening inputs: gzip by magic bytes, binary and empty checks, UTF-8 lines, and the file hash."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from qinglang.errors import InputError

from .common import ReadContext

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
    """The first bytes of the (decompressed) content."""
    with open_binary(path) as f:
        try:
            return f.read(size)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(str(path), f"cannot decompress: {exc}") from None


def check_text(path: Path, head: bytes, fmt: str) -> None:
    """Raise InputError for an empty or binary input to a text format (`fmt`: what was expected,
    e.g. "CSV text"), saying what to do."""
    if not head.strip():
        raise InputError(str(path), "empty file: no events")
    if b"\x00" in head:
        raise InputError(
            str(path),
            f"binary file (contains NUL bytes); expected {fmt}: is it the right file, or a "
            "compressed format other than gzip?",
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=len(head) < HEAD_BYTES)
    except UnicodeDecodeError as exc:
        raise InputError(
            str(path),
            f"not UTF-8 text (invalid byte at offset {exc.start}); expected {fmt} in UTF-8. "
            "A Chinese export is often GBK: convert it first, e.g. "
            "iconv -f GBK -t UTF-8 FILE > FILE.utf8.csv",
        ) from None


class LineSource:
    """Iterate the decoded lines of a text input, counting physical lines from 1.

    A line that is not valid UTF-8 is given with replacement characters and its number is
    remembered in ``bad``; the reader reports it. A truncated gzip stream ends the lines with one
    reported error.
    """

    def __init__(self, ctx: ReadContext, fmt: str) -> None:
        self.ctx = ctx
        check_text(ctx.path, read_head(ctx.path), f"{fmt} text")
        self.bad: set[int] = set()
        self.lineno = 0

    def __iter__(self) -> Iterator[str]:
        with open_binary(self.ctx.path) as f:
            it = iter(f)
            while True:
                try:
                    raw = next(it)
                except StopIteration:
                    return
                except (EOFError, OSError, zlib.error) as exc:
                    self.ctx.bad(self.lineno + 1, None, f"file ends early or is corrupt: {exc}")
                    return
                self.lineno += 1
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    self.bad.add(self.lineno)
                    text = raw.decode("utf-8", errors="replace")
                if self.lineno == 1 and text.startswith("\ufeff"):
                    text = text[1:]
                yield text

    def has_bad(self, start: int, end: int) -> bool:
        return bool(self.bad) and any(n in self.bad for n in range(start, end + 1))


def bad_utf8(ctx: ReadContext, line: int) -> None:
    ctx.bad(line, None, "not valid UTF-8 text")
