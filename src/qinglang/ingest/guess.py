"""``--format auto``: guess a file's format from its first bytes and lines, then its extension.

In order: Parquet magic bytes (or a ``.parquet``/``.pq`` name); a first line that is a JSON object
(ndjson); a header that is the TalkingData or engagement column set; a first line that matches the
nginx ``combined`` or ``main`` format (or the given ``--log-format``); then the extension
(``.ndjson``/``.jsonl``/``.json``, ``.csv``/``.tsv``, ``.log``), ignoring a trailing ``.gz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qinglang.errors import InputError

from . import engagement, talkingdata
from .nginx_format import compile_format
from .textio import check_text, read_head

FORMATS = ("csv", "parquet", "ndjson", "nginx", "talkingdata", "engagement")
EXTENSIONS = {
    ".parquet": "parquet", ".pq": "parquet",
    ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson",
    ".csv": "csv", ".tsv": "csv", ".log": "nginx",
}  # fmt: skip


@dataclass(frozen=True)
class Guess:
    format: str
    reason: str
    log_format: str | None = None

    @property
    def note(self) -> str:
        return f"guessed format {self.format} from {self.reason}"


def guess_format(path: Path, log_format: str | None = None) -> Guess:
    ext = Path(path.name.lower().removesuffix(".gz")).suffix
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PAR1":
        return Guess("parquet", "the Parquet magic bytes")
    if EXTENSIONS.get(ext) == "parquet":
        return Guess("parquet", f"the extension {ext}")
    head = read_head(path)
    check_text(path, head, "text (CSV, NDJSON, a server log) or Parquet")
    # lines as the readers split them (on LF alone); the head may end inside a character, and a
    # later line may be bad (the reader reports it): replacement characters, never an error
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    first = next((line.strip() for line in text.split("\n") if line.strip()), None)
    if first is None:  # only Unicode spaces and separators (U+2028, U+0085, ...)
        raise InputError(str(path), "empty file: no events (only spaces and line separators)")
    found = _from_line(first, log_format)
    if found:
        return found
    if ext in EXTENSIONS:
        return Guess(EXTENSIONS[ext], f"the extension {ext}", log_format)
    if _csv_header(first):  # no extension to go by (standard input, `data`)
        return Guess("csv", "the header (a `ts` column)")
    raise InputError(
        str(path),
        "cannot guess the format from the extension or the first line; "
        "give --format, one of: " + ", ".join(FORMATS),
    )


def _from_line(first: str, log_format: str | None) -> Guess | None:
    if first.startswith("{"):
        return Guess("ndjson", "the first line (a JSON object)")
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    header = {c.strip().strip('"').lower() for c in first.split(delimiter)}
    if set(talkingdata.REQUIRED) <= header <= talkingdata.COLUMNS:
        return Guess("talkingdata", "the header (TalkingData columns)")
    if set(engagement.COLUMNS) <= header:
        return Guess("engagement", "the header (engagement log columns)")
    spec = log_format or "combined"  # (combined reads nginx's stock `main` lines too)
    if compile_format(spec).regex.match(first):
        return Guess("nginx", f"the first line (nginx {spec} format)", spec)
    return None


def _csv_header(first: str) -> bool:
    """A delimited header that names the contract's one required column, `ts`."""
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    header = {c.strip().strip('"').lower() for c in first.split(delimiter)}
    return "ts" in header and len(header) > 1
