"""Hypothesis over the live endpoint (a real `qinglang serve` process): any request gets an answer
from the documented set, every refusal says why, and the server keeps serving."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.collect.helpers import Server, add_site

ORIGIN = "http://shop.test"
ANSWERS = {200, 204, 400, 403, 404, 405, 409, 413, 415}

scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=40)
)
values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=12,
)
client_keys = st.sampled_from(
    ["framed", "frame_w", "visible_ms", "tells", "tz", "pv_id", "ancestor_origins", "x"]
)
beacons = st.fixed_dictionaries(
    {},
    optional={
        "site": st.sampled_from(["shop", "nope", ""]) | scalars,
        "event": st.sampled_from(["pageview", "heartbeat", "unload"]) | scalars,
        "url": values,
        "token": st.text(max_size=80) | scalars,
        "seq": values,
        "vid": values,
        "client": st.dictionaries(client_keys, values, max_size=6) | values,
    },
)
bodies = (
    beacons.map(lambda b: json.dumps(b).encode())
    | st.lists(beacons, max_size=12).map(lambda b: json.dumps(b).encode())
    | st.binary(max_size=300)
    | st.text(max_size=300).map(str.encode)
)
ctypes = st.sampled_from(
    ["text/plain", "application/json", "text/plain;charset=UTF-8", "", "image/png"]
) | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30).map(
    str.strip
)  # h11 refuses to send header values with outer spaces
origins = st.sampled_from([ORIGIN, "http://evil.test", None, "null"])


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz") / "c.db"
    add_site(db, "shop", ORIGIN)
    srv = Server(db)
    yield srv
    srv.stop()


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, ctype=ctypes, origin=origins, pixel=st.booleans())
def test_any_request_gets_a_clear_answer_and_never_crashes_the_collector(
    server, body, ctype, origin, pixel
):
    headers = {"content-type": ctype} if ctype else {}
    if origin:
        headers["origin"] = origin
    with httpx.Client(base_url=server.url, timeout=10) as c:
        if pixel:
            r = c.get(
                "/b.gif",
                params={"site": "shop", "client": body.decode("latin-1")[:500]},
                headers=headers,
            )
        else:
            r = c.post("/b", content=body, headers=headers)
        assert r.status_code in ANSWERS, r.text
        if r.status_code >= 400:
            assert r.json()["error"] and r.json()["reason"]
    assert server.proc.poll() is None
