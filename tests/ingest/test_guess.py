from __future__ import annotations

import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from qinglang.errors import InputError
from qinglang.ingest.guess import guess_format

from .conftest import DATA


@pytest.mark.parametrize(
    ("name", "fmt", "reason"),
    [
        ("sample.csv", "csv", "the extension .csv"),
        ("access.log", "nginx", "the first line (nginx combined format)"),
        ("talkingdata_train.csv", "talkingdata", "the header (TalkingData columns)"),
        ("engagement.csv", "engagement", "the header (engagement log columns)"),
    ],
)
def test_fixtures(name, fmt, reason):
    guess = guess_format(DATA / name)
    assert (guess.format, guess.reason) == (fmt, reason)
    assert guess.note == f"guessed format {fmt} from {reason}"


def test_content_beats_extension(write, tmp_path):
    assert guess_format(write("x.txt", '\n{"ts": 1}\n')).format == "ndjson"
    line = DATA.joinpath("access.log").read_text().splitlines()[0]
    assert guess_format(write("access.txt", line)).format == "nginx"
    pq.write_table(pa.table({"ts": [1]}), tmp_path / "noext")
    assert guess_format(tmp_path / "noext").reason == "the Parquet magic bytes"
    assert guess_format(write("y.jsonl.gz", gzip.compress(b"garbage"))).format == "ndjson"


def test_given_log_format_is_tried(write):
    path = write("c.txt", "1.2.3.4 1709294400.25\n")
    guess = guess_format(path, "$remote_addr $msec")
    assert (guess.format, guess.log_format) == ("nginx", "$remote_addr $msec")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"hello world\n", "cannot guess the format .* one of: csv, parquet, ndjson, nginx"),
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary file"),
    ],
)
def test_unknown(write, content, message):
    with pytest.raises(InputError, match=message):
        guess_format(write("mystery.dat", content))
