import datetime as dt

from qinglang.detect import anomaly
from tests.conftest import T0, WIN_CHROME, event
from tests.detect.helpers import findings_of

QUIET = {"interactions": 0, "visible_ms": 4000}


def test_round_robin_proxy_is_regular_a_nat_is_not(make_engine):
    rows = []
    for i in range(20):  # one proxy IP reused every ~10 minutes, +-5 s
        rows.append(
            event(
                i,
                ip="36.96.1.1",
                ts=T0 + dt.timedelta(seconds=600 * i + (i % 3) * 5),
                client=QUIET,
                user_agent=WIN_CHROME + f" r{i}",
            )
        )
    gaps = [13, 200, 45, 900, 5, 60, 1500, 30, 310, 75, 20, 640, 2, 90, 1100, 15, 400, 50, 8, 700]
    t = T0
    for j, g in enumerate(gaps):  # carrier NAT: people arriving at random
        t += dt.timedelta(seconds=g)
        rows.append(event(100 + j, ip="117.136.9.9", ts=t, client=QUIET))
    found = findings_of(anomaly, make_engine(rows))
    assert {f"e{i:04d}" for i in range(20)} == {
        k for k, v in found.items() if "ip.regular_timing" in v
    }


def test_ua_rotation_without_people(make_engine):
    rows = [
        event(
            i,
            ip="36.96.2.2",
            user_agent=f"{WIN_CHROME} v{i}",
            client=QUIET,
            ts=T0 + dt.timedelta(seconds=97 * i * i),
        )
        for i in range(10)
    ]
    # a carrier NAT: many visitors and agents too, but people interact
    rows += [
        event(
            100 + i,
            ip="117.136.3.3",
            user_agent=f"{WIN_CHROME} v{i}",
            ts=T0 + dt.timedelta(seconds=89 * i * i),
            client={"interactions": i % 2 * 3, "visible_ms": 5000},
        )
        for i in range(10)
    ]
    found = findings_of(anomaly, make_engine(rows))
    rotating = {k for k, v in found.items() if "ip.identity_churn" in v}
    assert rotating == {f"e{i:04d}" for i in range(10)}


def test_visitor_on_many_ips(make_engine):
    rows = [event(i, visitor_id="same", ip=f"36.96.{i}.1", client=QUIET) for i in range(8)]
    rows += [event(100 + i, visitor_id="mobile", ip=f"117.136.{i}.1") for i in range(3)]
    found = findings_of(anomaly, make_engine(rows))
    assert {k for k, v in found.items() if "visitor.ip_rotation" in v} == {
        f"e{i:04d}" for i in range(8)
    }
