"""The collector app in process (httpx's ASGI transport): every refusal names its reason."""

from __future__ import annotations

import asyncio
import json
import re
import time
from contextlib import asynccontextmanager

import httpx
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families

from qinglang.collect.app import Collector
from qinglang.collect.sites import SiteRegistry, lake_dir
from qinglang.collect.steps import MAX_BODY, STEP_NAMES, DropReason

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130 Safari/537.36"
ORIGIN = "http://shop.test:8000"


@asynccontextmanager
async def collector(tmp_path, **kw):
    db = tmp_path / "c.db"
    if SiteRegistry(db).get("shop") is None:
        SiteRegistry(db).add("shop", [ORIGIN])
    app = Collector(db, roll_process=False, **kw)  # `serve` rolls in a process; see test_durability
    await app.startup()
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        client.app = app  # type: ignore[attr-defined]
        try:
            yield client
        finally:
            await app.shutdown()


def run(coro):
    return asyncio.run(coro)


async def token(client) -> str:
    js = (await client.get("/t.js", params={"site": "shop"}, headers={"user-agent": UA})).text
    return json.loads(re.search(r"var C\s*=\s*(\{.*?\})\s*;", js).group(1))["token"]


def beacon(tok=None, **kw) -> dict:
    b = {"site": "shop", "event": "pageview", "url": ORIGIN + "/", "seq": 0, "token": tok}
    b["client"] = {"pv_id": "pv1", "visible_ms": 1200, "interactions": 2, "framed": False}
    b.update(kw)
    return b


async def post(client, body, ctype="text/plain", origin=ORIGIN):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": ctype, "user-agent": UA}
    if origin:
        headers["origin"] = origin
    return await client.post("/b", content=data, headers=headers)


def lake_rows(tmp_path) -> list[dict]:
    files = sorted(lake_dir(tmp_path / "c.db").glob("site=shop/*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def test_tracker_is_served_uncached_with_a_token_and_acknowledged_beacons_reach_the_lake(tmp_path):
    async def go():
        async with collector(tmp_path) as c:
            r = await c.get("/t.js", params={"site": "shop"}, headers={"user-agent": UA})
            assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
            assert "__QL_CONFIG__" not in r.text
            tok = await token(c)
            assert (await post(c, beacon(tok))).status_code == 204
            assert (await post(c, beacon(tok, seq=1, event="heartbeat"))).status_code == 204

    run(go())
    rows = lake_rows(tmp_path)  # shutdown rolled the active segment
    assert [r["token"] for r in rows] == ["valid", "valid"]
    assert rows[0]["ip"] == "203.0.113.7" and rows[0]["user_agent"] == UA
    assert rows[0]["client"]["visible_ms"] == 1200 and rows[1]["event"] == "heartbeat"
    assert len({r["event_id"] for r in rows}) == 2


def test_token_verdicts_are_recorded_and_replays_and_forgeries_are_answered(tmp_path):
    async def go():
        async with collector(tmp_path) as c:
            tok = await token(c)
            assert (await post(c, beacon(tok))).status_code == 204
            r = await post(c, beacon(tok))  # the same beacon again
            assert r.status_code == 409 and r.json()["reason"] == "token_replayed"
            r = await post(c, beacon(tok, client={"pv_id": "other"}))  # token of another page
            assert r.status_code == 409
            assert (await post(c, beacon(tok[:-3] + "abc", seq=5))).status_code == 403
            assert (await post(c, beacon(None))).status_code == 204  # recorded as missing
            r = await c.get("/b.gif", params={"site": "shop", "url": "x"})
            assert r.status_code == 200 and r.headers["content-type"] == "image/gif"

    run(go())
    tokens = [r["token"] for r in lake_rows(tmp_path)]
    assert tokens == ["valid", "replayed", "replayed", "invalid", "missing", "missing"]
    assert lake_rows(tmp_path)[-1]["client"] is None  # a pixel with no tracker behind it


@pytest.mark.parametrize(
    ("body", "ctype", "origin", "status", "reason", "field"),
    [
        (b'{"site":', "application/json", ORIGIN, 400, "malformed_json", None),
        (b"[" * 5000 + b"]" * 5000, "application/json", ORIGIN, 400, "malformed_json", None),
        (b"\xff\xfe", "text/plain", ORIGIN, 400, "malformed_json", None),
        (b'{"site":"shop"}', "application/xml", ORIGIN, 415, "bad_content_type", None),
        (b'{"site":"shop"}', "", ORIGIN, 415, "bad_content_type", None),
        (b'{"site":"nope"}', "text/plain", ORIGIN, 404, "unknown_site", "site"),
        (b'{"site":"shop"}', "text/plain", "http://evil.test", 403, "origin_refused", "origin"),
        (b'{"event":"x"}', "text/plain", ORIGIN, 400, "invalid_field", "site"),
        (b'{"site":"shop","event":"x"}', "text/plain", ORIGIN, 400, "invalid_field", "event"),
        (b'{"site":"shop","url":5}', "text/plain", ORIGIN, 400, "invalid_field", "url"),
        (b'{"site":"shop","seq":-1}', "text/plain", ORIGIN, 400, "invalid_field", "seq"),
        (b'{"site":"shop","url":"a\\ud800"}', "text/plain", ORIGIN, 400, "invalid_field", "url"),
        (
            b'{"site":"shop","client":{"tells":["\\udfff"]}}',
            "text/plain",
            ORIGIN,
            400,
            "invalid_field",
            "client.tells[0]",
        ),
        (
            b'{"site":"shop","client":{"frame_w":99999999999}}',
            "text/plain",
            ORIGIN,
            400,
            "invalid_field",
            "client.frame_w",
        ),
        (
            b'{"site":"shop","client":{"tells":"webdriver"}}',
            "text/plain",
            ORIGIN,
            400,
            "invalid_field",
            "client.tells",
        ),
        (b'{"site":"shop","client":[1]}', "text/plain", ORIGIN, 400, "invalid_field", "client"),
        (
            json.dumps({"site": "shop", "url": "u" * 3000}).encode(),
            "text/plain",
            ORIGIN,
            400,
            "invalid_field",
            "url",
        ),
        (
            json.dumps([{"site": "shop"}] * 11).encode(),
            "text/plain",
            ORIGIN,
            413,
            "too_many_events",
            None,
        ),
        (b"[]", "text/plain", ORIGIN, 400, "invalid_field", None),
        (b"x" * (MAX_BODY + 1), "text/plain", ORIGIN, 413, "body_too_large", None),
    ],
)
def test_bad_requests_get_a_clear_error_naming_the_reason_and_field(
    tmp_path, body, ctype, origin, status, reason, field
):
    async def go():
        async with collector(tmp_path) as c:
            r = await post(c, body, ctype, origin)
            assert r.status_code == status, r.text
            assert r.json()["reason"] == reason
            assert r.json().get("field") == field
            assert r.json()["error"]
            metrics = (await c.get("/metrics")).text
            assert f'qinglang_collector_dropped_total{{reason="{reason}"}} 1.0' in metrics
            assert (await c.get("/healthz")).status_code == 200

    run(go())
    assert lake_rows(tmp_path) == []


def test_unknown_paths_methods_and_sites_for_the_tracker(tmp_path):
    async def go():
        async with collector(tmp_path) as c:
            assert (await c.get("/nope")).json()["reason"] == DropReason.NOT_FOUND
            assert (await c.put("/b")).status_code == 405
            assert (await c.head("/b.gif", params={"site": "shop"})).status_code == 405
            assert (await c.get("/t.js", params={"site": "nope"})).status_code == 404
            r = await c.options("/b", headers={"origin": ORIGIN})
            assert r.status_code == 204 and r.headers["access-control-allow-origin"] == ORIGIN
            assert (await c.options("/b", headers={"origin": "http://evil"})).status_code == 403

    run(go())


def test_a_site_added_while_serving_is_picked_up(tmp_path):
    async def go():
        async with collector(tmp_path) as c:
            SiteRegistry(tmp_path / "c.db").add("blog", ["http://blog.test"])
            c.app._sites_read -= 5  # as if a second had passed
            r = await post(c, {"site": "blog"}, origin="http://blog.test")
            assert r.status_code == 204

    run(go())


def test_metrics_time_every_step_in_pipeline_order(tmp_path):
    async def go():
        async with collector(tmp_path) as c:
            await post(c, beacon(await token(c)))
            return (await c.get("/metrics")).text

    text = run(go())
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    counts = {
        s.labels["step"]: s.value
        for s in fams["qinglang_collector_step_seconds"].samples
        if s.name.endswith("_count")
    }
    assert list(counts) == list(STEP_NAMES)
    assert all(v == 1.0 for v in counts.values())
    rows = {
        s.labels["token"]: s.value
        for s in fams["qinglang_collector_rows"].samples
        if s.name.endswith("_total")
    }
    assert rows == {"valid": 1.0}


def test_a_full_queue_answers_503_with_retry_after_and_memory_stays_bounded(tmp_path):
    async def go():
        async with collector(tmp_path, queue_size=4, group_max=2) as c:
            log = c.app.log
            real = log.append

            def slow(data):  # a disk that cannot keep up
                time.sleep(0.05)
                real(data)

            log.append = slow
            results = await asyncio.gather(
                *(post(c, {"site": "shop", "url": str(i)}) for i in range(40))
            )
            codes = [r.status_code for r in results]
            assert set(codes) == {204, 503}
            refused = [r for r in results if r.status_code == 503]
            assert all(r.headers["retry-after"] == "1" for r in refused)
            assert refused[0].json()["reason"] == "overloaded"
            assert c.app.queue.qsize() <= 4
            return sorted(
                int(r.request.content.decode().split('"url": "')[1].split('"')[0])
                for r in results
                if r.status_code == 204
            )

    accepted = run(go())
    stored = sorted(int(r["url"]) for r in lake_rows(tmp_path))
    assert stored == accepted  # exactly the acknowledged beacons, none of the refused ones


def test_a_token_older_than_its_ttl_is_expired(tmp_path):
    async def go():
        async with collector(tmp_path, ttl_s=0) as c:
            tok = await token(c)
            await asyncio.sleep(1.1)
            assert (await post(c, beacon(tok))).status_code == 204

    run(go())
    assert [r["token"] for r in lake_rows(tmp_path)] == ["expired"]


def test_the_pixel_fallback_carries_the_token_and_the_client_signals(tmp_path):
    async def go():
        async with collector(tmp_path) as c:
            tok = await token(c)
            client = json.dumps({"pv_id": "pv9", "visible_ms": 800, "framed": False})
            params = {"site": "shop", "token": tok, "seq": "0", "url": "u", "client": client}
            r = await c.get(
                "/b.gif", params=params, headers={"user-agent": UA, "referer": ORIGIN + "/"}
            )
            assert r.status_code == 200 and r.content.startswith(b"GIF89a")
            r = await c.get("/b.gif", params=params, headers={"referer": "http://evil.test/"})
            assert r.status_code == 403 and r.json()["reason"] == "origin_refused"

    run(go())
    (row,) = lake_rows(tmp_path)
    assert row["token"] == "valid" and row["client"]["visible_ms"] == 800


def test_a_client_object_without_any_measurement_is_stored_as_no_signals(tmp_path):
    async def go():
        async with collector(tmp_path) as c:
            tok = await token(c)
            assert (await post(c, beacon(tok, client={"unknown": 1}))).status_code == 204

    run(go())
    (row,) = lake_rows(tmp_path)
    assert row["client"] is None and row["token"] == "valid"


def test_a_segment_that_cannot_be_started_shows_in_healthz_and_serving_goes_on(tmp_path):
    async def go():
        async with collector(tmp_path, roll_seconds=0.0) as c:
            app = c.app
            real_rotate = app.log.rotate

            def broken():
                raise OSError(24, "Too many open files")

            app.log.rotate = broken
            tok = await token(c)
            assert (await post(c, beacon(tok))).status_code == 204
            for _ in range(50):
                health = await c.get("/healthz")
                if health.status_code == 503:
                    break
                await asyncio.sleep(0.02)
            assert health.status_code == 503 and "Too many open files" in health.json()["fault"]
            app.log.rotate = real_rotate
            tok2 = await token(c)
            assert (await post(c, beacon(tok2, url=ORIGIN + "/2"))).status_code == 204
            for _ in range(50):
                if (await c.get("/healthz")).status_code == 200:
                    break
                await asyncio.sleep(0.02)
            assert (await c.get("/healthz")).status_code == 200

    run(go())


def test_a_request_refused_for_lack_of_room_records_no_token_so_its_retry_is_no_replay(tmp_path):
    async def go():
        async with collector(tmp_path, queue_size=1) as c:
            tok = await token(c)
            both = [beacon(tok, seq=0), beacon(tok, seq=1, event="heartbeat")]
            r = await post(c, both)
            assert r.status_code == 503 and r.json()["reason"] == "overloaded"
            for b in both:  # the retry, one beacon at a time
                assert (await post(c, b)).status_code == 204

    run(go())
    assert sorted(r["token"] for r in lake_rows(tmp_path)) == ["valid", "valid"]
