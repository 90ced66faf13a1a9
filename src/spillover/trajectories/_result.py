"""The value a simulation returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spillover._rng import SeedRecord
from spillover.exceptions import ConfigError
from spillover.trajectories._tables import Adoptions, Curves, ExposureTable

__all__ = ["Posts", "SimulationResult"]


@dataclass(frozen=True)
class Posts:
    """The posts of a feed-mode run: ``replicate, round, agent, text``, one per sharer."""

    replicate: np.ndarray
    round: np.ndarray
    agent: np.ndarray
    text: tuple[str, ...]

    def __post_init__(self) -> None:
        for name, dtype in (("replicate", np.int32), ("round", np.int32), ("agent", np.int64)):
            arr = np.array(getattr(self, name), dtype=dtype)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "text", tuple(str(t) for t in self.text))
        if not (len(self.replicate) == len(self.round) == len(self.agent) == len(self.text)):
            raise ConfigError("Posts: columns must have equal lengths")

    def __len__(self) -> int:
        return len(self.text)

    def columns(self) -> dict[str, Any]:
        return {
            "replicate": self.replicate,
            "round": self.round,
            "agent": self.agent,
            "text": list(self.text),
        }


@dataclass(frozen=True)
class SimulationResult:
    """Curves, exposures and adoptions of ``n_reps`` replicates of one run.

    Attributes
    ----------
    curves : Curves
    exposures : ExposureTable
    adoptions : Adoptions
    seeds : ndarray of int64, shape (n_reps, n_seeds)
        The agents informed at round 0 in each replicate.
    last_active_round : ndarray of int32, shape (n_reps,)
        The last round in which anybody shared, per replicate.
    seed_record : SeedRecord
        The entropy the run was seeded with.
    persona_of_node : ndarray of int8, shape (n_nodes,)
        The persona of every agent (the same in every replicate).
    posts : Posts or None
        The posts agents wrote (feed-mode runs, :func:`spillover.engine.simulate_feed`); None
        from the table engine.
    """

    curves: Curves
    exposures: ExposureTable
    adoptions: Adoptions
    seeds: np.ndarray
    last_active_round: np.ndarray
    seed_record: SeedRecord
    persona_of_node: np.ndarray
    posts: Posts | None = None

    def __post_init__(self) -> None:
        for name in ("seeds", "last_active_round", "persona_of_node"):
            arr = np.array(getattr(self, name))
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def n_reps(self) -> int:
        return self.curves.n_reps

    @property
    def n_rounds(self) -> int:
        return self.curves.n_rounds

    @property
    def n_nodes(self) -> int:
        return self.curves.n_nodes
