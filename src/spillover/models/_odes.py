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
from spillover.models._states import (
    DEGREE,
    SHARE_1,
    WEIGHT_BY_CLASS,
    PersonaCheck,
    PersonaStart,
    groups2_observe,
    groups2_start,
    informed_observe,
    informed_start,
    pair_observe,
    pair_start,
    persona_observe,
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


SI_ODE = OdeModel(
    name="si",
    state_names=("informed",),
    parameters=(_B, DEGREE),
    start=informed_start,
    observe=informed_observe,
    equations="di/dt = k b i (1 - i)  (logistic)",
    reference="Kiss, Miller & Simon (2017), Mathematics of Epidemics on Networks, ch. 4",
    check=None,
    per_class_state=False,
    rhs=_si_rhs,
)

SI2_ODE = OdeModel(
    name="si2",
    state_names=("informed",),
    parameters=(_A, _B, DEGREE),
    start=informed_start,
    observe=informed_observe,
    equations="di/dt = (1 - i)(a + k b i)  (Bass: innovation a, imitation k b)",
    reference=(
        "Bass (1969), A new product growth for model consumer durables, Management Science "
        "15(5):215-227"
    ),
    check=None,
    per_class_state=False,
    rhs=_si2_rhs,
)


def _groups2_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    i = 1.0 - y[0] - y[1]
    k = p["degree"]
    return np.array([-y[0] * (p["a"] + k * p["b_1"] * i), -y[1] * (p["a"] + k * p["b_2"] * i)])


GROUPS2_ODE = OdeModel(
    name="si-groups2",
    state_names=("susceptible_1", "susceptible_2"),
    parameters=(_A, _B_1, _B_2, SHARE_1, DEGREE),
    start=groups2_start,
    observe=groups2_observe,
    equations="i = 1 - s_1 - s_2;  ds_g/dt = -s_g (a + k b_g i)",
    reference="Kiss, Miller & Simon (2017), Mathematics of Epidemics on Networks, ch. 4",
    check=None,
    per_class_state=False,
    rhs=_groups2_rhs,
)


def _persona_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    i = 1.0 - float(np.sum(persona_weights(p) * y))
    return np.asarray(-y * (p["a_c"] + p["degree"] * p["b_c"] * i))


PERSONA_ODE = OdeModel(
    name="si-persona",
    state_names=("susceptible_by_class",),
    parameters=(_A_C, _B_C, WEIGHT_BY_CLASS, DEGREE),
    start=PersonaStart(offline="a_c", online="b_c"),
    observe=persona_observe,
    equations=(
        "w_c = weight_c / sum(weight);  i = 1 - sum_c w_c s_c;  ds_c/dt = -s_c (a_c + k b_c i)"
    ),
    reference="Kiss, Miller & Simon (2017), Mathematics of Epidemics on Networks, ch. 4",
    check=PersonaCheck(offline="a_c", online="b_c"),
    per_class_state=True,
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


PAIR_ODE = OdeModel(
    name="pair",
    state_names=("susceptible", "si_pairs", "ss_pairs"),
    parameters=(_A, _B, DEGREE),
    start=pair_start,
    observe=pair_observe,
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
