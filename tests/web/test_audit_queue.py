"""Audits from the form, the API and the schedule are bounded: one queued or running audit per
site (409 for a second), `MAX_QUEUED` in all; each records who started it."""

from __future__ import annotations

import shutil
import threading

import pytest

from qinglang.web import audits as audits_mod
from qinglang.web.app import UiConfig, build_app
from qinglang.web.audits import Busy, Runner, list_audits
from tests.web.conftest import client, csrf_of


@pytest.fixture
def held(monkeypatch):
    """Audits that stay running until `release` is set (their `_run` waits)."""
    release = threading.Event()
    real = Runner._run

    def waiting(self, site, path, status):
        release.wait(30)
        return real(self, site, path, status)

    monkeypatch.setattr(Runner, "_run", waiting)
    yield release
    release.set()


def test_one_audit_per_site_and_a_global_cap(world, held, monkeypatch, tmp_path):
    db = tmp_path / "q.db"
    shutil.copy(world.db, db)
    monkeypatch.setattr(audits_mod, "MAX_QUEUED", 2)
    runner = Runner(db)
    first, _ = runner.submit("shop", {}, by="bob")
    with pytest.raises(Busy, match=f"{first} of shop is queued or running"):
        runner.submit("shop", {}, by="alice")
    runner.submit("rival", {}, by="carol")
    with pytest.raises(Busy, match="2 audits are queued or running"):
        runner.submit("third", {})
    held.set()
    runner._pool.shutdown(wait=True)
    assert [a.by for a in list_audits(runner.site_dir("shop"))] == ["bob"]


def test_a_second_audit_of_a_site_answers_409(world, held, tmp_path):
    db = tmp_path / "q.db"  # a copy: the audit run here must not become the world's latest
    shutil.copy(world.db, db)
    app = build_app(UiConfig(db=db))
    token = {"Authorization": "Bearer " + world.tokens["bob"]}
    c = client(app)
    r = c.post("/api/v1/sites/shop/audits", headers=token, json={"lang": "en"})
    assert r.status_code == 202
    started = r.json()["id"]
    again = c.post("/api/v1/sites/shop/audits", headers=token, json={"lang": "en"})
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    assert started in again.json()["detail"]
    page = client(app, "alice")
    form = page.post("/s/shop/audits", data={"csrf": csrf_of(page, "/s/shop/audits"), "price": "1"})
    assert form.status_code == 409 and "queued or running" in form.text
    listed = page.get("/s/shop/audits").text
    assert f'data-audit="{started}"' in listed and '<td class="by">bob</td>' in listed
    assert c.get(f"/api/v1/sites/shop/audits/{started}", headers=token).json()["by"] == "bob"
    held.set()
    app.state.runner._pool.shutdown(wait=True)


def test_an_internal_error_keeps_its_detail_in_the_log(world, tmp_path, monkeypatch, caplog):
    import qinglang.audit.run

    def crash(*_a, **_k):
        raise RuntimeError("/srv/private/q.db.lake/site=shop/part-1.parquet vanished")

    monkeypatch.setattr(qinglang.audit.run, "run_audit", crash)
    from qinglang.collect.sites import lake_dir

    db = tmp_path / "q.db"
    shutil.copy(world.db, db)
    shutil.copytree(lake_dir(world.db), lake_dir(db))
    runner = Runner(db)
    audit_id, done = runner.submit("shop", {}, by="bob")
    done.result(timeout=60)
    runner.shutdown()
    [info] = list_audits(runner.site_dir("shop"))
    assert info.state == "failed" and info.error.startswith("internal error (see the server log")
    assert "/srv/private" not in info.error
    assert "/srv/private" in caplog.text and audit_id in caplog.text


def test_only_the_newest_scheduled_audits_are_kept(tmp_path):
    import json

    from qinglang.web.audits import prune_scheduled

    site = tmp_path / "site=shop"
    for i in range(5):
        for kind in ("scheduled", "manual"):
            d = site / f"2026120{i}T000000Z-{kind}-00000{i}"
            d.mkdir(parents=True)
            (d / "audit.json").write_text("{}")
            (d / "web-status.json").write_text(json.dumps(
                {"state": "done", "created": f"2026-12-0{i}T00:00:00Z", "kind": kind}))  # fmt: skip
    gone = prune_scheduled(site, keep=2)
    assert sorted(gone) == [f"2026120{i}T000000Z-scheduled-00000{i}" for i in range(3)]
    left = sorted(p.name for p in site.iterdir())
    assert left == sorted([f"2026120{i}T000000Z-manual-00000{i}" for i in range(5)]
                          + [f"2026120{i}T000000Z-scheduled-00000{i}" for i in (3, 4)])  # fmt: skip
