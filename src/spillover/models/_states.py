"""State helpers shared by the discrete maps (``_maps.py``) and the ODEs (``_odes.py``).

Both kinds of model describe the same states (informed fraction, susceptible share per group or
class, pair counts), so they share how a state starts from an initial informed fraction ``i0``
and how the informed fraction is read back from it, and the parameters that mean the same thing
in both (the degree, group shares, class weights). The rates differ: the maps take per-round
probabilities (``alpha``, ``beta``), the ODEs hazards (``a``, ``b``), so those parameters stay in
their modules and the per-class helpers take the names of the rate parameters explicitly
(:class:`PersonaCheck`, :class:`PersonaStart`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spillover.exceptions import ConfigError
from spillover.models._base import Parameter, Params

__all__ = [
    "DEGREE",
    "SHARE_1",
    "WEIGHT_BY_CLASS",
    "PersonaCheck",
    "PersonaStart",
    "batch_shape",
    "groups2_observe",
    "groups2_start",
    "informed_observe",
    "informed_start",
    "pair_observe",
    "pair_start",
    "persona_observe",
    "persona_weights",
]

DEGREE = Parameter("degree", 1.0, math.inf, "degree k of the k-regular graph", integer=True)
SHARE_1 = Parameter("share_1", 0.0, 1.0, "share of agents in group 1")
WEIGHT_BY_CLASS = Parameter(
    "weight_by_class", 0.0, math.inf, "share (or count) of agents in each class", per_class=True
)


def batch_shape(i0: np.ndarray, p: Params) -> tuple[int, ...]:
    """Broadcast shape of i0 and the parameters (per-class parameters without their class axis)."""
    shapes = [np.shape(v) for v in p.values()]
    return np.broadcast_shapes(i0.shape, *shapes)


# --- si and si2: one component, the informed fraction ------------------------------------------


def informed_start(i0: np.ndarray, p: Params) -> np.ndarray:
    """State ``(i,)`` with ``i = i0``, broadcast over the batch."""
    return np.broadcast_to(i0, batch_shape(i0, p))[..., None].copy()


def informed_observe(states: np.ndarray, p: Params) -> np.ndarray:
    """The informed fraction: the only component."""
    return states[..., 0]


# --- si-groups2: susceptible share of each of two groups --------------------------------------


def groups2_start(i0: np.ndarray, p: Params) -> np.ndarray:
    """State ``(s_1, s_2)`` with ``s_1 = share_1 (1 - i0)``, ``s_2 = (1 - share_1)(1 - i0)``."""
    shape = batch_shape(i0, p)
    s = 1.0 - np.broadcast_to(i0, shape)
    share = np.broadcast_to(p["share_1"], shape)
    return np.stack([share * s, (1.0 - share) * s], axis=-1)


def groups2_observe(states: np.ndarray, p: Params) -> np.ndarray:
    """The informed fraction ``1 - s_1 - s_2``."""
    return np.asarray(1.0 - states[..., 0] - states[..., 1])


# --- si-persona: susceptible share within each class -----------------------------------------


def persona_weights(p: Params) -> np.ndarray:
    """Class weights normalised to sum to one (last axis)."""
    w = p["weight_by_class"]
    return np.asarray(w / np.sum(w, axis=-1, keepdims=True))


def persona_observe(states: np.ndarray, p: Params) -> np.ndarray:
    """The informed fraction ``1 - sum_c w_c s_c``."""
    return np.asarray(1.0 - np.sum(persona_weights(p) * states, axis=-1))


@dataclass(frozen=True)
class _PersonaRates:
    """Names of the per-class offline and online rate parameters of a per-class model.

    ``"alpha_c"`` and ``"beta_c"`` (per-round probabilities) for the map,
    ``"a_c"`` and ``"b_c"`` (hazards) for the ODE. Instances are plain values, so
    models holding them compare equal and pickle by value, like module-level functions.
    """

    offline: str
    online: str

    @property
    def per_class(self) -> tuple[str, str, str]:
        """The per-class parameter names: offline, online, weight."""
        return (self.offline, self.online, "weight_by_class")


@dataclass(frozen=True)
class PersonaCheck(_PersonaRates):
    """``check(model, params)``: same number of classes everywhere, weights with positive sum."""

    def __call__(self, model: str, p: Params) -> None:
        """Raise ConfigError if a per-class rule is broken."""
        n = {name: np.shape(p[name])[-1] for name in self.per_class}
        if len(set(n.values())) != 1:
            raise ConfigError(
                f"{model}: {self.offline}, {self.online} and weight_by_class must have the same "
                f"number of classes (last axis); got {n}"
            )
        total = np.sum(p["weight_by_class"], axis=-1)
        if np.any(total <= 0.0):
            raise ConfigError(
                f"{model}: weight_by_class must have a positive sum; got sum {np.min(total)}"
            )


@dataclass(frozen=True)
class PersonaStart(_PersonaRates):
    """``start(i0, params)``: ``s_c = 1 - i0`` for every class, shape batch + (n_classes,)."""

    def __call__(self, i0: np.ndarray, p: Params) -> np.ndarray:
        """The initial state."""
        batch = np.broadcast_shapes(
            i0.shape,
            np.shape(p["degree"]),
            *(np.shape(p[n])[:-1] for n in self.per_class),
        )
        n_classes = np.shape(p[self.offline])[-1]
        s = 1.0 - np.broadcast_to(i0, batch)
        return np.broadcast_to(s[..., None], (*batch, n_classes)).copy()


# --- pair: pair approximation on a k-regular graph --------------------------------------------


def pair_start(i0: np.ndarray, p: Params) -> np.ndarray:
    """State ``(S, [SI], [SS])`` per node: ``S = 1 - i0``, ``[SI] = k S i0``, ``[SS] = k S^2``."""
    shape = batch_shape(i0, p)
    i = np.broadcast_to(i0, shape)
    k = np.broadcast_to(p["degree"], shape)
    s = 1.0 - i
    return np.stack([s, k * s * i, k * s * s], axis=-1)


def pair_observe(states: np.ndarray, p: Params) -> np.ndarray:
    """The informed fraction ``1 - S``."""
    return 1.0 - states[..., 0]
