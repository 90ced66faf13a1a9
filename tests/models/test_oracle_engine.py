"""Oracle: the pair map against the engine's mean curve on random k-regular graphs.

The pair map is the large-graph limit of the engine on random k-regular graphs (docs/models.md
proves it equal to exact message passing on the k-regular tree), so its distance to the mean of
20 replicates on 20,000 agents is replicate noise plus finite-size effects: measured 0.002-0.006
(table in docs/models.md). The homogeneous map runs ahead by 0.1-0.5.
"""

from __future__ import annotations

import numpy as np
import pytest

from spillover.engine import simulate
from spillover.graphs import random_regular
from spillover.models import pair_map, si2_map
from spillover.policies import ConstantPolicy

N_NODES = 20_000
N_REPS = 20
N_SEEDS = 100  # 0.5 %
N_ROUNDS = 60
#: Largest absolute gap allowed between the pair map and the engine's mean informed fraction.
PAIR_TOLERANCE = 0.015


@pytest.mark.slow
@pytest.mark.parametrize(
    ("degree", "alpha", "beta"),
    [(4, 0.001, 0.12), (8, 0.001, 0.05), (16, 0.001, 0.025), (8, 0.0, 0.05), (3, 0.002, 0.2)],
)
def test_pair_map_tracks_the_engine_and_the_homogeneous_map_does_not(
    degree: int, alpha: float, beta: float
) -> None:
    graph = random_regular(N_NODES, degree, rng=degree)
    result = simulate(
        graph,
        ConstantPolicy(alpha, beta),
        n_rounds=N_ROUNDS,
        n_reps=N_REPS,
        n_seeds=N_SEEDS,
        rng=100 + degree,
    )
    engine = result.curves.fraction().mean(0)
    assert engine[-1] > 0.99  # saturated within the horizon: the whole curve is compared
    i0 = N_SEEDS / N_NODES
    pair_error = np.abs(pair_map(alpha, beta, degree, i0, N_ROUNDS) - engine).max()
    homogeneous_error = np.abs(si2_map(alpha, beta, degree, i0, N_ROUNDS) - engine).max()
    print(
        f"k={degree} alpha={alpha} beta={beta}: max |pair - engine| = {pair_error:.4f}, "
        f"max |homogeneous - engine| = {homogeneous_error:.4f}"
    )
    assert pair_error < PAIR_TOLERANCE
    assert pair_error < homogeneous_error / 4
