from __future__ import annotations

import pyarrow as pa
import pytest

from qinglang.errors import ConfigError, InputError
from qinglang.events import EVENT_SCHEMA
from qinglang.ingest import ReadReport, read_events

from .conftest import DATA, read_table


def test_several_files_and_reports():
    paths = [DATA / "sample.csv", DATA / "access.log", DATA / "engagement.csv"]
    table, stream = read_table(paths)
    assert table.num_rows == 7  # the log's static asset is kept (as a request)
    assert [r.format for r in stream.reports] == ["csv", "nginx", "engagement"]
    assert all(isinstance(r, ReadReport) and r.guessed for r in stream.reports)
    assert (
        stream.reports[1].notes[0]
        == "guessed format nginx from the first line (nginx combined format)"
    )


def test_to_reader_and_schema():
    stream = read_events([DATA / "sample.csv"])
    assert stream.schema == EVENT_SCHEMA
    reader = stream.to_reader()
    assert isinstance(reader, pa.RecordBatchReader)
    assert reader.read_all().num_rows == 2
    with pytest.raises(RuntimeError, match="only once"):
        iter(stream)


def test_batches_and_progress(write):
    path = write("big.ndjson", "".join(f'{{"ts": {1704067200 + i}}}\n' for i in range(10)))
    seen: list[int] = []
    stream = read_events([path, path], batch_size=4, on_rows=seen.append)
    batches = list(stream)
    assert [b.num_rows for b in batches] == [4, 4, 2, 4, 4, 2]
    assert seen[-1] == 20 and seen == sorted(seen)
    assert all(b.schema == EVENT_SCHEMA for b in batches)


def test_rows_from_earlier_files_stay_yielded(write):
    good = write("good.ndjson", '{"ts": 1700000000}\n')
    empty = write("empty.ndjson", "")
    stream = read_events([good, empty])
    it = iter(stream)
    assert next(it).num_rows == 1
    with pytest.raises(InputError, match="empty file"):
        next(it)
    assert stream.reports[0].rows_ok == 1


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file") as info:
        read_events([tmp_path / "nope.csv"])
    assert info.value.path == str(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a directory"):
        read_events([tmp_path])


def test_bad_options(write):
    path = write("a.csv", "ts\n1\n")
    with pytest.raises(ConfigError, match="unknown format 'xml'"):
        read_events([path], fmt="xml")
    with pytest.raises(ConfigError, match="no time variable"):
        read_events([path], fmt="nginx", log_format="$remote_addr")


def test_site_fills_only_missing(write):
    path = write("s.csv", "ts,site\n2024-01-01,\n2024-01-01,own\n")
    table, _ = read_table(path, site="given")
    assert table.column("site").to_pylist() == ["given", "own"]


def test_only_blank_lines_after_ndjson_is_no_events(write):
    with pytest.raises(InputError, match="empty file"):
        read_table(write("b.ndjson", "\n\n"), fmt="ndjson")
