"""Per-agent histories of a run, from its adoptions and the graph (vectorised, O(edges))."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from spillover.trajectories import AgentHistories, SimulationResult

if TYPE_CHECKING:
    from spillover.graphs import Graph

__all__ = ["agent_histories"]


def agent_histories(graph: Graph, result: SimulationResult) -> AgentHistories:
    """The :class:`AgentHistories` of every non-seed agent in every replicate.

    Agent i that shared in round A_i (A_i = n_rounds + 1 if it never did) was at risk without
    sharing in rounds 1 .. A_i - 1, with ``m_i(t) = #{neighbours j : a_j <= t - 1}``. Summing
    over those rounds, neighbour j contributes ``max(0, A_i - 1 - a_j)`` exposure-rounds, and
    counts towards the exposure at sharing when ``a_j <= A_i - 1``.
    """
    n = graph.n_nodes
    n_rounds = result.n_rounds
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(graph.indptr))
    dst = np.asarray(graph.indices, dtype=np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    adoptions = result.adoptions
    for rep in range(result.n_reps):
        rows = adoptions.replicate == rep
        a = np.full(n, n_rounds + 1, dtype=np.int64)  # never shared: beyond the last round
        a[adoptions.agent[rows]] = adoptions.round[rows]
        last_at_risk = a[src] - 1
        informed_nb = a[dst] <= n_rounds
        contrib = np.where(informed_nb, np.maximum(0, last_at_risk - a[dst]), 0)
        exposure_rounds = np.bincount(src, weights=contrib, minlength=n).astype(np.int64)
        at_share = np.bincount(src, weights=informed_nb & (a[dst] <= last_at_risk), minlength=n)
        shared = (a >= 1) & (a <= n_rounds)
        keep = a >= 1  # seeds (round 0) were never at risk
        agents = np.flatnonzero(keep)
        parts.append(
            (
                np.full(agents.size, rep),
                agents,
                a[agents] - 1,
                exposure_rounds[agents],
                np.where(shared[agents], at_share[agents], 0).astype(np.int64),
                shared[agents].astype(np.int8),
            )
        )
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    return AgentHistories(
        replicate=cols[0],
        agent=cols[1],
        persona=result.persona_of_node[cols[1]],
        rounds_at_risk=cols[2],
        exposure_rounds=cols[3],
        exposed_at_share=cols[4],
        shared=cols[5],
    )
