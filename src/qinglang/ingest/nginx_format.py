"""nginx ``log_format`` strings: compile one to a regex, and decode nginx's escapes.

Each ``$var`` (or ``${var}``) becomes a named group. A variable between double quotes matches up to
the closing quote, allowing escaped quotes (``\\"``, as ``escape=json`` writes them; the default
escaping writes ``\\x22``). Any other variable matches up to the literal text that follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from qinglang.errors import ConfigError

PRESETS = {
    "combined": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"',
    # the `main` format of nginx's default nginx.conf
    "main": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"',
}
TIME_VARS = ("time_local", "time_iso8601", "msec")

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_QUOTED = r'(?:[^"\\]|\\.)*'
# What may follow a preset's own fields: `combined` also reads the lines of nginx.conf's stock
# `main` (the same with "$http_x_forwarded_for" after the user agent), matching that field and
# leaving it unread (see compile_format)
PRESET_TAILS = {"combined": f'(?: "{_QUOTED}")?'}
_ESCAPE = re.compile(rb'\\(x[0-9A-Fa-f]{2}|["\\])')
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    )
}


@dataclass(frozen=True)
class LogFormat:
    name: str  # a preset's name, or the format text itself
    text: str
    regex: re.Pattern[str]
    variables: tuple[str, ...]


def normalize(text: str) -> str:
    """A bare format, or a `log_format name [escape=..] '...' '...';` line from nginx.conf."""
    text = text.strip().rstrip(";").strip()
    if text.startswith("log_format"):
        rest = text.split(None, 2)
        text = rest[2] if len(rest) == 3 else ""
        if text.startswith("escape="):
            text = text.split(None, 1)[1] if " " in text else ""
    parts = re.findall(r"'([^']*)'", text)
    if parts and re.fullmatch(r"(\s*'[^']*')+\s*", text):
        return "".join(parts)
    return text


def compile_format(spec: str | None) -> LogFormat:
    """A preset name (``combined``, ``main``) or a log_format string -> LogFormat.

    ``combined`` (the default) also reads the lines of nginx's stock ``main``: the same with
    ``"$http_x_forwarded_for"`` after the user agent, which is what nginx.conf's default writes
    (a log switched from one to the other mid-file reads whole). It reads them as ``combined``:
    the forwarded address is whatever the client sent unless a proxy of the site's own wrote it,
    so it replaces the connection's address only where the format is given as ``main``."""
    spec = spec or "combined"
    name = spec if spec in PRESETS else None
    return _compile(PRESETS.get(spec) or normalize(spec), name, PRESET_TAILS.get(spec, ""))


def _compile(text: str, name: str | None, tail: str = "") -> LogFormat:
    """`text` as a regex; `tail` (a regex) may follow the format's own last literal."""
    matches = list(_VAR.finditer(text))
    if not matches:
        raise ConfigError(
            f"log format {text!r} has no $variables; expected e.g. {PRESETS['combined']!r}"
        )
    variables = [m.group(1) or m.group(2) for m in matches]
    if not any(v in TIME_VARS for v in variables):
        raise ConfigError(
            f"log format {text!r} has no time variable; expected one of "
            + ", ".join("$" + v for v in TIME_VARS)
        )
    pattern, pos, seen = ["^"], 0, set()
    for i, m in enumerate(matches):
        literal = text[pos : m.start()]
        pattern.append(re.escape(literal))
        nxt = text[m.end() : matches[i + 1].start()] if i + 1 < len(matches) else text[m.end() :]
        var = variables[i]
        group = var if var not in seen else f"{var}__{i}"
        seen.add(var)
        pattern.append(f"(?P<{group}>{_group_pattern(literal, nxt, i + 1 == len(matches))})")
        pos = m.end()
    pattern.append(re.escape(text[pos:]) + tail + r"\s*$")
    return LogFormat(name or text, text, re.compile("".join(pattern)), tuple(variables))


def _group_pattern(before: str, after: str, last: bool) -> str:
    if before.endswith('"') and after.startswith('"'):
        return _QUOTED
    if after:
        return f"[^{re.escape(after[0])}]*"
    return ".*" if last else ".*?"


def decode_escapes(value: str) -> str:
    """Undo nginx's escaping: ``\\xHH`` bytes (UTF-8 reassembled), ``\\"`` and ``\\\\``."""
    if "\\" not in value:
        return value
    raw = _ESCAPE.sub(_unescape, value.encode("utf-8", errors="surrogateescape"))
    return raw.decode("utf-8", errors="backslashreplace")


def _unescape(m: re.Match[bytes]) -> bytes:
    code = m.group(1)
    return bytes([int(code[1:], 16)]) if code[:1] == b"x" else code


def parse_time_local(text: str) -> datetime:
    """``10/Oct/2000:13:55:36 -0700`` -> an aware datetime (ValueError if malformed)."""
    if len(text) == 26 and text[2] == "/" and text[6] == "/" and text[11] == ":":
        month = _MONTHS.get(text[3:6])
        sign = {"+": 1, "-": -1}.get(text[21])
        if month and sign and text[20] == " ":
            offset = sign * timedelta(hours=int(text[22:24]), minutes=int(text[24:26]))
            tz = UTC if not offset else timezone(offset)
            return datetime(
                int(text[7:11]), month, int(text[0:2]),
                int(text[12:14]), int(text[15:17]), int(text[18:20]), tzinfo=tz,
            )  # fmt: skip
    return datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z")
