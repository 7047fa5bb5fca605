"""Bought engagement: the four schemes the engagement scenarios put over the organic week.

* hosting (sivt.lockstep) - a platform runs hundreds of thousands of rented real accounts (scale 1:
  300k) to read, vote and follow for paying customers; each task is a burst of the platform's
  accounts on one purchased post within hours. The accounts keep their owners' ordinary lives, and
  the platform also has them read trending posts (camouflage);
* crowd (sivt.lockstep) - recruited people (scale 1: 50k) do tasks by hand from their own phones and
  lines within the task's window, some far more eagerly than others; they camouflage too;
* farm (sivt.farm) - one controller drives 50-500 phones (scale 1: 400 farms) behind one to three
  home lines, of two to four models, that run the same script in sync, seconds apart;
* bulk (sivt.bulk) - a bulk-repost app: controllers (scale 1: 170k) each drive ~176 small accounts
  (30M at scale 1) from their own phone, forging client signatures and sending random device info
  with every request, reposting the same posts within a second of each other.

Each returns (table, purchases), where purchases lists what the customers bought (for the docs and
tests; detectors never see it).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .common import DAY_MS, START_MS, cdf_of, pick
from .network import networks
from .social import (
    ACTIONS,
    APP_UAS,
    DAYS,
    MODEL_OF_UA,
    UA_CDF,
    Phones,
    World,
    actions_table,
    ordinary_life,
    person_ips,
)

# The hosting platform's prices per action (yuan, what it paid its account owners), per the case.
TASK_ACTIONS = np.array(["read", "vote", "follow", "like"], dtype=object)
TASK_ACTION_CDF = cdf_of([0.5, 0.2, 0.15, 0.15])


def _window_times(rng, start, span_ms, n):  # type: ignore[no-untyped-def]
    return start + (rng.random(n) * span_ms).astype(np.int64)


def _week_start(rng: np.random.Generator, slack_ms: int) -> int:
    return START_MS + int(rng.integers(0, DAYS * DAY_MS - slack_ms))


def _task_actions(world: World, pool: np.ndarray, phones: Phones, parts: list, ip: np.ndarray,
                  signature_ok: np.ndarray) -> pa.Table:  # fmt: skip
    """The actions of task parts (accounts, times, targets, actions), from the accounts' phones."""
    who = np.concatenate([x[0] for x in parts])
    return actions_table(
        world,
        ts=np.concatenate([x[1] for x in parts]),
        account=pool[who],
        device=phones.device[who],
        target=np.concatenate([x[2] for x in parts]),
        action=np.concatenate([x[3] for x in parts]),
        ip=ip,
        ua=APP_UAS.take(pa.array(phones.ua[who])),
        signature_ok=signature_ok,
        truth="sivt.lockstep",
    )


def hosting(world: World, rng: np.random.Generator) -> pa.Table:
    p = world.params
    pool = world.accounts(max(60, int(p["hosting_accounts"] * world.scale)))
    groups = int(p["hosting_groups"])
    group_of = rng.integers(0, groups, len(pool))
    n_tasks = int(p["hosting_tasks"])  # a task employs a share of a group: not scaled
    targets = world.tail_targets(rng, n_tasks)
    proxies = networks().broadband.sample(rng, max(4, len(pool) // 25))
    phones = Phones.of(world, pool)
    parts = []
    for k in range(n_tasks):  # loop over tasks, not events
        members = np.flatnonzero(group_of == k % groups)
        frac = rng.uniform(p["task_min_share"], p["task_max_share"])
        who = rng.choice(members, size=max(3, int(frac * len(members))), replace=False)
        span = int(rng.uniform(1, 6) * 3_600_000)
        ts = _window_times(rng, _week_start(rng, span), span, len(who))
        act = TASK_ACTIONS[pick(TASK_ACTION_CDF, rng.random(1))[0]]
        parts.append((who, ts, np.full(len(who), targets[k]), np.full(len(who), act, dtype=object)))
        # camouflage: the same accounts also read trending posts while on duty
        camo = who[rng.random(len(who)) < p["camouflage"]]
        cts = _window_times(rng, ts.min(), span, len(camo))
        parts.append((camo, cts, world.popular_targets(rng, len(camo)),
                      np.full(len(camo), "read", dtype=object)))  # fmt: skip
    who = np.concatenate([x[0] for x in parts])
    ip = proxies[rng.integers(0, len(proxies), len(who))]
    bought = _task_actions(world, pool, phones, parts, ip, np.ones(len(who), dtype=bool))
    own = ordinary_life(world, rng, pool, mean_actions=6.0)  # the owners' own lives
    return pa.concat_tables([bought, own])


def crowd(world: World, rng: np.random.Generator) -> pa.Table:
    p = world.params
    pool = world.accounts(max(60, int(p["crowd_workers"] * world.scale)))
    eager = rng.gamma(3.0, 1.0, len(pool))
    n_tasks = int(p["crowd_tasks"])
    targets = world.tail_targets(rng, n_tasks)
    phones = Phones.of(world, pool)
    parts = []
    for k in range(n_tasks):  # loop over tasks, not events
        frac = rng.uniform(p["task_min_share"], p["task_max_share"])
        size = max(3, int(frac * len(pool)))
        who = rng.choice(len(pool), size=size, replace=False, p=eager / eager.sum())
        span = int(rng.uniform(2, 24) * 3_600_000)
        start = _week_start(rng, span)
        ts = start + np.minimum(rng.exponential(span / 3, size), span - 1).astype(np.int64)
        act = TASK_ACTIONS[pick(TASK_ACTION_CDF, rng.random(1))[0]]
        parts.append((who, ts, np.full(size, targets[k]), np.full(size, act, dtype=object)))
        camo = who[rng.random(size) < p["camouflage"]]
        cts = ts[np.isin(who, camo)][: len(camo)] + rng.integers(-600_000, 600_000, len(camo))
        parts.append((camo, cts, world.popular_targets(rng, len(camo)),
                      np.full(len(camo), "read", dtype=object)))  # fmt: skip
    who = np.concatenate([x[0] for x in parts])
    ip = person_ips(world, rng, phones, who, np.concatenate([x[1] for x in parts]))
    bought = _task_actions(world, pool, phones, parts, ip, rng.random(len(who)) > 0.002)
    own = ordinary_life(world, rng, pool, mean_actions=8.0)
    return pa.concat_tables([bought, own])


def farm(world: World, rng: np.random.Generator) -> pa.Table:
    p = world.params
    n_farms = max(2, int(p["farms"] * world.scale))
    tables = []
    for _ in range(n_farms):  # loop over farms, not events
        n_phones = int(rng.integers(50, 501))
        accounts = world.accounts(n_phones)
        lines = networks().broadband.sample(rng, int(rng.integers(1, 4)))
        line_of = rng.integers(0, len(lines), n_phones)
        models = rng.choice(
            len(MODEL_OF_UA), size=int(rng.integers(2, 5)), replace=False, p=UA_CDF_P
        )
        ua_of = models[rng.integers(0, len(models), n_phones)]
        offset = rng.permutation(n_phones) * rng.uniform(80, 400)  # the controller walks the phones
        customers = world.tail_targets(rng, int(rng.integers(30, 81)))
        steps = int(rng.integers(20, 61)) * DAYS
        t_step = START_MS + np.sort(rng.integers(0, DAYS * DAY_MS - 3_600_000, steps))
        bought = rng.random(steps) < 0.6
        step_target = np.where(
            bought, customers[rng.integers(0, len(customers), steps)],
            world.popular_targets(rng, steps),
        )  # fmt: skip
        step_action = np.where(
            bought, TASK_ACTIONS[pick(TASK_ACTION_CDF, rng.random(steps))], "read"
        )
        on = rng.random((steps, n_phones)) < rng.uniform(0.8, 1.0)
        s, ph = np.nonzero(on)
        ts = t_step[s] + offset[ph].astype(np.int64) + rng.integers(0, 3000, len(s))
        tables.append(
            actions_table(
                world,
                ts=ts,
                account=accounts[ph],
                device=accounts[ph],
                target=step_target[s],
                action=step_action[s],
                ip=lines[line_of[ph]],
                ua=APP_UAS.take(pa.array(ua_of[ph])),
                signature_ok=np.ones(len(s), dtype=bool),
                truth="sivt.farm",
            )
        )
    return pa.concat_tables(tables)


UA_CDF_P = np.diff(np.concatenate([[0.0], UA_CDF]))


def bulk(world: World, rng: np.random.Generator) -> pa.Table:
    p = world.params
    n_ctl = max(10, int(p["bulk_controllers"] * world.scale))
    per = np.clip(rng.lognormal(np.log(p["bulk_accounts_per_controller"]), 0.6, n_ctl), 20, 1000)
    per = per.astype(np.int64)
    first = world.next_account
    world.accounts(int(per.sum()))
    starts = first + np.cumsum(per) - per
    market = world.tail_targets(rng, max(20, int(p["bulk_tasks"] * world.scale)))
    home = rng.random(n_ctl) < 0.5
    ctl_ip = np.where(
        home, networks().broadband.sample(rng, n_ctl),
        world.gateways[pick(world.gateway_cdf, rng.random(n_ctl))],
    ).astype(np.uint32)  # fmt: skip
    rows_acc, rows_ts, rows_tgt, rows_act, rows_ctl = [], [], [], [], []
    for c in range(n_ctl):  # loop over controllers, not events
        for _ in range(int(rng.integers(2, 9))):
            take = rng.random(per[c]) < rng.uniform(0.3, 1.0)
            acc = starts[c] + np.flatnonzero(take)
            t0 = START_MS + int(rng.integers(0, DAYS * DAY_MS - 600_000))
            gap = rng.uniform(30, 300)  # ms between requests: the app fires them in a loop
            ts = t0 + (np.arange(len(acc)) * gap).astype(np.int64) + rng.integers(0, 50, len(acc))
            camo = rng.random() < p["camouflage"] * 0.6
            tgt = world.popular_targets(rng, 1)[0] if camo else market[rng.integers(len(market))]
            act = ACTIONS[pick(cdf_of([0.0, 0.25, 0.6, 0.05, 0.1, 0.0]), rng.random(1))[0]]
            rows_acc.append(acc)
            rows_ts.append(ts)
            rows_tgt.append(np.full(len(acc), tgt))
            rows_act.append(np.full(len(acc), act, dtype=object))
            rows_ctl.append(np.full(len(acc), c))
    acc = np.concatenate(rows_acc)
    n = len(acc)
    return actions_table(
        world,
        ts=np.concatenate(rows_ts),
        account=acc,
        device=(1 << 40) + world.seed * (1 << 32) + np.arange(n),  # a new device id per request
        target=np.concatenate(rows_tgt),
        action=np.concatenate(rows_act),
        ip=ctl_ip[np.concatenate(rows_ctl)],
        ua=APP_UAS.take(pa.array(pick(UA_CDF, rng.random(n)))),
        signature_ok=rng.random(n) > p["bulk_forged_share"],
        truth="sivt.bulk",
    )
