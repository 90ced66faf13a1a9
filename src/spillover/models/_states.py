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
from spillover.models._base import CheckFn, MapModel, OdeModel, Parameter, Params, RhsFn, StepFn

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
    "per_class_map",
    "per_class_ode",
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
    ``"a_c"`` and ``"b_c"`` (hazards) for the ODE. With ``per_exposure`` the online parameter
    has an exposure axis after its class axis (the dose models' ``online_m_c``, ``g_m_c``).
    Instances are plain values, so models holding them compare equal and pickle by value, like
    module-level functions.
    """

    offline: str
    online: str
    per_exposure: bool = False

    @property
    def per_class(self) -> tuple[str, str, str]:
        """The per-class parameter names: offline, online, weight."""
        return (self.offline, self.online, "weight_by_class")

    def _class_axes(self, name: str) -> int:
        """How many trailing axes of parameter ``name`` are not batch axes."""
        return 2 if self.per_exposure and name == self.online else 1


@dataclass(frozen=True)
class PersonaCheck(_PersonaRates):
    """``check(model, params)``: same number of classes everywhere, weights with positive sum;
    ``first``, when given, is a model's own check run before."""

    first: CheckFn | None = None

    def __call__(self, model: str, p: Params) -> None:
        """Raise ConfigError if a per-class rule is broken."""
        if self.first is not None:
            self.first(model, p)
        n = {name: np.shape(p[name])[-self._class_axes(name)] for name in self.per_class}
        if len(set(n.values())) != 1:
            online, axis = (
                (f"{self.online} (second-to-last axis)", "")
                if self.per_exposure
                else (self.online, " (last axis)")
            )
            raise ConfigError(
                f"{model}: {self.offline}, {online} and weight_by_class must have the same "
                f"number of classes{axis}; got {n}"
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
            *(np.shape(p[n])[: -self._class_axes(n)] for n in self.per_class),
        )
        n_classes = np.shape(p[self.offline])[-1]
        s = 1.0 - np.broadcast_to(i0, batch)
        return np.broadcast_to(s[..., None], (*batch, n_classes)).copy()


def _persona_fns(
    parameters: tuple[Parameter, ...], first_check: CheckFn | None
) -> tuple[PersonaStart, PersonaCheck]:
    """Start and check of a per-class model whose per-class rate parameters are, in order, the
    offline and the online one of ``parameters`` (the online one may be per exposure)."""
    offline, online = (p for p in parameters if p.per_class and p is not WEIGHT_BY_CLASS)
    start = PersonaStart(offline.name, online.name, online.per_exposure)
    return start, PersonaCheck(offline.name, online.name, online.per_exposure, first_check)


def per_class_map(
    *,
    name: str,
    parameters: tuple[Parameter, ...],
    equations: str,
    reference: str,
    step: StepFn,
    first_check: CheckFn | None = None,
) -> MapModel:
    """A map on the susceptible share within each class (``si-persona`` and its kin): its
    start and check read the names of the per-class rates among ``parameters``; ``first_check``
    is the model's own check, run before the per-class one."""
    start, check = _persona_fns(parameters, first_check)
    return MapModel(
        name=name,
        state_names=("susceptible_by_class",),
        parameters=parameters,
        start=start,
        observe=persona_observe,
        equations=equations,
        reference=reference,
        check=check,
        per_class_state=True,
        step=step,
    )


def per_class_ode(
    model: MapModel,
    *,
    parameters: tuple[Parameter, ...],
    equations: str,
    rhs: RhsFn,
    first_check: CheckFn | None = None,
) -> OdeModel:
    """The ODE on the states of a :func:`per_class_map`, with its own per-class hazards among
    ``parameters``."""
    start, check = _persona_fns(parameters, first_check)
    return OdeModel.on_states_of(
        model, parameters=parameters, start=start, equations=equations, check=check, rhs=rhs
    )


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
