from qinglang.detect import forgery
from tests.conftest import event
from tests.detect.helpers import findings_of


def test_token_verdicts_and_beaconless_hits(make_engine):
    engine = make_engine([
        event(0),
        event(1, token="missing"),
        event(2, token="invalid"),
        event(3, token="replayed"),
        event(4, token="expired", client={"interactions": 0, "visible_ms": 100}),
        event(5, token="expired", client={"interactions": 5, "visible_ms": 90000}),  # old tab
        event(6, client=None, token=None),  # a hit without tracker signals
        event(7), event(8),
    ])
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
