"""The API's errors: always JSON with one line naming the field, whatever went wrong; bodies
refused by their size before they are read; dates out of range; the poll keeps from/to."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from qinglang.web.app import UiConfig, build_app
from tests.web.conftest import client


def _bob(world) -> dict[str, str]:
    return {"Authorization": "Bearer " + world.tokens["bob"]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=9999-12-01&to=9999-12-31", "from"),
        ("to=0001-01-01", "to"),
        ("from=1969-12-31", "from"),
    ],
)
def test_dates_out_of_range_are_a_400_naming_the_field(app, world, query, field):
    r = client(app).get(f"/api/v1/sites/shop/figures?{query}", headers=_bob(world))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_request" and r.json()["detail"].startswith(field)
    page = client(app, "bob").get(f"/s/shop?{query}")
    assert page.status_code == 400 and field in page.text


def test_unknown_api_paths_and_methods_answer_json(app, world):
    c = client(app)
    r = c.get("/api/v1/nothing/here", headers=_bob(world))
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = c.delete("/api/v1/sites", headers=_bob(world))
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert c.get("/no/such/page").headers["content-type"].startswith("text/plain")


def test_a_crash_answers_json_on_the_api(app, world, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("/srv/secret/path exploded")

    monkeypatch.setattr(app.state.figures, "site", boom)
    c = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    r = c.get("/api/v1/sites/shop/figures", headers=_bob(world))
    assert r.status_code == 500 and r.json()["error"] == "internal"
    assert "/srv/secret" not in r.text


def test_read_only_figures_are_a_json_not_found(world):
    web = build_app(UiConfig(readonly_dir=world.db.with_name(world.db.name + ".audits")))
    r = client(web).get(f"/api/v1/sites/{web.state.readonly_site}/figures")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_a_large_body_is_refused_before_it_is_read(app, world, monkeypatch):
    from starlette.requests import Request

    read = []
    real = Request.stream

    async def counting(self):
        async for chunk in real(self):
            read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(Request, "stream", counting)
    c = client(app)
    big = b'{"price": 1, "pad": "' + b"x" * (1 << 20) + b'"}'
    r = c.post("/api/v1/sites/shop/audits", headers=_bob(world), content=big)
    assert r.status_code == 413 and r.json()["detail"].startswith("body")
    assert read == []  # refused by its Content-Length, nothing read

    def chunks():
        yield b"x" * (1 << 18)

    r = c.post("/api/v1/sites/shop/audits", headers=_bob(world), content=chunks())
    assert r.status_code == 413  # chunked: no Content-Length


def test_a_chunked_body_is_read_only_up_to_the_cap():
    import asyncio

    from qinglang.web.routes_api import MAX_JSON, _body

    taken = []

    class Chunked:
        headers: dict[str, str] = {}

        async def stream(self):
            for _ in range(1000):
                taken.append(4096)
                yield b"x" * 4096

    assert asyncio.run(_body(Chunked())) is None
    assert sum(taken) <= MAX_JSON + 4096


def test_the_poll_keeps_the_period_asked_for(app):
    c = client(app, "bob")

    def api_of(url: str) -> str:
        page = c.get(url).text
        found = re.search(r'<script type="application/json" id="figures-data">(.*?)</script>', page)
        assert found, page[:300]
        return json.loads(found.group(1))["api"]

    assert api_of("/s/shop?from=2026-11-30&to=2026-11-30") == (
        "/api/v1/sites/shop/figures?grain=day&from=2026-11-30&to=2026-11-30"
    )
    assert api_of("/s/shop?grain=hour") == "/api/v1/sites/shop/figures?grain=hour"
