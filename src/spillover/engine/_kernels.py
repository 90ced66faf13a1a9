"""The numba kernel of the discrete-round SI engine (one replicate).

State kept incrementally, so that a round costs time proportional to the agents that are
candidates in it, not to the graph:

- ``n_exposed[i]``: informed neighbours of agent i; an agent that shares adds one to each of
  its neighbours once.
- ``hist[c, m]``: susceptible agents of persona c with m informed neighbours. It is the
  ``at_risk`` row of the exposure table for the round, copied out before the decisions.
- a candidate list: every susceptible agent, or, when no persona can share without an informed
  neighbour (``prob[:, 0] == 0``), only the susceptible agents with at least one (the at-risk
  list). Decisions come from keyed uniforms, so both lists give identical results.
"""

from __future__ import annotations

import numba
import numpy as np

from spillover.engine._uniform import decision_uniform

__all__ = ["run_replicate"]


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
) -> int:
    """Simulate one replicate in place; return the last round in which anybody shared.

    Parameters
    ----------
    indptr, indices : CSR arrays of an undirected simple graph with ``n`` nodes.
    persona_of_node : (n,) int8, class of each node in ``0..C-1``.
    prob : (C, K + 1) float64, share probability by class and informed neighbours, where K is
        the maximum degree.
    seeds : (s,) int64, distinct agents informed at round 0.
    n_rounds : int, last round T.
    key : uint64, the replicate's decision key.
    at_risk, shared : (T + 1, C, K + 1) int64, zeroed; filled for rounds 1..T.
    informed_by_persona : (T + 1, C) int64, zeroed; cumulative informed count per class.
    adoption_round : (n,) int32, filled with -1; set to the round each agent shared.
    """
    n = indptr.shape[0] - 1
    n_classes = prob.shape[0]
    n_exposed = np.zeros(n, dtype=np.int32)
    hist = np.zeros((n_classes, prob.shape[1]), dtype=np.int64)

    for i in range(n):
        hist[persona_of_node[i], 0] += 1

    offline_possible = False
    for c in range(n_classes):
        if prob[c, 0] > 0.0:
            offline_possible = True

    # Candidates: all susceptible agents, or the at-risk list (filled as exposure arrives).
    candidates = np.empty(n, dtype=np.int32)
    n_candidates = 0
    newly = np.empty(n, dtype=np.int32)

    for s in seeds:
        adoption_round[s] = 0
        hist[persona_of_node[s], 0] -= 1
    if offline_possible:
        for i in range(n):
            if adoption_round[i] < 0:
                candidates[n_candidates] = i
                n_candidates += 1
    n_new = 0
    for s in seeds:
        newly[n_new] = s
        n_new += 1
    n_candidates = _spread(
        indptr,
        indices,
        persona_of_node,
        adoption_round,
        n_exposed,
        hist,
        newly,
        n_new,
        candidates,
        n_candidates,
        offline_possible,
    )

    counts = np.zeros(n_classes, dtype=np.int64)
    for s in seeds:
        counts[persona_of_node[s]] += 1
    informed_by_persona[0, :] = counts

    last_active = 0
    for t in range(1, n_rounds + 1):
        at_risk[t, :, :] = hist
        # Drop agents that shared last round, then draw this round's decisions.
        kept = 0
        n_new = 0
        n_possible = 0
        for j in range(n_candidates):
            i = candidates[j]
            if adoption_round[i] >= 0:
                continue
            candidates[kept] = i
            kept += 1
            p = prob[persona_of_node[i], n_exposed[i]]
            if p > 0.0:
                n_possible += 1
                if decision_uniform(key, t, i) < p:
                    newly[n_new] = i
                    n_new += 1
        n_candidates = kept

        # Everyone decides from the state at the end of the previous round: mark all first,
        # with the exposure they decided on, then pass the news on to their neighbours.
        for j in range(n_new):
            i = newly[j]
            c = persona_of_node[i]
            m = n_exposed[i]
            adoption_round[i] = t
            hist[c, m] -= 1
            shared[t, c, m] += 1
            counts[c] += 1
        n_candidates = _spread(
            indptr,
            indices,
            persona_of_node,
            adoption_round,
            n_exposed,
            hist,
            newly,
            n_new,
            candidates,
            n_candidates,
            offline_possible,
        )
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
def _spread(
    indptr: np.ndarray,
    indices: np.ndarray,
    persona_of_node: np.ndarray,
    adoption_round: np.ndarray,
    n_exposed: np.ndarray,
    hist: np.ndarray,
    newly: np.ndarray,
    n_new: int,
    candidates: np.ndarray,
    n_candidates: int,
    offline_possible: bool,
) -> int:
    """Add one informed neighbour to each neighbour of the agents in ``newly[:n_new]``."""
    for j in range(n_new):
        i = newly[j]
        for e in range(indptr[i], indptr[i + 1]):
            v = indices[e]
            m = n_exposed[v]
            n_exposed[v] = m + 1
            if adoption_round[v] < 0:
                c = persona_of_node[v]
                hist[c, m] -= 1
                hist[c, m + 1] += 1
                if m == 0 and not offline_possible:
                    candidates[n_candidates] = v
                    n_candidates += 1
    return n_candidates
