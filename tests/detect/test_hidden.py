from qinglang.detect import hidden
from tests.conftest import event
from tests.detect.helpers import findings_of


def framed(**client):
    base = {
        "framed": True,
        "frame_w": 360,
        "frame_h": 640,
        "visible_ms": 5000,
        "interactions": 0,
        "ancestor_origins": ["https://host-app.example"],
    }
    base.update(client)
    return base


def test_zero_tiny_and_never_visible(make_engine):
    engine = make_engine(
        [
            event(0),
            event(1, client=framed(frame_w=0, frame_h=0, visible_ms=0)),
            event(2, client=framed(frame_w=1, frame_h=1)),
            event(3, client=framed(visible_ms=0)),  # off-screen or transparent (IO v2)
            event(
                4, client={"framed": False, "visible_ms": 0, "interactions": 0}
            ),  # background tab
            event(5, client=framed(frame_w=1, frame_h=1, interactions=3)),  # someone touched it
            event(6, client={"framed": False, "visible_ms": 1200, "interactions": 0}),  # a bounce
        ]
    )
    found = findings_of(hidden, engine)
    assert found["e0001"] == {"frame.zero_size", "view.never_visible"}
    assert found["e0002"] == {"frame.tiny"}
    assert found["e0003"] == {"view.never_visible"}
    assert found["e0004"] == {"view.never_visible"}
    assert {"e0000", "e0005", "e0006"}.isdisjoint(found)


def test_inert_framing_host_but_not_an_engaging_portal(make_engine):
    rows = []
    for i in range(40):  # transparent frames on a browser that cannot measure visibility
        rows.append(event(i, client=framed(ancestor_origins=["https://inject.example"])))
    for i in range(40, 80):  # a portal that frames articles visibly; most readers interact
        inter = 0 if i % 3 == 0 else 2
        rows.append(
            event(i, client=framed(ancestor_origins=["https://portal.example"], interactions=inter))
        )
    found = findings_of(hidden, make_engine(rows))
    assert {f"e{i:04d}" for i in range(40)} <= set(found)
    assert all(found[f"e{i:04d}"] == {"frame.inert_host"} for i in range(40))
    assert not any(f"e{i:04d}" in found for i in range(40, 80))
