"""agent_histories: every agent's rounds at risk and exposures, against the round-by-round sums."""

from __future__ import annotations

import numpy as np
import pytest

from spillover.engine import agent_histories, simulate
from spillover.graphs import Graph, erdos_renyi, random_regular
from spillover.policies import ConstantPolicy
from spillover.trajectories import SimulationResult


def _by_rounds(graph: Graph, result: SimulationResult) -> list[tuple[int | bool, ...]]:
    """The histories by definition: m_i(t) = #{neighbours j : a_j <= t - 1}, round by round."""
    n, n_rounds = graph.n_nodes, result.n_rounds
    rows = []
    for rep in range(result.n_reps):
        a = np.full(n, n_rounds + 1)
        mask = result.adoptions.replicate == rep
        a[result.adoptions.agent[mask]] = result.adoptions.round[mask]
        for i in range(n):
            if a[i] == 0:
                continue
            nb = a[graph.indices[graph.indptr[i] : graph.indptr[i + 1]]]
            exposure = sum(int(np.sum(nb <= t - 1)) for t in range(1, a[i]))
            shared = a[i] <= n_rounds
            at_share = int(np.sum(nb <= a[i] - 1)) if shared else 0
            persona = int(result.persona_of_node[i])
            rows.append((rep, i, persona, int(a[i]) - 1, exposure, at_share, bool(shared)))
    return rows


@pytest.mark.parametrize(
    ("graph", "alpha", "beta", "n_rounds"),
    [
        (random_regular(60, 4, rng=1), 0.0, 0.3, 12),  # everyone shares
        # Many never share, and some agents have no neighbours.
        (erdos_renyi(80, mean_degree=3.0, rng=2), 0.01, 0.15, 6),
    ],
)
def test_histories_are_the_round_by_round_sums(
    graph: Graph, alpha: float, beta: float, n_rounds: int
) -> None:
    result = simulate(
        graph, ConstantPolicy(alpha=alpha, beta=beta), n_rounds=n_rounds, n_reps=3, n_seeds=2, rng=5
    )
    h = agent_histories(graph, result)
    got = list(
        zip(
            h.replicate.tolist(),
            h.agent.tolist(),
            h.persona.tolist(),
            h.rounds_at_risk.tolist(),
            h.exposure_rounds.tolist(),
            h.exposed_at_share.tolist(),
            h.shared.astype(bool).tolist(),
            strict=True,
        )
    )
    expected = _by_rounds(graph, result)
    assert got == expected
    assert int(h.shared.sum()) > 0
    assert len(h) == 3 * graph.n_nodes - 3 * 2
    assert all(not col.flags.writeable for col in (h.agent, h.exposure_rounds, h.shared))
