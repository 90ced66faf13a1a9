"""The row kernels behind random_regular: the same layout as sorting the directed keys."""

from __future__ import annotations

import numpy as np

from spillover.graphs._rows import fill_rows, first_repeat, row_counts, swap_rows


def _keys(indptr: np.ndarray, cols: np.ndarray) -> np.ndarray:
    n = indptr.size - 1
    return np.repeat(np.arange(n), np.diff(indptr)) * n + cols


def test_rows_of_a_pairing_are_its_sorted_directed_keys() -> None:
    rng = np.random.default_rng(3)
    for n, k in [(7, 4), (50, 3), (200, 40)]:
        stubs = np.repeat(np.arange(n, dtype=np.int32), k)
        rng.shuffle(stubs)
        u, v = stubs[0::2].astype(np.int64), stubs[1::2].astype(np.int64)
        indptr = np.zeros(n + 1, dtype=np.int64)
        cols = np.empty(stubs.size, dtype=np.int32)
        fill_rows(u, v, indptr, cols)
        expected = np.sort(np.concatenate((u * n + v, v * n + u)))
        np.testing.assert_array_equal(_keys(indptr, cols), expected)
        assert first_repeat(indptr, cols) == bool(np.any(expected[1:] == expected[:-1]))


def test_counts_and_swaps_edit_rows_like_the_key_multiset() -> None:
    # Edges 0-1, 1-2 (twice), 2-3, 3-0: row 1 holds 2 twice, row 2 holds 1 twice.
    u = np.array([0, 1, 2, 1, 3])
    v = np.array([1, 2, 3, 2, 0])
    indptr = np.zeros(5, dtype=np.int64)
    cols = np.empty(10, dtype=np.int32)
    fill_rows(u, v, indptr, cols)
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
