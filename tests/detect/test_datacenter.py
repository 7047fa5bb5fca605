from qinglang.detect import datacenter
from tests.conftest import event
from tests.detect.helpers import findings_of


def test_cloud_ips_without_a_person(make_engine):
    engine = make_engine(
        [
            event(0),  # China Mobile
            event(1, ip="52.94.76.1", client={"interactions": 0, "visible_ms": 3000}),  # AWS
            event(2, ip="52.94.76.1", client={"interactions": 3, "visible_ms": 3000}),  # VPN user
            event(3, ip="2600:1f18::1", client={"interactions": 0}),  # AWS IPv6
            event(4, ip="47.88.1.1", client={"interactions": 0}),  # Alibaba Cloud (ASN table)
            event(5, ip="not-an-ip", client={"interactions": 0}),
        ]
    )
    found = findings_of(datacenter, engine)
    assert found == {"e0001": {"ip.cloud"}, "e0003": {"ip.cloud"}, "e0004": {"ip.hosting_asn"}}


def test_server_logs_count_every_datacenter_hit(make_engine):
    engine = make_engine([event(0, ip="52.94.76.1", client=None), event(1, client=None)])
    assert findings_of(datacenter, engine) == {"e0000": {"ip.cloud"}}
