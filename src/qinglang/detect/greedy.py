"""Camouflage-resistant dense-block search on one machine (FRAUDAR-style greedy peeling).

The graph is bipartite: rows (accounts) x columns (here: a target in a time window). A column's
edges weigh ``1 / log(degree + 5)``, so edges to popular columns count little: an attacker cannot
hide a block by also acting on popular targets (camouflage), and ordinary accounts that follow
what everybody follows do not form a block. Peeling removes, one at a time, the node whose
weighted degree in what is left is smallest; the densest prefix state (weighted edges per node)
is the block. Every node of that block has weighted degree at least the block's density.

A segment tree over the nodes is the priority structure: each edge is visited once when its first
end is peeled, each visit one update of at most O(log V), so a pass is O(E log V). Updates only
lower a node's weight, and the climb stops at the first ancestor that is still smaller, so most
touch a few nodes near the leaf. Several blocks: remove the
edges inside the block found and peel again. Numba compiles the loop; NumPy does the rest.

Reference: Hooi et al., "FRAUDAR: Bounding Graph Fraud in the Face of Camouflage", KDD 2016.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class Block:
    rows: np.ndarray  # row indices in the block
    cols: np.ndarray  # column indices in the block
    score: float  # weighted edges per node
    edges: int  # edges inside the block


def log_weights(col_degree: np.ndarray) -> np.ndarray:
    return 1.0 / np.log(col_degree.astype(np.float64) + 5.0)


@numba.njit(cache=True)
def _pull(tree, arg, i):  # type: ignore[no-untyped-def]
    """Node i takes the smaller of its two children (value and argmin)."""
    a, b = 2 * i, 2 * i + 1
    if tree[b] < tree[a]:
        tree[i] = tree[b]
        arg[i] = arg[b]
    else:
        tree[i] = tree[a]
        arg[i] = arg[a]


@numba.njit(cache=True)
def _tree_set(tree, arg, size, pos, val):  # type: ignore[no-untyped-def]
    i = size + pos
    tree[i] = val
    i //= 2
    while i >= 1:
        _pull(tree, arg, i)
        i //= 2


@numba.njit(cache=True)
def _tree_decrease(tree, arg, size, pos, val):  # type: ignore[no-untyped-def]
    """Lower one leaf. A node holds its subtree's least (value, index), so the climb stops at the
    first ancestor whose pair is still less: most updates touch a few nodes, not the whole path."""
    i = size + pos
    tree[i] = val
    i //= 2
    while i >= 1 and (val < tree[i] or (val == tree[i] and pos < arg[i])):
        tree[i] = val
        arg[i] = pos
        i //= 2


@numba.njit(cache=True)
def _peel(n_rows, n_cols, row_ptr, row_adj, col_ptr, col_adj, w):  # type: ignore[no-untyped-def]
    n = n_rows + n_cols
    size = 1
    while size < n:
        size *= 2
    tree = np.full(2 * size, np.inf)
    arg = np.zeros(2 * size, dtype=np.int64)
    delta = np.zeros(n)
    for r in range(n_rows):
        for k in range(row_ptr[r], row_ptr[r + 1]):
            delta[r] += w[row_adj[k]]
    for c in range(n_cols):
        delta[n_rows + c] = (col_ptr[c + 1] - col_ptr[c]) * w[c]
    total = 0.0
    for r in range(n_rows):
        total += delta[r]
    for v in range(n):
        tree[size + v] = delta[v]
        arg[size + v] = v
    for i in range(size - 1, 0, -1):
        _pull(tree, arg, i)
    removed = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    alive = n
    best = total / alive
    best_k = 0
    for k in range(n):
        v = arg[1]
        order[k] = v
        removed[v] = True
        total -= delta[v]
        _tree_set(tree, arg, size, v, np.inf)
        if v < n_rows:
            for e in range(row_ptr[v], row_ptr[v + 1]):
                c = row_adj[e]
                u = n_rows + c
                if not removed[u]:
                    delta[u] -= w[c]
                    _tree_decrease(tree, arg, size, u, delta[u])
        else:
            c = v - n_rows
            for e in range(col_ptr[c], col_ptr[c + 1]):
                u = col_adj[e]
                if not removed[u]:
                    delta[u] -= w[c]
                    _tree_decrease(tree, arg, size, u, delta[u])
        alive -= 1
        if alive > 0 and total / alive > best * (1 + 1e-12):
            best = total / alive
            best_k = k + 1
    return order, best_k, best


@numba.njit(cache=True)
def _scatter(keys, other, ptr):  # type: ignore[no-untyped-def]
    """Counting sort: each key's `other` values in input order, in one pass (no O(E log E) sort)."""
    at = ptr[:-1].copy()
    out = np.empty(len(keys), dtype=np.int64)
    for i in range(len(keys)):
        k = keys[i]
        out[at[k]] = other[i]
        at[k] += 1
    return out


def _csr(keys: np.ndarray, other: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr, _scatter(keys.astype(np.int64), other.astype(np.int64), ptr)


def densest(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> Block | None:
    """The densest block of the graph with edges (rows[i], cols[i]) (unique pairs)."""
    if len(rows) == 0:
        return None
    w = log_weights(np.bincount(cols, minlength=n_cols))
    row_ptr, row_adj = _csr(rows, cols, n_rows)
    col_ptr, col_adj = _csr(cols, rows, n_cols)
    order, best_k, best = _peel(n_rows, n_cols, row_ptr, row_adj, col_ptr, col_adj, w)
    keep = np.ones(n_rows + n_cols, dtype=bool)
    keep[order[:best_k]] = False
    # nodes without edges are never in a block
    keep[:n_rows] &= np.diff(row_ptr) > 0
    keep[n_rows:] &= np.diff(col_ptr) > 0
    r = np.flatnonzero(keep[:n_rows])
    c = np.flatnonzero(keep[n_rows:])
    inside = keep[rows] & keep[n_rows + cols]
    return Block(r, c, float(best), int(inside.sum()))


@numba.njit(cache=True)
def _find(parent, x):  # type: ignore[no-untyped-def]
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True)
def _union_all(parent, a, b):  # type: ignore[no-untyped-def]
    for i in range(len(a)):
        ra, rb = _find(parent, a[i]), _find(parent, b[i])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    for x in range(len(parent)):
        parent[x] = _find(parent, x)


def components(found: Block, rows: np.ndarray, cols: np.ndarray, w: np.ndarray,
               n_rows: int) -> list[Block]:  # fmt: skip
    """Split a block into its connected parts: groups that share no cell are separate groups
    (the densest state of two equally dense groups is both together)."""
    in_r = np.zeros(n_rows, dtype=bool)
    in_r[found.rows] = True
    in_c = np.zeros(int(cols.max()) + 1 if len(cols) else 0, dtype=bool)
    in_c[found.cols] = True
    inside = in_r[rows] & in_c[cols]
    r, c = rows[inside], cols[inside]
    node = np.concatenate([found.rows, n_rows + found.cols])
    parent = np.arange(len(node), dtype=np.int64)
    _union_all(parent, np.searchsorted(node, r), np.searchsorted(node, n_rows + c))
    labels = np.unique(parent)
    if len(labels) == 1:
        return [found]
    out = []
    edge_label = parent[np.searchsorted(node, r)]
    for lab in labels:  # loop over parts, not edges
        members = node[parent == lab]
        br, bc = members[members < n_rows], members[members >= n_rows] - n_rows
        mine = edge_label == lab
        if not mine.any():
            continue
        out.append(Block(br, bc, float(w[c[mine]].sum() / len(members)), int(mine.sum())))
    return sorted(out, key=lambda b: (-b.score, int(b.rows[0]) if len(b.rows) else -1))


def blocks(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int,
           max_blocks: int) -> list[Block]:  # fmt: skip
    """Up to `max_blocks` blocks: after each, the edges inside it are removed and peeling repeats.
    A block made of parts that share nothing is returned as its parts."""
    out: list[Block] = []
    live = np.ones(len(rows), dtype=bool)
    for _ in range(max_blocks):
        idx = np.flatnonzero(live)
        found = densest(rows[idx], cols[idx], n_rows, n_cols)
        if found is None or found.edges == 0:
            break
        w = log_weights(np.bincount(cols[idx], minlength=n_cols))
        out += components(found, rows[idx], cols[idx], w, n_rows)
        in_r = np.zeros(n_rows, dtype=bool)
        in_r[found.rows] = True
        in_c = np.zeros(n_cols, dtype=bool)
        in_c[found.cols] = True
        live &= ~(in_r[rows] & in_c[cols])
    return out
