"""The shared vectors (tests/collect/vectors/): the same cases that `cargo test` runs against the
Rust front's own functions, run here against the Python collector."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from qinglang.collect import steps, tokens
from qinglang.collect.lake import site_files
from tests.collect import vectors_run
from tests.collect.helpers import Server, add_site

VECTORS = Path(__file__).with_name("vectors")
TOKENS = json.loads((VECTORS / "tokens.json").read_text(encoding="utf-8"))


def test_the_token_key_and_ua_hash_are_as_specified():
    secret = bytes.fromhex(TOKENS["secret_hex"])
    assert tokens._key(secret).hex() == TOKENS["key_hex"]
    for v in TOKENS["ua_hashes"]:
        assert hashlib.sha256(v["user_agent"].encode()).hexdigest() == v["sha256_utf8_hex"]
        assert tokens.ua_hash(v["user_agent"]) == v["ua_hash"] == v["sha256_utf8_hex"][:16]
    for v in TOKENS["macs"]:
        assert (
            v["message"] == f"{v['site']}|{v['iat']}|{v['nonce']}|{tokens.ua_hash(v['user_agent'])}"
        )
        assert tokens._mac(secret, v["site"], v["iat"], v["nonce"], v["user_agent"]) == v["mac"]


@pytest.mark.parametrize("case", TOKENS["cases"], ids=lambda c: c["name"])
def test_token_vectors(case):
    got = tokens.check(
        bytes.fromhex(TOKENS["secret_hex"]),
        TOKENS["site"],
        case["token"],
        TOKENS["now_s"],
        TOKENS["ttl_s"],
        TOKENS["user_agent"],
    )
    assert got == (case["verdict"], case["nonce"])


# ---------------------------------------------------------------------------- request vectors
REQUESTS = vectors_run.load()
# what a record over HTTP cannot share with the vectors: the time, the peer's address and the
# visitor hash made of them (a vid sent by the tracker is kept as it is)
NOT_OVER_HTTP = ("event_id", "ts", "ip", "_token")


def test_the_vectors_cover_every_field_and_answer():
    cases = REQUESTS["cases"]
    fields = {c["answer"]["field"] for c in cases}
    for f in steps.CONTRACT["beacon"]:
        assert f["name"] in fields, f"no vector refuses field {f['name']!r}"
    for f in steps.CONTRACT["client"]:
        assert any(
            (c["answer"]["field"] or "").startswith(f"client.{f['name']}") for c in cases
        ) or any(
            f["name"] in json.dumps(c["request"].get("body")) for c in cases if c.get("records")
        ), f"no vector has client.{f['name']}"
    reasons = {c["answer"]["reason"] for c in cases}
    assert {r["code"] for r in steps.CONTRACT["reasons"]} - reasons == {"overloaded"}
    verdicts = {v for c in cases for v in c.get("verdicts", [])}
    assert verdicts == {v["code"] for v in steps.CONTRACT["verdicts"]}


@pytest.mark.parametrize("general", [False, True], ids=["typed", "general"])
def test_request_vectors_on_the_python_steps(general):
    # each case alone, so that a failure names it
    got = vectors_run.run_python(REQUESTS, general=general)
    for g, e in zip(got, vectors_run.expected(REQUESTS), strict=True):
        assert g == e, g["name"]


def _record_over_http(record: dict) -> dict:
    out = {k: v for k, v in record.items() if k not in NOT_OVER_HTTP}
    if out["visitor_id"].startswith("h"):
        out["visitor_id"] = "h"
    return out


def test_request_vectors_over_http(engine, tmp_path):
    db = tmp_path / "c.db"
    for s in REQUESTS["sites"]:
        add_site(db, s["name"], *s["origins"])
    with sqlite3.connect(db) as c:  # the vectors' secrets, so that hashes and MACs are theirs
        for s in REQUESTS["sites"]:
            c.execute(
                "UPDATE sites SET secret = ? WHERE name = ?",
                (bytes.fromhex(s["secret_hex"]), s["name"]),
            )
    site = REQUESTS["sites"][0]
    secret = bytes.fromhex(site["secret_hex"])
    server = Server(db)
    expected_rows, failures = [], []
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for case in REQUESTS["cases"]:
                req = case["request"]
                ua = vectors_run.user_agent(REQUESTS, case)
                value = vectors_run.render(
                    req.get("body", req.get("query")), secret, site["name"], int(time.time()), ua
                )
                headers = {"user-agent": ua}
                for h in ("origin", "referer"):
                    if h in req:
                        headers[h] = req[h]
                kw: dict = {"headers": headers}
                if req["method"] == "POST":
                    headers["content-type"] = req["content_type"]
                    kw["content"] = vectors_run.body_bytes(req, value)
                elif req["path"] == "/b.gif":
                    kw["params"] = vectors_run.query_text(value)
                r = client.request(req["method"], req["path"], **kw)
                body = r.json() if r.headers.get("content-type") == "application/json" else {}
                got = {
                    "status": r.status_code,
                    "reason": body.get("reason"),
                    "field": body.get("field"),
                }
                if got != case["answer"]:
                    failures.append((case["name"], got, case["answer"]))
                expected_rows += [_record_over_http(rec) for rec in case.get("records", [])]
    finally:
        server.stop()
    assert not failures, failures
    rows = [
        r
        for f in site_files(db, site["name"], tmp_path / "read")
        for r in pq.ParquetFile(f).read().to_pylist()
    ]
    stored = [
        _record_over_http(
            {k: v for k, v in r.items() if k in expected_rows[0] or k == "visitor_id"}
        )
        for r in rows
    ]
    assert len(stored) == len(expected_rows)
    for i, (s, e) in enumerate(zip(stored, expected_rows, strict=True)):
        assert s == e, i
