import datetime as dt

from qinglang.detect import anomaly
from qinglang.detect.base import Context
from qinglang.detect.pipeline import present_columns
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


def test_scheduled_visits_are_regular_even_when_they_read_several_pages(make_engine):
    """A rotator's visit may read one to three pages at its own pace: the gaps between hits are
    irregular, the starts of its visits are not. A person who comes back every day at about the
    same time is a habit, not a schedule, and an IP of people arriving at random is neither."""
    rows = []
    n = 0
    for k in range(10):  # one proxy IP, a new visitor every 40 minutes (+-20 s)
        start = T0 + dt.timedelta(seconds=2400 * k + (k * 7) % 41 - 20)
        for page in range(1 + k % 3):  # one, two or three pages, 25-70 s apart
            rows.append(event(n, ip="36.96.7.7", visitor_id=f"rot{k}", client=QUIET,
                              ts=start + dt.timedelta(seconds=page * (25 + 45 * (k % 2))),
                              **({"referrer": "https://site.example/a"} if page else {})))  # fmt: skip
            n += 1
    rotator = {f"e{i:04d}" for i in range(n)}
    for day in range(12):  # a reader at home, every morning around eight
        rows.append(event(500 + day, ip="124.64.1.1", visitor_id="reader", client=QUIET,
                          ts=T0 + dt.timedelta(days=day, minutes=(day * 5) % 17)))  # fmt: skip
    t = T0
    for j, g in enumerate([700, 2400, 300, 5200, 1900, 900, 3600, 450, 2800, 1500, 4100]):
        t += dt.timedelta(seconds=g)  # carrier NAT: visitors arriving at random
        rows.append(event(600 + j, ip="117.136.9.9", visitor_id=f"p{j}", client=QUIET, ts=t))
    found = findings_of(anomaly, make_engine(rows))
    assert {k for k, v in found.items() if "ip.regular_timing" in v} == rotator


def test_a_scheduled_ip_is_one_finding_per_event_and_spares_what_people_did(make_engine):
    """Both checks may find the same event: one finding. A visit on the scheduled IP with a click
    or a scroll, and the same cookie's hits on another IP, are not charged by it."""
    rows = [
        event(
            i,
            ip="36.96.8.8",
            visitor_id=f"rot{i}",
            client=QUIET,
            ts=T0 + dt.timedelta(seconds=900 * i + (i % 3) * 4),
        )  # fmt: skip
        for i in range(14)
    ]
    rows.append(
        event(
            50,
            ip="36.96.8.8",
            visitor_id="rot3",
            ts=rows[3]["ts"] + dt.timedelta(seconds=20),
            referrer="https://site.example/a",
        )
    )  # a person's click in that visit
    rows.append(event(51, ip="117.136.1.1", visitor_id="rot5", client=QUIET,
                      ts=rows[5]["ts"] + dt.timedelta(seconds=30)))  # fmt: skip
    engine = make_engine(rows)
    findings = [
        r["event_id"]
        for q in anomaly.detect(Context(engine=engine, present=present_columns(engine))).queries
        for r in engine.query(
            f"SELECT e.event_id FROM ({q}) f JOIN events e ON e.rid = f.rid "
            "WHERE f.reason = 'ip.regular_timing'"
        ).to_pylist()
    ]
    assert sorted(findings) == [f"e{i:04d}" for i in range(14)]
