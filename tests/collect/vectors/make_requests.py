"""Writes requests.json: the cases below, with the answers written here by hand, and the verdicts
and records the Python steps (the reference) make of them. It stops if an answer differs from the
one written here. Run it again after adding a case: python tests/collect/vectors/make_requests.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.collect import vectors_run  # noqa: E402

ORIGIN = "http://shop.test"
T1 = "$token:10:AAECAwQFBgcICQoL"  # issued 10 s before, nonce = bytes 0..11
CLIENT = {"framed": False, "viewport_w": 1280, "viewport_h": 720, "screen_w": 1920,
          "screen_h": 1080, "visible_ms": 5200, "dwell_ms": 6100, "interactions": 3,
          "first_interaction_ms": 800, "webdriver": False, "tells": [], "tz": "Asia/Shanghai",
          "lang": "zh-CN", "platform": "Win32", "ch_ua": "\"Chromium\";v=\"130\"",
          "ancestor_origins": [], "pv_id": "pv-1"}  # fmt: skip
OK = (204, None, None)


def post(body=None, raw=None, content_type="text/plain", origin=ORIGIN, **kw):
    r = {"method": "POST", "path": "/b", "content_type": content_type}
    r |= {"body": body} if raw is None else {"raw": raw}
    if origin is not None:
        r["origin"] = origin
    return r | kw


def pixel(query, referer=ORIGIN + "/page", **kw):
    r = {"method": "GET", "path": "/b.gif", "query": query}
    if referer is not None:
        r["referer"] = referer
    return r | kw


def bad(field, reason="invalid_field", status=400):
    return (status, reason, field)


CASES = [
    # --- what the tracker sends, and its token
    ("a bare beacon", post({"site": "shop"}), OK),
    ("the tracker's first beacon, fresh token", post({"site": "shop", "event": "pageview", "url": ORIGIN + "/a", "referrer": "https://www.baidu.com/", "token": T1, "seq": 0, "vid": "v-1", "client": CLIENT}), OK),
    ("the same beacon again: replayed", post({"site": "shop", "token": T1, "seq": 0, "vid": "v-1", "client": CLIENT}), (409, "token_replayed", None)),
    ("the same page's next beacon", post({"site": "shop", "event": "heartbeat", "token": T1, "seq": 1, "vid": "v-1", "client": CLIENT}), OK),
    ("the token under another page view", post({"site": "shop", "token": T1, "seq": 2, "client": CLIENT | {"pv_id": "pv-2"}}), (409, "token_replayed", None)),
    ("two beacons of one page in a list", post([{"site": "shop", "event": "click", "token": "$token:5:AAAAAAAAAAAAAAAA", "seq": 0}, {"site": "shop", "event": "heartbeat", "token": "$token:5:AAAAAAAAAAAAAAAA", "seq": 1}]), OK),
    ("a token issued an hour before: expired", post({"site": "shop", "token": "$token:3600:BBBBBBBBBBBBBBBB", "seq": 0}), OK),
    ("a token issued an hour ahead: invalid", post({"site": "shop", "token": "$token:-3600:CCCCCCCCCCCCCCCC", "seq": 0}), (403, "token_invalid", None)),
    ("a token with 0x before its issue time (old tokens.py: valid)", post({"site": "shop", "token": "$token:10:DDDDDDDDDDDDDDDD:0x", "seq": 0}), (403, "token_invalid", None)),
    ("a token with + before its issue time (old engines: valid)", post({"site": "shop", "token": "$token:10:EEEEEEEEEEEEEEEE:+", "seq": 0}), (403, "token_invalid", None)),
    ("a token with a leading zero (old engines: valid)", post({"site": "shop", "token": "$token:10:FFFFFFFFFFFFFFFF:0", "seq": 0}), (403, "token_invalid", None)),
    ("a token that is not one", post({"site": "shop", "token": "garbage"}), (403, "token_invalid", None)),
    ("a token of 64 characters", post({"site": "shop", "token": "a" * 64}), (403, "token_invalid", None)),
    ("a token of 65 characters", post({"site": "shop", "token": "a" * 65}), bad("token")),
    ("a token that is a number", post({"site": "shop", "token": 5}), bad("token")),
    ("an empty token is no token", post({"site": "shop", "token": ""}), OK),
    ("a valid and an invalid token in one request", post([{"site": "shop", "token": "$token:1:GGGGGGGGGGGGGGGG", "seq": 0}, {"site": "shop", "token": "x.y.z"}]), (403, "token_invalid", None)),
    # --- site and origin
    ("no site", post({"event": "pageview"}), bad("site")),
    ("an empty site", post({"site": ""}), bad("site")),
    ("a site that is a number", post({"site": 7}), bad("site")),
    ("a site of 64 characters, unknown", post({"site": "s" * 64}), bad("site", "unknown_site", 404)),
    ("a site of 65 characters", post({"site": "s" * 65}), bad("site")),
    ("an unknown site", post({"site": "nope"}), bad("site", "unknown_site", 404)),
    ("a site not of this origin", post({"site": "other"}), bad("origin", "origin_refused", 403)),
    ("two sites in one request", post([{"site": "shop"}, {"site": "other"}]), bad("site")),
    ("no Origin and no Referer: judged by its token", post({"site": "shop"}, origin=None), OK),
    ("Origin null", post({"site": "shop"}, origin="null"), OK),
    ("Origin in upper case", post({"site": "shop"}, origin="HTTP://SHOP.TEST"), OK),
    ("an unregistered origin", post({"site": "shop"}, origin="http://evil.test"), bad("origin", "origin_refused", 403)),
    ("a duplicate key: the last one counts", post(raw='{"site": "nope", "site": "shop"}'), OK),
    # --- event
    *[(f"event {k}", post({"site": "shop", "event": k}), OK) for k in ("click", "heartbeat", "conversion", "action")],
    ("an empty event is a pageview", post({"site": "shop", "event": ""}), OK),
    ("an event not of the list", post({"site": "shop", "event": "unload"}), bad("event")),
    ("an event of 16 characters not of the list", post({"site": "shop", "event": "p" * 16}), bad("event")),
    ("an event of 17 characters", post({"site": "shop", "event": "p" * 17}), bad("event")),
    ("an event that is a list", post({"site": "shop", "event": ["click"]}), bad("event")),
    # --- url, referrer, vid
    ("a url of 2,048 characters", post({"site": "shop", "url": "u" * 2048}), OK),
    ("a url of 2,048 non-ASCII characters", post({"site": "shop", "url": "é" * 2048}), OK),
    ("a url of 2,049 characters", post({"site": "shop", "url": "u" * 2049}), bad("url")),
    ("a url of 2,049 non-ASCII characters", post({"site": "shop", "url": "中" * 2049}), bad("url")),
    ("a url that is a number", post({"site": "shop", "url": 5}), bad("url")),
    ("an empty url is none", post({"site": "shop", "url": ""}), OK),
    ("a referrer of 2,048 characters", post({"site": "shop", "referrer": "r" * 2048}), OK),
    ("a referrer of 2,049 characters", post({"site": "shop", "referrer": "r" * 2049}), bad("referrer")),
    ("a referrer that is true", post({"site": "shop", "referrer": True}), bad("referrer")),
    ("a vid of 64 characters", post({"site": "shop", "vid": "v" * 64}), OK),
    ("a vid of 65 characters", post({"site": "shop", "vid": "v" * 65}), bad("vid")),
    ("a vid that is an object", post({"site": "shop", "vid": {}}), bad("vid")),
    ("an empty vid: the visitor is hashed", post({"site": "shop", "vid": ""}), OK),
    # --- seq
    *[(f"seq {v!r}", post({"site": "shop", "seq": v}), OK) for v in (0, 1_000_000, "3", " 7 ", "+4", "-0", 5.0, "", None)],
    *[(f"seq {v!r}", post({"site": "shop", "seq": v}), bad("seq")) for v in (1_000_001, -1, "1_0", "٣", "3.0", "0x10", 5.5, True, "a", [1], "1" * 31, 1e300)],
    ("seq out of range in the second beacon", post([{"site": "shop"}, {"site": "shop", "seq": -1}]), bad("1.seq")),
    # --- client
    ("a client that is a list", post({"site": "shop", "client": []}), bad("client")),
    ("a client that is text", post({"site": "shop", "client": "x"}), bad("client")),
    ("an empty client is none", post({"site": "shop", "client": {}}), OK),
    ("a client of blanks is none", post({"site": "shop", "client": {"tz": "", "lang": None}}), OK),
    ("a client with a key not in the contract", post({"site": "shop", "client": {"battery": 5, "tz": "UTC"}}), OK),
    ("frame_w at its most", post({"site": "shop", "client": {"frame_w": 2_147_483_647}}), OK),
    ("frame_w past its most", post({"site": "shop", "client": {"frame_w": 2_147_483_648}}), bad("client.frame_w")),
    ("visible_ms at its most (2^53)", post({"site": "shop", "client": {"visible_ms": 2**53}}), OK),
    ("visible_ms past its most", post({"site": "shop", "client": {"visible_ms": 2**53 + 1}}), bad("client.visible_ms")),
    ("interactions as text", post({"site": "shop", "client": {"interactions": "2"}}), OK),
    ("screen_w as 390.0", post({"site": "shop", "client": {"screen_w": 390.0}}), OK),
    ("dwell_ms negative", post({"site": "shop", "client": {"dwell_ms": -5}}), bad("client.dwell_ms")),
    ("framed true", post({"site": "shop", "client": {"framed": True, "frame_w": 0, "frame_h": 0}}), OK),
    ("framed as 1", post({"site": "shop", "client": {"framed": 1}}), bad("client.framed")),
    ("webdriver as text", post({"site": "shop", "client": {"webdriver": "true"}}), bad("client.webdriver")),
    ("32 tells", post({"site": "shop", "client": {"tells": ["t"] * 32}}), OK),
    ("33 tells", post({"site": "shop", "client": {"tells": ["t"] * 33}}), bad("client.tells")),
    ("a null and a blank tell are blanks", post({"site": "shop", "client": {"tells": [None, "", "cdp"]}}), OK),
    ("a tell that is a number", post({"site": "shop", "client": {"tells": ["cdp", 5]}}), bad("client.tells[1]")),
    ("a tell of 256 characters", post({"site": "shop", "client": {"tells": ["t" * 256]}}), OK),
    ("a tell of 257 characters", post({"site": "shop", "client": {"tells": ["t" * 257]}}), bad("client.tells[0]")),
    ("tells as text", post({"site": "shop", "client": {"tells": "cdp"}}), bad("client.tells")),
    ("ancestor_origins", post({"site": "shop", "client": {"ancestor_origins": ["https://a.test"], "framed": True}}), OK),
    ("tz of 256 characters", post({"site": "shop", "client": {"tz": "z" * 256}}), OK),
    ("tz of 257 characters", post({"site": "shop", "client": {"tz": "z" * 257}}), bad("client.tz")),
    ("lang as a number", post({"site": "shop", "client": {"lang": 1}}), bad("client.lang")),
    ("platform and ch_ua", post({"site": "shop", "client": {"platform": "MacIntel", "ch_ua": ""}}), OK),
    ("pv_id of 257 characters", post({"site": "shop", "client": {"pv_id": "p" * 257}}), bad("client.pv_id")),
    ("a bad client field in the third beacon", post([{"site": "shop"}] * 2 + [{"site": "shop", "client": {"screen_h": -1}}]), bad("2.client.screen_h")),
    # --- the body
    ("10 beacons", post([{"site": "shop", "seq": i} for i in range(10)]), OK),
    ("11 beacons", post([{"site": "shop"}] * 11), bad(None, "too_many_events", 413)),
    ("an empty list", post([]), bad(None)),
    ("a list of text", post(["shop"]), bad("0")),
    ("a list of lists", post([["shop"]]), bad("0")),
    ("a beacon that is a number", post(5), bad("0")),
    ("malformed JSON", post(raw="{"), bad(None, "malformed_json")),
    ("an empty body", post(raw=""), bad(None, "malformed_json")),
    ("a body over 16 KiB", post(raw="x" * 20_000), bad(None, "body_too_large", 413)),
    ("application/json with a charset", post({"site": "shop"}, content_type="application/json; charset=utf-8"), OK),
    ("Content-Type image/png", post({"site": "shop"}, content_type="image/png"), bad(None, "bad_content_type", 415)),
    ("no Content-Type", post({"site": "shop"}, content_type=""), bad(None, "bad_content_type", 415)),
    # --- the pixel
    ("a pixel", pixel({"site": "shop", "event": "pageview", "url": ORIGIN + "/p", "seq": "7"}), (200, None, None)),
    ("a pixel with a client and a token", pixel({"site": "shop", "token": "$token:3:HHHHHHHHHHHHHHHH", "client": {"visible_ms": 10, "pv_id": "px"}}), (200, None, None)),
    ("a pixel with a malformed client", pixel({"site": "shop", "client": "{bad"}), bad("client", "malformed_json")),
    ("a pixel from another origin's page", pixel({"site": "shop"}, referer="http://evil.test/p"), bad("origin", "origin_refused", 403)),
    ("a pixel whose Referer has a broken IPv6 host", pixel({"site": "shop"}, referer="http://[::1"), (200, None, None)),
    ("a pixel with an unknown site", pixel({"site": "nope"}), bad("site", "unknown_site", 404)),
    ("a pixel without a site", pixel({"event": "click"}), bad("site")),
    ("a pixel with a bad seq", pixel({"site": "shop", "seq": "x"}), bad("seq")),
    # --- the HTTP layer alone
    ("PUT /t.js", {"method": "PUT", "path": "/t.js"}, bad(None, "method_not_allowed", 405), True),
    ("GET /nowhere", {"method": "GET", "path": "/nowhere"}, bad(None, "not_found", 404), True),
]  # fmt: skip


def main() -> None:
    doc = {
        "about": vectors_run.__doc__.strip(),
        "sites": [
            {"name": "shop", "origins": [ORIGIN], "secret_hex": bytes(range(32)).hex()},
            {"name": "other", "origins": ["http://other.test"], "secret_hex": "ab" * 32},
        ],
        "ip": "203.0.113.7",
        "user_agent": (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0.0.0 Safari/537.36"
        ),
        "now_ms": 1_700_000_010_123,
        "ttl_s": 1800,
        "cases": [],
    }
    for name, request, (status, reason, field), *http_only in CASES:
        case = {"name": name, "request": request}
        if http_only:
            case["http_only"] = True
        case["answer"] = {"status": status, "reason": reason, "field": field}
        doc["cases"].append(case)
    names = [c["name"] for c in doc["cases"]]
    assert len(names) == len(set(names)), "case names are unique"
    got = vectors_run.run_python(doc)
    general = vectors_run.run_python(doc, general=True)
    assert got == general, "the typed decoder and the general steps agree"
    by_name = {c["name"]: c for c in doc["cases"]}
    wrong = [(g["name"], g["answer"]) for g in got if g["answer"] != by_name[g["name"]]["answer"]]
    if wrong:
        sys.exit("answers differ from the ones written here:\n" + "\n".join(map(str, wrong)))
    for g in got:
        if "records" in g:
            by_name[g["name"]]["verdicts"] = g["verdicts"]
            by_name[g["name"]]["records"] = g["records"]
    out = Path(__file__).with_name("requests.json")
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{out}: {len(doc['cases'])} cases")


if __name__ == "__main__":
    main()
