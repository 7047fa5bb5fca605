"""nginx access-log reader: the ``combined`` format, or any ``log_format`` (``--log-format``).

How variables become contract columns (every other variable is ignored, and named in a note):

* ``$http_x_forwarded_for`` (its first address) when present and not ``-``, else ``$remote_addr``
  -> ``ip``;
* ``$time_local``, ``$time_iso8601`` or ``$msec`` -> ``ts``;
* ``$request`` (the request target of ``METHOD target PROTO``; ``$request_uri`` or ``$uri`` when
  there is no ``$request``) -> ``url``; with ``$host`` (or ``$http_host``) it becomes
  ``<$scheme or http>://host/target``;
* ``$http_referer`` -> ``referrer``, ``$http_user_agent`` -> ``user_agent``, ``$request_id`` ->
  ``event_id``;
* a cookie whose name matches :data:`VISITOR_COOKIE` (``$cookie_<name>``, or found in
  ``$http_cookie``) -> ``visitor_id``;
* the method of ``$request`` (or ``$request_method``) -> ``method``, ``$status`` -> ``status``,
  ``$body_bytes_sent`` (or ``$bytes_sent``) -> ``bytes``;
* ``$http_sec_ch_ua`` (the Sec-CH-UA client hint: the brands and versions a Chromium browser
  says it is) -> ``client.ch_ua``, as the tracker reports it; the audit compares it with the
  user agent (``ua.ch_mismatch``, ``ua.headless``);
* ``$arg_*`` is ignored. A value of ``-`` is null.

Every line is an event. Only a page view is paid: a GET (or a line without a method) of a page,
answered 2xx or 304, is a ``pageview``. Everything else is kept as a ``request`` (not counted in
PV or UV) because behaviour needs it: static assets (path ending in one of
:data:`STATIC_EXTENSIONS`, also marked ``asset``), files that are no page (one of
:data:`FILE_EXTENSIONS`: ``.pdf``, ``.zip``, ``.txt``, ``.xml``, ``.py``, ``.apk``...), HEAD, POST
and other methods, redirects and errors, ``robots.txt`` and ``sitemap.xml``. A line that does not match the format is a bad row
naming its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import duckdb
import pyarrow as pa

from qinglang.errors import FieldError, show_value
from qinglang.events import is_ip

from .common import ReadContext, RowSink
from .nginx_block import BlockParser, block_parser_for, empty_rows
from .nginx_format import LogFormat, compile_format, decode_escapes, parse_time_local
from .textio import LineSource, add_record, bad_line

STATIC_EXTENSIONS = (
    ".js", ".mjs", ".css", ".map",
    ".png", ".jpg", ".jpeg", ".gif", ".ico", ".svg", ".webp", ".avif", ".bmp",
    ".woff", ".woff2", ".ttf", ".otf", ".eot",
    ".mp4", ".webm", ".mp3", ".ogg", ".wav", ".opus",
    ".tif", ".tiff", ".heic", ".heif",
    ".wasm", ".webmanifest", ".vtt", ".m3u8", ".m4s", ".ts", ".mpd",  # a player's, a script's
)  # fmt: skip
# Files that are not pages: a download, a document, a feed, source or data text. A fixed list,
# reviewed by hand (drawn from Python's type table, which grows between Python versions: 3.14's
# names `.php`, so a list read from it would turn every PHP page into a file on one machine and
# not another). Never a page's suffix (`.php .asp(x) .jsp .do .action .cgi .pl .shtml .htm(l)`:
# tested); no two-letter suffix but `.py .sh .gz .xz .7z` (`/go/example.ai` is a domain), and
# none that is as often a word in a path (`.man`, `.movie`, `.dot`).
FILE_EXTENSIONS = (
    # documents and books
    ".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".pps", ".odt", ".ods", ".odp",
    ".rtf", ".epub", ".mobi", ".djvu", ".dvi", ".eps", ".psd", ".csv", ".tsv", ".txt", ".tex",
    # feeds and data
    ".xml", ".rss", ".atom", ".rdf", ".json", ".yaml", ".yml", ".toml", ".ini", ".conf", ".log",
    ".sql", ".vcf", ".ics", ".srt", ".eml", ".mht", ".mhtml", ".wsdl", ".xsl",
    # archives, packages and installers
    ".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz", ".zst",
    ".lzma", ".iso", ".dmg", ".pkg", ".msi", ".msix", ".exe", ".dll", ".bin", ".deb", ".rpm",
    ".appimage", ".apk", ".xapk", ".ipa", ".hap", ".jar", ".war", ".whl", ".crx", ".xpi", ".cab",
    ".torrent",
    # source, scripts, patches and keys
    ".py", ".pyc", ".sh", ".bat", ".patch", ".diff", ".sig", ".asc", ".pem", ".crt", ".p12",
    ".pfx", ".bak",
    # audio and video files to download (a page's own media are assets: STATIC_EXTENSIONS)
    ".avi", ".mov", ".mpeg", ".mpg", ".mkv", ".flv", ".wmv", ".m4v", ".rmvb", ".3gp", ".flac",
    ".m4a", ".aac", ".aiff", ".mid", ".midi", ".swf",
)  # fmt: skip
# Paths that are for machines, not pages (a crawler's first request is often robots.txt).
MACHINE_PATHS = ("/robots.txt", "/sitemap.xml", "/ads.txt", "/security.txt", "/.well-known/")
# a block of lines for the block SQL ends at the batch size or at this many characters; a line
# longer than LONG_LINE is read by the per-line reader
BLOCK_CHARS = 64 << 20
LONG_LINE = 16_384
# cookie names taken as the visitor id: uid, uuid, guid, vid, visitor*, client_id, _ga, ...
VISITOR_COOKIE = re.compile(r"(?i)(uid|uuid|vid|visitor|client_?id|^_ga$)")
USED = {
    "remote_addr", "http_x_forwarded_for", "time_local", "time_iso8601", "msec", "request",
    "request_uri", "uri", "host", "http_host", "scheme", "http_referer", "http_user_agent",
    "request_id", "http_cookie", "request_method", "status", "body_bytes_sent", "bytes_sent",
    "http_sec_ch_ua",
}  # fmt: skip


def read(ctx: ReadContext) -> Iterator[pa.RecordBatch]:
    fmt = compile_format(ctx.log_format)
    _note_unused(ctx, fmt)
    lines = LineSource(ctx, "nginx")
    # strict reading stops at the first bad line with the counts up to it: line by line
    block = None if ctx.strict else block_parser_for(fmt, frozenset(USED), ctx.name, ctx.site)
    if block is None:
        yield from _read_lines(ctx, fmt, lines)
        return
    lines.defer_end = True  # blocks are read ahead: a cut stream is reported after them
    try:
        yield from _read_blocks(ctx, fmt, lines, block)
    finally:
        block.close()


def _read_lines(ctx: ReadContext, fmt: LogFormat, lines: LineSource) -> Iterator[pa.RecordBatch]:
    """Every line through the per-line reader."""
    sink = RowSink(ctx)
    for lineno, text in enumerate(lines, 1):
        if not text.strip():
            continue
        batch = _read_line(ctx, fmt, sink, lineno, text, lines.take_bad(lineno, lineno))
        if batch is not None:
            yield batch
    last = sink.flush()
    if last is not None:
        yield last


def _read_line(
    ctx: ReadContext, fmt: LogFormat, sink: RowSink, lineno: int, text: str, reason: str | None
) -> pa.RecordBatch | None:
    """One line through the per-line reader: its row to `sink`, or its problem reported
    (`reason`: why LineSource found the line bad, if it did)."""
    if reason:
        bad_line(ctx, lineno, reason)
        return None
    line = text.rstrip("\r\n")
    m = fmt.regex.match(line)
    if m is None:
        # the line's start, shown escaped: what a format given by hand missed is usually there
        # (a leading space, a host:port prefix, fields that are not combined's)
        begins = show_value(line, 48)
        ctx.bad(lineno, None, f"does not match log_format {_short(fmt.name)}; it begins {begins}")
        return None
    try:
        record = to_record(m.groupdict())
    except FieldError as exc:
        ctx.bad_field(lineno, exc)
        return None
    return add_record(ctx, sink, record, lineno)


def _read_blocks(
    ctx: ReadContext, fmt: LogFormat, lines: LineSource, block: BlockParser
) -> Iterator[pa.RecordBatch]:
    """Blocks of lines through the block SQL; the lines it does not vouch for (and those
    LineSource found bad) through the per-line reader; each block's rows in line order."""
    linenos: list[int] = []
    texts: list[str] = []
    held = 0  # characters in the block: long lines end a block early, so memory stays bounded
    for lineno, text in enumerate(lines, 1):
        if not text.strip():
            continue
        linenos.append(lineno)
        texts.append(text.rstrip("\r\n"))
        held += len(text)
        if len(linenos) >= ctx.batch_size or held >= BLOCK_CHARS:
            yield from _block(ctx, fmt, lines, block, linenos, texts)
            linenos, texts, held = [], [], 0
    if linenos:
        yield from _block(ctx, fmt, lines, block, linenos, texts)
    lines.report_end()


def _block(
    ctx: ReadContext,
    fmt: LogFormat,
    lines: LineSource,
    block: BlockParser,
    linenos: list[int],
    texts: list[str],
) -> Iterator[pa.RecordBatch]:
    # lines LineSource found bad (not UTF-8, NUL, too long) and long ones (Python's regex is the
    # faster there) go straight to the per-line reader
    direct = {
        n for n, text in zip(linenos, texts, strict=True) if n in lines.bad or len(text) > LONG_LINE
    }
    keep = [i for i, n in enumerate(linenos) if n not in direct] if direct else range(len(linenos))
    try:
        vouched, others = block.parse([linenos[i] for i in keep], [texts[i] for i in keep])
    except duckdb.Error:  # whatever the SQL could not do, the per-line reader does
        vouched, others = empty_rows(), [linenos[i] for i in keep]
    if direct:
        others = sorted([*others, *direct])
    ctx.report.rows_ok += vouched.num_rows
    ctx.advance(vouched.num_rows)
    pieces = [vouched]
    if others:
        text_of = dict(zip(linenos, texts, strict=True))
        sink = RowSink(replace(ctx, batch_size=len(others) + 1))
        taken: list[int] = []
        for lineno in others:
            before = ctx.report.rows_ok
            # each flagged line's reason taken at once: a block may hold 65,536 of them
            _read_line(ctx, fmt, sink, lineno, text_of[lineno], lines.bad.pop(lineno, None))
            if ctx.report.rows_ok > before:
                taken.append(lineno)
        rows = sink.flush()
        if rows is not None:
            table = pa.Table.from_batches([rows])
            pieces.append(table.append_column("lineno", pa.array(taken, pa.int64())))
    merged = pa.concat_tables(pieces)
    if len(pieces) > 1:
        merged = merged.sort_by("lineno")
    yield from merged.drop_columns(["lineno"]).combine_chunks().to_batches()


def to_record(groups: dict[str, str | None]) -> dict[str, Any]:
    """Matched variables -> a contract record."""
    v = {k: decode_escapes(x) for k, x in groups.items() if x not in (None, "", "-")}
    method, target = _method_target(v)
    path = target.split("?", 1)[0].lower() if target else ""
    asset = path.endswith(STATIC_EXTENSIONS)
    host = v.get("host") or v.get("http_host")
    url = target
    if host and target and target.startswith("/"):
        url = f"{v.get('scheme', 'http')}://{host}{target}"
    status = v.get("status")
    bytes_sent = v.get("body_bytes_sent", v.get("bytes_sent"))
    hints = v.get("http_sec_ch_ua")
    return {
        "event_id": v.get("request_id"),
        "ts": _ts(v),
        "event": "pageview" if _is_page_view(method, path, status, asset) else "request",
        "ip": _ip(v),
        "url": url,
        "referrer": v.get("http_referer"),
        "user_agent": v.get("http_user_agent"),
        "visitor_id": _visitor(v),
        "method": method,
        "status": status,
        "bytes": bytes_sent,
        "asset": True if asset else None,
        "client": {"ch_ua": hints} if hints is not None else None,
    }


def _is_page_view(method: str | None, path: str, status: str | None, asset: bool) -> bool:
    """A successful GET of a page (see the module doc)."""
    if asset or not path.startswith("/") or path.startswith(MACHINE_PATHS):
        return False
    if path.endswith(FILE_EXTENSIONS):  # a download or a document is no page view
        return False
    if method not in (None, "GET"):
        return False
    return status is None or status == "304" or (len(status) == 3 and status[0] == "2")


def _method_target(v: dict[str, str]) -> tuple[str | None, str | None]:
    """The method and the request target (None where the request line is not HTTP)."""
    method = v.get("request_method")
    request = v.get("request")
    if request is not None:
        parts = request.split(" ")
        if len(parts) == 3 and parts[1]:
            return _method(parts[0]) or method, parts[1]
        return method, None
    return method, v.get("request_uri") or v.get("uri")


def _method(text: str) -> str | None:
    """The request line's method when it is a plausible HTTP token (a probe's garbage is not)."""
    return text if 0 < len(text) <= 16 and text.isascii() and text.isalpha() else None


def _ts(v: dict[str, str]) -> Any:
    if "time_local" in v:
        try:
            return parse_time_local(v["time_local"])
        except ValueError:
            raise FieldError(
                "ts", v["time_local"], "$time_local as 10/Oct/2000:13:55:36 -0700"
            ) from None
    return v.get("time_iso8601") or v.get("msec")


def _ip(v: dict[str, str]) -> str | None:
    forwarded = v.get("http_x_forwarded_for", "").split(",")[0].strip()
    if forwarded and forwarded != "-" and is_ip(forwarded):
        return forwarded
    return v.get("remote_addr")  # `unknown` or garbage in X-Forwarded-For: the peer's address


def _visitor(v: dict[str, str]) -> str | None:
    for key, value in v.items():
        if key.startswith("cookie_") and VISITOR_COOKIE.search(key[7:]):
            return value
    for part in v.get("http_cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if value and VISITOR_COOKIE.search(name):
            return value
    return None


def _note_unused(ctx: ReadContext, fmt: LogFormat) -> None:
    unused = [
        x for x in dict.fromkeys(fmt.variables)
        if x not in USED and not x.startswith("cookie_") and not x.startswith("arg_")
    ]  # fmt: skip
    if unused:
        ctx.note("log_format variables not used: " + ", ".join("$" + x for x in unused))


def _short(name: str) -> str:
    return name if len(name) <= 60 else repr(name[:57] + "...")
