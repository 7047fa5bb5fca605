"""TalkingData AdTracking (Kaggle) clicks: ``ip,app,device,os,channel,click_time,attributed_time,
is_attributed`` (train), or ``click_id,ip,app,device,os,channel,click_time`` (test).

One click event per row:

* ``ip`` -> ``ip``; ``channel`` -> ``source``; ``app`` -> ``target``; ``click_time`` -> ``ts``
  (naive, taken as UTC); ``event`` = ``click``; ``url`` null; ``truth`` null;
* ``device_id`` = ``"{device}/{os}"`` and ``visitor_id`` = ``"{ip}|{device}|{os}"``: the dataset
  has no cookie, and ip+device+os is the usual user proxy for it;
* ``action`` = ``install`` when ``is_attributed`` is 1, else null;
* ``click_id`` (test split) is kept as the event id, as the competition keys on it; otherwise the id
  is ``<file name>:<line>``.

``--map`` does not apply (the columns are fixed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from qinglang.errors import FieldError

from .common import ReadContext
from .csv import read_table

REQUIRED = ("ip", "app", "device", "os", "channel", "click_time")
OPTIONAL = ("click_id", "attributed_time", "is_attributed")
COLUMNS = frozenset(REQUIRED + OPTIONAL)


def read(ctx: ReadContext) -> Iterator[pa.RecordBatch]:
    if ctx.mapping:
        ctx.note("--map ignored: talkingdata columns are fixed")
    return read_table(
        ctx, "talkingdata", required=REQUIRED, columns=_columns(ctx), make_record=to_record
    )


def _columns(ctx: ReadContext) -> Callable[[list[str]], dict[str, str]]:
    def pick(header: list[str]) -> dict[str, str]:
        out = {h: h.lower() for h in header if h.lower() in COLUMNS}
        unknown = [h for h in header if h not in out]
        if unknown:
            ctx.note("ignored unknown columns: " + ", ".join(unknown))
        return out

    return pick


def to_record(raw: dict[str, str]) -> dict[str, Any]:
    ip, device, os_ = raw["ip"], raw["device"], raw["os"]
    flag = raw.get("is_attributed", "").strip()
    if flag not in ("", "0", "1"):
        raise FieldError("is_attributed", flag, "0 or 1")
    return {
        "event_id": raw.get("click_id") or None,
        "ts": raw["click_time"],
        "event": "click",
        "ip": ip,
        "source": raw["channel"],
        "target": raw["app"],
        "device_id": f"{device}/{os_}",
        "visitor_id": f"{ip}|{device}|{os_}",
        "action": "install" if flag == "1" else None,
    }
