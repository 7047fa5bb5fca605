"""The collector's ingestion pipeline: a named, ordered list of steps, each timed at /metrics.

    parse -> validate -> site_check -> token_check -> enrich -> write

Each step takes the `Hit` and returns it, or raises `Drop` with one reason from the closed list
`DropReason` (each with its HTTP status). `write` (in app.py) is the asynchronous last step: the
beacon is acknowledged only after its group of records is fsync'd.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

import msgspec

from qinglang.collect import tokens
from qinglang.collect.contract import CONTRACT  # what a valid beacon is, for both engines
from qinglang.collect.sites import Site
from qinglang.events import BEACON_KINDS, MAX_LIST, MAX_TEXT

MAX_BODY = CONTRACT["limits"]["max_body"]
MAX_EVENTS = CONTRACT["limits"]["max_events"]
BEACON_FIELDS = {f["name"]: f for f in CONTRACT["beacon"]}
JSON_TYPES = ("application/json", "text/plain")  # text/plain: sendBeacon without a CORS preflight


class DropReason(StrEnum):
    """Why the collector refused a request. Closed list: tests assert the reason, not the count."""

    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    BAD_CONTENT_TYPE = "bad_content_type"
    BODY_TOO_LARGE = "body_too_large"
    MALFORMED_JSON = "malformed_json"
    INVALID_FIELD = "invalid_field"
    TOO_MANY_EVENTS = "too_many_events"
    UNKNOWN_SITE = "unknown_site"
    ORIGIN_REFUSED = "origin_refused"
    OVERLOADED = "overloaded"


STATUS = {DropReason(r["code"]): r["status"] for r in CONTRACT["reasons"]}
# A token verdict the request is refused for: (status, reason, verdict); the worst one answers
VERDICT_ANSWERS = {
    v["code"]: (v["status"], v["reason"], v["code"]) for v in CONTRACT["verdicts"] if "reason" in v
}


class Drop(Exception):
    def __init__(self, reason: DropReason, message: str, field: str | None = None) -> None:
        self.reason = reason
        self.status = STATUS[reason]
        self.message = message
        self.field = field
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message, "reason": self.reason.value}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class Hit:
    """One request on its way through the steps."""

    body: bytes | None  # POST body; None for the GET pixel
    query: str
    content_type: str
    origin: str | None
    user_agent: str
    ip: str | None
    now_ms: int
    raw: list[dict[str, Any]] = field(default_factory=list)
    beacons: list[dict[str, Any]] = field(default_factory=list)
    site: Site | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Context:
    sites: dict[str, Site]
    ttl_s: int
    replay: tokens.ReplayGuard
    boot: str = field(default_factory=lambda: os.urandom(4).hex())
    counter: itertools.count = field(default_factory=itertools.count)


# ------------------------------------------------------------------------------------------ parse
def parse(hit: Hit, ctx: Context) -> Hit:
    if hit.body is None:  # pixel: the beacon is in the query string
        hit.raw = [dict(parse_qsl(hit.query, keep_blank_values=False))]
        if "client" in hit.raw[0]:
            hit.raw[0]["client"] = _loads(hit.raw[0]["client"].encode(), "client")
        return hit
    ctype = hit.content_type.split(";")[0].strip().lower()
    if ctype not in JSON_TYPES:
        raise Drop(
            DropReason.BAD_CONTENT_TYPE,
            f"content-type {ctype or '(none)'!r}: expected application/json or text/plain (JSON)",
        )
    fast = _typed(hit.body)
    if fast is not None:
        hit.beacons = fast  # already checked: `validate` has nothing left to do
        return hit
    data = _loads(hit.body, None)
    items = data if isinstance(data, list) else [data]
    if not items:
        raise Drop(DropReason.INVALID_FIELD, "empty list: expected at least one beacon")
    if len(items) > MAX_EVENTS:
        raise Drop(
            DropReason.TOO_MANY_EVENTS, f"{len(items)} beacons: expected at most {MAX_EVENTS}"
        )
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise Drop(DropReason.INVALID_FIELD, f"beacon {i}: expected a JSON object", str(i))
    hit.raw = items
    return hit


def _loads(data: bytes, field_name: str | None) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        where = f"field {field_name!r}: " if field_name else ""
        raise Drop(
            DropReason.MALFORMED_JSON, f"{where}malformed JSON ({_short(e)})", field_name
        ) from None


def _short(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) < 120 else text[:117] + "..."


# --------------------------------------------------------------------------------------- validate
# an integer sent as text: ASCII digits, a sign, ASCII white space around (front/src/steps.rs: `int`)
_INT_TEXT = re.compile(r"[ \t\n\r\x0b\x0c]*([+-]?[0-9]{1,30})[ \t\n\r\x0b\x0c]*")


def _contract_kind(f: dict[str, Any]) -> str | tuple[int, int]:
    return (f["min"], f["max"]) if f["type"] == "int" else f["type"]


CLIENT_KINDS = tuple((f["name"], _contract_kind(f)) for f in CONTRACT["client"])


def _check_contract() -> None:
    """The refusal reasons named in code (DropReason) must be the contract's; checked at import.
    (events.py takes the client fields, event kinds and text limits from the contract itself.)"""
    if sorted(STATUS) != sorted(DropReason):
        raise RuntimeError(f"collect/contract.json: refusal reasons differ from {list(DropReason)}")


_check_contract()


def validate(hit: Hit, ctx: Context) -> Hit:
    if hit.beacons:  # the typed decoder in `parse` took the body
        return hit
    hit.beacons = [_beacon(raw, i if len(hit.raw) > 1 else None) for i, raw in enumerate(hit.raw)]
    return hit


def _beacon(raw: dict[str, Any], index: int | None) -> dict[str, Any]:
    pre = f"{index}." if index is not None else ""
    site = _text(raw.get("site"), pre + "site", _LEN["site"])
    if site is None:
        raise Drop(DropReason.INVALID_FIELD, f"field '{pre}site' is required", pre + "site")
    event = _text(raw.get("event"), pre + "event", _LEN["event"]) or "pageview"
    if event not in BEACON_KINDS:
        raise Drop(
            DropReason.INVALID_FIELD,
            f"field '{pre}event': expected one of {', '.join(BEACON_KINDS)}",
            pre + "event",
        )
    return {
        "site": site,
        "event": event,
        "url": _text(raw.get("url"), pre + "url", _LEN["url"]),
        "referrer": _text(raw.get("referrer"), pre + "referrer", _LEN["referrer"]),
        "token": _text(raw.get("token"), pre + "token", _LEN["token"]),
        "vid": _text(raw.get("vid"), pre + "vid", _LEN["vid"]),
        "seq": _int(raw.get("seq"), pre + "seq", _SEQ),
        "client": _client(raw.get("client"), pre + "client"),
    }


_LEN = {k: f["max_len"] for k, f in BEACON_FIELDS.items() if f["type"] == "str"}
_SEQ = (BEACON_FIELDS["seq"]["min"], BEACON_FIELDS["seq"]["max"])


def _bad(name: str, expected: str) -> Drop:
    return Drop(DropReason.INVALID_FIELD, f"field '{name}': expected {expected}", name)


def _text(value: Any, name: str, max_len: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(name, "a string")
    if len(value) > max_len:
        raise _bad(name, f"at most {max_len} characters (got {len(value)})")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(name, "text (a lone UTF-16 surrogate is not)") from None
    return value


def _int(value: Any, name: str, bounds: tuple[int, int]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = _INT_TEXT.fullmatch(value)  # int() would also take "1_0" and other scripts' digits
        if text is None:
            raise _bad(name, "an integer")
        value = int(text.group(1))
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, "an integer")
    if not bounds[0] <= value <= bounds[1]:
        raise _bad(name, f"an integer from {bounds[0]} to {bounds[1]}")
    return value


def _client(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(name, "a JSON object")
    out: dict[str, Any] = {}
    for key, kind in CLIENT_KINDS:
        raw = value.get(key)
        if raw is None:
            out[key] = None
        elif kind == "bool":
            if raw is not True and raw is not False:
                raise _bad(f"{name}.{key}", "true or false")
            out[key] = raw
        elif kind == "str":
            out[key] = _text(raw, f"{name}.{key}", MAX_TEXT)
        elif kind == "list":
            full = f"{name}.{key}"
            if not isinstance(raw, list) or len(raw) > MAX_LIST:
                raise _bad(full, f"a list of at most {MAX_LIST} strings")
            out[key] = [_text(v, f"{full}[{i}]", MAX_TEXT) or "" for i, v in enumerate(raw)]
        else:
            out[key] = _int(raw, f"{name}.{key}", kind)  # type: ignore[arg-type]
    if all(v is None for v in out.values()):
        return None  # an object with no measurement in it is no tracker signal at all
    return out


def _typed_decoder() -> msgspec.json.Decoder:
    """A compiled decoder for the beacons that `validate` accepts in their plain form.

    It checks types, lengths and ranges while it decodes. Every body it accepts gives the same
    beacons as `_loads` + `validate`; a body it refuses goes that slower way, which then accepts
    it (`"seq": "3"`, `5.0`, a null in `tells`) or says precisely what is wrong. A test compares
    the two ways on generated beacons.
    """

    def text(n: int) -> Any:
        return Annotated[str, msgspec.Meta(max_length=n)] | None

    def kind_type(kind: str | tuple[int, int]) -> Any:
        if kind == "bool":
            return bool | None
        if kind == "str":
            return text(MAX_TEXT)
        if kind == "list":
            item = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
            return Annotated[list[item], msgspec.Meta(max_length=MAX_LIST)] | None  # type: ignore[valid-type]
        assert isinstance(kind, tuple)
        return Annotated[int, msgspec.Meta(ge=kind[0], le=kind[1])] | None

    client = msgspec.defstruct("Client", [(k, kind_type(kind), None) for k, kind in CLIENT_KINDS])

    def field_type(f: dict[str, Any]) -> Any:
        if f["type"] == "client":
            return client | None
        return text(f["max_len"]) if f["type"] == "str" else kind_type(_contract_kind(f))

    beacon = msgspec.defstruct(
        "Beacon", [(f["name"], field_type(f), None) for f in CONTRACT["beacon"]]
    )
    return msgspec.json.Decoder(beacon | list[beacon])  # type: ignore[valid-type]


_TYPED = _typed_decoder()
_TEXT_KEYS = tuple(k for k, kind in CLIENT_KINDS if kind == "str")


def _typed(body: bytes) -> list[dict[str, Any]] | None:
    """The body's beacons if the typed decoder takes it and it needs no error; else None."""
    try:
        data = _TYPED.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    items = data if isinstance(data, list) else [data]
    if not 0 < len(items) <= MAX_EVENTS:
        return None
    out = []
    for b in items:
        event = b.event or "pageview"
        if not b.site or event not in BEACON_KINDS:
            return None
        client = None
        if b.client is not None:
            client = msgspec.structs.asdict(b.client)
            for k in _TEXT_KEYS:
                client[k] = client[k] or None
            if all(v is None for v in client.values()):
                client = None
        out.append(
            {
                "site": b.site,
                "event": event,
                "url": b.url or None,
                "referrer": b.referrer or None,
                "token": b.token or None,
                "vid": b.vid or None,
                "seq": b.seq,
                "client": client,
            }
        )
    return out


# ------------------------------------------------------------------------------------- site_check
def site_check(hit: Hit, ctx: Context) -> Hit:
    names = {b["site"] for b in hit.beacons}
    if len(names) != 1:
        raise _bad("site", "one site per request")
    name = names.pop()
    site = ctx.sites.get(name)
    if site is None:
        raise unknown_site(name)
    if hit.origin and hit.origin not in site.origins:
        raise Drop(
            DropReason.ORIGIN_REFUSED,
            f"origin {hit.origin!r} is not registered for site {name!r}",
            "origin",
        )
    hit.site = site
    return hit


def unknown_site(name: str) -> Drop:
    return Drop(
        DropReason.UNKNOWN_SITE,
        f"unknown site {name!r}: register it with `qinglang site add`",
        "site",
    )


def origin_of(origin: str | None, referer: str | None) -> str | None:
    """The Origin header, else the origin of the Referer (a pixel GET sends no Origin)."""
    if origin and origin != "null":
        return origin.lower()
    if referer:
        try:
            p = urlsplit(referer)
        except ValueError:  # "http://[::1": a broken IPv6 host is no origin
            return None
        if p.scheme and p.netloc:
            return f"{p.scheme}://{p.netloc}".lower()
    return None


# ------------------------------------------------------------------------------------ token_check
def token_check(hit: Hit, ctx: Context) -> Hit:
    assert hit.site is not None
    now_s = hit.now_ms // 1000
    for b in hit.beacons:
        verdict, nonce = tokens.check(
            hit.site.secret, hit.site.name, b["token"], now_s, ctx.ttl_s, hit.user_agent
        )
        if nonce is not None:
            pv_id = (b["client"] or {}).get("pv_id")
            verdict = ctx.replay.verdict(nonce, pv_id, b["seq"], now_s) or verdict
            b["seen"] = [nonce, pv_id, b["seq"]]  # kept beside the row so a restart remembers it
        b["verdict"] = verdict
    return hit


# ----------------------------------------------------------------------------------------- enrich
def _hash(secret: bytes, *parts: object) -> str:
    h = hashlib.sha256(secret)
    for p in parts:
        h.update(b"\x1f" + str(p).encode("utf-8", "replace"))
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def _utc_day(days: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(days * 86_400))


def enrich(hit: Hit, ctx: Context) -> Hit:
    assert hit.site is not None
    secret = hit.site.secret
    day = _utc_day(hit.now_ms // 86_400_000)
    for b in hit.beacons:
        c = b["client"]
        visitor = b["vid"] or "h" + _hash(secret, day, hit.ip, hit.user_agent)
        device = None
        if c:
            keys = ("screen_w", "screen_h", "tz", "lang", "platform", "ch_ua")
            device = "d" + _hash(secret, hit.user_agent, *(c.get(k) for k in keys))
        hit.rows.append(
            {
                "event_id": f"{ctx.boot}-{next(ctx.counter)}",
                "ts": hit.now_ms,
                "site": hit.site.name,
                "event": b["event"],
                "visitor_id": visitor,
                "account_id": None,
                "device_id": device,
                "ip": hit.ip,
                "user_agent": hit.user_agent or None,
                "url": b["url"],
                "referrer": b["referrer"],
                "source": None,
                "target": None,
                "action": None,
                "client": c,
                "token": b["verdict"],
                "signature_ok": None,
                "truth": None,
                **({"_token": b["seen"]} if "seen" in b else {}),
            }
        )
    return hit


STEPS = (
    ("parse", parse),
    ("validate", validate),
    ("site_check", site_check),
    ("token_check", token_check),
    ("enrich", enrich),
)
STEP_NAMES = tuple(n for n, _ in STEPS) + ("write",)
if list(STEP_NAMES) != CONTRACT["steps"]:
    raise RuntimeError(f"collect/contract.json: steps {CONTRACT['steps']} differ from {STEP_NAMES}")
