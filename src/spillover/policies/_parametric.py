"""Parametric policies: the rule p = 1 - (1 - alpha) * (1 - beta) ** m of DESIGN section 2."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from spillover.exceptions import ConfigError
from spillover.personas import N_PERSONAS
from spillover.policies._protocol import ExposureBatch

if TYPE_CHECKING:
    from spillover.events import Event

__all__ = ["ConstantPolicy", "PersonaPolicy", "scale_hazard", "share_probability"]


def share_probability(
    alpha: np.ndarray | float, beta: np.ndarray | float, n_exposed: np.ndarray | int
) -> np.ndarray:
    """``1 - (1 - alpha) * (1 - beta) ** n_exposed``, computed in log space.

    ``-expm1(log1p(-alpha) + m * log1p(-beta))`` keeps full precision for small rates and
    large exposure counts, where the naive product loses digits.

    Parameters
    ----------
    alpha, beta : float or ndarray
        Per-round offline and per-informed-neighbour online probabilities, in [0, 1].
    n_exposed : int or ndarray
        Informed neighbours (m). Arrays broadcast.
    """
    a = np.asarray(alpha, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    m = np.asarray(n_exposed, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_q = np.log1p(-a) + np.where(m > 0, m * np.log1p(-b), 0.0)
    return np.asarray(-np.expm1(log_q), dtype=np.float64)


def _check_rate(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ConfigError(f"{name} must be a number in [0, 1]; got {value!r}")
    v = float(value)
    if not (0.0 <= v <= 1.0) or math.isnan(v):
        raise ConfigError(f"{name} must be in [0, 1]; got {v}")
    return v


@dataclass(frozen=True)
class ConstantPolicy:
    """The same offline rate ``alpha`` and online rate ``beta`` for every agent.

    Parameters
    ----------
    alpha : float
        Per-round probability of sharing through the offline channel, in [0, 1].
    beta : float
        Per-round, per-informed-neighbour probability of sharing through the online channel.
    """

    alpha: float
    beta: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", _check_rate("alpha", self.alpha))
        object.__setattr__(self, "beta", _check_rate("beta", self.beta))

    def share_probability(self, batch: ExposureBatch, event: Event | None) -> np.ndarray:
        return share_probability(self.alpha, self.beta, batch.n_exposed)

    def describe(self) -> dict[str, Any]:
        return {"kind": "constant", "alpha": self.alpha, "beta": self.beta}


def _as_rates(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.array(values, dtype=np.float64)
    if arr.shape != (N_PERSONAS,):
        raise ConfigError(
            f"{name} must hold {N_PERSONAS} values (one per persona, catalog "
            f"order); got shape {arr.shape}"
        )
    bad = ~np.isfinite(arr) | (arr < 0.0) | (arr > 1.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConfigError(f"{name}[{i}] must be in [0, 1]; got {arr[i]}")
    arr.flags.writeable = False
    return arr


def scale_hazard(p: np.ndarray, multiplier: float) -> np.ndarray:
    """Scale a per-round probability on the hazard scale: ``1 - (1 - p) ** multiplier``.

    Multiplying the hazard ``-log(1 - p)`` (rather than ``p`` itself) keeps the result a
    probability for any non-negative multiplier.
    """
    return np.asarray(-np.expm1(multiplier * np.log1p(-p)), dtype=np.float64)


@dataclass(frozen=True)
class PersonaPolicy:
    """Rates per persona, ``alpha_c`` and ``beta_c``, with optional event-type multipliers.

    Parameters
    ----------
    alpha_by_persona, beta_by_persona : array_like, shape (32,)
        Offline and online rates of each persona (catalog order), in [0, 1].
    event_multipliers : mapping of str to (float, float)
        For an event type, the factors ``(alpha_factor, beta_factor)`` applied to the hazards
        ``-log(1 - alpha_c)`` and ``-log(1 - beta_c)``; event types not listed keep the base
        rates. A factor of 2 makes the event as likely to be shared in one round as the base
        event in two.
    name : str
        A short name recorded in the manifest.
    """

    alpha_by_persona: np.ndarray
    beta_by_persona: np.ndarray
    event_multipliers: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    name: str = "persona"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "alpha_by_persona", _as_rates("alpha_by_persona", self.alpha_by_persona)
        )
        object.__setattr__(
            self, "beta_by_persona", _as_rates("beta_by_persona", self.beta_by_persona)
        )
        checked: dict[str, tuple[float, float]] = {}
        for event_type, factors in dict(self.event_multipliers).items():
            try:
                fa, fb = (float(f) for f in factors)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"event_multipliers[{event_type!r}] must be a pair of numbers; got {factors!r}"
                ) from None
            if not (fa >= 0.0 and fb >= 0.0 and math.isfinite(fa) and math.isfinite(fb)):
                raise ConfigError(
                    f"event_multipliers[{event_type!r}] must be finite and >= 0; got {factors!r}"
                )
            checked[str(event_type)] = (fa, fb)
        object.__setattr__(self, "event_multipliers", checked)

    def rates_for(self, event: Event | None) -> tuple[np.ndarray, np.ndarray]:
        """The (alpha_c, beta_c) arrays that apply to ``event``, shape (32,) each."""
        alpha, beta = self.alpha_by_persona, self.beta_by_persona
        if event is not None and event.event_type in self.event_multipliers:
            fa, fb = self.event_multipliers[event.event_type]
            alpha, beta = scale_hazard(alpha, fa), scale_hazard(beta, fb)
        return alpha, beta

    def share_probability(self, batch: ExposureBatch, event: Event | None) -> np.ndarray:
        alpha, beta = self.rates_for(event)
        persona = batch.persona
        if persona.size and (persona.min() < 0 or persona.max() >= N_PERSONAS):
            raise ConfigError(f"persona indices must be in 0..{N_PERSONAS - 1}")
        return share_probability(alpha[persona], beta[persona], batch.n_exposed)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "alpha_by_persona": [float(x) for x in self.alpha_by_persona],
            "beta_by_persona": [float(x) for x in self.beta_by_persona],
            "event_multipliers": {k: list(v) for k, v in self.event_multipliers.items()},
        }
