"""Numba kernels on multigraphs stored as rows: CSR arrays whose rows may repeat entries.

They let :mod:`spillover.graphs._regular` build and repair a pairing in place, in the final
CSR layout, instead of sorting ``2 * n_edges`` int64 keys: about half the time and a third of
the memory, which is what makes 100 million nodes fit. Rows are kept sorted ascending, so a
row is exactly the slice of the sorted directed keys ``u * n_nodes + v`` starting at ``u``.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["copies_of", "fill_rows", "first_repeat", "repeated_pairs", "row_counts", "swap_rows"]

# Rows longer than this are sorted by numpy's sort rather than by insertion.
_INSERTION_MAX = 32


@numba.njit(cache=True)
def _sort_row(cols: np.ndarray, lo: int, hi: int) -> None:
    if hi - lo > _INSERTION_MAX:
        cols[lo:hi] = np.sort(cols[lo:hi])
        return
    for j in range(lo + 1, hi):
        x = cols[j]
        i = j - 1
        while i >= lo and cols[i] > x:
            cols[i + 1] = cols[i]
            i -= 1
        cols[i + 1] = x


@numba.njit(cache=True)
def fill_rows(u: np.ndarray, v: np.ndarray, indptr: np.ndarray, cols: np.ndarray) -> None:
    """Both directions of the pairs ``(u[i], v[i])`` as sorted rows, duplicates kept.

    ``indptr`` (n + 1,) int64 zeroed and ``cols`` (2 * len(u),) are filled in place; a
    self-loop ``(a, a)`` shows twice in row a, as it does among the directed keys.
    """
    n = indptr.shape[0] - 1
    for i in range(u.shape[0]):
        indptr[u[i] + 1] += 1
        indptr[v[i] + 1] += 1
    for r in range(n):
        indptr[r + 1] += indptr[r]
    cursor = indptr[:-1].copy()
    for i in range(u.shape[0]):
        a = u[i]
        b = v[i]
        cols[cursor[a]] = b
        cursor[a] += 1
        cols[cursor[b]] = a
        cursor[b] += 1
    for r in range(n):
        _sort_row(cols, indptr[r], indptr[r + 1])


@numba.njit(cache=True)
def first_repeat(indptr: np.ndarray, cols: np.ndarray) -> bool:
    """True if some row holds an entry twice (a repeated edge or a self-loop)."""
    for r in range(indptr.shape[0] - 1):
        for j in range(indptr[r] + 1, indptr[r + 1]):
            if cols[j] == cols[j - 1]:
                return True
    return False


@numba.njit(cache=True)
def repeated_pairs(indptr: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Keys ``u * n + v`` with ``u < v`` of the entries repeating the one before, in order."""
    n = indptr.shape[0] - 1
    out = []
    for r in range(n):
        for j in range(indptr[r] + 1, indptr[r + 1]):
            c = cols[j]
            if c == cols[j - 1] and r < c:
                out.append(np.int64(r) * n + c)
    result = np.empty(len(out), dtype=np.int64)
    for i in range(len(out)):
        result[i] = out[i]
    return result


@numba.njit(cache=True)
def copies_of(u: np.ndarray, v: np.ndarray, n: int, keys: np.ndarray) -> np.ndarray:
    """Indices i, ascending, whose undirected key ``min * n + max`` is in sorted ``keys``."""
    out = []
    for i in range(u.shape[0]):
        lo = min(u[i], v[i])
        hi = max(u[i], v[i])
        key = np.int64(lo) * n + hi
        at = np.searchsorted(keys, key)
        if at < keys.shape[0] and keys[at] == key:
            out.append(i)
    result = np.empty(len(out), dtype=np.int64)
    for i in range(len(out)):
        result[i] = out[i]
    return result


@numba.njit(cache=True)
def row_counts(
    indptr: np.ndarray, cols: np.ndarray, rows: np.ndarray, qs: np.ndarray
) -> np.ndarray:
    """How often ``qs[i]`` occurs in row ``rows[i]``."""
    out = np.zeros(rows.shape[0], dtype=np.int64)
    for i in range(rows.shape[0]):
        r = rows[i]
        lo = indptr[r]
        hi = indptr[r + 1]
        at = lo + np.searchsorted(cols[lo:hi], qs[i])
        while at < hi and cols[at] == qs[i]:
            out[i] += 1
            at += 1
    return out


@numba.njit(cache=True)
def swap_rows(
    indptr: np.ndarray,
    cols: np.ndarray,
    removed_rows: np.ndarray,
    removed: np.ndarray,
    added_rows: np.ndarray,
    added: np.ndarray,
) -> None:
    """Remove one copy of each ``(removed_rows[i], removed[i])``, then add the ``added`` ones.

    Every row must lose as many entries as it gains (degree-preserving swaps), so the rows
    keep their lengths; the rows touched are sorted again.
    """
    for i in range(removed.shape[0]):
        r = removed_rows[i]
        for j in range(indptr[r], indptr[r + 1]):
            if cols[j] == removed[i]:
                cols[j] = -1
                break
    for i in range(added.shape[0]):
        r = added_rows[i]
        for j in range(indptr[r], indptr[r + 1]):
            if cols[j] == -1:
                cols[j] = added[i]
                break
    for i in range(added.shape[0]):
        r = added_rows[i]
        _sort_row(cols, indptr[r], indptr[r + 1])
