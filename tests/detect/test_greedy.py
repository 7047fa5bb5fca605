"""The greedy peeling (FRAUDAR-style) on planted blocks and its invariants."""

from __future__ import annotations

import numpy as np
import pytest

from qinglang.detect import greedy


def random_graph(seed: int, n_rows: int, n_cols: int, edges: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    key = np.unique(rng.integers(0, n_rows, edges) * n_cols + rng.integers(0, n_cols, edges))
    return key // n_cols, key % n_cols


def with_block(seed, rows, cols, n_cols, block_rows, block_cols, p):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed + 1)
    br, bc = np.nonzero(rng.random((len(block_rows), len(block_cols))) < p)
    key = np.unique(
        np.concatenate([rows * n_cols + cols, block_rows[br] * n_cols + block_cols[bc]])
    )
    return key // n_cols, key % n_cols


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_planted_block_is_recovered(seed):
    n_rows, n_cols = 3000, 2000
    rows, cols = random_graph(seed, n_rows, n_cols, 9000)
    block_rows, block_cols = np.arange(100, 140), np.arange(500, 530)
    rows, cols = with_block(seed, rows, cols, n_cols, block_rows, block_cols, 0.6)
    b = greedy.densest(rows, cols, n_rows, n_cols)
    assert b is not None
    assert set(block_rows) <= set(b.rows.tolist()) and set(block_cols) <= set(b.cols.tolist())
    assert len(b.rows) + len(b.cols) <= 1.1 * (len(block_rows) + len(block_cols))


@pytest.mark.parametrize("seed", range(5))
def test_block_score_is_its_density_and_every_member_pulls_its_weight(seed):
    rows, cols = random_graph(seed, 60, 40, 400)
    b = greedy.densest(rows, cols, 60, 40)
    w = greedy.log_weights(np.bincount(cols, minlength=40))
    in_r = np.isin(rows, b.rows)
    in_c = np.isin(cols, b.cols)
    inside = in_r & in_c
    assert b.edges == int(inside.sum())
    assert b.score == pytest.approx(w[cols[inside]].sum() / (len(b.rows) + len(b.cols)))
    # a node whose weighted degree inside were below the density would have been peeled
    for r in b.rows:
        assert w[cols[inside & (rows == r)]].sum() >= b.score * (1 - 1e-9)
    for c in b.cols:
        assert w[c] * (inside & (cols == c)).sum() >= b.score * (1 - 1e-9)


def test_several_blocks_one_after_another():
    n_rows, n_cols = 2000, 2000
    rows, cols = random_graph(7, n_rows, n_cols, 5000)
    rows, cols = with_block(7, rows, cols, n_cols, np.arange(0, 40), np.arange(0, 30), 0.7)
    rows, cols = with_block(8, rows, cols, n_cols, np.arange(100, 125), np.arange(100, 120), 0.7)
    found = greedy.blocks(rows, cols, n_rows, n_cols, 2)
    assert len(found) == 2
    assert set(range(40)) <= set(found[0].rows.tolist())
    assert set(range(100, 125)) <= set(found[1].rows.tolist())


def test_empty_graph():
    none = np.array([], dtype=np.int64)
    assert greedy.densest(none, none, 0, 0) is None
    assert greedy.blocks(none, none, 0, 0, 3) == []


def test_equally_dense_groups_that_share_nothing_are_separate_blocks():
    n = 1000
    rows, cols = random_graph(9, n, n, 1500)
    a_r, a_c = np.arange(0, 30), np.arange(0, 20)
    b_r, b_c = np.arange(500, 530), np.arange(500, 520)
    # the groups' accounts do nothing else, and nobody else touches their targets
    apart = ~np.isin(rows, np.concatenate([a_r, b_r])) & ~np.isin(cols, np.concatenate([a_c, b_c]))
    key = [rows[apart] * n + cols[apart]]
    for br, bc in ((a_r, a_c), (b_r, b_c)):
        key.append((br[:, None] * n + bc[None, :]).ravel())  # two full, identical blocks
    key = np.unique(np.concatenate(key))
    both = greedy.densest(key // n, key % n, n, n)
    assert len(both.rows) == 60  # the densest state holds both groups
    found = greedy.blocks(key // n, key % n, n, n, 1)
    assert sorted(tuple(b.rows.tolist()) for b in found) == [tuple(a_r), tuple(b_r)]
    assert sorted(tuple(b.cols.tolist()) for b in found) == [tuple(a_c), tuple(b_c)]
    assert found[0].score == pytest.approx(found[1].score)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_peel_order_is_exactly_the_textbook_greedy(seed):
    """Always remove the node of least weighted degree, as a plain loop. Ties go by the tie order
    the peeling numbers the nodes in (any numbering would do for the loop, as long as it is one)."""
    n_rows, n_cols = 60, 25
    rows, cols = random_graph(seed, n_rows, n_cols, 300)
    # some rows and columns with equal weighted degrees, so that ties happen
    rows = np.concatenate([rows, np.arange(40, 50)])
    cols = np.concatenate([cols, np.full(10, n_cols - 1)])
    key = np.unique(rows * n_cols + cols)
    rows, cols = key // n_cols, key % n_cols
    w = greedy.log_weights(np.bincount(cols, minlength=n_cols))
    order, best_k, best, edges, rank = greedy.peel(rows, cols, n_rows, n_cols)
    assert sorted(rank.tolist()) == list(range(n_rows + n_cols))
    delta = [sum(w[c] for c in cols[rows == r]) for r in range(n_rows)]
    delta += [float(np.sum(cols == c)) * w[c] for c in range(n_cols)]
    alive, expected = set(range(n_rows + n_cols)), []
    states = [(sum(delta[:n_rows]) / len(alive), len(rows))]
    while alive:
        v = min(alive, key=lambda u: (delta[u], rank[u]))
        expected.append(v)
        alive.remove(v)
        if v < n_rows:
            for c in cols[rows == v]:
                delta[n_rows + c] -= w[c]
        else:
            for r in rows[cols == v - n_rows]:
                delta[r] -= w[v - n_rows]
        inside = np.isin(rows, list(alive)) & np.isin(n_rows + cols, list(alive))
        if alive:
            states.append((w[cols[inside]].sum() / len(alive), int(inside.sum())))
    assert order.tolist() == expected
    k = max(range(len(states)), key=lambda i: (states[i][0], -i))
    assert best_k == k
    assert best == pytest.approx(states[k][0])
    assert edges == states[k][1]


def test_tie_order_puts_lighter_nodes_first():
    rows, cols = random_graph(5, 200, 80, 1500)
    w = greedy.log_weights(np.bincount(cols, minlength=80))
    by_r, by_c = greedy.tie_order(
        np.bincount(rows, weights=w[cols], minlength=200), np.bincount(cols, minlength=80)
    )
    assert sorted(by_r.tolist()) == list(range(200)) and sorted(by_c.tolist()) == list(range(80))
    col_deg = np.bincount(cols, minlength=80)[by_c]
    assert np.all(np.diff(col_deg) >= 0)
    row_w = np.bincount(rows, weights=w[cols], minlength=200)[by_r]
    step = row_w.mean() / 64
    assert np.all(np.diff(np.floor(row_w / step)) >= 0)


@pytest.mark.parametrize(
    "values",
    [
        np.array([5, 3, 5, 9, 3, 3, 12]),
        np.array([-4, 7, -4, 0], dtype=np.int32),
        np.array([0, 10**15, 7, 10**15]),  # too wide a range for the table: sorted
        np.array([2.5, -1.0, 2.5]),
        np.array([], dtype=np.int64),
        np.array([2**64 - 1, 3, 3], dtype=np.uint64),  # unsigned: sorted (no signed range)
    ],
)
def test_codes_are_those_of_np_unique(values):
    distinct, inverse = greedy.codes(values)
    want_distinct, want_inverse = np.unique(values, return_inverse=True)
    assert distinct.dtype == values.dtype
    assert distinct.tolist() == want_distinct.tolist()
    assert inverse.tolist() == want_inverse.tolist()


def test_arrow_integer_columns_are_coded_as_numpy_ones():
    import pyarrow as pa

    ints = pa.chunked_array([[5, 3], [5, 9]])
    distinct, inverse = greedy.codes(ints)
    assert distinct.tolist() == [3, 5, 9] and inverse.tolist() == [1, 0, 1, 2]


def test_nodes_without_edges_are_never_in_the_block():
    # a 5 x 4 complete block among 100 rows and 50 columns, most of them without any edge
    rows = np.repeat(np.arange(10, 15), 4)
    cols = np.tile(np.arange(20, 24), 5)
    block = greedy.densest(rows, cols, 100, 50)
    assert block is not None
    assert block.rows.tolist() == list(range(10, 15)) and block.cols.tolist() == list(range(20, 24))
    assert block.edges == 20
