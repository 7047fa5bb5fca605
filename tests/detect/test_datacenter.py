from qinglang.detect import datacenter
from tests.conftest import event
from tests.detect.helpers import findings_of

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
