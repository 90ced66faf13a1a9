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
    """The posts of a feed-mode run: ``replicate, round, agent, text``, one per sharer, with
    two flags per post.

    Attributes
    ----------
    post_status : tuple of str
        ``"ok"``, ``"retried"`` (the post came from the answer asked again with twice the
        token limit) or ``"no_text"`` (no readable post even then: a share without text, whose
        ``text`` is ""); all ``"ok"`` when not given.
    copied : tuple of str or None
        ``"news"`` when the post copies the news item verbatim, ``"post"`` when it copies a
        post of the feed the agent saw, else None (:func:`spillover.engine.copied_from`);
        all None when not given.
    """

    replicate: np.ndarray
    round: np.ndarray
    agent: np.ndarray
    text: tuple[str, ...]
    post_status: tuple[str, ...] = ()
    copied: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        for name, dtype in (("replicate", np.int32), ("round", np.int32), ("agent", np.int64)):
            arr = np.array(getattr(self, name), dtype=dtype)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        n = len(self.text)
        object.__setattr__(self, "text", tuple(str(t) for t in self.text))
        status = tuple(str(s) for s in self.post_status) if self.post_status else ("ok",) * n
        copied: tuple[str | None, ...] = (None,) * n
        if self.copied:
            copied = tuple(None if c is None else str(c) for c in self.copied)
        object.__setattr__(self, "post_status", status)
        object.__setattr__(self, "copied", copied)
        if not (
            len(self.replicate) == len(self.round) == len(self.agent) == n == len(status)
            and len(copied) == n
        ):
            raise ConfigError("Posts: columns must have equal lengths")

    def __len__(self) -> int:
        return len(self.text)

    def columns(self) -> dict[str, Any]:
        return {
            "replicate": self.replicate,
            "round": self.round,
            "agent": self.agent,
            "text": list(self.text),
            "post_status": list(self.post_status),
            "copied": list(self.copied),
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
