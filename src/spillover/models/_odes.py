"""Continuous-time counterparts of the maps: ODE right-hand sides in hazard units.

Rates are hazards per unit time, one unit being one round: ``a`` offline, ``b`` per informed
neighbour (``a = -log(1 - alpha)``, ``b = -log(1 - beta)`` for a round's probabilities, see
:func:`~spillover.models.probability_to_hazard`). Equations: docs/models.md.
"""

from __future__ import annotations

import math

import numpy as np

from spillover.exceptions import ConfigError
from spillover.models._base import OdeModel, Parameter, Params

__all__ = ["GROUPS2_ODE", "PAIR_ODE", "PERSONA_ODE", "SI2_ODE", "SI_ODE"]

_A = Parameter("a", 0.0, math.inf, "offline hazard per unit time (one round)")
_B = Parameter("b", 0.0, math.inf, "online hazard per informed neighbour per unit time")
_DEGREE = Parameter("degree", 1.0, math.inf, "degree k of the k-regular graph", integer=True)
_B_1 = Parameter("b_1", 0.0, math.inf, "online hazard per informed neighbour, group 1")
_B_2 = Parameter("b_2", 0.0, math.inf, "online hazard per informed neighbour, group 2")
_SHARE_1 = Parameter("share_1", 0.0, 1.0, "share of agents in group 1")
_A_C = Parameter("a_by_class", 0.0, math.inf, "offline hazard of each class", per_class=True)
_B_C = Parameter(
    "b_by_class",
    0.0,
    math.inf,
    "online hazard per informed neighbour of each class",
    per_class=True,
)
_WEIGHT_C = Parameter(
    "weight_by_class", 0.0, math.inf, "share (or count) of agents in each class", per_class=True
)


def _informed_start(i0: np.ndarray, p: Params) -> np.ndarray:
    shape = np.broadcast_shapes(i0.shape, *(np.shape(v) for v in p.values()))
    return np.broadcast_to(i0, shape)[..., None].copy()


def _informed_observe(states: np.ndarray, p: Params) -> np.ndarray:
    return states[..., 0]


def _si_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    i = y[0]
    return np.array([p["degree"] * p["b"] * i * (1.0 - i)])


def _si2_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    i = y[0]
    return np.array([(1.0 - i) * (p["a"] + p["degree"] * p["b"] * i)])


SI_ODE = OdeModel(
    name="si",
    state_names=("informed",),
    parameters=(_B, _DEGREE),
    start=_informed_start,
    observe=_informed_observe,
    equations="di/dt = k b i (1 - i)  (logistic)",
    reference="Kiss, Miller & Simon (2017), Mathematics of Epidemics on Networks, ch. 4",
    check=None,
    per_class_state=False,
    rhs=_si_rhs,
)

SI2_ODE = OdeModel(
    name="si2",
    state_names=("informed",),
    parameters=(_A, _B, _DEGREE),
    start=_informed_start,
    observe=_informed_observe,
    equations="di/dt = (1 - i)(a + k b i)  (Bass: innovation a, imitation k b)",
    reference=(
        "Bass (1969), A new product growth for model consumer durables, Management Science "
        "15(5):215-227"
    ),
    check=None,
    per_class_state=False,
    rhs=_si2_rhs,
)


def _groups2_start(i0: np.ndarray, p: Params) -> np.ndarray:
    shape = np.broadcast_shapes(i0.shape, *(np.shape(v) for v in p.values()))
    s = 1.0 - np.broadcast_to(i0, shape)
    share = np.broadcast_to(p["share_1"], shape)
    return np.stack([share * s, (1.0 - share) * s], axis=-1)


def _groups2_observe(states: np.ndarray, p: Params) -> np.ndarray:
    return np.asarray(1.0 - states[..., 0] - states[..., 1])


def _groups2_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    i = 1.0 - y[0] - y[1]
    k = p["degree"]
    return np.array([-y[0] * (p["a"] + k * p["b_1"] * i), -y[1] * (p["a"] + k * p["b_2"] * i)])


GROUPS2_ODE = OdeModel(
    name="si-groups2",
    state_names=("susceptible_1", "susceptible_2"),
    parameters=(_A, _B_1, _B_2, _SHARE_1, _DEGREE),
    start=_groups2_start,
    observe=_groups2_observe,
    equations="i = 1 - s_1 - s_2;  ds_g/dt = -s_g (a + k b_g i)",
    reference="Kiss, Miller & Simon (2017), Mathematics of Epidemics on Networks, ch. 4",
    check=None,
    per_class_state=False,
    rhs=_groups2_rhs,
)


def _persona_check(model: str, p: Params) -> None:
    names = ("a_by_class", "b_by_class", "weight_by_class")
    n = {name: np.shape(p[name])[-1] for name in names}
    if len(set(n.values())) != 1:
        raise ConfigError(
            f"{model}: a_by_class, b_by_class and weight_by_class must have the same number of "
            f"classes (last axis); got {n}"
        )
    total = np.sum(p["weight_by_class"], axis=-1)
    if np.any(total <= 0.0):
        raise ConfigError(
            f"{model}: weight_by_class must have a positive sum; got sum {np.min(total)}"
        )


def _persona_weights(p: Params) -> np.ndarray:
    w = p["weight_by_class"]
    return np.asarray(w / np.sum(w, axis=-1, keepdims=True))


def _persona_start(i0: np.ndarray, p: Params) -> np.ndarray:
    batch = np.broadcast_shapes(
        i0.shape,
        np.shape(p["degree"]),
        *(np.shape(p[n])[:-1] for n in ("a_by_class", "b_by_class", "weight_by_class")),
    )
    n_classes = np.shape(p["a_by_class"])[-1]
    s = 1.0 - np.broadcast_to(i0, batch)
    return np.broadcast_to(s[..., None], (*batch, n_classes)).copy()


def _persona_observe(states: np.ndarray, p: Params) -> np.ndarray:
    return np.asarray(1.0 - np.sum(_persona_weights(p) * states, axis=-1))


def _persona_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    i = 1.0 - float(np.sum(_persona_weights(p) * y))
    return np.asarray(-y * (p["a_by_class"] + p["degree"] * p["b_by_class"] * i))


PERSONA_ODE = OdeModel(
    name="si-persona",
    state_names=("susceptible_by_class",),
    parameters=(_A_C, _B_C, _WEIGHT_C, _DEGREE),
    start=_persona_start,
    observe=_persona_observe,
    equations=(
        "w_c = weight_c / sum(weight);  i = 1 - sum_c w_c s_c;  ds_c/dt = -s_c (a_c + k b_c i)"
    ),
    reference="Kiss, Miller & Simon (2017), Mathematics of Epidemics on Networks, ch. 4",
    check=_persona_check,
    per_class_state=True,
    rhs=_persona_rhs,
)


def _pair_start(i0: np.ndarray, p: Params) -> np.ndarray:
    shape = np.broadcast_shapes(i0.shape, *(np.shape(v) for v in p.values()))
    i = np.broadcast_to(i0, shape)
    k = np.broadcast_to(p["degree"], shape)
    s = 1.0 - i
    return np.stack([s, k * s * i, k * s * s], axis=-1)


def _pair_observe(states: np.ndarray, p: Params) -> np.ndarray:
    return 1.0 - states[..., 0]


def _pair_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    s, x, ss = y[0], y[1], y[2]
    a, b, k = p["a"], p["b"], p["degree"]
    # Keeling's closure [ABC] ~ ((k - 1) / k) [AB][BC] / [B]; nothing to close once S is gone.
    c = (k - 1.0) / (k * s) if s > 0.0 else 0.0
    ssi = c * ss * x  # [SSI]: S-S pairs whose second S has an informed other neighbour
    isi = c * x * x  # [ISI]: S-I pairs whose S has an informed other neighbour
    return np.array(
        [
            -a * s - b * x,
            a * (ss - x) + b * (ssi - isi - x),
            -2.0 * a * ss - 2.0 * b * ssi,
        ]
    )


PAIR_ODE = OdeModel(
    name="pair",
    state_names=("susceptible", "si_pairs", "ss_pairs"),
    parameters=(_A, _B, _DEGREE),
    start=_pair_start,
    observe=_pair_observe,
    equations=(
        "per node: dS/dt = -a S - b [SI]; "
        "d[SI]/dt = a([SS] - [SI]) + b([SSI] - [ISI] - [SI]); "
        "d[SS]/dt = -2 a [SS] - 2 b [SSI]; "
        "[SSI] = ((k-1)/k)[SS][SI]/S, [ISI] = ((k-1)/k)[SI]^2/S"
    ),
    reference=(
        "Keeling (1999), The effects of local spatial structure on epidemiological invasions, "
        "Proc. R. Soc. B 266:859-867; Kiss, Miller & Simon (2017), system (4.11) with gamma = 0"
    ),
    check=None,
    per_class_state=False,
    rhs=_pair_rhs,
)
