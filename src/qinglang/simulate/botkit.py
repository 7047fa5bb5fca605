"""Turning a day's bot visits into events: shared by the machine, automation and forgery schemes.

A visit carries what the bot's browser (or script) reports once; `emit` lays its pageviews out in
time, walks the site's pages, and builds the contract table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from .common import (
    CONVERSION_URL,
    DAY_MS,
    FLAT_HOURLY,
    ORGANIC_HOURLY,
    PAGES,
    assemble,
    expand,
    hex_strings,
    minute_cdf,
    mix64,
    sample_ms_of_day,
    sample_pages,
    str_pool,
    take,
    take_cols,
    where_str,
)
from .context import DayContext

CLIENT_KEYS = ("framed", "frame_w", "frame_h", "viewport_w", "viewport_h", "screen_w", "screen_h",
               "visible_ms", "dwell_ms", "interactions", "first_interaction_ms", "webdriver", "tells",
               "tz", "lang", "platform", "ch_ua", "ancestor_origins", "pv_id")  # fmt: skip
_FLAT = minute_cdf(FLAT_HOURLY)
_DIURNAL = minute_cdf(ORGANIC_HOURLY)


def emit(ctx: DayContext, rng: np.random.Generator, visits: Mapping[str, Any], counts: np.ndarray,
         truth: str, *, client_present: np.ndarray | None = None, jitter: float = 0.0,
         last: np.ndarray | None = None) -> pa.Table:  # fmt: skip
    """visits: per-visit columns. Must have start (ms of day), page (first page index), dwell_ms.
    Client keys present in `visits` are copied to every event of the visit (dwell/visible jittered
    by `jitter`, a relative standard deviation). `last` (per visit, optional): the kind of a visit's
    last event when it has more than one (0 pageview, 1 click, 2 conversion)."""
    idx, rank = expand(counts)
    ev = take_cols(visits, idx)
    m = len(idx)
    dwell = np.asarray(ev["dwell_ms"], dtype=np.float64)
    factor = 1.0 + jitter * rng.standard_normal(m) if jitter else np.ones(m)
    dwell = np.maximum(200.0, np.round(dwell * factor))
    gap = rng.uniform(300, 3_000, m)
    step = dwell + gap
    cs = np.cumsum(step) - step
    offset = cs - cs[rank == 0][np.cumsum(rank == 0) - 1]
    ts = ctx.start_ms + np.mod(np.asarray(ev["start"]) + offset, DAY_MS).astype(np.int64)
    pages = np.where(rank == 0, ev["page"], sample_pages(rng, m))
    url = take(PAGES, pages)
    ref = where_str(rank == 0, ev["referrer"], take(PAGES, np.roll(pages, 1)))
    client = {k: ev[k] for k in CLIENT_KEYS if k in ev}
    client["dwell_ms"] = dwell
    if "visible_ms" in ev:
        client["visible_ms"] = np.minimum(
            np.asarray(ev["visible_ms"], dtype=np.float64) * factor, dwell
        )
        client["visible_ms"] = np.round(np.maximum(client["visible_ms"], 0))
    if "pv_id" not in client:
        pv = mix64(
            np.arange(m, dtype=np.uint64) + np.uint64(ctx.day << 36),
            ctx.seed * 41 + hash_name(truth),
        )
        client["pv_id"] = hex_strings(pv, 12)
    code = np.zeros(m, dtype=np.int64)
    if last is not None:
        end = (rank == np.asarray(counts)[idx] - 1) & (rank > 0)
        code = np.where(end, np.asarray(last)[idx], 0)
    kind = take(str_pool(["pageview", "click", "conversion"]), code)
    url = where_str(code == 2, pa.scalar(CONVERSION_URL), url)
    cols = {"ts": ts, "event": kind, "url": url, "referrer": ref}
    for k in ("visitor_id", "device_id", "ip", "user_agent", "source", "token"):
        cols[k] = ev.get(k)
    present = None if client_present is None else np.asarray(client_present, dtype=bool)[idx]
    return assemble(m, cols, client, present, truth)


def hash_name(name: str) -> int:
    return sum((i + 1) * b for i, b in enumerate(name.encode())) & 0xFFFF


def fresh_ids(rng: np.random.Generator, n: int, valid: np.ndarray | None = None) -> pa.Array:
    """Random cookie ids in the tracker's format (16 hex), as a cleared browser gets."""
    return hex_strings(rng.integers(0, np.iinfo(np.uint64).max, n, dtype=np.uint64), 16, valid)


def start_times(rng: np.random.Generator, flat: np.ndarray) -> np.ndarray:
    """Visit start (ms of day) per visit: evenly around the clock where `flat`, else in the daily
    rhythm of people."""
    n = len(flat)
    return np.where(flat, sample_ms_of_day(rng, _FLAT, n), sample_ms_of_day(rng, _DIURNAL, n))
