"""NDJSON reader: one JSON object per line, keys named as in the contract (or mapped).

``client`` is a nested object. Blank lines are skipped; a line that is not JSON, or not an object,
is a bad row naming its line. The event id is the object's ``event_id`` or ``<file name>:<line>``.

What Python's JSON would take but the contract cannot hold is a bad row too: a lone surrogate
escape (``"\\ud800"``, not Unicode text) anywhere in the object, and a contract field nested
deeper than :data:`MAX_DEPTH`. An integer of more than 20 characters is kept as its digits (an
id stays exact; as a number it is out of every range), never converted to a Python int.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from qinglang.events import EVENT_COLUMNS

from .common import ReadContext, RowSink
from .textio import LineSource, add_record, bad_line

KNOWN = frozenset(EVENT_COLUMNS)
MAX_UNKNOWN_NAMED = 20
MAX_NAME = 60  # characters of an unknown field's name shown in the note
MAX_DEPTH = 16  # lists and objects within a contract field (client.tells is 2)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def read(ctx: ReadContext) -> Iterator[pa.RecordBatch]:
    lines = LineSource(ctx, "ndjson")
    sink = RowSink(ctx)
    mapping = dict(ctx.mapping)
    unknown: set[str] = set()
    for lineno, text in enumerate(lines, 1):
        if not text.strip():
            continue
        reason = lines.take_bad(lineno, lineno)
        if reason:
            bad_line(ctx, lineno, reason)
            continue
        obj = _parse(ctx, text, lineno)
        if obj is None:
            continue
        if mapping:
            obj = _rename(obj, mapping)
        deep = next((k for k, v in obj.items() if k in KNOWN and _too_deep(v)), None)
        if deep is not None:
            ctx.bad(lineno, deep, f"field '{deep}': nested deeper than {MAX_DEPTH} levels")
            continue
        if not obj.keys() <= KNOWN and len(unknown) < MAX_UNKNOWN_NAMED:
            unknown.update(_short(k) for k in obj if k not in KNOWN)
        batch = add_record(ctx, sink, obj, lineno)
        if batch is not None:
            yield batch
    last = sink.flush()
    if last is not None:
        yield last
    if unknown:
        ctx.note("ignored unknown fields: " + ", ".join(sorted(unknown)[:MAX_UNKNOWN_NAMED]))


def _parse(ctx: ReadContext, text: str, lineno: int) -> dict | None:
    try:
        obj = json.loads(text, parse_int=_int_or_digits)
    except json.JSONDecodeError as exc:
        truncated = " (truncated line?)" if exc.pos >= len(text.rstrip()) else ""
        ctx.bad(lineno, None, f"invalid JSON at column {exc.colno}: {exc.msg}{truncated}")
        return None
    except RecursionError:
        ctx.bad(lineno, None, "invalid JSON: nested too deeply")
        return None
    except ValueError as exc:  # what json leaves to Python and Python refuses
        ctx.bad(lineno, None, f"invalid JSON: {str(exc)[:100]}")
        return None
    if not isinstance(obj, dict):
        ctx.bad(lineno, None, f"expected a JSON object, got {_json_kind(obj)}")
        return None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(obj):
        ctx.bad(
            lineno, None, "not Unicode text: a lone surrogate escape (\\ud800-\\udfff unpaired)"
        )
        return None
    return obj


def _int_or_digits(text: str) -> int | str:
    return int(text) if len(text) <= 20 else text


def _has_lone_surrogate(obj: Any) -> bool:
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _too_deep(value: Any) -> bool:
    if not isinstance(value, dict | list):
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 3] + "..."


def _rename(obj: dict, mapping: dict[str, str]) -> dict:
    out = {k: v for k, v in obj.items() if k not in mapping}
    for theirs, ours in mapping.items():
        if theirs in obj:
            out[ours] = obj[theirs]
    return out


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")
