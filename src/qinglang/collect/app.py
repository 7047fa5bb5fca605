"""The collector as a plain ASGI app: /t.js, /b (beacon POST), /b.gif (pixel), /healthz, /metrics.

Requests run the steps of steps.py in order, each timed into a Prometheus histogram. Accepted rows
go onto a bounded queue; one writer task drains it in groups, appends each group to the segment
log with one fsync, and only then acknowledges the requests (204, or the pixel GIF). A full queue
answers 503 with Retry-After instead of growing memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
from typing import Any

import rjsmin
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from qinglang.collect import compact, segments, tokens
from qinglang.collect.sites import SiteRegistry, lake_dir, segments_dir
from qinglang.collect.steps import (
    MAX_BODY,
    STEP_NAMES,
    STEPS,
    VERDICT_ANSWERS,
    Context,
    Drop,
    DropReason,
    Hit,
    origin_of,
    unknown_site,
)
from qinglang.events import MAX_UA

log = logging.getLogger("qinglang.collect")
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
SOURCE = files("qinglang.collect").joinpath("tracker.js").read_text(encoding="utf-8")
TRACKER = rjsmin.jsmin(SOURCE)  # served minified
ROLL = (b"", None)  # queued by the ticker: roll the active segment if it is due
NOT_FOUND = Drop(DropReason.NOT_FOUND, "no such path: try /t.js, /b, /b.gif, /healthz, /metrics")


class Collector:
    def __init__(
        self,
        db: Path,
        queue_size: int = 2048,
        group_max: int = 512,
        ttl_s: int | None = None,
        roll_seconds: float = 5.0,
        roll_process: bool = True,
    ) -> None:
        from qinglang.settings import SETTINGS

        self.db = Path(db)
        self.registry = SiteRegistry(self.db)
        ttl = ttl_s if ttl_s is not None else int(SETTINGS["token_ttl_minutes"].default * 60)
        self.ctx = Context(self.registry.all(), ttl, tokens.ReplayGuard(ttl))
        self.queue_size = queue_size
        self.group_max = group_max
        self.roll_seconds = roll_seconds
        self._sites_read = time.monotonic()
        self._io = ThreadPoolExecutor(1, thread_name_prefix="ql-fsync")
        # Rolling (JSON -> Arrow -> Parquet) runs in its own process, off the event loop's GIL.
        self._roller: Executor = (
            ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=segments.die_with,
                initargs=(os.getpid(),),
            )
            if roll_process
            else ThreadPoolExecutor(1, thread_name_prefix="ql-roll")
        )
        self.log: segments.SegmentLog | None = None
        self._compacting: asyncio.Future | None = None  # the compaction step under way, if any
        self._compact_at = 0.0  # when the next compaction step may start (time.monotonic)
        self.fault: str | None = None  # what keeps the writer from working normally, if anything
        self._metrics()

    # ------------------------------------------------------------------ metrics
    def _metrics(self) -> None:
        self.prom = CollectorRegistry()
        self.m_step = Histogram(
            "qinglang_collector_step_seconds",
            "Time spent in each collector step, in pipeline order",
            ["step"],
            registry=self.prom,
            buckets=(1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0),
        )
        self.step_timers = [self.m_step.labels(n) for n in STEP_NAMES]
        self.m_drop = Counter(
            "qinglang_collector_dropped",
            "Requests refused, by reason",
            ["reason"],
            registry=self.prom,
        )
        for r in DropReason:
            self.m_drop.labels(r.value)
        self.m_rows = Counter(
            "qinglang_collector_rows",
            "Rows written, by token verdict",
            ["token"],
            registry=self.prom,
        )
        self.m_groups = Counter(
            "qinglang_collector_group_commits", "fsync'd writes (group commits)", registry=self.prom
        )
        g = Gauge("qinglang_collector_queue", "Rows waiting to be written", registry=self.prom)
        g.set_function(lambda: self.queue.qsize() if hasattr(self, "queue") else 0)

    # ------------------------------------------------------------------ lifecycle
    async def startup(self) -> None:
        loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue(self.queue_size)
        seg_dir = segments_dir(self.db)
        # segments left after a crash or a stop: recovered and rolled now
        closed, used = await loop.run_in_executor(
            self._roller, segments.restart, seg_dir, lake_dir(self.db), self.ctx.ttl_s
        )
        for r in used:  # a restart must not forget which tokens were used
            self.ctx.replay.remember([r["nonce"], r["pv_id"], r["seq"]], r["ts"] // 1000)
        run = segments.next_run(closed)
        self.log = await loop.run_in_executor(
            self._io, lambda: segments.SegmentLog(seg_dir, run, roll_seconds=self.roll_seconds)
        )
        self.writer = asyncio.create_task(self._write_loop())
        self.ticker = asyncio.create_task(self._tick())
        self._compact()  # what the lake holds already (and what the restart rolled)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.roll_seconds))
            if self.log is not None and self.log.due() and self.queue.empty():
                self.queue.put_nowait(ROLL)
            self._compact()

    def _compact(self) -> None:
        """Start a compaction step of the lake (compact.py) in the rolling process, after the rolls
        queued there before it: one at a time, at most every `compact.interval()` seconds."""
        now = time.monotonic()
        if now < self._compact_at or (self._compacting and not self._compacting.done()):
            return
        self._compact_at = now + compact.interval()
        self._compacting = asyncio.get_running_loop().run_in_executor(
            self._roller, compact.compact, lake_dir(self.db)
        )
        self._compacting.add_done_callback(_report_compact_error)

    async def shutdown(self) -> None:
        self.ticker.cancel()
        await self.queue.put(None)
        await self.writer
        loop = asyncio.get_running_loop()
        assert self.log is not None
        last = await loop.run_in_executor(self._io, self.log.close)
        if last is not None:
            await loop.run_in_executor(self._roller, segments.roll, last, lake_dir(self.db))
        self._io.shutdown()
        # a compaction step not started yet is dropped: the next run takes its turn
        self._roller.shutdown(cancel_futures=True)

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        seglog = self.log
        assert seglog is not None
        while True:
            item = await self.queue.get()
            batch = [item] if item is not None and item is not ROLL else []
            while item is not None and len(batch) < self.group_max:
                try:
                    item = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is not None and item is not ROLL:
                    batch.append(item)
            if batch:
                await self._commit(loop, seglog, batch)
            if item is None:
                return
            if seglog.due():
                try:
                    closed = await loop.run_in_executor(self._io, seglog.rotate)
                except OSError as e:  # keep serving; /healthz says what is wrong
                    self.fault = f"cannot start a new segment: {e}"
                    log.error(self.fault)
                    continue
                self.fault = None
                rolled = loop.run_in_executor(
                    self._roller, segments.roll, closed, lake_dir(self.db)
                )
                rolled.add_done_callback(_report_roll_error)

    async def _commit(self, loop: asyncio.AbstractEventLoop, seglog: Any, batch: list) -> None:
        try:
            await loop.run_in_executor(self._io, seglog.append, b"".join(b[0] for b in batch))
        except OSError as e:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(e)
            return
        self.m_groups.inc()
        for _, fut in batch:
            if not fut.done():
                fut.set_result(None)

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            if path == "/b" and method == "POST":
                await self._beacon(scope, receive, send, headers, pixel=False)
            elif path == "/b.gif" and method == "GET":
                await self._beacon(scope, receive, send, headers, pixel=True)
            elif path == "/b" and method == "OPTIONS":
                await self._preflight(send, headers)
            elif path == "/t.js" and method in ("GET", "HEAD"):
                await self._tracker(scope, send, headers)
            elif path == "/healthz":
                body = {"ok": self.fault is None, "queue": self.queue.qsize(),
                        "sites": len(self.ctx.sites), "fault": self.fault}  # fmt: skip
                status = 200 if self.fault is None else 503
                await _respond(send, status, json.dumps(body).encode(), "application/json")
            elif path == "/metrics":
                await _respond(send, 200, generate_latest(self.prom), CONTENT_TYPE_LATEST)
            elif path in ("/b", "/b.gif", "/t.js"):
                raise Drop(DropReason.METHOD_NOT_ALLOWED, f"{method} {path}: method not allowed")
            else:
                raise NOT_FOUND
        except Drop as d:
            self.m_drop.labels(d.reason.value).inc()
            extra = [(b"retry-after", b"1")] if d.status == 503 else []
            extra += _cors(headers.get("origin"), self._allowed(headers.get("origin")))
            await _respond(send, d.status, json.dumps(d.body()).encode(), "application/json", extra)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _allowed(self, origin: str | None) -> bool:
        return bool(origin) and any(origin in s.origins for s in self.ctx.sites.values())

    def _refresh_sites(self) -> None:
        """Pick up sites added while serving (at most once a second)."""
        now = time.monotonic()
        if now - self._sites_read >= 1.0:
            self._sites_read = now
            self.ctx.sites = self.registry.all()

    async def _beacon(
        self, scope: dict, receive: Any, send: Any, headers: dict, pixel: bool
    ) -> None:
        body = None if pixel else await _read_body(receive, headers)
        client = scope.get("client")
        hit = Hit(
            body=body,
            query=scope.get("query_string", b"").decode("latin-1"),
            content_type=headers.get("content-type", ""),
            origin=origin_of(headers.get("origin"), headers.get("referer")),
            user_agent=headers.get("user-agent", "")[:MAX_UA],
            ip=client[0] if client else None,
            now_ms=time.time_ns() // 1_000_000,
        )
        timers = self.step_timers
        for i, (name, step) in enumerate(STEPS):
            t0 = time.perf_counter()
            if i == 2 and hit.beacons and self.ctx.sites.get(hit.beacons[0]["site"]) is None:
                self._refresh_sites()
            if name == "token_check":
                # Refuse before a token is recorded as used, so that a retry is not a "replay";
                # nothing else runs on the loop until `write` queues the rows.
                self._make_room(len(hit.beacons) or 1)
            hit = step(hit, self.ctx)
            timers[i].observe(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await self._write(hit.rows)
        timers[-1].observe(time.perf_counter() - t0)
        for row in hit.rows:
            self.m_rows.labels(row["token"]).inc()
        cors = _cors(headers.get("origin"), True)
        refused = [VERDICT_ANSWERS[r["token"]] for r in hit.rows if r["token"] in VERDICT_ANSWERS]
        if refused:  # the worst refused verdict answers (the contract's highest status)
            status, reason, bad = max(refused)
            msg = {"error": f"token {bad}: recorded as token={bad}", "reason": reason}
            await _respond(
                send,
                status,
                json.dumps(msg).encode(),
                "application/json",
                cors,
            )
        elif pixel:
            await _respond(send, 200, GIF, "image/gif", cors + [(b"cache-control", b"no-store")])
        else:
            await _respond(send, 204, b"", None, cors)

    def _make_room(self, n: int) -> None:
        if self.queue.maxsize - self.queue.qsize() < n:
            raise Drop(DropReason.OVERLOADED, "collector overloaded: retry later")

    async def _write(self, rows: list[dict]) -> None:
        loop = asyncio.get_running_loop()
        futs = []
        for row in rows:
            fut = loop.create_future()
            try:
                self.queue.put_nowait((segments.encode(row), fut))
            except asyncio.QueueFull:
                raise Drop(DropReason.OVERLOADED, "collector overloaded: retry later") from None
            futs.append(fut)
        try:
            await (futs[0] if len(futs) == 1 else asyncio.gather(*futs))
        except OSError as e:
            raise Drop(
                DropReason.OVERLOADED, f"could not store the beacon ({e.strerror})"
            ) from None

    async def _preflight(self, send: Any, headers: dict) -> None:
        origin = headers.get("origin")
        if not self._allowed(origin):
            self._refresh_sites()
        if not self._allowed(origin):
            raise Drop(DropReason.ORIGIN_REFUSED, f"origin {origin!r} is not registered", "origin")
        extra = _cors(origin, True) + [
            (b"access-control-allow-methods", b"POST"),
            (b"access-control-allow-headers", b"content-type"),
            (b"access-control-max-age", b"86400"),
        ]
        await _respond(send, 204, b"", None, extra)

    async def _tracker(self, scope: dict, send: Any, headers: dict) -> None:
        from urllib.parse import parse_qs

        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        name = (query.get("site") or [""])[0]
        site = self.ctx.sites.get(name)
        if site is None:
            self._refresh_sites()
            site = self.ctx.sites.get(name)
        if site is None:
            raise unknown_site(name)
        ua = headers.get("user-agent", "")[:MAX_UA]
        token = tokens.issue(site.secret, site.name, int(time.time()), ua)
        config = json.dumps({"site": site.name, "token": token})
        body = TRACKER.replace("__QL_CONFIG__", config, 1).encode()
        extra = [(b"cache-control", b"no-store")]
        await _respond(send, 200, body, "text/javascript; charset=utf-8", extra)


def _report_roll_error(fut: asyncio.Future) -> None:
    """A segment that failed to roll stays on disk and is rolled again at the next start."""
    if not fut.cancelled() and fut.exception() is not None:
        log.error("rolling a segment into the lake failed: %s", fut.exception())


def _report_compact_error(fut: asyncio.Future) -> None:
    """A compaction that failed leaves the lake as it was; the next step tries again."""
    if not fut.cancelled() and fut.exception() is not None:
        log.error("compacting the lake failed: %s", fut.exception())


async def _read_body(receive: Any, headers: dict) -> bytes:
    length = headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise Drop(
            DropReason.BODY_TOO_LARGE, f"body of {length} bytes: expected at most {MAX_BODY}"
        )
    chunks, size = [], 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            break
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise Drop(DropReason.BODY_TOO_LARGE, f"body over {MAX_BODY} bytes")
        chunks.append(chunk)
        if not msg.get("more_body"):
            break
    return b"".join(chunks)


def _cors(origin: str | None, allowed: bool) -> list[tuple[bytes, bytes]]:
    if not origin or not allowed:
        return []
    return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"origin")]


async def _respond(
    send: Any, status: int, body: bytes, ctype: str | None, extra: list | None = None
) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if ctype:
        headers.append((b"content-type", ctype.encode()))
    headers += [(b"x-content-type-options", b"nosniff")] + (extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
