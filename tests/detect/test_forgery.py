from qinglang.detect import forgery
from tests.conftest import event
from tests.detect.helpers import findings_of


def test_token_verdicts_and_beaconless_hits(make_engine):
    engine = make_engine(
        [
            event(0),
            event(1, token="missing"),
            event(2, token="invalid"),
            event(3, token="replayed"),
            event(4, token="expired", client={"interactions": 0, "visible_ms": 100}),
            event(
                5,
                token="expired",
                client={"interactions": 5, "visible_ms": 90000, "dwell_ms": 3 * 3600_000},
            ),  # old tab
            event(6, client=None, token=None),  # a hit without tracker signals
            event(7),
            event(8),
        ]
    )
    found = findings_of(forgery, engine)
    assert found == {
        "e0001": {"token.missing"},
        "e0002": {"token.invalid"},
        "e0003": {"token.replayed"},
        "e0004": {"token.expired"},
        "e0006": {"beacon.missing"},
    }


def test_no_beacon_check_on_server_logs(make_engine):
    engine = make_engine([event(i, client=None, token=None) for i in range(5)])
    assert findings_of(forgery, engine) == {}


# Forty people's page views: every measurement differs from person to person.
PEOPLE = [
    {"interactions": 1 + i % 4, "visible_ms": 9000 + 37 * i, "dwell_ms": 9500 + 41 * i,
     "first_interaction_ms": 800 + 13 * i}
    for i in range(40)
]  # fmt: skip


def test_one_captured_beacon_sent_under_many_visitor_ids(make_engine):
    captured = {
        "interactions": 3,
        "visible_ms": 20417,
        "dwell_ms": 21388,
        "first_interaction_ms": 1733,
    }
    rows = [event(i, client=dict(captured), token="replayed") for i in range(6)]
    rows += [event(10 + i, client=c) for i, c in enumerate(PEOPLE)]
    found = findings_of(forgery, make_engine(rows))
    assert found == {f"e{i:04d}": {"beacon.cloned", "token.replayed"} for i in range(6)}


def test_the_person_whose_beacon_was_captured_is_not_charged_with_the_copies(make_engine):
    captured = {
        "interactions": 3,
        "visible_ms": 20417,
        "dwell_ms": 21388,
        "first_interaction_ms": 1733,
    }
    original = event(0, client=dict(captured))  # the person: a valid token, first
    copies = [event(i, client=dict(captured), token="replayed") for i in range(1, 6)]
    late_valid = [event(7, client=dict(captured))]  # a later copy with a token of its own
    rows = [original, *copies, *late_valid] + [
        event(10 + i, client=c) for i, c in enumerate(PEOPLE)
    ]
    found = findings_of(forgery, make_engine(rows))
    assert "e0000" not in found
    assert {k for k, v in found.items() if "beacon.cloned" in v} == {
        f"e{i:04d}" for i in (1, 2, 3, 4, 5, 7)
    }
    # without the collector's tokens there is no telling the original: all copies are charged
    bare = [{**r, "token": None} for r in rows]
    found = findings_of(forgery, make_engine(bare))
    assert {k for k, v in found.items() if "beacon.cloned" in v} == {
        f"e{i:04d}" for i in (0, 1, 2, 3, 4, 5, 7)
    }


def test_measurements_that_repeat_only_as_often_as_chance_predicts_are_not_cloned(make_engine):
    # Coarse trackers round: 4 dwell values x 3 interaction counts, one visible and first value.
    rows = [
        event(i, client={"interactions": 1 + i % 3, "dwell_ms": 15000 * (1 + i % 4),
                         "visible_ms": 15000, "first_interaction_ms": 500})
        for i in range(240)
    ]  # fmt: skip
    assert findings_of(forgery, make_engine(rows)) == {}
    assert findings_of(forgery, make_engine(rows), {"cloned_min_excess": 1}) != {}


def test_engagement_actions_are_not_beacon_less_hits(make_engine):
    rows = [event(i) for i in range(6)]
    rows += [event(10, event="action", action="like", target="p1", client=None, token=None)]
    rows += [event(11, client=None, token=None)]
    assert findings_of(forgery, make_engine(rows)) == {"e0011": {"beacon.missing"}}


def test_a_replay_that_leaves_a_measurement_out_is_still_cloned(make_engine):
    captured = {"interactions": None, "visible_ms": 20417, "dwell_ms": 21388,
                "first_interaction_ms": 1733}  # fmt: skip
    rows = [event(i, client=dict(captured), token=None) for i in range(6)]
    rows += [event(10 + i, client=c) for i, c in enumerate(PEOPLE)]
    found = findings_of(forgery, make_engine(rows))
    assert {k for k, v in found.items() if "beacon.cloned" in v} == {f"e{i:04d}" for i in range(6)}


CH_UA = '"Chromium";v="156", "Google Chrome";v="156", "Not-A.Brand";v="24"'


def test_a_server_logs_client_hints_are_no_beacon(make_engine):
    """A log that carries the Sec-CH-UA header (client.ch_ua) holds no tracker beacons: its
    Firefox and Safari hits, which send no client hints, are not beacon-less hits."""
    rows = [event(i, client={"ch_ua": CH_UA}, token=None) for i in range(6)]
    rows += [event(10 + i, client=None, token=None) for i in range(3)]
    assert findings_of(forgery, make_engine(rows)) == {}


def test_a_hit_with_only_the_header_on_a_tracker_site_is_beacon_less(make_engine):
    """On a site whose tracker reports, a hit carrying the header but no measurement is what a
    script that copies a browser's headers sends: no tracker ran."""
    rows = [event(i, client={"ch_ua": CH_UA, **PEOPLE[i]}) for i in range(6)]
    rows += [event(10, client={"ch_ua": CH_UA}, token=None)]
    assert findings_of(forgery, make_engine(rows)) == {"e0010": {"beacon.missing"}}


def test_beacon_check_not_run_where_the_only_client_value_is_the_header(make_engine):
    """The method section must not say a check ran that cannot find anything."""
    from qinglang.detect.base import Context
    from qinglang.detect.pipeline import present_columns

    engine = make_engine([event(i, client={"ch_ua": CH_UA}, token=None) for i in range(3)])
    found = forgery.detect(Context(engine=engine, present=present_columns(engine)))
    assert "beacon.missing" not in found.checks_run
    assert ("beacon.missing", ["client.dwell_ms"]) in found.checks_skipped
    tracker = make_engine([event(i, client={"ch_ua": CH_UA, **PEOPLE[i]}) for i in range(3)])
    assert (
        "beacon.missing"
        in forgery.detect(Context(engine=tracker, present=present_columns(tracker))).checks_run
    )
