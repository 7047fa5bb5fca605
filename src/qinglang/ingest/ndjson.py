"""NDJSON reader: one JSON object per line, keys named as in the contract (or mapped).

``client`` is a nested object. Blank lines are skipped; a line that is not JSON, or not an object,
is a bad row naming its line. The event id is the object's ``event_id`` or ``<file name>:<line>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa

from qinglang.events import EVENT_COLUMNS

from .common import ReadContext, RowSink
from .textio import LineSource, bad_utf8

KNOWN = frozenset(EVENT_COLUMNS)
MAX_UNKNOWN_NAMED = 20


def read(ctx: ReadContext) -> Iterator[pa.RecordBatch]:
    lines = LineSource(ctx, "ndjson")
    sink = RowSink(ctx)
    mapping = dict(ctx.mapping)
    unknown: set[str] = set()
    for lineno, text in enumerate(lines, 1):
        if not text.strip():
            continue
        if lineno in lines.bad:
            bad_utf8(ctx, lineno)
            continue
        obj = _parse(ctx, text, lineno)
        if obj is None:
            continue
        if mapping:
            obj = _rename(obj, mapping)
        if not obj.keys() <= KNOWN and len(unknown) < MAX_UNKNOWN_NAMED:
            unknown.update(k for k in obj if k not in KNOWN)
        batch = sink.add(obj, lineno)
        if batch is not None:
            yield batch
    last = sink.flush()
    if last is not None:
        yield last
    if unknown:
        ctx.note("ignored unknown fields: " + ", ".join(sorted(unknown)[:MAX_UNKNOWN_NAMED]))


def _parse(ctx: ReadContext, text: str, lineno: int) -> dict | None:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = " (truncated line?)" if exc.pos >= len(text.rstrip()) else ""
        ctx.bad(lineno, None, f"invalid JSON at column {exc.colno}: {exc.msg}{truncated}")
        return None
    except RecursionError:
        ctx.bad(lineno, None, "invalid JSON: nested too deeply")
        return None
    if not isinstance(obj, dict):
        ctx.bad(lineno, None, f"expected a JSON object, got {_json_kind(obj)}")
        return None
    return obj


def _rename(obj: dict, mapping: dict[str, str]) -> dict:
    out = {k: v for k, v in obj.items() if k not in mapping}
    for theirs, ours in mapping.items():
        if theirs in obj:
            out[ours] = obj[theirs]
    return out


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")
