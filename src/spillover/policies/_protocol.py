"""The Policy seam: how likely each candidate agent is to share in a round."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from spillover.exceptions import PolicyError

if TYPE_CHECKING:
    from spillover.events import Event

__all__ = ["ExposureBatch", "Policy", "checked_probabilities"]


@dataclass(frozen=True)
class ExposureBatch:
    """The candidates of one decision batch.

    Parameters
    ----------
    persona : ndarray of int, shape (n,)
        Persona index (0-31, catalog order) of each candidate.
    n_exposed : ndarray of int, shape (n,)
        Informed neighbours of each candidate at the end of the previous round (m in the model).
    round : int or None
        The round the decisions are for; ``None`` when the batch is a table over all
        (persona, exposure) keys that the engine reuses for every round.
    """

    persona: np.ndarray
    n_exposed: np.ndarray
    round: int | None = None

    def __post_init__(self) -> None:
        persona = np.asarray(self.persona)
        n_exposed = np.asarray(self.n_exposed)
        if persona.ndim != 1 or n_exposed.shape != persona.shape:
            raise PolicyError(
                "ExposureBatch: persona and n_exposed must be 1-d arrays of equal length; "
                f"got shapes {persona.shape} and {n_exposed.shape}"
            )
        if persona.size and (not np.issubdtype(persona.dtype, np.integer)):
            raise PolicyError(f"ExposureBatch: persona must be integer; got {persona.dtype}")
        if n_exposed.size and (
            not np.issubdtype(n_exposed.dtype, np.integer) or n_exposed.min() < 0
        ):
            raise PolicyError("ExposureBatch: n_exposed must be non-negative integers")
        for name, arr in (("persona", persona), ("n_exposed", n_exposed)):
            arr = arr.view()
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return int(self.persona.shape[0])


@runtime_checkable
class Policy(Protocol):
    """Share probabilities for a batch of candidates; never draws random numbers.

    Implementations are pure: the same batch and event give the same probabilities. The
    engine draws the decisions. A policy that depends only on (persona, event, n_exposed), as
    every policy here does, is evaluated once per run on the table of all keys.
    """

    def share_probability(self, batch: ExposureBatch, event: Event | None) -> np.ndarray:
        """Probability in [0, 1] that each candidate shares this round, shape ``(len(batch),)``."""
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON-able description of the policy, recorded in the run manifest."""
        ...


def checked_probabilities(policy: Policy, batch: ExposureBatch, event: Event | None) -> np.ndarray:
    """Call a policy and check what it returned: shape, finiteness and range.

    Raises
    ------
    PolicyError
        When the policy returns anything but ``len(batch)`` finite values in [0, 1].
    """
    name = type(policy).__name__
    p = np.asarray(policy.share_probability(batch, event), dtype=np.float64)
    if p.shape != (len(batch),):
        raise PolicyError(
            f"{name}.share_probability returned shape {p.shape}; expected ({len(batch)},)"
        )
    bad = ~np.isfinite(p) | (p < 0.0) | (p > 1.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PolicyError(
            f"{name}.share_probability returned {float(p[i])!r} for persona "
            f"{int(batch.persona[i])}, "
            f"n_exposed {int(batch.n_exposed[i])}; probabilities must be finite and in [0, 1]"
        )
    return p
