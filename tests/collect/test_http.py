"""HTTP at the socket level against a real `qinglang serve`: keep-alive, pipelining, chunked
bodies, the body limit, `Expect: 100-continue`, malformed heads, HEAD, requests that arrive in
pieces, CORS. Raw sockets, so that what goes over the wire is exactly what the test says."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from qinglang.collect.lake import site_files
from qinglang.collect.steps import MAX_BODY  # 16 KiB (README, "Collector": body_too_large)
from tests.collect.helpers import BROWSER_UA, Server, add_site

pytestmark = pytest.mark.usefixtures("engine")

ORIGIN = "http://shop.test"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: c\r\n\r\n"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """One raw connection; reads answers one at a time, however they were split or joined."""

    def __init__(self, server: Server, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"closed by the server; unread: {self.buf!r}")
        self.buf += chunk

    def answer(self, head_only: bool = False) -> Answer:
        """The next answer (`head_only`: to a HEAD request, so no body whatever it says)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        first, *lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = first.split(" ", 2)
        assert version == "HTTP/1.1", first
        headers = {}
        for line in lines:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        size = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self.buf) < size:
            self._fill()
        body, self.buf = self.buf[:size], self.buf[size:]
        return Answer(int(status), headers, body)

    def nothing_for(self, seconds: float) -> bool:
        """True when no byte arrives (and the connection stays open) for `seconds`."""
        if self.buf:
            return False
        self.sock.settimeout(seconds)
        try:
            self.sock.recv(1, socket.MSG_PEEK)  # a byte, or the end: either way not silence
            return False
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(5.0)

    def closed(self) -> bool:
        """True when the server has closed the connection, with nothing more sent."""
        if self.buf:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


def beacon(url: str) -> bytes:
    return json.dumps({"site": "shop", "url": url, "client": {"visible_ms": 1200}}).encode()


def post(body: bytes, extra: bytes = b"") -> bytes:
    """A beacon request, framed by Content-Length."""
    return (
        b"POST /b HTTP/1.1\r\nHost: c\r\nOrigin: " + ORIGIN.encode() + b"\r\n"
        b"User-Agent: " + BROWSER_UA.encode() + b"\r\nContent-Type: text/plain\r\n" + extra
        + b"Content-Length: %d\r\n\r\n" % len(body) + body
    )  # fmt: skip


def post_head(extra: bytes) -> bytes:
    """A beacon request's head, without the body's framing or the body."""
    return (
        b"POST /b HTTP/1.1\r\nHost: c\r\nOrigin: " + ORIGIN.encode() + b"\r\n"
        b"User-Agent: " + BROWSER_UA.encode() + b"\r\nContent-Type: text/plain\r\n" + extra
    )  # fmt: skip


def chunked(body: bytes, size: int) -> bytes:
    """`body` in chunks of `size` bytes, with the last chunk and an empty trailer."""
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def reason(a: Answer) -> str:
    assert a.headers["content-type"] == "application/json", a
    return json.loads(a.body)["reason"]


def rust_only(why_not_python: str) -> None:
    if os.environ.get("QINGLANG_ENGINE") != "rust":
        pytest.skip(why_not_python)


def stored_urls(db: Path) -> list[str]:
    """The page URLs of every row of site `shop` in the lake (the server is stopped)."""
    files = site_files(db, "shop", db.parent / "scratch")
    return [u for f in files for u in pq.read_table(f, columns=["url"]).column("url").to_pylist()]


@pytest.fixture(scope="module")
def server(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One collector for the tests that look only at the answers."""
    db = tmp_path_factory.mktemp(f"http-{engine}") / "c.db"
    add_site(db, "shop", ORIGIN)
    srv = Server(db)
    yield srv
    srv.stop()


@pytest.fixture
def fresh(engine: str, tmp_path: Path) -> Iterator[Server]:
    """A collector of its own, for a test that counts the rows stored (stop it, then look)."""
    db = tmp_path / "c.db"
    add_site(db, "shop", ORIGIN)
    srv = Server(db)
    yield srv
    srv.stop()


def test_keep_alive_answers_each_request_on_one_connection_until_connection_close(server):
    with Client(server) as c:
        c.send(HEALTHZ)
        a = c.answer()
        assert (a.status, json.loads(a.body)["ok"]) == (200, True)
        c.send(post(beacon(ORIGIN + "/ka/1")))
        assert c.answer().status == 204
        c.send(b"GET /t.js?site=shop HTTP/1.1\r\nHost: c\r\n\r\n")
        a = c.answer()
        assert a.status == 200 and b"__QL_CONFIG__" not in a.body and b'"token"' in a.body
        c.send(post(beacon(ORIGIN + "/ka/2")))
        assert c.answer().status == 204
        c.send(b"GET /healthz HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n")
        a = c.answer()
        assert (a.status, a.headers.get("connection")) == (200, "close")
        assert c.closed()


def test_http10_without_keep_alive_is_closed_after_its_answer(server):
    with Client(server) as c:
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert c.answer().status == 200
        assert c.closed()


def test_http10_with_keep_alive_stays_open_and_says_so(server):
    rust_only("uvicorn (httptools) closes an HTTP/1.0 connection even when asked to keep it")
    with Client(server) as c:
        c.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        a = c.answer()
        assert (a.status, a.headers.get("connection")) == (200, "keep-alive")
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")  # the second one without: closed after it
        a = c.answer()
        assert (a.status, a.headers.get("connection")) == (200, "close")
        assert c.closed()


def test_pipelined_requests_are_answered_in_order_and_their_beacons_stored(fresh):
    with Client(fresh) as c:
        c.send(post(beacon(ORIGIN + "/pipe/1")) + HEALTHZ + post(beacon(ORIGIN + "/pipe/2")))
        first, second, third = c.answer(), c.answer(), c.answer()
        assert (first.status, second.status, third.status) == (204, 200, 204)
        assert json.loads(second.body)["ok"] is True
        assert c.nothing_for(0.2)  # three answers, no more
    fresh.stop()
    assert sorted(stored_urls(fresh.db)) == [ORIGIN + "/pipe/1", ORIGIN + "/pipe/2"]


def test_forty_pipelined_beacons_are_all_answered_in_order_and_stored(fresh):
    """More than the Rust front takes from one connection before its answers are written (32)."""
    urls = [f"{ORIGIN}/many/{i}" for i in range(40)]
    with Client(fresh) as c:
        c.send(b"".join(post(beacon(u)) for u in urls) + HEALTHZ)
        statuses = [c.answer().status for _ in urls]
        assert statuses == [204] * 40
        assert c.answer().status == 200  # the request after them, last
    fresh.stop()
    assert sorted(stored_urls(fresh.db)) == sorted(urls)


def test_pipelined_requests_then_a_half_close_are_all_answered(server):
    rust_only("uvicorn closes the connection when the client half-closes, unanswered")
    with Client(server) as c:
        # corked: the requests and the FIN reach the server in one segment, so it reads both at once
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        c.send(HEALTHZ * 40)
        c.sock.shutdown(socket.SHUT_WR)
        statuses = []
        while True:
            try:
                statuses.append(c.answer().status)
            except EOFError:
                break
        assert statuses == [200] * 40


def test_a_chunked_beacon_is_accepted_and_stored(fresh):
    body = beacon(ORIGIN + "/chunked")
    with Client(fresh) as c:
        framed = b"5;ext=1\r\n" + body[:5] + b"\r\n" + chunked(body[5:], 7)[:-2] + b"X-T: 1\r\n\r\n"
        c.send(post_head(b"Transfer-Encoding: chunked\r\n\r\n") + framed + HEALTHZ)
        assert c.answer().status == 204
        assert c.answer().status == 200  # the chunked body was read to its end, not beyond
    fresh.stop()
    assert stored_urls(fresh.db) == [ORIGIN + "/chunked"]


def test_a_chunked_body_over_the_limit_is_413_body_too_large(server):
    with Client(server) as c:
        c.send(post_head(b"Transfer-Encoding: chunked\r\n\r\n") + chunked(b"a" * 20_000, 4096))
        a = c.answer()
        assert (a.status, reason(a)) == (413, "body_too_large")


@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize(
    ("size", "expected"),
    [(MAX_BODY, (400, "malformed_json")), (MAX_BODY + 1, (413, "body_too_large"))],
    ids=["at-limit", "one-over"],
)
def test_a_body_at_the_limit_is_read_and_one_byte_more_is_not(server, framing, size, expected):
    """At the limit the body is read and judged (not JSON: 400); one byte over it is 413."""
    body = b"x" * size
    if framing == "length":
        request = post(body)
    else:
        request = post_head(b"Transfer-Encoding: chunked\r\n\r\n") + chunked(body, 4096)
    with Client(server) as c:
        c.send(request)
        a = c.answer()
        assert (a.status, reason(a)) == expected


def test_a_content_length_over_the_limit_is_refused_before_the_body_is_sent(server):
    with Client(server) as c:
        c.send(post_head(b"Content-Length: 20000\r\n\r\n"))  # and not one byte of the body
        a = c.answer()
        assert (a.status, reason(a)) == (413, "body_too_large")
        assert json.loads(a.body)["error"] == f"body of 20000 bytes: expected at most {MAX_BODY}"


def test_the_rust_front_closes_the_connection_after_a_body_over_the_limit(server):
    rust_only("uvicorn keeps the connection, and reads the rest of the body as that request's")
    for head, rest in (
        (post_head(b"Content-Length: 20000\r\n\r\n"), b""),
        (post_head(b"Transfer-Encoding: chunked\r\n\r\n"), chunked(b"a" * 20_000, 4096)),
    ):
        with Client(server) as c:
            c.send(head + rest)
            a = c.answer()
            assert (a.status, reason(a), a.headers.get("connection")) == (
                413,
                "body_too_large",
                "close",
            )
            assert c.closed()


def test_expect_100_continue_is_answered_before_the_body_is_sent(server):
    with Client(server) as c:
        body = beacon(ORIGIN + "/expect")
        c.send(post_head(b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)))
        assert c.answer(head_only=True).status == 100
        c.send(body)
        assert c.answer().status == 204


def test_expect_100_continue_with_a_length_over_the_limit_gets_413_and_no_continue(server):
    with Client(server) as c:
        c.send(post_head(b"Expect: 100-continue\r\nContent-Length: 20000\r\n\r\n"))
        a = c.answer()
        assert (a.status, reason(a)) == (413, "body_too_large")


def test_a_pipelined_expect_100_continue_gets_its_continue_before_the_body(server):
    with Client(server) as c:
        body = beacon(ORIGIN + "/expect-after")
        head = post_head(b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        c.send(HEALTHZ + head)
        assert c.answer().status == 200
        c.sock.settimeout(2.0)  # a client waits about a second for it, then sends the body anyway
        try:
            got = c.answer(head_only=True).status
        except TimeoutError:
            got = None
        assert got == 100
        c.send(body)
        assert c.answer().status == 204


@pytest.mark.parametrize(
    "line",
    [b"GARBAGE\r\n\r\n", b"GET /healthz HTTP/1.1 extra\r\nHost: c\r\n\r\n", b"GET\r\n\r\n"],
    ids=["one-word", "four-words", "no-target"],
)
def test_a_malformed_request_line_gets_400_and_the_connection_closes(server, line):
    with Client(server) as c:
        c.send(line + HEALTHZ)  # the request after it is not read
        a = c.answer()
        assert (a.status, a.headers.get("connection")) == (400, "close")
        assert c.closed()


def test_a_malformed_request_after_a_beacon_comes_after_the_beacons_answer(server):
    rust_only("uvicorn answers the malformed request at once and drops the beacon's answer")
    with Client(server) as c:
        c.send(post(beacon(ORIGIN + "/before-garbage")) + b"GARBAGE\r\n\r\n" + HEALTHZ)
        assert c.answer().status == 204
        assert c.answer().status == 400
        assert c.closed()


def test_the_rust_front_refuses_a_head_over_64_kib_or_100_headers_with_431(server):
    rust_only("uvicorn (httptools) sets no limit on a request's head")
    long = b"GET /healthz HTTP/1.1\r\nX: " + b"a" * (64 << 10)  # unfinished: over the limit as is
    many = b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X%d: 1\r\n" % i for i in range(101)) + b"\r\n"
    for head in (long, many):
        with Client(server) as c:
            c.send(head)
            a = c.answer()
            assert (a.status, a.headers.get("connection")) == (431, "close")
            assert c.closed()


def test_head_of_the_tracker_gives_its_length_and_no_body(server):
    with Client(server) as c:
        c.send(
            b"HEAD /t.js?site=shop HTTP/1.1\r\nHost: c\r\n\r\n"
            b"GET /t.js?site=shop HTTP/1.1\r\nHost: c\r\n\r\n"
        )
        head = c.answer(head_only=True)
        get = c.answer()  # parsed right after the head: nothing stood between them
        assert head.status == get.status == 200
        assert head.headers["content-type"] == "text/javascript; charset=utf-8"
        assert int(head.headers["content-length"]) == len(get.body) > 1000
        assert c.nothing_for(0.2)


def test_a_request_sent_in_small_pieces_is_answered_once_whole(server):
    """The head byte by byte, then the body in three pieces: one answer, after the last byte."""
    body = beacon(ORIGIN + "/pieces")
    head = post(body)[: -len(body)]
    with Client(server) as c:
        for i in range(len(head)):
            c.send(head[i : i + 1])
            time.sleep(0.002)
        for piece in (body[:10], body[10:-1]):
            assert c.nothing_for(0.1)
            c.send(piece)
        assert c.nothing_for(0.1)
        c.send(body[-1:])
        assert c.answer().status == 204
        assert c.nothing_for(0.1)
        for i in range(len(HEALTHZ)):  # and the connection is as good as new
            c.send(HEALTHZ[i : i + 1])
        assert c.answer().status == 200


def test_answers_to_beacons_carry_cors_for_a_registered_origin_only(server):
    with Client(server) as c:
        c.send(post(beacon(ORIGIN + "/cors")))
        a = c.answer()
        assert a.status == 204
        assert (a.headers.get("access-control-allow-origin"), a.headers.get("vary")) == (
            ORIGIN,
            "origin",
        )
        c.send(post(b"{"))  # a refusal, to a registered origin, carries it too
        a = c.answer()
        assert (a.status, reason(a)) == (400, "malformed_json")
        assert a.headers.get("access-control-allow-origin") == ORIGIN
        c.send(post(beacon(ORIGIN + "/cors")).replace(ORIGIN.encode(), b"http://evil.test", 1))
        a = c.answer()
        assert (a.status, reason(a)) == (403, "origin_refused")
        assert "access-control-allow-origin" not in a.headers
    with httpx.Client(base_url=server.url, timeout=10) as h:  # and as a browser's fetch sees it
        r = h.post(
            "/b",
            content=beacon(ORIGIN + "/cors-httpx"),
            headers={"origin": ORIGIN, "content-type": "text/plain", "user-agent": BROWSER_UA},
        )
        assert (r.status_code, r.headers.get("access-control-allow-origin")) == (204, ORIGIN)


def test_a_client_still_uploading_after_its_413_is_not_reset(server):
    """A declared length over the limit is answered before the body; the client may still be
    sending it. Closing at once would answer the rest with a reset (which can also cost the
    client the answer): the Rust front shuts its side, drops what still comes for a while
    (2 s or 1 MiB), then closes. This fails with a broken pipe on a front that closes at once."""
    with Client(server) as c:
        c.send(post_head(b"Content-Length: 400000\r\n\r\n"))
        a = c.answer()
        assert (a.status, reason(a)) == (413, "body_too_large")
        for _ in range(20):  # the body goes on arriving after the answer: no reset
            c.send(b"x" * 20_000)
            time.sleep(0.02)
        if os.environ.get("QINGLANG_ENGINE") == "rust":  # uvicorn reads the body and keeps it
            c.sock.settimeout(10)
            assert c.closed()
