"""SIGKILL the collector while it acknowledges a load of beacons; after a restart every
acknowledged beacon is in the lake."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from qinglang.collect import segments
from qinglang.collect.lake import site_files
from qinglang.collect.sites import segments_dir
from tests.collect.helpers import BROWSER_UA, Server, add_site, alive, children

pytestmark = pytest.mark.usefixtures("engine")

ORIGIN = "http://shop.test"


async def load(server: Server, kill_after: int, kill: Callable[[], None]) -> tuple[set[int], int]:
    acked: set[int] = set()
    sent = 0
    killed = asyncio.Event()
    limits = httpx.Limits(max_connections=32)

    async def worker(client: httpx.AsyncClient, start: int) -> None:
        nonlocal sent
        i = start
        while not killed.is_set():
            body = json.dumps(
                {"site": "shop", "url": f"{ORIGIN}/p/{i}", "client": {"visible_ms": i}}
            )
            sent += 1
            try:
                r = await client.post("/b", content=body, headers={"content-type": "text/plain"})
            except httpx.TransportError:
                return  # the collector died with this beacon unacknowledged
            if r.status_code == 204:
                acked.add(i)
            if len(acked) >= kill_after and not killed.is_set():
                kill()
                killed.set()
            i += 32

    headers = {"user-agent": BROWSER_UA, "origin": ORIGIN}
    async with httpx.AsyncClient(
        base_url=server.url, limits=limits, headers=headers, timeout=10
    ) as c:
        await asyncio.gather(*(worker(c, k) for k in range(32)))
    return acked, sent


def test_sigkill_during_load_loses_no_acknowledged_beacon(tmp_path):
    db = tmp_path / "c.db"
    add_site(db, "shop", ORIGIN)
    server = Server(db)
    helpers = children(server.proc.pid)
    assert helpers  # the process that rolls segments into the lake, or the Rust front
    acked, sent = asyncio.run(load(server, kill_after=1500, kill=server.kill))
    assert server.proc.returncode == -9
    deadline = time.monotonic() + 10
    while any(alive(p) for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in helpers), "the rolling process outlived the collector"
    assert len(acked) >= 1500
    assert list(segments_dir(db).glob("seg-*.log"))  # it died with unrolled segments
    restart_and_find(db, server.port, acked, sent)


@pytest.mark.parametrize("loops", ["1", "2"])
def test_sigkill_of_the_rust_front_loses_nothing_and_recovery_cuts_the_zeros(
    tmp_path, monkeypatch, loops
):
    """The Rust front writes each next segment out in zeros ahead (preallocation). Killed itself,
    mid-load, it leaves a segment with records, maybe a torn group, then zeros; recovery cuts the
    zeros like any torn tail. Small segments, so that it rolls several during the load. With two
    serving loops, each has its own stream of segments; recovery finds both."""
    if os.environ.get("QINGLANG_ENGINE") != "rust":
        pytest.skip("the Python engine's segments grow as written (no preallocation)")
    monkeypatch.setenv("QINGLANG_FRONT_SEGMENT_BYTES", str(64 << 10))
    monkeypatch.setenv("QINGLANG_FRONT_THREADS", loops)
    db = tmp_path / "c.db"
    add_site(db, "shop", ORIGIN)
    server = Server(db)
    (front,) = children(server.proc.pid)

    def kill_front() -> None:
        os.kill(front, signal.SIGKILL)

    acked, sent = asyncio.run(load(server, kill_after=1500, kill=kill_front))
    server.proc.wait(30)  # `qinglang serve` stops when its front is gone
    server.log.close()
    seg_dir = segments_dir(db)
    unrolled = sorted(seg_dir.glob("seg-*.log"))
    zero_tails = [p for p in unrolled if segments.scan(p)[1] < p.stat().st_size]
    assert zero_tails, "the front died with a preallocated segment"
    assert all(p.read_bytes().endswith(bytes(1024)) for p in zero_tails)
    restart_and_find(db, server.port, acked, sent)
    assert not list(seg_dir.glob("prep-*.zeros")), "recovery deletes the unused zeroed files"


def restart_and_find(db: Path, port: int, acked: set[int], sent: int) -> None:
    """Restart the collector (recovery cuts torn tails and rolls into the lake); every
    acknowledged beacon must be in the lake, none twice; then it takes beacons again."""
    restarted = Server(db, port)
    try:
        files = site_files(db, "shop", db.parent / "scratch")
        urls = [
            u for f in files for u in pq.read_table(f, columns=["url"]).column("url").to_pylist()
        ]
        stored = [int(u.rsplit("/", 1)[1]) for u in urls]
        assert acked <= set(stored), f"lost {len(acked - set(stored))} acknowledged beacons"
        assert len(stored) == len(set(stored))  # and none twice
        assert len(stored) <= sent
        with httpx.Client(base_url=restarted.url) as c:  # and it takes beacons again
            r = c.post("/b", content=b'{"site":"shop"}', headers={"content-type": "text/plain"})
            assert r.status_code == 204
    finally:
        restarted.stop()


def test_a_restart_does_not_forget_which_tokens_were_used(tmp_path):
    db = tmp_path / "c.db"
    add_site(db, "shop", ORIGIN)
    headers = {"user-agent": BROWSER_UA, "origin": ORIGIN, "content-type": "text/plain"}
    server = Server(db)
    js = httpx.get(server.url + "/t.js?site=shop", headers=headers).text
    tok = js.split('"token":')[1].split('"')[1]
    beacon = json.dumps({"site": "shop", "token": tok, "seq": 0, "client": {"pv_id": "p1"}})
    assert httpx.post(server.url + "/b", content=beacon, headers=headers).status_code == 204
    server.kill()  # crash: the used token is only in an unrolled segment
    server = Server(db, server.port)
    r = httpx.post(server.url + "/b", content=beacon, headers=headers)
    assert r.status_code == 409
    server.stop()  # clean stop: everything rolled; the used token is in the lake's _tokens
    assert not list(segments_dir(db).glob("seg-*.log"))
    server = Server(db, server.port)
    try:
        r = httpx.post(server.url + "/b", content=beacon, headers=headers)
        assert r.status_code == 409
        other = beacon.replace('"seq": 0', '"seq": 1')  # the same page's next beacon is fine
        assert httpx.post(server.url + "/b", content=other, headers=headers).status_code == 204
    finally:
        server.stop()


def test_the_rust_front_gives_back_the_slot_of_a_client_that_never_finishes(tmp_path, monkeypatch):
    import socket

    if os.environ.get("QINGLANG_ENGINE") != "rust":
        pytest.skip("uvicorn has no limit on a half-sent request; the Rust front has one")
    monkeypatch.setenv("QINGLANG_FRONT_CONNECTION_SECONDS", "1")
    db = tmp_path / "c.db"
    add_site(db, "shop", "http://shop.test")
    server = Server(db)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as s:
            s.sendall(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")  # never ends
            started = time.monotonic()
            assert s.recv(1024) == b""  # the server closed it
            assert time.monotonic() - started < 12
        assert httpx.get(server.url + "/healthz").status_code == 200
    finally:
        server.stop()
