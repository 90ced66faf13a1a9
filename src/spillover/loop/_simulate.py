"""``simulate_coupled``: replicates of the coupled online-offline spread on a fixed graph."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from spillover._checks import check_run_sizes, check_seed_ids
from spillover._rng import SeedLike, SeedRecord, seed_record
from spillover.exceptions import ConfigError
from spillover.loop._kernel import FLOW_NAMES, STATE_NAMES, run_cascade

if TYPE_CHECKING:
    from spillover.graphs import Graph

__all__ = ["CascadeArrays", "CoupledRates", "CoupledResult", "run_one", "simulate_coupled"]

_RATE_HELP = {
    "alpha": "per-round probability that an unaware agent engages without an engaged neighbour",
    "beta": "per-round probability of engaging per engaged neighbour",
    "gamma": "per-round probability that an engaged agent stops engaging (fades)",
    "eta": "per-round online-to-offline probability: an engaged agent joins offline",
    "kappa": "per-round probability of joining offline per participating neighbour",
    "delta": "per-round probability that a participant leaves offline participation",
}


@dataclass(frozen=True)
class CoupledRates:
    """Per-round probabilities of the coupled model (docs/loop.md), each in [0, 1].

    ``alpha``, ``beta``: online (as in DESIGN section 2, counting *engaged* neighbours);
    ``gamma``: fading of online engagement (0: SI online layer); ``eta``: online-to-offline;
    ``kappa``: offline contacts; ``delta``: leaving offline participation.
    """

    beta: float
    eta: float
    delta: float
    alpha: float = 0.0
    gamma: float = 0.0
    kappa: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
                raise ConfigError(
                    f"coupled rate {f.name!r} must be a number in [0, 1] "
                    f"({_RATE_HELP[f.name]}); got {value!r}"
                )
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ConfigError(
                    f"coupled rate {f.name!r} must be finite and in [0, 1] "
                    f"({_RATE_HELP[f.name]}); got {value!r}"
                )
            object.__setattr__(self, f.name, float(value))

    def as_array(self) -> np.ndarray:
        """``alpha, beta, gamma, eta, kappa, delta`` as the kernel takes them."""
        return np.array(
            [self.alpha, self.beta, self.gamma, self.eta, self.kappa, self.delta], dtype=np.float64
        )

    def to_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class _RoundStatistics:
    """The per-round arrays of a cascade, one cascade's or stacked over replicates."""

    counts: np.ndarray
    flows: np.ndarray
    share_at_risk: np.ndarray
    share_done: np.ndarray
    join_at_risk: np.ndarray
    join_done: np.ndarray


#: The names of the per-round arrays, in the kernel's order.
_ROUND_STATISTICS = tuple(f.name for f in fields(_RoundStatistics))


@dataclass(frozen=True)
class CascadeArrays(_RoundStatistics):
    """The arrays of one cascade (see :func:`spillover.loop._kernel.run_cascade`)."""

    engaged_round: np.ndarray
    joined_round: np.ndarray
    left_round: np.ndarray
    last_active: int

    def participants_at(self, round_: int) -> np.ndarray:
        """Agents participating offline at the end of ``round_`` (sorted ids)."""
        j, lr = self.joined_round, self.left_round
        return np.flatnonzero((j >= 0) & (j <= round_) & ((lr < 0) | (lr > round_)))


def run_one(
    graph: Graph, rates: CoupledRates, seeds: np.ndarray, n_rounds: int, key: int
) -> CascadeArrays:
    """One cascade from the given seed agents with the given decision key."""
    k1 = int(graph.max_degree) + 1
    t1 = n_rounds + 1
    # The kernel's output arrays, in its argument order (that of CascadeArrays' fields).
    arrays: dict[str, Any] = {
        "counts": np.zeros((t1, len(STATE_NAMES)), dtype=np.int64),
        "flows": np.zeros((t1, len(FLOW_NAMES)), dtype=np.int64),
        **{name: np.zeros((t1, k1), dtype=np.int64) for name in _ROUND_STATISTICS[2:]},
        **{
            name: np.full(graph.n_nodes, -1, dtype=np.int32)
            for name in ("engaged_round", "joined_round", "left_round")
        },
    }
    last = run_cascade(
        np.ascontiguousarray(graph.indptr, dtype=np.int64),
        np.ascontiguousarray(graph.indices),
        rates.as_array(),
        np.ascontiguousarray(seeds, dtype=np.int64),
        n_rounds,
        np.uint64(key),
        *arrays.values(),
    )
    for arr in arrays.values():
        arr.flags.writeable = False
    return CascadeArrays(**arrays, last_active=int(last))


@dataclass(frozen=True)
class CoupledResult(_RoundStatistics):
    """``n_reps`` replicates of one coupled run.

    Attributes
    ----------
    counts : ndarray of int64, shape (n_reps, n_rounds + 1, 5)
        Agents in each state (``STATE_NAMES``) at the end of each round.
    flows : ndarray of int64, shape (n_reps, n_rounds + 1, 4)
        Transitions in each round (``FLOW_NAMES``); row 0 is zero.
    share_at_risk, share_done, join_at_risk, join_done : ndarray of int64,
        shape (n_reps, n_rounds + 1, max_degree + 1): the sufficient statistics of the
        engagement rule (by engaged neighbours) and of the joining rule (by participating
        neighbours), as :class:`~spillover.trajectories.ExposureTable` is for the SI engine.
    seeds : ndarray of int64, shape (n_reps, n_seeds)
    rates : CoupledRates
    n_nodes : int
    seed_record : SeedRecord
    """

    seeds: np.ndarray
    rates: CoupledRates
    n_nodes: int
    seed_record: SeedRecord

    def fraction(self, state: str) -> np.ndarray:
        """Share of agents in one state, shape (n_reps, n_rounds + 1)."""
        if state not in STATE_NAMES:
            raise ConfigError(f"state must be one of {', '.join(STATE_NAMES)}; got {state!r}")
        out: np.ndarray = self.counts[:, :, STATE_NAMES.index(state)] / self.n_nodes
        return out

    @property
    def ever_participated(self) -> np.ndarray:
        """Cumulative share of agents that joined offline, shape (n_reps, n_rounds + 1)."""
        out: np.ndarray = np.cumsum(self.flows[:, :, 1], axis=1) / self.n_nodes
        return out


def simulate_coupled(
    graph: Graph,
    rates: CoupledRates,
    *,
    n_rounds: int,
    n_reps: int = 1,
    n_seeds: int = 1,
    seeds: Sequence[int] | np.ndarray | None = None,
    rng: SeedLike = None,
) -> CoupledResult:
    """Simulate ``n_reps`` independent coupled cascades of one news item on a fixed graph.

    Seeding and randomness follow :func:`spillover.engine.simulate`: ``n_seeds`` engaged
    agents per replicate from the ``seeds`` stream (or the given ``seeds``), one decision key
    per replicate from the ``dynamics`` stream, keyed uniforms per (round, agent).

    Returns
    -------
    CoupledResult
    """
    n_rounds, n_reps, n_seeds = check_run_sizes(n_rounds=n_rounds, n_reps=n_reps, n_seeds=n_seeds)
    if not isinstance(rates, CoupledRates):
        raise ConfigError(f"rates must be a CoupledRates; got {type(rates).__name__}")
    record = seed_record(rng)
    n = graph.n_nodes
    parts = []
    seed_sets = []
    for rep in range(n_reps):
        if seeds is not None:
            chosen = _given_seeds(seeds, n)
        else:
            if n_seeds > n:
                raise ConfigError(f"n_seeds must be <= n_nodes ({n}); got {n_seeds}")
            chosen = np.sort(record.generator("seeds", rep).choice(n, size=n_seeds, replace=False))
        key = int(record.generator("dynamics", rep).integers(0, 2**64, dtype=np.uint64))
        parts.append(run_one(graph, rates, chosen, n_rounds, key))
        seed_sets.append(np.asarray(chosen, dtype=np.int64))

    def stack(arrays: list[np.ndarray]) -> np.ndarray:
        arr = np.stack(arrays)
        arr.flags.writeable = False
        return arr

    return CoupledResult(
        **{name: stack([getattr(p, name) for p in parts]) for name in _ROUND_STATISTICS},
        seeds=stack(seed_sets),
        rates=rates,
        n_nodes=n,
        seed_record=record,
    )


def _given_seeds(seeds: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    return np.sort(check_seed_ids(seeds, n))
