import ipaddress


def test_every_published_ipv6_block_is_found_and_documentation_space_is_not():
    from qinglang.detect.ipranges import _cloudip_ranges, lookup_ipv6

    blocks = [c for c, _ in _cloudip_ranges() if ":" in c]
    assert len(blocks) > 100
    nets = [ipaddress.ip_network(c, strict=False) for c in blocks[::25]]
    inside = [str(n.network_address) for n in nets] + [str(n.broadcast_address) for n in nets]
    found = set(lookup_ipv6([*inside, "2001:db8::1", "::1", "not an ip"]).column("ip").to_pylist())
    assert found == set(inside)
