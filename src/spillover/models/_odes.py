"""Continuous-time counterparts of the maps: ODE right-hand sides in hazard units.

Rates are hazards per unit time, one unit being one round: ``a`` offline, ``b`` per informed
neighbour (``a = -log(1 - alpha)``, ``b = -log(1 - beta)`` for a round's probabilities, see
:func:`~spillover.models.probability_to_hazard`). The start/observe functions and the parameters
shared with the maps are in ``_states.py``. Equations: docs/models.md.
"""

from __future__ import annotations

import math

import numpy as np

from spillover.models._base import OdeModel, Parameter, Params
from spillover.models._maps import GROUPS2_MAP, PAIR_MAP, PERSONA_MAP, SI2_MAP, SI_MAP
from spillover.models._states import (
    DEGREE,
    SHARE_1,
    WEIGHT_BY_CLASS,
    per_class_ode,
    persona_weights,
)

__all__ = ["GROUPS2_ODE", "PAIR_ODE", "PERSONA_ODE", "SI2_ODE", "SI_ODE"]

_A = Parameter("a", 0.0, math.inf, "offline hazard per unit time (one round)")
_B = Parameter("b", 0.0, math.inf, "online hazard per informed neighbour per unit time")
_B_1 = Parameter("b_1", 0.0, math.inf, "online hazard per informed neighbour, group 1")
_B_2 = Parameter("b_2", 0.0, math.inf, "online hazard per informed neighbour, group 2")
_A_C = Parameter("a_c", 0.0, math.inf, "offline hazard of each class", per_class=True)
_B_C = Parameter(
    "b_c",
    0.0,
    math.inf,
    "online hazard per informed neighbour of each class",
    per_class=True,
)


def _si_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    i = y[0]
    return np.array([p["degree"] * p["b"] * i * (1.0 - i)])


def _si2_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    i = y[0]
    return np.array([(1.0 - i) * (p["a"] + p["degree"] * p["b"] * i)])


SI_ODE = OdeModel.on_states_of(
    SI_MAP, parameters=(_B, DEGREE), equations="di/dt = k b i (1 - i)  (logistic)", rhs=_si_rhs
)

SI2_ODE = OdeModel.on_states_of(
    SI2_MAP,
    parameters=(_A, _B, DEGREE),
    equations="di/dt = (1 - i)(a + k b i)  (Bass: innovation a, imitation k b)",
    reference=(
        "Bass (1969), A new product growth for model consumer durables, Management Science "
        "15(5):215-227"
    ),
    rhs=_si2_rhs,
)


def _groups2_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    i = 1.0 - y[0] - y[1]
    k = p["degree"]
    return np.array([-y[0] * (p["a"] + k * p["b_1"] * i), -y[1] * (p["a"] + k * p["b_2"] * i)])


GROUPS2_ODE = OdeModel.on_states_of(
    GROUPS2_MAP,
    parameters=(_A, _B_1, _B_2, SHARE_1, DEGREE),
    equations="i = 1 - s_1 - s_2;  ds_g/dt = -s_g (a + k b_g i)",
    rhs=_groups2_rhs,
)


def _persona_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    i = 1.0 - float(np.sum(persona_weights(p) * y))
    return np.asarray(-y * (p["a_c"] + p["degree"] * p["b_c"] * i))


PERSONA_ODE = per_class_ode(
    PERSONA_MAP,
    parameters=(_A_C, _B_C, WEIGHT_BY_CLASS, DEGREE),
    equations=(
        "w_c = weight_c / sum(weight);  i = 1 - sum_c w_c s_c;  ds_c/dt = -s_c (a_c + k b_c i)"
    ),
    rhs=_persona_rhs,
)


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


PAIR_ODE = OdeModel.on_states_of(
    PAIR_MAP,
    parameters=(_A, _B, DEGREE),
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
    rhs=_pair_rhs,
)
