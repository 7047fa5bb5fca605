"""The FRAUDAR injection experiment's graph: a real-shaped random bipartite graph plus one block.

Accounts x targets with power-law degrees on both sides (Chung-Lu style, ~1M edges by default);
then `fraud` new accounts each act on each of `block` targets with probability `density`, and add
as many camouflage edges as block edges: to uniformly random targets (`random`) or to targets in
proportion to their popularity (`biased`), as in Hooi et al., KDD 2016, section 5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Injected:
    rows: np.ndarray  # edge sources (accounts)
    cols: np.ndarray  # edge destinations (targets)
    n_rows: int
    n_cols: int
    fraud_rows: np.ndarray
    fraud_cols: np.ndarray


def _powerlaw(rng: np.random.Generator, n: int, alpha: float) -> np.ndarray:
    w = rng.pareto(alpha, n) + 1.0
    return w / w.sum()


def graph(seed: int, edges: int = 1_000_000, n_rows: int = 500_000, n_cols: int = 200_000,
          fraud: int = 200, block: int = 200, density: float = 0.05,
          camouflage: str = "random", camo_ratio: float = 1.0) -> Injected:  # fmt: skip
    rng = np.random.Generator(np.random.PCG64([seed, 0x1213]))
    wr = _powerlaw(rng, n_rows, 2.0)
    wc = _powerlaw(rng, n_cols, 1.5)
    m = int(edges * 1.08)  # a few duplicates are dropped below
    r = rng.choice(n_rows, size=m, p=wr)
    c = rng.choice(n_cols, size=m, p=wc)
    fraud_rows = np.arange(n_rows, n_rows + fraud)
    fraud_cols = np.sort(rng.choice(n_cols, size=block, replace=False))
    hit = rng.random((fraud, block)) < density
    fr, fc = np.nonzero(hit)
    per = np.bincount(fr, minlength=fraud)
    n_camo = np.round(per * camo_ratio).astype(np.int64)
    camo_r = np.repeat(fraud_rows, n_camo)
    if camouflage == "biased":
        camo_c = rng.choice(n_cols, size=len(camo_r), p=wc)
    else:
        camo_c = rng.integers(0, n_cols, len(camo_r))
    rows = np.concatenate([r, fraud_rows[fr], camo_r])
    cols = np.concatenate([c, fraud_cols[fc], camo_c])
    key = np.unique(rows.astype(np.int64) * (n_cols + 1) + cols)
    return Injected(
        (key // (n_cols + 1)).astype(np.int64), (key % (n_cols + 1)).astype(np.int64),
        n_rows + fraud, n_cols, fraud_rows, fraud_cols,
    )  # fmt: skip
