from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from qinglang.events import EVENT_SCHEMA
from qinglang.ingest import EventStream, read_events

DATA = Path(__file__).parent / "data"


def read_table(paths, **kwargs) -> tuple[pa.Table, EventStream]:
    """Read everything; return the events and the stream (for its reports)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    stream = read_events(paths, **kwargs)
    table = pa.Table.from_batches(list(stream), schema=EVENT_SCHEMA)
    return table, stream


@pytest.fixture
def write(tmp_path):
    """write(name, text_or_bytes) -> path of a new file under tmp_path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path

    return _write
