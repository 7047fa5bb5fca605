"""Engagement logs (a platform's own record of account actions), as CSV:
``ts,account_id,action,target,ip,device_id,user_agent,signature_ok``.

``event`` is ``action`` unless the file has an ``event`` column. Other contract columns
(``source``, ``truth``, ...) are passed through, and ``--map`` applies as for CSV.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from .common import ReadContext
from .csv import read_table

COLUMNS = ("ts", "account_id", "action", "target", "ip", "device_id", "user_agent", "signature_ok")


def read(ctx: ReadContext) -> Iterator[pa.RecordBatch]:
    return read_table(ctx, "engagement", required=COLUMNS, defaults={"event": "action"})
