"""`qinglang serve`: the collector app under uvicorn (uvloop + httptools), one process."""

from __future__ import annotations

from pathlib import Path

from qinglang.collect.app import Collector


def serve(
    db: Path,
    host: str,
    port: int,
    queue_size: int = 2048,
    max_connections: int = 2048,
    ttl_s: int | None = None,
) -> None:
    import uvicorn

    app = Collector(db, queue_size=queue_size, ttl_s=ttl_s)
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        proxy_headers=True,  # X-Forwarded-For is believed only from a proxy on this machine
        forwarded_allow_ips="127.0.0.1",
        log_level="warning",
        limit_concurrency=max_connections,  # past this uvicorn answers 503 itself: memory stays bounded
        backlog=2048,
        timeout_graceful_shutdown=10,
    )
