"""The collector's compiled decoder (`steps._typed`) against the reference checks (`_loads` +
`_beacon`): whatever the fast way accepts, the reference accepts too and gives the same beacons."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from qinglang.collect import steps
from qinglang.collect.steps import CLIENT_KINDS, MAX_LIST, MAX_TEXT, Drop

odd = st.sampled_from([None, "", 5.0, 2.5, "7", "x", True, False, -1, 2**40, [], {}, [None]])
short_text = st.text(max_size=12)


def typed_value(kind):
    if kind == "bool":
        return st.booleans()
    if kind == "str":
        return short_text | st.text(min_size=MAX_TEXT - 1, max_size=MAX_TEXT + 1)
    if kind == "list":
        return st.lists(short_text, max_size=MAX_LIST + 1)
    lo, hi = kind
    return st.integers(lo - 1, min(hi + 1, 10**6)) | st.sampled_from([hi, hi + 1])


clients = st.fixed_dictionaries(
    {},
    optional={k: typed_value(kind) | odd for k, kind in CLIENT_KINDS} | {"unknown_key": odd},
)
beacons = st.fixed_dictionaries(
    {"site": st.sampled_from(["shop", "", "s" * 65]) | odd},
    optional={
        "event": st.sampled_from(["pageview", "heartbeat", "action", "unload", ""]) | odd,
        "url": short_text | st.text(min_size=2048, max_size=2049) | odd,
        "referrer": short_text | odd,
        "token": st.text(max_size=70) | odd,
        "vid": short_text | odd,
        "seq": st.integers(-1, 1_000_001) | odd,
        "client": clients | odd,
    },
)
bodies = beacons | st.lists(beacons, max_size=steps.MAX_EVENTS + 1)


def reference(body: bytes) -> list[dict] | None:
    try:
        data = steps._loads(body, None)
        items = data if isinstance(data, list) else [data]
        if not 0 < len(items) <= steps.MAX_EVENTS or not all(isinstance(i, dict) for i in items):
            return None
        return [steps._beacon(raw, i if len(items) > 1 else None) for i, raw in enumerate(items)]
    except Drop:
        return None


@settings(max_examples=600, deadline=None)
@given(bodies)
def test_what_the_typed_decoder_accepts_the_reference_accepts_alike(data):
    body = json.dumps(data).encode()
    fast = steps._typed(body)
    if fast is not None:
        assert fast == reference(body)


def test_the_tracker_beacon_takes_the_typed_way():
    beacon = {
        "site": "shop",
        "event": "heartbeat",
        "url": "https://shop.test/a?b=1",
        "token": "65f0a1b2.abc.def",
        "seq": 3,
        "vid": "v1",
        "client": {"framed": True, "visible_ms": 1200, "tells": ["cdp", ""], "tz": "", "x": 1},
    }
    fast = steps._typed(json.dumps([beacon, beacon]).encode())
    assert fast is not None and fast == reference(json.dumps([beacon, beacon]).encode())
    assert fast[0]["client"]["tz"] is None and fast[0]["client"]["tells"] == ["cdp", ""]


def test_what_only_the_reference_accepts_still_gets_in_and_errors_stay_precise():
    lenient = json.dumps({"site": "shop", "seq": "3", "client": {"visible_ms": 5.0}}).encode()
    assert steps._typed(lenient) is None
    assert reference(lenient)[0]["seq"] == 3
    # a duplicate key: both take the last value, as JSON parsers commonly do
    dup = b'{"site": "other", "site": "shop", "seq": 1}'
    assert steps._typed(dup) == reference(dup)
    hit = steps.Hit(
        body=b'{"site": "shop", "client": {"tz": 7}}',
        query="",
        content_type="text/plain",
        origin=None,
        user_agent="",
        ip=None,
        now_ms=0,
    )
    try:
        steps.validate(steps.parse(hit, None), None)  # type: ignore[arg-type]
    except Drop as d:
        assert d.field == "client.tz" and "a string" in d.message
    else:
        raise AssertionError("a number for client.tz must be refused")
