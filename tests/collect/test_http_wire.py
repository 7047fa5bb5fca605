"""HTTP on the wire, on both engines: keep-alive, pipelining in order, chunked bodies, limits,
HTTP/1.0, malformed heads, requests that arrive in pieces, `Expect: 100-continue`. Raw sockets,
so that what the server writes is seen as it is (the Rust front's HTTP layer is its own)."""

from __future__ import annotations

import json
import os
import socket
import time

import pyarrow.parquet as pq
import pytest

from qinglang.collect.lake import site_files
from tests.collect.helpers import BROWSER_UA, Server, add_site

pytestmark = pytest.mark.usefixtures("engine")

ORIGIN = "http://shop.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory, engine):
    db = tmp_path_factory.mktemp(f"wire-{engine}") / "c.db"
    add_site(db, "shop", ORIGIN)
    s = Server(db)
    yield s
    s.stop()


def beacon_request(url: str, *, chunked: bool = False, extra: str = "") -> bytes:
    body = json.dumps({"site": "shop", "url": url}).encode()
    head = (
        f"POST /b HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGIN}\r\nUser-Agent: {BROWSER_UA}\r\n"
        f"Content-Type: text/plain\r\n{extra}"
    )
    if chunked:
        half = len(body) // 2
        chunks = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (
            half, body[:half], len(body) - half, body[half:]
        )  # fmt: skip
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class Wire:
    """A raw connection that reads whole answers (status, headers, body)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before a whole head: {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        length = 0 if status in (100, 204) else int(headers.get("content-length", 0))
        while len(self.buf) < length:
            if not self._fill():
                raise ConnectionError("closed in a body")
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    def closed(self) -> bool:
        """True once the server has closed its side (nothing more to read)."""
        try:
            return not self.buf and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def stored_urls(server: Server) -> list[str]:
    """The URLs in the lake and the pending segments (the server keeps running)."""
    files = site_files(server.db, "shop", server.db.parent / f"scratch-{time.monotonic_ns()}")
    return [u for f in files for u in pq.read_table(f, columns=["url"]).column("url").to_pylist()]


def test_pipelined_requests_are_answered_in_order_and_their_beacons_stored(server):
    w = Wire(server.port)
    try:
        w.send(
            beacon_request("http://shop.test/pipe/1")
            + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            + beacon_request("http://shop.test/pipe/2")
            + b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        statuses = [w.answer()[0] for _ in range(4)]
        assert statuses == [204, 200, 204, 404]
        w.send(beacon_request("http://shop.test/pipe/3"))  # the connection stays open
        status, headers, _ = w.answer()
        assert status == 204 and headers["access-control-allow-origin"] == ORIGIN
    finally:
        w.close()
    urls = stored_urls(server)
    assert {f"http://shop.test/pipe/{i}" for i in (1, 2, 3)} <= set(urls)


def test_a_chunked_beacon_is_stored_and_a_chunked_body_over_the_limit_refused(server):
    w = Wire(server.port)
    try:
        w.send(beacon_request("http://shop.test/chunked", chunked=True))
        assert w.answer()[0] == 204
    finally:
        w.close()
    assert "http://shop.test/chunked" in stored_urls(server)
    w = Wire(server.port)
    try:
        big = b"x" * 20_000
        w.send(
            b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)
        )
        status, _, body = w.answer()
        assert status == 413 and json.loads(body)["reason"] == "body_too_large"
    finally:
        w.close()


def test_a_declared_length_over_the_limit_is_refused_before_the_body(server):
    w = Wire(server.port)
    try:
        w.send(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 1000000\r\n\r\n")  # fmt: skip
        status, _, body = w.answer()  # answered without the body being sent
        assert status == 413 and json.loads(body)["reason"] == "body_too_large"
    finally:
        w.close()


def test_connection_close_and_http_1_0_end_the_connection_after_the_answer(server):
    for head in (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\n\r\n",
    ):
        w = Wire(server.port)
        try:
            w.send(head)
            assert w.answer()[0] == 200
            assert w.closed(), head
        finally:
            w.close()


def test_http_1_0_keep_alive_is_kept_and_said(server):
    if os.environ.get("QINGLANG_ENGINE") != "rust":
        pytest.skip("uvicorn answers HTTP/1.0 with `connection: close`, even when asked to keep it")
    w = Wire(server.port)
    try:
        for _ in range(2):
            w.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, headers, _ = w.answer()
            assert status == 200 and headers["connection"].lower() == "keep-alive"
    finally:
        w.close()


def test_a_malformed_head_gets_400_and_the_connection_closes(server):
    w = Wire(server.port)
    try:
        w.send(b"THIS IS NOT HTTP\r\n\r\n")
        assert w.answer()[0] == 400
        assert w.closed()
    finally:
        w.close()


def test_a_request_that_arrives_in_pieces_is_answered_once_whole(server):
    w = Wire(server.port)
    try:
        data = beacon_request("http://shop.test/pieces")
        for i in range(0, len(data), 7):
            w.send(data[i : i + 7])
            time.sleep(0.002)
        assert w.answer()[0] == 204
        assert not w.buf, "one answer only"
    finally:
        w.close()
    assert "http://shop.test/pieces" in stored_urls(server)


def test_expect_100_continue_is_answered_before_the_body(server):
    w = Wire(server.port)
    try:
        data = beacon_request("http://shop.test/continue", extra="Expect: 100-continue\r\n")
        head, body = data.split(b"\r\n\r\n", 1)
        w.send(head + b"\r\n\r\n")
        if os.environ.get("QINGLANG_ENGINE") == "rust":
            assert w.answer()[0] == 100  # the front asks for the body at once
        w.send(body)
        status = w.answer()[0]
        if status == 100:  # uvicorn says Continue once the app reads the body
            status = w.answer()[0]
        assert status == 204
    finally:
        w.close()


def test_head_of_the_tracker_has_its_length_and_no_body(server):
    w = Wire(server.port)
    try:
        w.send(b"HEAD /t.js?site=shop HTTP/1.1\r\nHost: x\r\n\r\n")
        w.sock.settimeout(2)
        while b"\r\n\r\n" not in w.buf:
            assert w._fill()
        head, rest = w.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200")
        assert int(dict(
            (k.lower(), v.strip()) for k, v in
            (x.split(":", 1) for x in head.decode().split("\r\n")[1:])
        )["content-length"]) > 1000  # fmt: skip
        w.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        w.buf = rest
        assert w.answer()[0] == 200, "no body came before the next answer"
    finally:
        w.close()


def test_a_client_still_uploading_after_its_413_is_not_reset(server):
    """A declared length over the limit is answered before the body; the client may still be
    sending it. Closing at once would answer the rest with a reset (which can also cost the
    client the answer); the server drops what still comes for a while, then closes."""
    w = Wire(server.port)
    try:
        head = b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        w.send(head + b"Content-Length: 400000\r\n\r\n")
        status, _, answer = w.answer()
        assert status == 413 and json.loads(answer)["reason"] == "body_too_large"
        for _ in range(20):  # the body goes on arriving after the answer: no reset
            w.send(b"x" * 20_000)
            time.sleep(0.02)
        if os.environ.get("QINGLANG_ENGINE") == "rust":  # uvicorn reads the body and keeps it
            assert w.closed()
    finally:
        w.close()
