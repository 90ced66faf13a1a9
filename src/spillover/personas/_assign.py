"""Assigning personas to the nodes of a graph.

Every function returns ``persona_of_node``: an int8 array of shape (n_nodes,), read-only, whose
entry ``v`` is the catalog index (0-31) of node ``v``'s persona. Counts are exact, not
multinomial draws, so that a run with 100 agents holds the mix it was asked for; only which
node gets which persona is random.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from spillover._rng import SeedLike, as_generator
from spillover.exceptions import PersonaError
from spillover.personas._catalog import N_PERSONAS, persona_from_code

__all__ = ["WeightsLike", "assign_balanced", "assign_weighted", "validate_assignment"]

#: Persona weights: a sequence of 32 numbers in catalog order, or a mapping from persona code
#: (``"O+C-E+A-N+"``) or index (0-31) to weight, where personas left out weigh 0.
# Keys are typed Any because Mapping is invariant in its key type: a dict mixing codes and
# indices would otherwise match no single key type. They are checked at run time.
WeightsLike: TypeAlias = npt.ArrayLike | Mapping[Any, float | np.integer[Any] | np.floating[Any]]

# How many offending entries an error message quotes before it summarises.
_SHOW = 5
# Nodes from which personas are shuffled by the compiled shuffle (below, numpy's own is as
# quick and small runs need not load numba).
_COMPILED_SHUFFLE_FROM = 2**16


def _check_n_nodes(n_nodes: object) -> int:
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int | np.integer):
        raise PersonaError(
            f"n_nodes must be a non-negative integer; got {n_nodes!r} of type "
            f"{type(n_nodes).__name__}"
        )
    if n_nodes < 0:
        raise PersonaError(f"n_nodes must be >= 0; got {int(n_nodes)}")
    return int(n_nodes)


def _place(counts: npt.NDArray[np.int64], rng: np.random.Generator) -> npt.NDArray[np.int8]:
    out = np.repeat(np.arange(N_PERSONAS, dtype=np.int8), counts)
    if out.size >= _COMPILED_SHUFFLE_FROM:
        # The same permutation and generator state as rng.shuffle, at twice its speed or more.
        from spillover._shuffle import shuffle_as_numpy

        shuffle_as_numpy(rng, out)
    else:
        rng.shuffle(out)
    out.flags.writeable = False
    return out


def assign_balanced(n_nodes: int, *, rng: SeedLike = None) -> npt.NDArray[np.int8]:
    """Give every persona to the same number of nodes, up to rounding, in random order.

    Each persona gets ``n_nodes // 32`` nodes; the ``n_nodes % 32`` remaining nodes go to as
    many distinct personas, chosen uniformly at random. Nodes are then shuffled.

    Parameters
    ----------
    n_nodes
        Number of nodes, >= 0.
    rng
        Seed or generator (int, SeedSequence, Generator or None for fresh entropy).

    Returns
    -------
    numpy.ndarray
        ``persona_of_node``, shape (n_nodes,), int8, read-only.

    Raises
    ------
    PersonaError
        If ``n_nodes`` is not a non-negative integer.

    Examples
    --------
    >>> import numpy as np
    >>> np.bincount(assign_balanced(100, rng=0), minlength=32).tolist().count(4)
    4
    """
    n = _check_n_nodes(n_nodes)
    gen = as_generator(rng)
    base, extra = divmod(n, N_PERSONAS)
    counts = np.full(N_PERSONAS, base, dtype=np.int64)
    counts[gen.choice(N_PERSONAS, size=extra, replace=False)] += 1
    return _place(counts, gen)


def _weights_from_mapping(weights: Mapping[Any, Any]) -> npt.NDArray[np.float64]:
    out = np.zeros(N_PERSONAS, dtype=np.float64)
    seen: dict[int, object] = {}
    for key, value in weights.items():
        if isinstance(key, str):
            idx = persona_from_code(key).index
        elif isinstance(key, int | np.integer) and not isinstance(key, bool):
            if not 0 <= key < N_PERSONAS:
                raise PersonaError(
                    f"weights: a persona index key must be in 0..{N_PERSONAS - 1}; got {key!r}"
                )
            idx = int(key)
        else:
            raise PersonaError(
                "weights: mapping keys must be persona codes such as 'O+C-E+A-N+' or indices "
                f"0..{N_PERSONAS - 1}; got {key!r} of type {type(key).__name__}"
            )
        if idx in seen:
            raise PersonaError(
                f"weights: persona {idx} is given twice, as {seen[idx]!r} and as {key!r}"
            )
        seen[idx] = key
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise PersonaError(
                f"weights: the weight of {key!r} must be a real number; got {value!r}"
            )
        out[idx] = float(value)
    return out


def _weights_array(weights: WeightsLike) -> npt.NDArray[np.float64]:
    if isinstance(weights, Mapping):
        w = _weights_from_mapping(weights)
    else:
        arr = np.asarray(weights)
        if arr.dtype == np.bool_ or not (
            np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
        ):
            raise PersonaError(
                f"weights must be {N_PERSONAS} real numbers or a mapping from persona to "
                f"weight; got an array of dtype {arr.dtype}"
            )
        if arr.shape != (N_PERSONAS,):
            raise PersonaError(
                f"weights must have shape ({N_PERSONAS},), one per persona in catalog order; "
                f"got shape {arr.shape}"
            )
        w = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        raise PersonaError(f"weights must be finite; persona {int(bad[0])} has weight {w[bad[0]]}")
    neg = np.flatnonzero(w < 0)
    if neg.size:
        raise PersonaError(f"weights must be >= 0; persona {int(neg[0])} has weight {w[neg[0]]}")
    total = float(w.sum())
    if not total > 0:
        raise PersonaError(f"weights must have a positive sum; got sum {total}")
    return w / total


def assign_weighted(
    n_nodes: int, weights: WeightsLike, *, rng: SeedLike = None
) -> npt.NDArray[np.int8]:
    """Give personas to nodes in proportion to ``weights``, with exact counts, in random order.

    Persona ``c`` gets ``floor(n_nodes * w[c])`` nodes, where ``w`` is ``weights`` normalised to
    sum 1; the nodes left over go, one each, to the personas with the largest fractional parts
    (largest-remainder rounding), ties broken at random. A persona of weight 0 gets no node.
    Nodes are then shuffled.

    Parameters
    ----------
    n_nodes
        Number of nodes, >= 0.
    weights
        Shape (32,): non-negative, finite weights in catalog order with a positive sum; or a
        mapping from persona code (``"O+C-E+A-N+"``) or index to weight, missing personas
        weighing 0.
    rng
        Seed or generator (int, SeedSequence, Generator or None for fresh entropy).

    Returns
    -------
    numpy.ndarray
        ``persona_of_node``, shape (n_nodes,), int8, read-only.

    Raises
    ------
    PersonaError
        If ``n_nodes`` or ``weights`` break the rules above.
    """
    n = _check_n_nodes(n_nodes)
    w = _weights_array(weights)
    gen = as_generator(rng)
    exact = n * w
    counts = np.floor(exact).astype(np.int64)
    remainder = exact - counts
    # Zero-weight personas rank below every positive one, so that floating-point slack in the
    # normalisation can never hand them a node.
    remainder[w == 0] = -1.0
    left = n - int(counts.sum())
    # Primary key: largest remainder first; secondary key: a random draw, to break ties.
    order = np.lexsort((gen.random(N_PERSONAS), -remainder))
    counts[order[:left]] += 1
    return _place(counts, gen)


def validate_assignment(persona_of_node: npt.ArrayLike, n_nodes: int) -> npt.NDArray[np.int8]:
    """Check a user-given assignment of personas to nodes.

    Parameters
    ----------
    persona_of_node
        Shape (n_nodes,), integer dtype: the catalog index (0-31) of each node's persona.
    n_nodes
        The number of nodes of the graph it is meant for.

    Returns
    -------
    numpy.ndarray
        A copy, shape (n_nodes,), int8, read-only.

    Raises
    ------
    PersonaError
        If the shape, dtype or any value breaks the rules above.
    """
    n = _check_n_nodes(n_nodes)
    arr = np.asarray(persona_of_node)
    if arr.ndim != 1:
        raise PersonaError(
            f"persona_of_node must be one-dimensional, one entry per node; got shape {arr.shape}"
        )
    if arr.shape[0] != n:
        raise PersonaError(
            f"persona_of_node must have one entry per node (n_nodes={n}); got {arr.shape[0]}"
        )
    # An empty list arrives as float64; there is nothing in it to be wrong.
    if n == 0:
        out = np.zeros(0, dtype=np.int8)
        out.flags.writeable = False
        return out
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise PersonaError(
            f"persona_of_node must have an integer dtype (persona indices 0..{N_PERSONAS - 1}); "
            f"got dtype {arr.dtype}"
        )
    bad = np.flatnonzero((arr < 0) | (arr >= N_PERSONAS))
    if bad.size:
        shown = ", ".join(f"node {int(v)}: {arr[v]}" for v in bad[:_SHOW])
        more = f" and {bad.size - _SHOW} more" if bad.size > _SHOW else ""
        raise PersonaError(
            f"persona_of_node values must be in 0..{N_PERSONAS - 1}; {bad.size} are not "
            f"({shown}{more})"
        )
    out = arr.astype(np.int8)
    out.flags.writeable = False
    return out
