"""Runs the shared request vectors (tests/collect/vectors/requests.json) against the Python steps
in process; front/src/vectors.rs does the same against the Rust steps, and test_vectors.py sends
them to both engines over HTTP.

A case is a request (method, path, headers, a JSON `body` or a `raw` one, or a pixel's `query`)
and what must come of it: the answer (status, reason, field), the token verdicts and the records.
Cases run in order against one collector state (a case may replay an earlier case's token). A
string "$token:AGE:NONCE[:PREFIX]" in a body or query is a token issued AGE seconds before the
request for this nonce, the site's secret and the request's user agent (PREFIX is put before
its issue time: "0x" makes a token that only the old tokens.py took).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from qinglang.collect import steps, tokens
from qinglang.collect.sites import Site

VECTORS = Path(__file__).with_name("vectors")
PLACEHOLDER = re.compile(r"\$token:(-?\d+):([^:]*)(?::(.*))?")


def load(name: str = "requests.json") -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def render(value: Any, secret: bytes, site: str, now_s: int, user_agent: str) -> Any:
    """`value` with every token placeholder replaced by its token."""
    if isinstance(value, dict):
        return {k: render(v, secret, site, now_s, user_agent) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, secret, site, now_s, user_agent) for v in value]
    if isinstance(value, str) and (m := PLACEHOLDER.fullmatch(value)):
        iat = now_s - int(m.group(1))
        nonce, prefix = m.group(2), m.group(3) or ""
        return f"{prefix}{iat:x}.{nonce}.{tokens._mac(secret, site, iat, nonce, user_agent)}"
    return value


def user_agent(doc: dict[str, Any], case: dict[str, Any]) -> str:
    return case["request"].get("user_agent", doc["user_agent"])


def body_bytes(request: dict[str, Any], rendered: Any) -> bytes | None:
    if request["method"] == "GET":
        return None
    if "raw" in request:
        return request["raw"].encode("utf-8")
    return json.dumps(rendered, ensure_ascii=False).encode("utf-8")


def query_text(rendered: dict[str, Any] | None) -> str:
    pairs = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (rendered or {}).items()}
    return urlencode(pairs)


def answer_of(verdicts: list[str], pixel: bool) -> dict[str, Any]:
    """A stored request's answer: its worst verdict's status (the contract's verdicts)."""
    by_code = {v["code"]: v for v in steps.CONTRACT["verdicts"]}
    for bad in ("replayed", "invalid"):
        if bad in verdicts:
            return {
                "status": by_code[bad]["status"],
                "reason": by_code[bad]["reason"],
                "field": None,
            }
    return {"status": 200 if pixel else 204, "reason": None, "field": None}


def run_python(doc: dict[str, Any], general: bool = False) -> list[dict[str, Any]]:
    """What the Python steps make of every case (HTTP-only cases left out); `general`: without
    the typed decoder."""
    sites = {
        s["name"]: Site(s["name"], tuple(s["origins"]), bytes.fromhex(s["secret_hex"]))
        for s in doc["sites"]
    }
    ctx = steps.Context(
        sites=sites, ttl_s=doc["ttl_s"], replay=tokens.ReplayGuard(doc["ttl_s"]), boot="b00t"
    )
    typed = steps._typed
    if general:
        steps._typed = lambda body: None
    out = []
    try:
        for case in doc["cases"]:
            if case.get("http_only"):
                continue
            out.append(_run_one(doc, case, ctx, sites))
    finally:
        steps._typed = typed
    return out


def _run_one(doc, case, ctx, sites) -> dict[str, Any]:
    req = case["request"]
    ua = user_agent(doc, case)[: steps.CONTRACT["limits"]["max_ua"]]
    site = sites[doc["sites"][0]["name"]]
    now_s = doc["now_ms"] // 1000
    rendered = render(req.get("body", req.get("query")), site.secret, site.name, now_s, ua)
    pixel = req["method"] == "GET"
    body = body_bytes(req, rendered)
    hit = steps.Hit(
        body=body,
        query=query_text(rendered) if pixel else "",
        content_type=req.get("content_type", "" if pixel else "text/plain"),
        origin=steps.origin_of(req.get("origin"), req.get("referer")),
        user_agent=ua,
        ip=doc["ip"],
        now_ms=doc["now_ms"],
    )
    try:
        if body is not None and len(body) > steps.MAX_BODY:
            raise steps.Drop(steps.DropReason.BODY_TOO_LARGE, "too large")
        for _, step in steps.STEPS:
            hit = step(hit, ctx)
    except steps.Drop as d:
        answer = {"status": d.status, "reason": d.reason.value, "field": d.field}
        return {"name": case["name"], "answer": answer}
    rows = json.loads(
        json.dumps([{k: v for k, v in r.items() if k != "event_id"} for r in hit.rows])
    )
    verdicts = [r["token"] for r in rows]
    return {
        "name": case["name"],
        "answer": answer_of(verdicts, pixel),
        "verdicts": verdicts,
        "records": rows,
    }


def expected(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The vectors' own answers, in the shape `run_python` gives."""
    out = []
    for case in doc["cases"]:
        if case.get("http_only"):
            continue
        e = {"name": case["name"], "answer": case["answer"]}
        if "records" in case:
            e["verdicts"] = case["verdicts"]
            e["records"] = case["records"]
        out.append(e)
    return out
