"""The row kernels behind random_regular: the same layout as sorting the directed keys."""

from __future__ import annotations

import numpy as np

from spillover.graphs._rows import (
    _sort_row,
    copies_of,
    fill_regular_rows,
    first_repeat,
    row_counts,
    swap_rows,
)


def _keys(indptr: np.ndarray, cols: np.ndarray) -> np.ndarray:
    n = indptr.size - 1
    return np.repeat(np.arange(n), np.diff(indptr)) * n + cols


def test_rows_of_a_pairing_are_its_sorted_directed_keys() -> None:
    rng = np.random.default_rng(3)
    for n, k in [(7, 4), (50, 3), (20, 1), (30, 2), (300, 8), (64, 9), (200, 40)]:
        stubs = np.repeat(np.arange(n, dtype=np.int32), k)
        rng.shuffle(stubs)
        u, v = stubs[0::2].astype(np.int64), stubs[1::2].astype(np.int64)
        indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
        cols = np.full(stubs.size, -5, dtype=np.int32)
        filled = np.zeros(n, dtype=np.uint8)
        fill_regular_rows(stubs, k, cols, filled)
        assert filled.tolist() == [k] * n
        expected = np.sort(np.concatenate((u * n + v, v * n + u)))
        np.testing.assert_array_equal(_keys(indptr, cols), expected)
        assert first_repeat(indptr, cols) == bool(np.any(expected[1:] == expected[:-1]))


def test_rows_of_every_length_sort_like_numpy() -> None:
    # Lengths up to 8 go through the sorting network, longer ones by insertion or np.sort.
    rng = np.random.default_rng(5)
    for length in [*range(1, 12), 33, 40]:
        for _ in range(200):
            cols = rng.integers(-1, 6, size=length + 4).astype(np.int32)
            expected = cols.copy()
            expected[2 : 2 + length] = np.sort(expected[2 : 2 + length])
            _sort_row(cols, 2, 2 + length)
            np.testing.assert_array_equal(cols, expected)


def test_copies_are_the_edges_with_a_listed_key() -> None:
    rng = np.random.default_rng(11)
    n = 500
    u, v = rng.integers(0, n, size=(2, 20_000))
    undirected = np.minimum(u, v) * n + np.maximum(u, v)
    for keys in (np.unique(undirected[rng.integers(0, u.size, 40)]), np.array([3, 10**6])):
        expected = np.flatnonzero(np.isin(undirected, keys))
        np.testing.assert_array_equal(copies_of(u, v, n, keys), expected)


def test_counts_and_swaps_edit_rows_like_the_key_multiset() -> None:
    # Edges 0-1, 1-2 (twice), 2-3, 3-0: row 1 holds 2 twice, row 2 holds 1 twice.
    indptr = np.array([0, 2, 5, 8, 10])
    cols = np.array([1, 3, 0, 2, 2, 1, 1, 3, 0, 2], dtype=np.int32)
    assert row_counts(indptr, cols, np.array([1, 2, 0]), np.array([2, 1, 2])).tolist() == [2, 2, 0]
    # Swap the repeated edge (a, c) = (1, 2) with (x, y) = (3, 0): new edges (1, 3) and (2, 0).
    a, c, x, y = 1, 2, 3, 0
    swap_rows(
        indptr,
        cols,
        np.array([a, c, x, y]),
        np.array([c, a, y, x]),
        np.array([a, x, c, y]),
        np.array([x, a, y, c]),
    )
    rows = [cols[indptr[r] : indptr[r + 1]].tolist() for r in range(4)]
    assert rows == [[1, 2], [0, 2, 3], [0, 1, 3], [1, 2]]
    assert not first_repeat(indptr, cols)
