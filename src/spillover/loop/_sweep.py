"""Offline outbreak size against the online-to-offline rate: engine replicates next to the
mean-field and pair-closure predictions (the check of the critical range)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spillover._rng import SeedLike, seed_record
from spillover.loop._simulate import CoupledRates, simulate_coupled
from spillover.models import coupled_map

__all__ = ["OutbreakSweep", "outbreak_sweep"]


@dataclass(frozen=True)
class OutbreakSweep:
    """Final offline size (share ever participating) and peak participating share per rate.

    ``sim_*`` have shape (n_etas, n_reps), at ``etas``; ``mf_*`` and ``pair_*`` shape
    (n_grid,), at the finer ``grid`` spanning the same range.
    """

    degree: int
    beta: float
    gamma: float
    delta: float
    n_nodes: int
    n_seeds: int
    etas: np.ndarray
    grid: np.ndarray
    sim_final: np.ndarray
    sim_peak: np.ndarray
    mf_final: np.ndarray
    mf_peak: np.ndarray
    pair_final: np.ndarray
    pair_peak: np.ndarray


def outbreak_sweep(
    *,
    degree: int,
    beta: float,
    gamma: float,
    delta: float,
    etas: Sequence[float] | np.ndarray,
    n_nodes: int,
    n_reps: int,
    n_seeds: int,
    n_rounds: int,
    kappa: float = 0.0,
    rng: SeedLike = None,
) -> OutbreakSweep:
    """Run the engine at each ``eta`` (one random ``degree``-regular graph from the ``graph``
    stream, ``n_reps`` replicates per rate) and evaluate both maps on a fine grid of the same
    rates. Rate j uses the ``dynamics`` stream keyed ``(degree, j)``."""
    from spillover.graphs import random_regular

    record = seed_record(rng)
    eta_arr = np.asarray(etas, dtype=np.float64)
    graph = random_regular(n_nodes, degree, rng=record.generator("graph", degree))
    finals, peaks = [], []
    for j, eta in enumerate(eta_arr):
        rates = CoupledRates(beta=beta, eta=float(eta), gamma=gamma, delta=delta, kappa=kappa)
        seed = int(record.generator("dynamics", degree, j).integers(0, 2**63))
        res = simulate_coupled(
            graph, rates, n_rounds=n_rounds, n_reps=n_reps, n_seeds=n_seeds, rng=seed
        )
        finals.append(res.ever_participated[:, -1])
        peaks.append(res.fraction("participating").max(axis=1))
    grid = np.linspace(float(eta_arr.min()), float(eta_arr.max()), 200)
    kw = {
        "beta": beta,
        "eta": grid,
        "delta": delta,
        "gamma": gamma,
        "kappa": kappa,
        "degree": degree,
        "i0": n_seeds / n_nodes,
        "n_rounds": n_rounds,
    }
    mf = coupled_map("loop-mf", **kw)  # type: ignore[arg-type]
    pair = coupled_map("loop-pair", **kw)  # type: ignore[arg-type]
    return OutbreakSweep(
        degree=degree,
        beta=beta,
        gamma=gamma,
        delta=delta,
        n_nodes=n_nodes,
        n_seeds=n_seeds,
        etas=eta_arr,
        grid=grid,
        sim_final=np.stack(finals),
        sim_peak=np.stack(peaks),
        mf_final=mf.ever_participated[..., -1],
        mf_peak=mf.participating.max(axis=-1),
        pair_final=pair.ever_participated[..., -1],
        pair_peak=pair.participating.max(axis=-1),
    )
