"""The engagement world: a platform's accounts, posts and phones, and its organic life.

Shared by the engagement schemes (hosting, crowd, farm, bulk), which only add their own groups:

* targets (posts) with power-law popularity; a scheme's customers buy actions on ordinary, little-read
  posts of the tail;
* organic accounts with a heavy-tailed activity (a few heavy users act hundreds of times a week), a
  persistent phone (device id, app user agent), a home line and the carrier's NAT gateways, and a
  diurnal rhythm;
* real viral bursts: thousands of organic accounts reading, liking and reposting one post within
  hours, with the delays of a real cascade (they must NOT be flagged).

Truth: `valid` for ordinary organic actions, `valid.viral` for actions in a viral burst and
`valid.heavy` for every action of a heavy user (both valid: evaluation reports their false-positive
rate), or the scheme's category. Identifiers are hashes from one namespace, so an id never says
which population it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from qinglang.events import EVENT_SCHEMA

from .common import (
    DAY_MS,
    ORGANIC_HOURLY,
    START_MS,
    cdf_of,
    hex_strings,
    ipv4_strings,
    minute_cdf,
    mix64,
    pick,
    sample_ms_of_day,
    unit,
    zipf_weights,
)
from .network import cgn_gateways, networks

PLATFORM = "social.example"
DAYS = 7
ORGANIC_ACCOUNTS = 2_000_000  # active accounts in the audited slice of the platform, scale 1
TARGETS = 500_000  # posts they act on, scale 1
VIRAL_BURSTS = 300  # real viral posts in a week, scale 1
HEAVY_MIN_ACTIONS = 60  # an organic account with at least this many actions in the week is heavy

ACTIONS = np.array(["read", "like", "repost", "comment", "follow", "vote"], dtype=object)
ORGANIC_ACTION_CDF = cdf_of([0.62, 0.22, 0.06, 0.05, 0.03, 0.02])

_MODELS = [
    ("iPhone", "iPhone14,2", "17_0"), ("iPhone", "iPhone15,3", "17_1"),
    ("iPhone", "iPhone13,2", "16_6"), ("iPhone", "iPhone12,1", "16_7"),
    ("Android", "V2227A", "13"), ("Android", "PGT-AN10", "12"), ("Android", "M2102K1C", "13"),
    ("Android", "SM-S9180", "14"), ("Android", "PJA110", "13"), ("Android", "ALN-AL00", "12"),
    ("Android", "22081212C", "13"), ("Android", "V2055A", "11"), ("Android", "RMX3350", "12"),
    ("Android", "OXF-AN10", "10"), ("Android", "NOH-AN00", "12"), ("Android", "2201123C", "13"),
]  # fmt: skip
_APP_VERSIONS = ["8.0.42", "8.0.43", "8.0.44", "8.0.40", "8.0.38"]


def _ua(os_: str, model: str, ver: str, app: str) -> str:
    if os_ == "iPhone":
        return (
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {ver} like Mac OS X) AppleWebKit/605.1.15 "
            f"(KHTML, like Gecko) Mobile/15E148 MicroMessenger/{app} NetType/WIFI Language/zh_CN"
        )
    return (
        f"Mozilla/5.0 (Linux; Android {ver}; {model} Build/TP1A; wv) AppleWebKit/537.36 "
        f"(KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 "
        f"MicroMessenger/{app} NetType/4G Language/zh_CN"
    )


APP_UAS = pa.array([_ua(o, m, v, a) for o, m, v in _MODELS for a in _APP_VERSIONS], pa.string())
UA_CDF = cdf_of(np.repeat(zipf_weights(len(_MODELS), 0.9), len(_APP_VERSIONS)))
MODEL_OF_UA = np.repeat(np.arange(len(_MODELS)), len(_APP_VERSIONS))
DIURNAL = minute_cdf(ORGANIC_HOURLY)


def ids(kind: int, idx: np.ndarray, seed: int, width: int = 12) -> pa.Array:
    """Opaque ids (accounts, devices, posts) from one namespace per kind."""
    return hex_strings(mix64(np.asarray(idx, dtype=np.uint64), seed * 7919 + kind), width)


ACCOUNT, DEVICE, TARGET = 1, 2, 3


@dataclass
class World:
    """What every population of one run shares."""

    seed: int
    scale: float
    params: dict[str, float]
    n_targets: int
    target_cdf: np.ndarray
    gateways: np.ndarray
    gateway_cdf: np.ndarray
    next_account: int = 0

    @classmethod
    def make(cls, seed: int, scale: float, params: dict[str, float]) -> World:
        n_targets = max(2_000, int(TARGETS * scale))
        gw, gw_cdf = cgn_gateways(seed, max(40, int(ORGANIC_ACCOUNTS * scale / 60)))
        cdf = cdf_of(zipf_weights(n_targets, 1.05))
        return cls(seed, scale, params, n_targets, cdf, gw, gw_cdf)

    def accounts(self, n: int) -> np.ndarray:
        """Allocate n fresh account numbers."""
        out = np.arange(self.next_account, self.next_account + n, dtype=np.int64)
        self.next_account += n
        return out

    def popular_targets(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return pick(self.target_cdf, rng.random(n))

    def tail_targets(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Ordinary little-read posts (what customers buy engagement for)."""
        lo = self.n_targets // 5
        return rng.choice(np.arange(lo, self.n_targets), size=n, replace=False)

    def diurnal_ts(self, rng: np.random.Generator, n: int) -> np.ndarray:
        day = rng.integers(0, DAYS, n)
        return START_MS + day * DAY_MS + sample_ms_of_day(rng, DIURNAL, n)

    def post_ts(self, rng: np.random.Generator, target: np.ndarray) -> np.ndarray:
        """When people act on a post: from the day it appears, fading by half each day, diurnal."""
        born = mix64(target.astype(np.uint64), self.seed * 131 + 9) % np.uint64(DAYS)
        age = np.minimum(rng.geometric(0.5, len(target)) - 1, DAYS - 1)
        day = (born.astype(np.int64) + age) % DAYS
        return START_MS + day * DAY_MS + sample_ms_of_day(rng, DIURNAL, len(target))


@dataclass
class Phones:
    """Per-account phone: device number, user agent index, home line address."""

    device: np.ndarray
    ua: np.ndarray
    home_ip: np.ndarray

    @classmethod
    def of(cls, world: World, accounts: np.ndarray) -> Phones:
        h = mix64(accounts.astype(np.uint64), world.seed * 31 + 5)
        ua = pick(UA_CDF, unit(h))
        u1, u2 = unit(mix64(h, 1)), unit(mix64(h, 2))
        return cls(accounts.astype(np.int64), ua, networks().broadband.at(u1, u2))


def person_ips(world: World, rng: np.random.Generator, phones: Phones, who: np.ndarray,
               ts: np.ndarray) -> np.ndarray:  # fmt: skip
    """Home line at home hours, otherwise a carrier NAT gateway (shared by many people)."""
    hour = ((ts - START_MS) // 3_600_000) % 24
    at_home = (hour >= 11) & (rng.random(len(ts)) < 0.55)  # 19:00-07:00 Beijing = 11..23 UTC
    gw = world.gateways[pick(world.gateway_cdf, rng.random(len(ts)))]
    return np.where(at_home, phones.home_ip[who], gw).astype(np.uint32)


def actions_table(world: World, *, ts: np.ndarray, account: np.ndarray, device: np.ndarray,
                  target: np.ndarray, action: np.ndarray, ip: np.ndarray, ua: pa.Array,
                  signature_ok: np.ndarray, truth: np.ndarray | str) -> pa.Table:  # fmt: skip
    """A contract table of engagement actions (event_id is numbered by the writer)."""
    n = len(ts)
    if isinstance(truth, str):
        truth = np.full(n, truth, dtype=object)
    cols = {
        "ts": pa.array(np.asarray(ts, dtype=np.int64)).cast(pa.timestamp("ms", tz="UTC")),
        "site": pa.array(np.full(n, PLATFORM, dtype=object), pa.string()),
        "event": pa.array(np.full(n, "action", dtype=object), pa.string()),
        "account_id": ids(ACCOUNT, account, world.seed),
        "device_id": ids(DEVICE, device, world.seed, 16),
        "target": ids(TARGET, target, world.seed, 10),
        "action": pa.array(np.asarray(action, dtype=object), pa.string()),
        "ip": ipv4_strings(ip),
        "user_agent": ua,
        "signature_ok": pa.array(np.asarray(signature_ok, dtype=bool)),
        "truth": pa.array(np.asarray(truth, dtype=object), pa.string()),
    }
    arrays = [
        cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type) for f in EVENT_SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def ordinary_life(world: World, rng: np.random.Generator, accounts: np.ndarray,
                  mean_actions: float, truth: str = "valid") -> pa.Table:  # fmt: skip
    """Accounts living their ordinary lives: heavy-tailed activity over power-law popular posts."""
    n = len(accounts)
    per = np.floor(rng.pareto(1.6, n) * mean_actions * 0.6 + 1).astype(np.int64)
    per = np.minimum(per, 600)
    who = np.repeat(np.arange(n), per)
    target = world.popular_targets(rng, len(who))
    # an account acts on a post once (reads, likes or reposts it), not again and again
    _, first = np.unique(who * np.int64(world.n_targets) + target, return_index=True)
    first.sort()
    who, target = who[first], target[first]
    m = len(who)
    ts = world.post_ts(rng, target)
    phones = Phones.of(world, accounts)
    truths = np.full(m, truth, dtype=object)
    if truth == "valid":
        truths[per[who] >= HEAVY_MIN_ACTIONS] = "valid.heavy"
    return actions_table(
        world,
        ts=ts,
        account=accounts[who],
        device=phones.device[who],
        target=target,
        action=ACTIONS[pick(ORGANIC_ACTION_CDF, rng.random(m))],
        ip=person_ips(world, rng, phones, who, ts),
        ua=APP_UAS.take(pa.array(phones.ua[who])),
        signature_ok=rng.random(m) > 0.002,  # old clients and clock skew fail now and then
        truth=truths,
    )


def viral_bursts(world: World, rng: np.random.Generator, organic: np.ndarray) -> pa.Table:
    """Real cascades: a post catches on and thousands of ordinary accounts pile in for hours."""
    k = max(2, int(round(VIRAL_BURSTS * world.scale)))
    tables = []
    for b in range(k):  # loop over bursts, not events
        size = int(min(len(organic) * 0.25, rng.uniform(0.02, 0.12) * len(organic)))
        who = rng.choice(len(organic), size=size, replace=False)
        t0 = START_MS + int(rng.integers(0, DAYS - 1)) * DAY_MS + int(rng.integers(0, DAY_MS))
        # a cascade: arrivals spread over hours (log-normal delays), reposts seed more reposts
        ts = t0 + (rng.lognormal(np.log(2.5 * 3_600_000), 0.9, size)).astype(np.int64)
        phones = Phones.of(world, organic[who])
        post = world.n_targets // 3 + b  # an ordinary post until it takes off
        tables.append(
            actions_table(
                world,
                ts=ts,
                account=organic[who],
                device=phones.device,
                target=np.full(size, post),
                action=ACTIONS[pick(cdf_of([0.55, 0.3, 0.12, 0.03, 0, 0]), rng.random(size))],
                ip=person_ips(world, rng, phones, np.arange(size), ts),
                ua=APP_UAS.take(pa.array(phones.ua)),
                signature_ok=rng.random(size) > 0.002,
                truth="valid.viral",
            )
        )
    return pa.concat_tables(tables)


def organic_background(world: World) -> tuple[pa.Table, np.ndarray]:
    """The platform's ordinary week; returns the table and the organic account numbers."""
    rng = np.random.Generator(np.random.PCG64([world.seed, 0x50C1A1]))
    n = max(2_000, int(ORGANIC_ACCOUNTS * world.scale))
    accounts = world.accounts(n)
    life = ordinary_life(world, rng, accounts, mean_actions=8.0)
    viral = viral_bursts(world, rng, accounts)
    return pa.concat_tables([life, viral]), accounts
