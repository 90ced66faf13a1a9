"""Per-agent histories of a run, from its adoptions and the graph (one pass over the edges)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import numba
import numpy as np

from spillover.trajectories import AgentHistories, SimulationResult

if TYPE_CHECKING:
    from spillover.graphs import Graph

__all__ = ["agent_histories"]

Columns: TypeAlias = tuple[np.ndarray, ...]


@numba.njit(cache=True)
def _share_rounds(n: int, n_rounds: int, rep: int, adoptions: Columns, a: np.ndarray) -> int:
    """Fill ``a`` with replicate ``rep``'s round of sharing (``n_rounds + 1``: never shared);
    return how many agents were not seeds (``a >= 1``)."""
    replicate, agent, round_ = adoptions
    a[:] = n_rounds + 1
    for r in range(replicate.shape[0]):
        if replicate[r] == rep:
            a[agent[r]] = round_[r]
    kept = 0
    for i in range(n):
        kept += a[i] >= 1
    return kept


@numba.njit(cache=True)
def _count_rows(n: int, n_rounds: int, n_reps: int, adoptions: Columns) -> int:
    """Rows of the histories: the agents that were not seeds, summed over the replicates."""
    a = np.empty(n, dtype=np.int64)
    total = 0
    for rep in range(n_reps):
        total += _share_rounds(n, n_rounds, rep, adoptions, a)
    return total


@numba.njit(cache=True)
def _fill_histories(
    indptr: np.ndarray,
    indices: np.ndarray,
    n_rounds: int,
    n_reps: int,
    adoptions: Columns,
    out: Columns,
) -> None:
    """The rows of :func:`agent_histories`, by replicate then agent, into the ``out`` columns.

    Agent i's neighbours j informed by round ``A_i - 1`` (``a_j <= A_i - 1``; those informed
    later add nothing) each add ``A_i - 1 - a_j`` exposure-rounds and, if i shared, one to its
    exposure at sharing.
    """
    replicate, agent, rounds_at_risk, exposure_rounds, exposed_at_share, shared = out
    n = indptr.shape[0] - 1
    a = np.empty(n, dtype=np.int64)
    row = 0
    for rep in range(n_reps):
        _share_rounds(n, n_rounds, rep, adoptions, a)
        for i in range(n):
            if a[i] < 1:
                continue  # a seed (round 0) was never at risk
            last = a[i] - 1
            total = 0
            count = 0
            for e in range(indptr[i], indptr[i + 1]):
                aj = a[indices[e]]
                if aj <= last:
                    total += last - aj
                    count += 1
            did = a[i] <= n_rounds
            replicate[row] = rep
            agent[row] = i
            rounds_at_risk[row] = last
            exposure_rounds[row] = total
            exposed_at_share[row] = count if did else 0
            shared[row] = 1 if did else 0
            row += 1


def agent_histories(graph: Graph, result: SimulationResult) -> AgentHistories:
    """The :class:`AgentHistories` of every non-seed agent in every replicate.

    Agent i that shared in round A_i (A_i = n_rounds + 1 if it never did) was at risk without
    sharing in rounds 1 .. A_i - 1, with ``m_i(t) = #{neighbours j : a_j <= t - 1}``. Summing
    over those rounds, neighbour j contributes ``max(0, A_i - 1 - a_j)`` exposure-rounds, and
    counts towards the exposure at sharing when ``a_j <= A_i - 1``. Rows are ordered by
    replicate, then agent. One pass over the edges per replicate, with ``O(n_nodes)`` working
    memory besides the table itself.
    """
    n = graph.n_nodes
    adoptions = (result.adoptions.replicate, result.adoptions.agent, result.adoptions.round)
    size = _count_rows(n, result.n_rounds, result.n_reps, adoptions)
    dtypes = dict(AgentHistories._columns())
    names = ("replicate", "agent", "rounds_at_risk", "exposure_rounds", "exposed_at_share")
    columns: dict[str, np.ndarray] = {
        name: np.empty(size, dtype=dtypes[name]) for name in (*names, "shared")
    }
    out = tuple(columns.values())
    _fill_histories(graph.indptr, graph.indices, result.n_rounds, result.n_reps, adoptions, out)
    columns["persona"] = result.persona_of_node[columns["agent"]].astype(dtypes["persona"])
    for column in columns.values():
        column.flags.writeable = False  # owned and frozen: AgentHistories keeps them as they are
    return AgentHistories(**columns)
