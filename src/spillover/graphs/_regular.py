"""Random regular graphs: configuration-model pairing followed by a vectorised repair.

The configuration model pairs ``n_nodes * degree`` stubs uniformly at random. The result is a
multigraph; conditioned on being simple it is a uniformly random k-regular graph, but for k = 8
that happens with probability about ``exp(-(k**2 - 1) / 4) ~ 1e-7``, so rejection is hopeless.
A pairing of a million nodes holds only a few dozen bad edges, though (Poisson with mean about
``(k - 1) / 2`` self-loops and ``(k - 1)**2 / 4`` repeated edges), and they are repaired by
degree-preserving double-edge swaps with randomly chosen good edges; only those few dozen
edges differ from the pairing. Where plain rejection (redraw until simple) is cheap, which
covers the small graphs on which the repair's bias would show, it is used instead.

The pairing is written straight into CSR rows (both directions of each edge, rows sorted, so
a row is the slice of the sorted directed keys ``u * n_nodes + v`` that starts at ``u``; numba
kernels in ``_rows``): repeated entries in a row are the bad edges, membership of a proposed
edge is a binary search in its row, and a swap edits four rows in place. Stubs are int32 below
2**31 nodes. The arrays are the same as sorting the keys would give, in half the memory. The
stubs are shuffled by ``spillover._shuffle.shuffle_as_numpy``, which makes exactly the
permutation (and leaves the generator in exactly the state) of ``Generator.shuffle``, about
three times as fast.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from spillover._rng import SeedLike, as_generator
from spillover._shuffle import shuffle_as_numpy
from spillover.exceptions import GraphError
from spillover.graphs._checks import MAX_NODES, check_count
from spillover.graphs._graph import Graph, complement_keys, graph_from_sorted_keys, index_dtype
from spillover.graphs._rows import (
    copies_of,
    fill_regular_rows,
    first_repeat,
    repeated_pairs,
    row_counts,
    swap_rows,
)

__all__ = ["random_regular"]

IntArray = npt.NDArray[np.int64]

# Swap rounds before a pairing is abandoned for a fresh one. Sparse graphs finish in a handful
# of rounds; only tiny graphs, where few swaps are legal, ever need a restart.
_MAX_ROUNDS: Final = 64
_MAX_PAIRINGS: Final = 1000
# Rejection sampling (exactly uniform) is used when the expected number of pairings times the
# stubs per pairing stays under _REJECTION_WORK; it gives up after _REJECTION_ATTEMPTS times
# the expected number of pairings (probability about exp(-_REJECTION_ATTEMPTS)) and repairs.
_REJECTION_WORK: Final = 2**17
_REJECTION_ATTEMPTS: Final = 30


def check_regular_size(n_nodes: int, degree: int) -> tuple[int, int]:
    """``(n_nodes, degree)`` as ints if a simple ``degree``-regular graph on ``n_nodes`` exists.

    Raises
    ------
    GraphError
        A count is not an integer or out of range, ``degree >= n_nodes``, or
        ``n_nodes * degree`` is odd.
    """
    func = "random_regular"
    n = check_count(func, "n_nodes", n_nodes, minimum=1)
    k = check_count(func, "degree", degree, minimum=0)
    if n > MAX_NODES:
        raise GraphError(f"{func}: n_nodes must be <= {MAX_NODES}; got n_nodes={n}")
    if k >= n:
        raise GraphError(f"{func}: degree must be < n_nodes; got n_nodes={n}, degree={k}")
    if (n * k) % 2:
        raise GraphError(f"{func}: n_nodes * degree must be even; got n_nodes={n}, degree={k}")
    return n, k


def random_regular(n_nodes: int, degree: int, *, rng: SeedLike = None) -> Graph:
    """A random simple ``degree``-regular graph on ``n_nodes`` nodes.

    Stubs are paired by the configuration model, then the few self-loops and repeated edges
    are removed by double-edge swaps with randomly chosen edges, iterated until none remain
    (with a fresh pairing if a pairing cannot be repaired). When ``degree > (n_nodes - 1) / 2``
    the complement, a sparser regular graph, is drawn instead.

    Parameters
    ----------
    n_nodes
        Number of nodes, >= 1.
    degree
        Degree of every node, ``0 <= degree < n_nodes``, with ``n_nodes * degree`` even.
    rng
        Seed or generator (int, SeedSequence, Generator or None for fresh entropy).

    Returns
    -------
    Graph
        Named ``"random_regular(n_nodes=..., degree=...)"``; ``n_nodes * degree / 2`` edges.

    Raises
    ------
    GraphError
        If the sizes are not integers, ``degree >= n_nodes`` or ``n_nodes * degree`` is odd.

    Notes
    -----
    Where it is cheap (the expected number of pairings, about ``exp((k**2 - 1) / 4)``, times
    ``n_nodes * degree`` at most 2**17: degree <= 2 up to some 30,000 nodes, degree 3 up to
    some 5,900, degree 4 up to 770, degree 5 up to 65), pairings are simply redrawn until one
    is simple, which gives exactly the uniform distribution over labelled regular graphs.
    Otherwise the result is close to uniform, not exactly: the repaired edges are chosen by
    the swaps. Only O(k**2) edges are touched, whatever ``n_nodes``, so the bias fades as the
    graph grows. The graph is not necessarily connected, though for ``degree >= 3`` it is with
    probability tending to one. Cost: one shuffle of ``n_nodes * degree`` stubs and one pass
    writing them into rows: 8 bytes per stub of working memory (int32 stubs and indices) and
    9 per node (int64 row pointers, a byte counter), 73 MB for a million nodes of degree 8.

    The same seed gives the same graph (same arrays) for the same numpy version.

    Examples
    --------
    >>> g = random_regular(10, 3, rng=42)
    >>> g.degrees.tolist() == [3] * 10, g.is_simple()
    (True, True)
    """
    func = "random_regular"
    n, k = check_regular_size(n_nodes, degree)
    gen = as_generator(rng)
    name = f"{func}(n_nodes={n}, degree={k})"
    if 2 * k > n - 1:
        indptr, cols = _regular_rows(n, n - 1 - k, gen)
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
        return graph_from_sorted_keys(n, complement_keys(n, rows * n + cols), name)
    indptr, cols = _regular_rows(n, k, gen)
    indptr.flags.writeable = False
    cols.flags.writeable = False
    return Graph(indptr, cols, name)


def _expected_pairings(k: int) -> float:
    """Pairings needed, on average, until one is simple (asymptotically in ``n_nodes``)."""
    return math.exp((k * k - 1) / 4)


def _regular_rows(n: int, k: int, gen: np.random.Generator) -> tuple[IntArray, npt.NDArray[Any]]:
    """CSR arrays ``(indptr, indices)`` of a simple k-regular graph drawn as described above."""
    dtype = index_dtype(n)
    if k == 0:
        return np.zeros(n + 1, dtype=np.int64), np.empty(0, dtype=dtype)
    expected = _expected_pairings(k)
    # Exact rejection sampling where it is cheap; it also covers the small graphs on which the
    # repair's bias would show.
    n_rejections = int(_REJECTION_ATTEMPTS * expected) if expected * n * k <= _REJECTION_WORK else 0
    # Every row holds k entries (a self-loop counts twice), so the row pointers are known.
    indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
    filled_dtype = np.uint8 if k < 2**8 else np.int64
    for attempt in range(n_rejections + _MAX_PAIRINGS):
        # The shuffle permutes the same way whatever the dtype: int32 stubs halve the memory.
        # shuffle_as_numpy is gen.shuffle (same permutation, same generator state), only faster.
        stubs = np.repeat(np.arange(n, dtype=dtype), k)
        shuffle_as_numpy(gen, stubs)
        pairs = stubs.reshape(-1, 2)
        u, v = pairs[:, 0], pairs[:, 1]
        cols = np.empty(stubs.size, dtype=dtype)
        fill_regular_rows(stubs, k, cols, np.zeros(n, dtype=filled_dtype))
        if attempt < n_rejections:
            # A self-loop shows as a repeated entry too, so this is the whole simplicity test.
            if not first_repeat(indptr, cols):
                return indptr, cols
            continue
        if _repair(n, u, v, indptr, cols, _bad_edges(n, u, v, indptr, cols), gen):
            return indptr, cols
    # Not reached in practice: each pairing of a valid (n, k) is repaired with high probability.
    raise GraphError(
        f"random_regular: no simple graph found after {n_rejections + _MAX_PAIRINGS} pairings; "
        f"got n_nodes={n}, degree={k}"
    )


def _bad_edges(
    n: int, u: npt.NDArray[Any], v: npt.NDArray[Any], indptr: IntArray, cols: npt.NDArray[Any]
) -> IntArray:
    """Indices of the edges to repair: every self-loop and all but one copy of repeated edges."""
    loops = np.flatnonzero(u == v)
    # Each undirected repeat shows in both rows; keep the u < v one (self-loops are above).
    repeated = np.unique(repeated_pairs(indptr, cols))
    if repeated.size == 0:
        return loops
    copies = copies_of(u, v, n, repeated)
    ukeys = np.minimum(u[copies], v[copies]).astype(np.int64) * n + np.maximum(u[copies], v[copies])
    _, first = np.unique(ukeys, return_index=True)
    return np.concatenate((loops, np.delete(copies, first)))


def _repair(
    n: int,
    u: npt.NDArray[Any],
    v: npt.NDArray[Any],
    indptr: IntArray,
    cols: npt.NDArray[Any],
    bad: IntArray,
    gen: np.random.Generator,
) -> bool:
    """Swap the bad edges away in place (pairs and rows); False if it gave up.

    A bad edge ``(a, c)`` and a random good edge ``(x, y)``, oriented at random, become
    ``(a, x)`` and ``(c, y)``: every degree is kept. A swap is taken only if both new edges are
    absent from the current graph and from the other swaps of the round, so a round never
    creates a bad edge; conflicting swaps wait for the next round.
    """
    m = u.size
    for round_ in range(_MAX_ROUNDS + 1):
        a, c = u[bad].astype(np.int64), v[bad].astype(np.int64)
        # Swapping away the kept copy of a repeated edge makes its other copy good.
        still = (a == c) | (row_counts(indptr, cols, a, c) > 1)
        bad, a, c = bad[still], a[still], c[still]
        if bad.size == 0:
            return True
        if round_ == _MAX_ROUNDS:
            break
        partner = gen.integers(0, m, size=bad.size)
        flip = gen.random(bad.size) < 0.5
        pu, pv = u[partner].astype(np.int64), v[partner].astype(np.int64)
        x = np.where(flip, pv, pu)
        y = np.where(flip, pu, pv)
        ok = (a != x) & (c != y) & (x != y) & ~np.isin(partner, bad)
        _, first = np.unique(partner, return_index=True)
        once = np.zeros(bad.size, dtype=np.bool_)
        once[first] = True
        ok &= once & (row_counts(indptr, cols, a, x) == 0) & (row_counts(indptr, cols, c, y) == 0)
        new = np.concatenate((np.minimum(a, x) * n + np.maximum(a, x),
                              np.minimum(c, y) * n + np.maximum(c, y)))  # fmt: skip
        new_values, new_counts = np.unique(new[np.concatenate((ok, ok))], return_counts=True)
        clashes = new_values[new_counts > 1]
        if clashes.size:
            ok &= ~np.isin(new[: bad.size], clashes) & ~np.isin(new[bad.size :], clashes)
        if not ok.any():
            continue
        a, c, x, y = a[ok], c[ok], x[ok], y[ok]
        fixed, used = bad[ok], partner[ok]
        swap_rows(
            indptr,
            cols,
            np.concatenate((a, c, x, y)),
            np.concatenate((c, a, y, x)),
            np.concatenate((a, x, c, y)),
            np.concatenate((x, a, y, c)),
        )
        u[fixed], v[fixed] = a, x
        u[used], v[used] = c, y
        bad = bad[~ok]
    return False
