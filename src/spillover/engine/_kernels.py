"""The numba kernels of the discrete-round SI engine (one replicate).

State kept incrementally, so that a round costs time proportional to the agents that are
candidates in it, not to the graph:

- ``state[i]``: one integer per agent holding everything a round reads about it, so that
  passing the news along an edge touches one memory location: ``-1`` once the agent has
  shared, else ``persona << shift | n_exposed`` (its class and its informed neighbours).
  Memory latency, not arithmetic, bounds the engine on large graphs; one word per agent
  instead of separate exposure, adoption and persona arrays is what makes it fast, and the
  spread prefetches the loads of the agents a few places ahead so that their misses overlap.
- ``hist[c, m]``: susceptible agents of persona c with m informed neighbours. It is the
  ``at_risk`` row of the exposure table for the round, copied out before the decisions.
- a candidate list: every susceptible agent, or, when no persona can share without an informed
  neighbour (``prob[:, 0] == 0``), only the susceptible agents with at least one (the at-risk
  list). Decisions come from keyed uniforms, so both lists give identical results, and so
  does any order of the list, or a sweep over all agents in id order instead of the list,
  which is what a round does once the list holds a sizeable fraction of the graph.
"""

from __future__ import annotations

import numba
import numpy as np

from spillover._prefetch import prefetch
from spillover.engine._uniform import decision_uniform

__all__ = ["adoption_order", "run_replicate", "state_layout"]

#: Bits of ``state`` below the persona for the int16 layout: n_exposed < 2**10. The
#: narrowest layout that holds the degree is used: at 10M agents of degree 8 the int16 state
#: (20 MB) mostly stays in the last-level cache, measured 9 % faster than int32 (1M: 2 %).
_SHIFT_16 = 10
#: The same for the int32 layout: n_exposed < 2**26.
_SHIFT_32 = 26
#: The same for the int64 layout (graphs with a node of degree >= 2**26).
_SHIFT_64 = 57
#: A round sweeps all agents instead of its candidate list once the list holds more than
#: 1 / _DENSE_FRACTION of them. Measured with the prefetching list (1M agents, degree 8,
#: beta 0.1): 2 is 10 % faster than 4 and 16, and than the list alone (1); at 10M the same
#: as 16; with alpha > 0 all equal (docs/benchmarks.md).
_DENSE_FRACTION = 2
#: How many agents ahead the spread prefetches each of its three dependent loads: an agent's
#: ``indptr`` entry, its adjacency, its neighbours' states (measured at 1M agents: 16/8/4 and
#: 24/12/6 equally fast, 1.8x faster than no prefetching; 8/4/2 barely faster than none).
_AHEAD_INDPTR = 16
_AHEAD_ADJACENCY = 8
_AHEAD_STATE = 4


def state_layout(max_degree: int) -> tuple[type[np.signedinteger], int]:
    """The dtype of the per-agent state and the bit position of the persona in it."""
    if max_degree < 2**_SHIFT_16:
        return np.int16, _SHIFT_16
    if max_degree < 2**_SHIFT_32:
        return np.int32, _SHIFT_32
    return np.int64, _SHIFT_64


@numba.njit(cache=True)
def run_replicate(
    indptr: np.ndarray,
    indices: np.ndarray,
    persona_of_node: np.ndarray,
    prob: np.ndarray,
    seeds: np.ndarray,
    n_rounds: int,
    key: np.uint64,
    at_risk: np.ndarray,
    shared: np.ndarray,
    informed_by_persona: np.ndarray,
    adoption_round: np.ndarray,
    state: np.ndarray,
    candidates: np.ndarray,
    newly: np.ndarray,
    shift: int,
) -> int:
    """Simulate one replicate in place; return the last round in which anybody shared.

    Parameters
    ----------
    indptr, indices : CSR arrays of an undirected simple graph with ``n`` nodes.
    persona_of_node : (n,) int8, class of each node in ``0..C-1`` (C <= 32).
    prob : (C, K + 1) float64, share probability by class and informed neighbours, where K is
        the maximum degree.
    seeds : (s,) int64, distinct agents informed at round 0.
    n_rounds : int, last round T.
    key : uint64, the replicate's decision key.
    at_risk, shared : (T + 1, C, K + 1) int64, zeroed; filled for rounds 1..T.
    informed_by_persona : (T + 1, C) int64, zeroed; cumulative informed count per class.
    adoption_round : (n,) int32, filled with -1; set to the round each agent shared.
    state, newly : (n,) and candidates : (n + 1,) work arrays, contents ignored; ``state``
        of the dtype and ``shift`` given by :func:`state_layout` for K, the other two int32
        (int64 for graphs of 2**31 nodes or more).
    """
    n = indptr.shape[0] - 1
    n_classes = prob.shape[0]
    mask = (1 << shift) - 1
    # ``hist`` is a view of ``flat``, whose two last cells take the spread's updates for
    # neighbours that already shared (so that the spread need not branch on them).
    width = prob.shape[1]
    flat = np.zeros(n_classes * width + 2, dtype=np.int64)
    hist = flat[: n_classes * width].reshape((n_classes, width))
    for i in range(n):
        c = persona_of_node[i]
        state[i] = c << shift
        hist[c, 0] += 1

    offline_possible = False
    for c in range(n_classes):
        if prob[c, 0] > 0.0:
            offline_possible = True

    counts = np.zeros(n_classes, dtype=np.int64)
    n_new = 0
    for s in seeds:
        c = persona_of_node[s]
        hist[c, 0] -= 1
        counts[c] += 1
        state[s] = -1
        adoption_round[s] = 0
        newly[n_new] = s
        n_new += 1
    informed_by_persona[0, :] = counts
    # Candidates: all susceptible agents, or the at-risk list (filled as exposure arrives).
    n_candidates = 0
    if offline_possible:
        for i in range(n):
            if state[i] >= 0:
                candidates[n_candidates] = i
                n_candidates += 1
    n_candidates = _spread(
        indptr, indices, state, flat, width, newly, n_new, candidates, n_candidates,
        not offline_possible, shift, mask,
    )  # fmt: skip

    last_active = 0
    for t in range(1, n_rounds + 1):
        at_risk[t, :, :] = hist
        # Drop agents that shared last round, then draw this round's decisions.
        if n_candidates * _DENSE_FRACTION > n:
            n_candidates, n_new, n_possible = _decide_dense(
                state, prob, key, t, candidates, newly, offline_possible, shift, mask
            )
        else:
            n_candidates, n_new, n_possible = _decide_listed(
                state, prob, key, t, candidates, n_candidates, newly, shift, mask
            )

        # Everyone decides from the state at the end of the previous round: mark all first,
        # with the exposure they decided on, then pass the news on to their neighbours.
        for j in range(n_new):
            i = newly[j]
            s = state[i]
            c = s >> shift
            m = s & mask
            state[i] = -1
            adoption_round[i] = t
            hist[c, m] -= 1
            shared[t, c, m] += 1
            counts[c] += 1
        n_candidates = _spread(
            indptr, indices, state, flat, width, newly, n_new, candidates, n_candidates,
            not offline_possible, shift, mask,
        )  # fmt: skip
        informed_by_persona[t, :] = counts
        if n_new > 0:
            last_active = t
        elif n_possible == 0:
            # Nobody can share now and nothing changes: the remaining rounds repeat this one.
            for u in range(t + 1, n_rounds + 1):
                at_risk[u, :, :] = hist
                informed_by_persona[u, :] = counts
            break
    return last_active


@numba.njit(cache=True)
def _decide_listed(
    state: np.ndarray,
    prob: np.ndarray,
    key: np.uint64,
    t: int,
    candidates: np.ndarray,
    n_candidates: int,
    newly: np.ndarray,
    shift: int,
    mask: int,
) -> tuple[int, int, int]:
    """Decisions of the listed candidates; drops those that shared from the list.

    Returns the candidates kept, the agents that share (in ``newly``) and the candidates
    with a positive probability.
    """
    kept = 0
    n_new = 0
    n_possible = 0
    for j in range(n_candidates):
        if j + _AHEAD_INDPTR < n_candidates:
            prefetch(state, candidates[j + _AHEAD_INDPTR])
        i = candidates[j]
        s = state[i]
        if s < 0:
            continue
        candidates[kept] = i
        kept += 1
        p = prob[s >> shift, s & mask]
        if p > 0.0:
            n_possible += 1
            if decision_uniform(key, t, i) < p:
                newly[n_new] = i
                n_new += 1
    return kept, n_new, n_possible


@numba.njit(cache=True)
def _decide_dense(
    state: np.ndarray,
    prob: np.ndarray,
    key: np.uint64,
    t: int,
    candidates: np.ndarray,
    newly: np.ndarray,
    offline_possible: bool,
    shift: int,
    mask: int,
) -> tuple[int, int, int]:
    """The same decisions as :func:`_decide_listed`, by one sweep over all agents.

    Used when the candidates are a sizeable fraction of the graph: a sequential sweep of
    ``state`` reads memory in order, and leaves ``newly`` (hence the next spread's reads of
    the adjacency) sorted, where the list visits agents in the order they were exposed.
    The candidate list is rebuilt in the same sweep.
    """
    kept = 0
    n_new = 0
    n_possible = 0
    for i in range(state.shape[0]):
        s = state[i]
        if s < 0:
            continue
        m = s & mask
        if m == 0 and not offline_possible:
            continue
        candidates[kept] = i
        kept += 1
        p = prob[s >> shift, m]
        if p > 0.0:
            n_possible += 1
            if decision_uniform(key, t, i) < p:
                newly[n_new] = i
                n_new += 1
    return kept, n_new, n_possible


@numba.njit(cache=True)
def _spread(
    indptr: np.ndarray,
    indices: np.ndarray,
    state: np.ndarray,
    flat: np.ndarray,
    width: int,
    newly: np.ndarray,
    n_new: int,
    candidates: np.ndarray,
    n_candidates: int,
    append: bool,
    shift: int,
    mask: int,
) -> int:
    """Add one informed neighbour to each susceptible neighbour of ``newly[:n_new]``.

    ``flat`` holds the exposure histogram row by row (``width`` cells a persona) and two
    spare cells at its end. With ``append``, an agent that gets its first informed neighbour
    joins the candidates; ``candidates`` has one spare slot, as every edge writes there.

    Whether a neighbour has shared is unpredictable, so the loop does not branch on it: a
    neighbour that shared keeps its ``-1``, its histogram update goes to the spare cells and
    its candidate slot is overwritten by the next one (measured 10 % faster at 1M agents than
    branching). On a large graph every step of an edge misses the caches; the loads of the
    agents a few places ahead in ``newly`` are prefetched so that they overlap
    (:mod:`spillover._prefetch`).
    """
    spare = flat.shape[0] - 2
    for j in range(n_new):
        if j + _AHEAD_INDPTR < n_new:
            prefetch(indptr, newly[j + _AHEAD_INDPTR])
        if j + _AHEAD_ADJACENCY < n_new:
            w = newly[j + _AHEAD_ADJACENCY]
            start, end = indptr[w], indptr[w + 1]
            if end > start:
                prefetch(indices, start)
                prefetch(indices, end - 1)
        if j + _AHEAD_STATE < n_new:
            w = newly[j + _AHEAD_STATE]
            for e in range(indptr[w], indptr[w + 1]):
                prefetch(state, indices[e])
        u = newly[j]
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            s = state[v]
            susceptible = s >= 0
            state[v] = s + susceptible
            m = s & mask
            cell = (s >> shift) * width + m if susceptible else spare
            flat[cell] -= 1
            flat[cell + 1] += 1
            if append:
                candidates[n_candidates] = v
                n_candidates += susceptible & (m == 0)
    return n_candidates


@numba.njit(cache=True)
def adoption_order(
    adoption_round: np.ndarray, n_rounds: int, agents: np.ndarray, rounds: np.ndarray
) -> None:
    """Fill ``agents`` and ``rounds`` (one entry per agent that shared) sorted by (round, agent).

    A counting sort: one pass to count the agents of each round, one to place them.
    """
    start = np.zeros(n_rounds + 2, dtype=np.int64)
    for r in adoption_round:
        if r >= 0:
            start[r + 1] += 1
    for r in range(n_rounds + 1):
        start[r + 1] += start[r]
    for i in range(adoption_round.shape[0]):
        r = adoption_round[i]
        if r >= 0:
            at = start[r]
            agents[at] = i
            rounds[at] = r
            start[r] = at + 1
