"""Hostile and malformed input through the whole audit (issue "Hostile and malformed input",
item 1; the readers alone: tests/ingest/test_fuzz_readers.py).

Small files (tens of rows) of known-good rows mixed with hostile ones, in every format, audited
start to end. The audit raises nothing but a QinglangError (and that only for a file without a
good row), every row given is read or rejected, every good row gets a label, the events table
holds the contract, and what it writes (audit.json, report.html, rejected.csv, labels.parquet)
can be read back: valid UTF-8, JSON and CSV, hostile markup inert in the HTML.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tests.ingest.hostile import (
    ATOM,
    FORMATS,
    HOSTILE_TEXT,
    T0,
    UA,
    Case,
    case_for,
    clean,
    contract_problems,
    good_values,
)

from qinglang.audit.run import AuditOptions, run_audit
from qinglang.engine import connect
from qinglang.errors import InputError, QinglangError
from qinglang.events import EVENT_SCHEMA

AUDIT = settings(
    derandomize=True,
    database=None,
    deadline=None,
    # no shrinking: a failing audit is reported as generated (its rows are few); shrinking one
    # example at ~1 s an audit could run for many minutes
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)
CEILING_S = 60.0  # one small audit takes 0.2-2 s; far above that is a blow-up, not a slow machine


def audit_case(case: Case, fmt: str, lang: str) -> None:
    """Audit the case's file and check everything the audit promises about it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = case.write(Path(tmp))
        out = Path(tmp) / "out"
        options = AuditOptions(
            fmt=fmt, lang=lang, log_format="main" if case.fmt == "nginx" else None
        )
        engine = connect("duckdb")
        start = time.monotonic()
        try:
            facts = run_audit([path], out, options, engine=engine)
        except QinglangError as exc:  # anything else escapes: a traceback fails the test
            assert isinstance(exc, InputError), exc
            assert not case.good or case.binary_start, f"{len(case.good)} good row(s) lost: {exc}"
            return
        else:
            assert not case.binary_start, "a file whose first line is binary was audited"
            events = engine.query("SELECT * FROM events").to_pylist()
        finally:
            engine.close()
        assert time.monotonic() - start < CEILING_S
        check_outputs(case, facts, events, out)


def check_outputs(case: Case, facts: dict[str, Any], events: list[dict], out: Path) -> None:
    report = facts["inputs"][0]
    assert report["rows_ok"] + report["rows_bad"] == case.rows, report["errors"][:5]
    rows = facts["rows"]
    assert rows["read"] == case.rows
    assert rows["audited"] == report["rows_ok"] - report["duplicates"] == len(events)
    for event in events:
        assert not contract_problems(event), (event["event_id"], contract_problems(event))
    ids = {e["event_id"] for e in events}
    expected_ids = set(case.good)  # the good rows' own ids, or `<file name>:<line>` (nginx)
    assert expected_ids <= ids, expected_ids - ids
    labels = pq.read_table(out / "labels.parquet")
    assert labels.num_rows == len(events)
    assert expected_ids <= set(labels.column("event_id").to_pylist())
    # what the audit writes reads back: strict UTF-8, JSON, CSV; hostile markup stays text
    json.loads((out / "audit.json").read_bytes().decode("utf-8"))
    html = (out / "report.html").read_bytes().decode("utf-8")
    assert "<script>alert(1)" not in html and "<a>" not in html
    listed = list(csv.reader(io.StringIO((out / "rejected.csv").read_bytes().decode("utf-8"))))
    assert len(listed) - 1 == rows["rejected"]


@settings(AUDIT, max_examples=20)
@given(
    data=st.data(),
    fmt=st.sampled_from(FORMATS),
    auto=st.booleans(),
    lang=st.sampled_from(["zh", "en"]),
)
def test_audit_of_hostile_rows(data, fmt, auto, lang):
    n_good = data.draw(st.integers(4, 12), label="good")
    n_bad = data.draw(st.integers(1, 8), label="hostile")
    case = data.draw(case_for(fmt, n_good, n_bad, good_first=auto), label="case")
    audit_case(case, "auto" if auto else fmt, lang)


# ------------------------------------------------------- Parquet that speaks the contract
CONTRACT_TEXT = ["site", "visitor_id", "account_id", "device_id", "user_agent", "url", "referrer",
                 "source", "target", "action", "truth"]  # fmt: skip


@st.composite
def contract_parquet(draw: Any) -> Case:
    """Contract-typed Parquet (what the collector and simulator write), which DuckDB may read in
    place (ingest.native) unless a row needs the reader: hostile text in every text column,
    times at the ends of the window, odd kinds and verdicts, negative client sizes."""
    rows, good = [], {}
    n_good, n_bad = draw(st.integers(3, 10)), draw(st.integers(1, 6))
    mild = draw(st.booleans())  # only short odd text: a file DuckDB reads in place
    for k, slot in enumerate(draw(st.permutations([*range(n_good), *([None] * n_bad)]))):
        i = slot if slot is not None else 1000 + k
        v = good_values(i)
        row: dict[str, Any] = {
            "event_id": f"good-{i}" if slot is not None else f"bad-{k}",
            "ts": v["ts"], "event": "pageview", "ip": v["ip"], "user_agent": UA, "url": v["url"],
            "visitor_id": f"v{i}", "token": "valid", "client": {"visible_ms": 100, "tz": "UTC"},
        }  # fmt: skip
        if slot is None and mild:
            for c in draw(st.lists(st.sampled_from(CONTRACT_TEXT), min_size=1, max_size=3)):
                row[c] = clean(draw(ATOM))[:200]
        elif slot is None:
            for c in draw(st.lists(st.sampled_from(CONTRACT_TEXT), min_size=1, max_size=3)):
                row[c] = clean(draw(HOSTILE_TEXT))
            if draw(st.booleans()):
                row["ts"] = draw(
                    st.sampled_from(
                        [T0.replace(year=2000, month=1, day=1), T0.replace(year=1999),
                         T0.replace(year=2099, month=12, day=31), T0.replace(year=2100),
                         T0 - timedelta(days=10**5)]
                    )
                )  # fmt: skip
            if draw(st.booleans()):
                row["event"] = draw(st.sampled_from(["PAGEVIEW", " click", "request", "x", ""]))
            if draw(st.booleans()):
                row["token"] = draw(st.sampled_from(["valid", "VALID", "forged", None]))
            if draw(st.booleans()):
                frame_w = draw(st.integers(-(2**31), 2**31 - 1))
                row["client"] = {"frame_w": frame_w, "tells": [clean(draw(HOSTILE_TEXT))]}
        else:
            good[row["event_id"]] = {}
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)
    return Case("parquet", "contract.parquet", table=table, rows=len(rows), good=good)


@settings(AUDIT, max_examples=10)
@given(case=contract_parquet(), lang=st.sampled_from(["zh", "en"]))
def test_audit_of_hostile_contract_parquet(case, lang):
    audit_case(case, "auto", lang)


def test_contract_parquet_with_an_impossible_status_holds_the_contract():
    """Contract-typed, so DuckDB could read it in place: a status, byte count or method the
    readers refuse sends it through the Parquet reader (ingest.native._bad_rows), and a lower-case
    method is upper-cased as by every reader."""
    values = [(200, "GET", 10), (5000, "GET", 10), (200, "G E T", 10), (200, "GET", -5),
              (204, "get", 0)]  # fmt: skip
    rows = [{"event_id": f"e{i}", "ts": T0, "ip": "10.0.0.1", "status": s, "method": m, "bytes": b}
            for i, (s, m, b) in enumerate(values)]  # fmt: skip
    table = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)
    case = Case("parquet", "status.parquet", table=table, rows=len(rows), good={"e0": {}, "e4": {}})
    audit_case(case, "auto", "en")
