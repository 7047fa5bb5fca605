from __future__ import annotations

import pytest

from qinglang.errors import ConfigError
from qinglang.ingest import load_mapping_file, parse_map_options, read_events

from .conftest import read_table


def test_parse_map_options():
    assert parse_map_options(["time = ts", "addr=ip"]) == {"time": "ts", "addr": "ip"}
    assert parse_map_options([]) == {}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["time"], "expected THEIR_COLUMN=CONTRACT_COLUMN"),
        (["=ts"], "expected THEIR_COLUMN=CONTRACT_COLUMN"),
        (["time="], "expected THEIR_COLUMN=CONTRACT_COLUMN"),
        (["time=timestamp"], "'timestamp' is not a contract column; expected one of event_id"),
        (["addr=ipp"], "did you mean ip"),
        (["a=ts", "a=ip"], "mapped twice"),
        (["a=ts", "b=ts"], "two columns are mapped to 'ts'"),
    ],
)
def test_bad_map_options(items, message):
    with pytest.raises(ConfigError, match=message):
        parse_map_options(items)


def test_map_option_reads_csv(write):
    path = write("m.csv", "when,addr,ts\n2024-01-01,1.1.1.1,garbage\n")
    table, stream = read_table(path, mapping=parse_map_options(["when=ts", "addr=ip"]))
    assert table.column("ip").to_pylist() == ["1.1.1.1"]
    assert table.column("ts").to_pylist()[0].year == 2024
    assert any("column 'ts' ignored" in n for n in stream.reports[0].notes)


def test_map_option_reads_ndjson(write):
    path = write("m.ndjson", '{"when": "2024-01-01", "ts": "junk", "addr": "1.1.1.1"}\n')
    table, _ = read_table(path, mapping={"when": "ts", "addr": "ip"})
    assert table.column("ip").to_pylist() == ["1.1.1.1"]


def test_mapping_file(write):
    path = write(
        "map.toml",
        'format = "csv"\nsite = "shop"\n[map]\nwhen = "ts"\n"Client IP" = "ip"\n',
    )
    loaded = load_mapping_file(path)
    assert loaded == {
        "map": {"when": "ts", "Client IP": "ip"},
        "format": "csv",
        "log_format": None,
        "site": "shop",
    }
    data = write("d.csv", "when,Client IP\n2024-01-01,9.9.9.9\n")
    table, _ = read_table(data, fmt=loaded["format"], mapping=loaded["map"], site=loaded["site"])
    assert table.to_pylist()[0]["ip"] == "9.9.9.9" and table.to_pylist()[0]["site"] == "shop"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[map]\nwhen = ", "not valid TOML"),
        ('[map]\nwhen = "time"\n', "'time' is not a contract column"),
        ("colour = 1\n", "unknown key\\(s\\) colour"),
        ('format = "xml"\n', "format 'xml' is not one of"),
        ("site = 3\n", "site must be a string"),
        ("map = 3\n", "must be a table"),
    ],
)
def test_bad_mapping_files(write, text, message):
    path = write("bad.toml", text)
    with pytest.raises(ConfigError, match=message) as info:
        load_mapping_file(path)
    assert str(path) in str(info.value)


def test_missing_mapping_file(tmp_path):
    with pytest.raises(ConfigError, match="mapping file not found"):
        load_mapping_file(tmp_path / "nope.toml")


def test_read_events_checks_mapping(write):
    with pytest.raises(ConfigError, match="not a contract column"):
        read_events([write("a.csv", "ts\n1\n")], mapping={"a": "nope"})
