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
touch a few nodes near the leaf. The tree's leaves are blocks of 16 adjacent nodes (a scan of
two cache lines instead of four levels): with the nodes' values it takes 60 MB at ~6M nodes, not
200 MB, so more of it stays in cache. The peel works in a numbering of the nodes by initial weighted
degree (`tie_order`), so that nodes peeled close in time sit close in memory: past ~10^6 edges
the per-node arrays outgrow the cache, and this locality is most of the speed. The same numbering
breaks ties. Past the cache, what is left is waiting for memory: each edge reads its other end's
weighted degree and tree leaf, at random places. So when a node is peeled, the state of its first
neighbours is asked for (a CPU prefetch) before the climb that removes the node, and each next
neighbour's some steps ahead in the loop: the waits overlap (25% off the peel at 10^7 edges, 10%
at 10^6; same order, same result). The rest is linear: the numbering and the adjacency lists are counting sorts, and
`codes` encodes integer ids without sorting them. Several blocks: remove the edges inside the
block found and peel again. Numba compiles the loops; NumPy does the rest.

Reference: Hooi et al., "FRAUDAR: Bounding Graph Fraud in the Face of Camouflage", KDD 2016.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic


@dataclass(frozen=True)
class Block:
    rows: np.ndarray  # row indices in the block
    cols: np.ndarray  # column indices in the block
    score: float  # weighted edges per node
    edges: int  # edges inside the block


def log_weights(col_degree: np.ndarray) -> np.ndarray:
    return 1.0 / np.log(col_degree.astype(np.float64) + 5.0)


def codes(values: np.ndarray | pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each value's index into them, as ``np.unique(values,
    return_inverse=True)``. Signed integers spanning at most a few times their count are ranked
    through a table over their range, which is linear. Arrow strings are encoded by Arrow, so no
    fixed-width copy is made (one 10,000-character id does not make every row that wide).
    Anything else is sorted (O(n log n)). No nulls."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        if not pa.types.is_integer(values.type):
            return _arrow_codes(values)
        values = values.to_numpy()
    values = np.asarray(values)
    if values.dtype.kind == "i" and len(values):
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < 4 * len(values) + 1024:
            rank, inverse = _dense_rank(values, lo, hi - lo + 1)
            return (np.flatnonzero(rank >= 0) + lo).astype(values.dtype), inverse
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct, inverse.astype(np.int64)


def _arrow_codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column)
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    values = encoded.dictionary.take(pa.array(order)).to_numpy(zero_copy_only=False)
    return values, rank[encoded.indices.to_numpy()]


@numba.njit(cache=True)
def _dense_rank(values, lo, span):  # type: ignore[no-untyped-def]
    """Over the range lo..lo+span-1: each present value's rank among those present (-1 if absent);
    and each value's rank."""
    rank = np.full(span, -1, dtype=np.int64)
    for i in range(len(values)):
        rank[values[i] - lo] = 0
    k = 0
    for j in range(span):
        if rank[j] == 0:
            rank[j] = k
            k += 1
    out = np.empty(len(values), dtype=np.int64)
    for i in range(len(values)):
        out[i] = rank[values[i] - lo]
    return rank, out


@intrinsic
def _prefetch(typingctx, arr, idx):  # type: ignore[no-untyped-def]
    """Ask the CPU to bring arr[idx] into cache (LLVM's prefetch: for reading, keep in all
    levels); it does not wait, and it never faults."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        aty, _ = signature.args
        ary = context.make_array(aty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aty, ary, [args[1]], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p], fnty)
        builder.call(fn, [builder.bitcast(ptr, i8p), *(ir.Constant(i32, k) for k in (0, 3, 1))])
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


# How many neighbours ahead the peel asks for their state.
AHEAD = 16


@numba.njit(cache=True)
def _ask(val, tree, size, u):  # type: ignore[no-untyped-def]
    """Ask for node u's weighted degree and its tree leaf, needed a little later."""
    _prefetch(val, u)
    _prefetch(tree, size + u // BLOCK)


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


# Nodes per block at the bottom of the tree: the tree's leaves are blocks of this many adjacent
# weighted degrees, and a scan of one block (two cache lines) replaces the four lowest levels.
BLOCK = 16


@numba.njit(cache=True)
def _block_min(val, tree, arg, size, b):  # type: ignore[no-untyped-def]
    """The tree's leaf for block b takes the block's least (value, lowest index)."""
    lo = b * BLOCK
    least, at = val[lo], lo
    for t in range(lo + 1, lo + BLOCK):
        if val[t] < least:
            least, at = val[t], t
    tree[size + b] = least
    arg[size + b] = at


@numba.njit(cache=True)
def _tree_decrease(tree, arg, size, pos, val):  # type: ignore[no-untyped-def]
    """Node pos's value was lowered to val. A tree node holds its subtree's least (value, index),
    so the climb stops at the first one whose pair is still less: most updates touch a few nodes,
    not the whole path."""
    i = size + pos // BLOCK
    while i >= 1 and (val < tree[i] or (val == tree[i] and pos < arg[i])):
        tree[i] = val
        arg[i] = pos
        i //= 2


@numba.njit(cache=True)
def _peel(n_rows, n_cols, row_ptr, row_adj, col_ptr, col_adj, w, row_w):  # type: ignore[no-untyped-def]
    """Peel every node, least weighted degree first (lowest index on ties); `row_w` holds the rows'
    weighted degrees. Returns the order, how many nodes were peeled before the densest state, its
    density and its edges. A node's weighted degree is kept in `val` only, +inf once the node is
    peeled: one memory access per neighbour visited."""
    n = n_rows + n_cols
    n_blocks = (n + BLOCK - 1) // BLOCK
    size = 1
    while size < n_blocks:
        size *= 2
    val = np.full(n_blocks * BLOCK, np.inf)
    tree = np.full(2 * size, np.inf)
    arg = np.zeros(2 * size, dtype=row_adj.dtype)
    total = 0.0
    for r in range(n_rows):
        val[r] = row_w[r]
        total += row_w[r]
    for c in range(n_cols):
        val[n_rows + c] = (col_ptr[c + 1] - col_ptr[c]) * w[c]
    for b in range(n_blocks):
        _block_min(val, tree, arg, size, b)
    for i in range(size - 1, 0, -1):
        _pull(tree, arg, i)
    order = np.empty(n, dtype=row_adj.dtype)
    edges = row_ptr[n_rows]
    best_edges = edges
    alive = n
    best = total / alive
    best_k = 0
    for k in range(n):
        v = arg[1]
        order[k] = v
        total -= tree[1]
        # v's neighbours (columns of a row, rows of a column), edges lo..hi-1 of its list: their
        # state is asked for now and used after the climb that removes v (the two branches are
        # kept apart: one loop with a per-edge choice of weight is slower)
        if v < n_rows:
            lo, hi = row_ptr[v], row_ptr[v + 1]
            for e in range(lo, min(hi, lo + AHEAD)):
                _ask(val, tree, size, n_rows + row_adj[e])
                _prefetch(w, row_adj[e])
        else:
            lo, hi = col_ptr[v - n_rows], col_ptr[v - n_rows + 1]
            for e in range(lo, min(hi, lo + AHEAD)):
                _ask(val, tree, size, col_adj[e])
        val[v] = np.inf
        _block_min(val, tree, arg, size, v // BLOCK)
        i = (size + v // BLOCK) // 2
        while i >= 1:
            _pull(tree, arg, i)
            i //= 2
        if v < n_rows:
            for e in range(lo, hi):
                if e + AHEAD < hi:
                    _ask(val, tree, size, n_rows + row_adj[e + AHEAD])
                    _prefetch(w, row_adj[e + AHEAD])
                c = row_adj[e]
                u = n_rows + c
                d = val[u]
                if d != np.inf:  # not peeled yet
                    edges -= 1
                    val[u] = d - w[c]
                    _tree_decrease(tree, arg, size, u, val[u])
        else:
            wc = w[v - n_rows]
            for e in range(lo, hi):
                if e + AHEAD < hi:
                    _ask(val, tree, size, col_adj[e + AHEAD])
                u = col_adj[e]
                d = val[u]
                if d != np.inf:
                    edges -= 1
                    val[u] = d - wc
                    _tree_decrease(tree, arg, size, u, val[u])
        alive -= 1
        if alive > 0 and total / alive > best * (1 + 1e-12):
            best = total / alive
            best_k = k + 1
            best_edges = edges
    return order, best_k, best, best_edges


@numba.njit(cache=True)
def _by_key(key, n_keys):  # type: ignore[no-untyped-def]
    """Indices sorted by key (0 <= key < n_keys), ascending index within a key: a counting sort."""
    at = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(len(key)):
        at[key[i] + 1] += 1
    for k in range(n_keys):
        at[k + 1] += at[k]
    out = np.empty(len(key), dtype=np.int64)
    for i in range(len(key)):
        out[at[key[i]]] = i
        at[key[i]] += 1
    return out


@numba.njit(cache=True)
def _row_weights(rows, cols, w, n_rows):  # type: ignore[no-untyped-def]
    """Each row's weighted degree, its edges summed in input order."""
    out = np.zeros(n_rows)
    for i in range(len(rows)):
        out[rows[i]] += w[cols[i]]
    return out


@numba.njit(cache=True)
def _adjacency(rows, cols, rank_r, rank_c, row_ptr, col_ptr, dtype):  # type: ignore[no-untyped-def]
    """Both adjacency lists in the new numbering, by counting sort (no O(E log E) sort): a row's
    columns in input order, a column's rows in row order (the transpose of the first)."""
    n_rows = len(row_ptr) - 1
    row_adj = np.empty(len(rows), dtype=dtype)
    at = row_ptr[:-1].copy()
    for i in range(len(rows)):
        r = rank_r[rows[i]]
        row_adj[at[r]] = rank_c[cols[i]]
        at[r] += 1
    col_adj = np.empty(len(rows), dtype=dtype)
    at = col_ptr[:-1].copy()
    for r in range(n_rows):
        for e in range(row_ptr[r], row_ptr[r + 1]):
            c = row_adj[e]
            col_adj[at[c]] = r
            at[c] += 1
    return row_adj, col_adj


def _inverse(perm: np.ndarray) -> np.ndarray:
    inv = np.empty(len(perm), dtype=np.int64)
    inv[perm] = np.arange(len(perm))
    return inv


def _ptr(degree: np.ndarray) -> np.ndarray:
    ptr = np.zeros(len(degree) + 1, dtype=np.int64)
    np.cumsum(degree, out=ptr[1:])
    return ptr


def tie_order(row_w: np.ndarray, col_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numbering the peeling works in: rows by initial weighted degree `row_w`, columns by
    degree (which orders them by weighted degree too), lowest index first within a key. Nodes
    peeled close in time then sit close in memory, which is what keeps the peel fast once its
    arrays outgrow the cache. It also breaks ties: of two nodes of equal weighted degree, the one
    earlier here is peeled first. Rows go by steps of 1/64 of the mean weighted degree (a counting
    sort, linear), those above 64 times the mean share the last step. Returns, per side, the nodes
    in that order."""
    step = max(float(row_w.mean()) if len(row_w) else 0.0, 1e-300) / 64
    n_keys = 64 * 64 + 1
    key = np.minimum(row_w / step, n_keys - 1).astype(np.int64)
    return _by_key(key, n_keys), _by_key(col_deg, int(col_deg.max(initial=0)) + 1)


@dataclass(frozen=True)
class _Peeled:
    order: np.ndarray  # peeling order in the new numbering (rows, then columns)
    best_k: int  # nodes peeled before the densest state
    best: float  # its density
    edges: int  # its edges
    by_r: np.ndarray  # new row number -> row
    by_c: np.ndarray  # new column number -> column


def _peeled(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> _Peeled:
    col_deg = np.bincount(cols, minlength=n_cols)
    w = log_weights(col_deg)
    row_w = _row_weights(rows, cols, w, n_rows)
    by_r, by_c = tie_order(row_w, col_deg)
    dtype = np.int32 if n_rows + n_cols < 2**31 else np.int64
    row_ptr = _ptr(np.bincount(rows, minlength=n_rows)[by_r])
    col_ptr = _ptr(col_deg[by_c])
    row_adj, col_adj = _adjacency(
        rows, cols, _inverse(by_r), _inverse(by_c), row_ptr, col_ptr, dtype
    )
    order, best_k, best, edges = _peel(
        n_rows, n_cols, row_ptr, row_adj, col_ptr, col_adj, w[by_c], row_w[by_r]
    )
    return _Peeled(order, int(best_k), float(best), int(edges), by_r, by_c)


def peel(
    rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int
) -> tuple[np.ndarray, int, float, int, np.ndarray]:
    """Peel the graph with edges (rows[i], cols[i]). Returns the peeling order (node ids: rows
    0..n_rows-1, then columns), how many nodes go before the densest state, its density, its
    edges, and every node's place in the tie order (see `tie_order`)."""
    p = _peeled(np.asarray(rows), np.asarray(cols), n_rows, n_cols)
    node = np.concatenate([p.by_r, n_rows + p.by_c])  # new number -> node id
    return node[p.order], p.best_k, p.best, p.edges, _inverse(node)


def densest(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> Block | None:
    """The densest block of the graph with edges (rows[i], cols[i]) (unique pairs)."""
    if len(rows) == 0:
        return None
    p = _peeled(np.asarray(rows), np.asarray(cols), n_rows, n_cols)
    # the nodes of the densest state; none without edges: weighted degree 0, they go first, and
    # each one gone raises the density
    left = p.order[p.best_k :].astype(np.int64)
    r = left[left < n_rows]
    c = left[left >= n_rows] - n_rows
    return Block(np.sort(p.by_r[r]), np.sort(p.by_c[c]), p.best, p.edges)


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
