"""LABELS.csv: what a user writes to teach the model, and one clear line when it is wrong."""

from __future__ import annotations

import pyarrow as pa
import pytest

from qinglang.errors import ConfigError
from qinglang.learn.labels import align, match_report, read_labels


def write(tmp_path, text: str | bytes, name: str = "LABELS.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refused(path, *words: str) -> str:
    with pytest.raises(ConfigError) as err:
        read_labels(path)
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def test_event_labels(tmp_path):
    got = read_labels(write(tmp_path, "event_id,label\ne1,valid\ne2,invalid\ne3,givt.crawler\n"))
    assert got.key_kind == "event_id"
    assert got.table.schema.names == ["key", "invalid", "category"]
    assert got.table.to_pylist() == [
        {"key": "e1", "invalid": False, "category": None},
        {"key": "e2", "invalid": True, "category": None},
        {"key": "e3", "invalid": True, "category": "givt.crawler"},
    ]
    assert (got.n_valid, got.n_invalid, got.n_labels) == (1, 2, 3)
    assert got.categories == {"givt.crawler": 1}


def test_visitor_labels_trimmed_any_case_bom_blank_lines_extra_columns(tmp_path):
    text = (
        "\ufeff Label , Visitor_ID ,note\r\n"
        " VALID , v1 ,looked fine\r\n"
        "\r\n"
        "Invalid,v2,\r\n"
        "SIVT.Farm,v3,phone farm\r\n"
        "valid,v1,again\r\n"  # the same label twice counts once
        "sivt.farm,v2,\r\n"  # invalid, then its category: they agree, the category is kept
        "invalid,v3,\r\n"
    )
    got = read_labels(write(tmp_path, text))
    assert got.key_kind == "visitor_id"
    assert got.table.to_pylist() == [
        {"key": "v1", "invalid": False, "category": None},
        {"key": "v2", "invalid": True, "category": "sivt.farm"},
        {"key": "v3", "invalid": True, "category": "sivt.farm"},
    ]
    assert got.n_duplicates == 3
    assert got.categories == {"sivt.farm": 2}


def test_missing_and_empty_files(tmp_path):
    refused(tmp_path / "nope.csv", "no such labels file", "event_id,label")
    refused(write(tmp_path, ""), "empty file", "event_id,label")
    refused(write(tmp_path, "\n \n"), "empty file")
    refused(write(tmp_path, "event_id,label\n\n"), "line 1", "no labelled rows")
    refused(write(tmp_path, b"event_id,label\ne1,valid\n\xff\xfe,x\n"), "line 3", "UTF-8")


def test_header_problems(tmp_path):
    refused(write(tmp_path, "e1,valid\ne2,invalid\n"), "line 1", "no key column", "e1,valid")
    refused(write(tmp_path, "\nid,label\ne1,valid\n"), "line 2", "no key column")
    refused(write(tmp_path, "event_id,visitor_id,label\ne1,v1,valid\n"), "both", "keep one")
    refused(write(tmp_path, "event_id,verdict\ne1,valid\n"), "line 1", "no `label` column")
    refused(write(tmp_path, "event_id,label,label\ne1,valid,valid\n"), "repeats label")


def test_unknown_labels_counted_with_their_lines(tmp_path):
    rows = ["event_id,label", "e1,valid", "e2,maybe", "e3,invalid", "e4,", "e5,fraud"]
    rows += [f"e{i},bot" for i in range(6, 12)] + ["e12,givt.", "e13,sivt.farm x"]
    message = refused(write(tmp_path, "\n".join(rows) + "\n"), "11 row(s) with an unknown label")
    assert "lines 3, 5, 6, 7, 8, ..." in message
    assert "'maybe'" in message
    assert "givt. or sivt." in message


def test_rows_without_a_key(tmp_path):
    text = "visitor_id,label\nv1,valid\n ,invalid\n"
    refused(write(tmp_path, text), "1 row(s) without a visitor_id", "line 3")
    refused(write(tmp_path, "label,visitor_id\nvalid\n"), "line 2")


def test_conflicting_duplicates(tmp_path):
    text = "event_id,label\ne1,valid\ne2,givt.crawler\ne1,invalid\ne2,sivt.farm\ne3,valid\n"
    message = refused(write(tmp_path, text), "2 key(s) labelled twice with different labels")
    assert "event_id 'e1' is 'valid' on line 2 and 'invalid' on line 4" in message
    assert "keep one label per key" in message


def test_bad_csv(tmp_path):
    refused(write(tmp_path, 'event_id,label\n"e1,valid\n'), "not valid CSV")


def test_match_report():
    with pytest.raises(ConfigError) as err:
        match_report(1234, 0, "visitor_id", "labels.csv")
    assert str(err.value).startswith(
        "labels.csv: none of its 1,234 visitor_id keys appear in the input; "
    )
    warning = match_report(1234, 300, "visitor_id", "labels.csv")
    assert warning is not None
    assert "only 300 of its 1,234 visitor_id keys (24%)" in warning
    assert match_report(1234, 617, "visitor_id") is None
    assert match_report(0, 0, "event_id") is None


def test_align(tmp_path):
    labels = read_labels(write(tmp_path, "event_id,label\ne1,valid\ne2,invalid\ne9,invalid\n"))
    keys = pa.chunked_array([["e2", "e3"], ["e1", "e2"]])
    matched, invalid, warning = align(labels, keys)
    assert matched.tolist() == [True, False, True, True]
    assert invalid.tolist() == [True, False, False, True]
    assert warning is None  # two of the three keys matched
    _, _, warning = align(labels, pa.array(["e1", "x"]))
    assert warning is not None and "only 1 of its 3 event_id keys" in warning
    with pytest.raises(ConfigError, match="none of its 3 event_id keys"):
        align(labels, pa.array(["x", "y"]))
