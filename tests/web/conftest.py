"""A collector database with two tenants, `shop` and `rival`, their lakes, one audit of each,
and users: alice (owner of shop), bob (buyer of shop), ann (auditor of shop), carol (owner of
rival). Each site's data carries markers that must never show up to the other's users."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from qinglang.collect.sites import SiteRegistry
from qinglang.web.accounts import Accounts
from qinglang.web.app import UiConfig, build_app
from tests.web import lake

PASSWORD = "correct horse battery"
SHOP_MARKERS = ("shop-secret-referrer.example", "ShopSecretBot/1.0", "shop-evt-")
RIVAL_MARKERS = ("rival-secret-referrer.example", "RivalSecretBot/1.0", "rival-evt-")


@dataclass
class World:
    db: Path
    audits: dict[str, str] = field(default_factory=dict)  # site -> audit id
    tokens: dict[str, str] = field(default_factory=dict)  # user -> API token


def _site_rows(site: str, marker_ref: str, marker_ua: str) -> list[dict]:
    rows = lake.traffic(site, lake.DAY, 60, 0)
    rows += [
        lake.event(1000 + i, site, lake.DAY.replace(hour=10), user_agent=marker_ua,
                   visitor_id=f"b{i}", referrer=f"https://{marker_ref}/x")
        for i in range(12)
    ]  # fmt: skip
    for r in rows:
        r["event_id"] = f"{site}-evt-{r['event_id']}"
    return rows


def make_world(root: Path) -> World:
    db = root / "q.db"
    reg = SiteRegistry(db)
    reg.add("shop", ["https://shop.test"])
    reg.add("rival", ["https://rival.test"])
    lake.write(db, "shop", _site_rows("shop", SHOP_MARKERS[0], SHOP_MARKERS[1]), "day=2026-11-30")
    lake.write(db, "rival", _site_rows("rival", RIVAL_MARKERS[0], RIVAL_MARKERS[1]),
               "day=2026-11-30")  # fmt: skip
    acc = Accounts(db)
    world = World(db)
    for name, site, role in (
        ("alice", "shop", "owner"),
        ("bob", "shop", "buyer"),
        ("ann", "shop", "auditor"),
        ("carol", "rival", "owner"),
    ):
        acc.add_user(name, PASSWORD)
        acc.grant(name, site, role)
        world.tokens[name] = acc.new_token(name)
    app = build_app(UiConfig(db=db))
    for site in ("shop", "rival"):
        audit_id, done = app.state.runner.submit(site, {"price": 1.0, "lang": "en"})
        done.result(timeout=120)
        world.audits[site] = audit_id
    app.state.runner.shutdown()
    return world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("web"))


@pytest.fixture
def app(world: World):
    web = build_app(UiConfig(db=world.db))
    yield web
    web.state.runner.shutdown()


def client(app, user: str | None = None) -> TestClient:
    c = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    if user is not None:
        login(c, user)
    return c


def csrf_of(c: TestClient, path: str = "/login") -> str:
    import re

    page = c.get(path).text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def login(c: TestClient, user: str, password: str = PASSWORD):
    r = c.post("/login", data={"user": user, "password": password, "csrf": csrf_of(c),
                               "next": "/sites"})  # fmt: skip
    assert r.status_code == 303, r.text[:300]
    return r
