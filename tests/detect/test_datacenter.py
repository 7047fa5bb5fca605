import datetime as dt

import pytest

from qinglang.detect import datacenter
from tests.conftest import T0, event
from tests.detect.helpers import findings_of
from tests.test_engine import spark_engine  # noqa: F401  (the shared Spark session fixture)

BOT = {"interactions": 0, "visible_ms": 3000}


def test_cloud_ips_without_a_person(make_engine):
    engine = make_engine(
        [
            event(0),  # China Mobile
            event(1, ip="52.94.76.1", client=BOT),  # AWS
            event(2, ip="52.94.76.1", client={"interactions": 3, "visible_ms": 3000}),  # VPN user
            event(3, ip="2600:1f18::1", client=BOT),  # AWS IPv6
            event(4, ip="2600:1f18::1", client=BOT),
            event(5, ip="47.88.1.1", client=BOT),  # Alibaba Cloud (ASN table)
            event(6, ip="47.88.1.1", client=BOT),
            event(7, ip="not-an-ip", client=BOT),
        ]
    )
    found = findings_of(datacenter, engine)
    assert found == {
        "e0001": {"ip.cloud"},
        "e0003": {"ip.cloud"},
        "e0004": {"ip.cloud"},
        "e0005": {"ip.hosting_asn"},
        "e0006": {"ip.hosting_asn"},
    }


def test_a_lone_hit_from_a_cloud_ip_is_evidence_only(make_engine):
    lone = [event(0, ip="52.94.76.1", client=BOT), event(1, ip="47.88.1.1", client=BOT)]
    assert findings_of(datacenter, make_engine(lone)) == {}
    assert findings_of(datacenter, make_engine(lone), {"dc_min_hits": 1}) == {
        "e0000": {"ip.cloud"},
        "e0001": {"ip.hosting_asn"},
    }


def test_server_logs_count_every_repeated_datacenter_hit(make_engine):
    engine = make_engine(
        [
            event(0, ip="52.94.76.1", client=None),
            event(1, ip="52.94.76.1", client=None),
            event(2, client=None),
        ]
    )
    assert findings_of(datacenter, engine) == {"e0000": {"ip.cloud"}, "e0001": {"ip.cloud"}}


def test_a_logs_assets_are_not_hits_of_a_datacenter_ip(make_engine):
    """A person on a VPN opens one page, and the browser fetches its stylesheet and images: one
    hit with its assets stays evidence only; a second page from that address is volume."""

    def page(i: int, ip: str, assets: int) -> list[dict]:
        rows = [event(i * 10, ip=ip, client=None, url="/news")]
        rows += [
            event(i * 10 + k, ip=ip, client=None, event="request", asset=True, url=f"/s/{k}.css")
            for k in range(1, assets + 1)
        ]
        return rows

    engine = make_engine(page(1, AWS, 6) + page(2, "52.94.76.2", 3) + page(3, "52.94.76.2", 3))
    charged = {f"e00{i}{k}": {"ip.cloud"} for i in (2, 3) for k in range(4)}
    assert findings_of(datacenter, engine) == charged


# ---- routing artifacts of legitimate users (issue 14): who on a data-center IP stays valid

AWS = "52.94.76.1"
READ = {"interactions": 5, "visible_ms": 40_000}
LOOK = {"interactions": 0, "visible_ms": 4_000}  # the page beacon, sent before any input


def visit(
    first: int, visitor: str, day: int, n: int = 2, client: dict | None = None, **kw
) -> list[dict]:
    """One visit: a page view beacon, then the heartbeat that carries the reading (`client`
    adds to every beacon of the visit)."""
    rows = []
    for k in range(n):
        ts = T0 + dt.timedelta(days=day, hours=9, minutes=2 * k)
        sent = dict(LOOK if k == 0 else READ, **(client or {}))
        rows.append(
            event(
                first + k,
                ts=ts,
                visitor_id=visitor,
                ip=AWS,
                event="pageview" if k == 0 else "heartbeat",
                client=sent,
                **kw,
            )
        )
    return rows


def charged(engine, settings=None) -> set[str]:
    return set(findings_of(datacenter, engine, settings))


def evidence(engine) -> dict[str, str]:
    """Every datacenter finding (evidence or not): {event_id: reason}."""
    from qinglang.detect.base import Context
    from qinglang.detect.pipeline import present_columns

    ctx = Context(engine=engine, present=present_columns(engine))
    out = {}
    for q in datacenter.detect(ctx).queries:
        sql = f"SELECT e.event_id, f.reason FROM ({q}) f JOIN events e ON e.rid = f.rid"
        out.update({r["event_id"]: r["reason"] for r in engine.query(sql).to_pylist()})
    return out


def test_vpn_reader_on_several_visits_stays_valid(make_engine):
    """A person behind a VPN exit on a cloud IP reads and scrolls on three days: every hit,
    the page beacons without input included, is a routing artifact (dc.human), as is a quick
    look without input on a fourth day; a bot on the same exit sending hits without input
    is charged."""
    rows = visit(0, "reader", 0) + visit(10, "reader", 1) + visit(20, "reader", 3)
    rows += [event(30, ts=T0 + dt.timedelta(days=4), visitor_id="reader", ip=AWS, client=LOOK)]
    rows += [
        event(40 + i, ts=T0 + dt.timedelta(days=2, minutes=i), visitor_id=f"b{i}", ip=AWS,
              client={"interactions": 0, "visible_ms": 3000})
        for i in range(3)
    ]  # fmt: skip
    engine = make_engine(rows)
    assert charged(engine) == {"e0040", "e0041", "e0042"}
    found = evidence(engine)
    reader = {r["event_id"] for r in rows if r["visitor_id"] == "reader"}
    assert {found[e] for e in reader} == {"dc.human"}


def test_one_reading_visit_is_kept_but_not_the_visits_without_input(make_engine):
    """One visit with input is kept by itself; another visit of that visitor without any
    input is not (one visit does not make a person: dc_person_visits)."""
    rows = visit(0, "once", 0)
    rows += [
        event(10 + i, ts=T0 + dt.timedelta(days=2, minutes=i), visitor_id="once", ip=AWS,
              client=LOOK)
        for i in range(2)
    ]  # fmt: skip
    engine = make_engine(rows)
    assert charged(engine) == {"e0010", "e0011"}
    assert {evidence(engine)[e] for e in ("e0000", "e0001")} == {"dc.human"}
    # with dc_person_visits=1 one reading visit makes the visitor a person
    assert charged(engine, {"dc_person_visits": 1}) == set()


def test_automation_tells_volume_or_forged_tokens_still_invalidate(make_engine):
    rows = visit(0, "driven", 0) + visit(10, "driven", 1, client={"tells": ["cdp_runtime"]})
    rows += visit(20, "wd", 0) + visit(30, "wd", 1, client={"webdriver": True})
    rows += visit(40, "forged", 0, token="missing") + visit(50, "forged", 1, token="invalid")
    rows += visit(60, "hidden", 0, client={"visible_ms": 0}) + visit(
        70, "hidden", 1, client={"visible_ms": 0}
    )
    # volume: a cookie that reads, from a cloud IP, more pages a day than the setting allows
    rows += [
        event(100 + i, ts=T0 + dt.timedelta(days=5, minutes=3 * i), visitor_id="heavy",
              ip=AWS, client=READ)
        for i in range(12)
    ]  # fmt: skip
    engine = make_engine(rows)
    got = charged(engine, {"dc_person_max_pages": 10})
    for who in ("driven", "wd", "forged", "hidden", "heavy"):
        ids = {r["event_id"] for r in rows if r["visitor_id"] == who}
        assert ids <= got, who
    # the same heavy reader under the default limit is a person
    assert not {r["event_id"] for r in rows if r["visitor_id"] == "heavy"} & charged(engine)


def test_swiftshader_person_on_a_cloud_desktop_stays_valid(make_engine):
    """A person on a cloud VM (no GPU: WebGL in SwiftShader) reading on two days: a weak tell
    does not make them a program, here or in sivt.automation."""
    from qinglang.detect import automation

    tells = {"tells": ["swiftshader"], "webdriver": False}
    rows = visit(0, "vdi", 0, client=tells) + visit(10, "vdi", 1, client=tells)
    engine = make_engine(rows)
    assert charged(engine) == set()
    assert set(evidence(engine).values()) == {"dc.human"}
    assert findings_of(automation, engine) == {}


def test_a_hit_without_visitor_id_is_judged_on_itself(make_engine):
    rows = [
        event(0, visitor_id=None, ip=AWS, client=READ),
        event(1, visitor_id=None, ip=AWS, client=LOOK),
        event(2, visitor_id=None, ip=AWS, client=dict(READ, webdriver=True)),
    ]
    engine = make_engine(rows)
    assert charged(engine) == {"e0001", "e0002"}
    assert evidence(engine)["e0000"] == "dc.human"


def test_the_rule_can_be_turned_off(make_engine):
    engine = make_engine(visit(0, "reader", 0) + visit(10, "reader", 1))
    assert charged(engine, {"dc_known_person": 0}) == {"e0000", "e0001", "e0010", "e0011"}


@pytest.mark.spark
def test_duckdb_and_spark_agree_on_who_is_a_person(request):
    from qinglang.engine import DuckDBEngine
    from qinglang.events import rows_to_table

    spark = request.getfixturevalue("spark_engine")
    rows = visit(0, "reader", 0) + visit(10, "reader", 1) + visit(20, "reader", 3)
    rows += visit(30, "once", 0) + [event(40, visitor_id="once", ip=AWS, client=LOOK)]
    rows += visit(50, "wd", 0) + visit(60, "wd", 1, client={"webdriver": True})
    rows += [event(70, visitor_id=None, ip=AWS, client=READ), event(71, ip="47.88.1.1", client=BOT)]
    rows += [event(72, ip="47.88.1.1", client=BOT), event(73)]
    duck = DuckDBEngine()
    duck.load_events(rows_to_table(rows).to_reader())
    spark.load_events(rows_to_table(rows).to_reader())
    on_duck, on_spark = evidence(duck), evidence(spark)
    assert on_duck == on_spark and "dc.human" in on_duck.values()
    assert charged(duck) == charged(spark)
    duck.close()
