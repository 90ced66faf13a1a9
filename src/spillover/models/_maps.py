"""Discrete-time mean-field maps as model values: one ``step`` per synchronous engine round.

Parameters are per-round probabilities (``alpha`` offline, ``beta`` online per informed
neighbour, as in DESIGN section 2) and the degree k of a k-regular graph. Each step is pure and
vectorised over leading (batch) axes of the state. The plain functions that run them
(``si2_map``, ``pair_map``, ...) are in ``_curves.py``; the start/observe functions and the
parameters shared with the ODEs are in ``_states.py``; equations and derivations in
docs/models.md.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from spillover.models._base import MapModel, Parameter, Params
from spillover.models._states import (
    DEGREE,
    SHARE_1,
    WEIGHT_BY_CLASS,
    groups2_observe,
    groups2_start,
    informed_observe,
    informed_start,
    pair_observe,
    pair_start,
    per_class_map,
    persona_weights,
)

__all__ = ["GROUPS2_MAP", "PAIR_MAP", "PERSONA_MAP", "SI2_MAP", "SI_MAP"]

_ALPHA = Parameter(
    "alpha", 0.0, 1.0, "per-round probability of sharing through the offline channel"
)
_BETA = Parameter("beta", 0.0, 1.0, "per-round probability of sharing per informed neighbour")
_BETA_1 = Parameter("beta_1", 0.0, 1.0, "online probability per informed neighbour, group 1")
_BETA_2 = Parameter("beta_2", 0.0, 1.0, "online probability per informed neighbour, group 2")
_ALPHA_C = Parameter(
    "alpha_c", 0.0, 1.0, "per-round offline probability of each class", per_class=True
)
_BETA_C = Parameter(
    "beta_c",
    0.0,
    1.0,
    "online probability per informed neighbour of each class",
    per_class=True,
)


def _log_stay(alpha: ArrayLike, beta: ArrayLike, degree: ArrayLike, i: ArrayLike) -> np.ndarray:
    """log of (1 - alpha)(1 - beta i)^k, the chance of staying susceptible for one round."""
    a, b, k, x = (np.asarray(v, dtype=np.float64) for v in (alpha, beta, degree, i))
    return np.asarray(np.log1p(-a) + k * np.log1p(-b * x))


# --- si and si2: homogeneous mean field -------------------------------------------------------


def _si_step(state: np.ndarray, p: Params) -> np.ndarray:
    i = state[..., 0]
    stay = np.exp(_log_stay(0.0, p["beta"], p["degree"], i))
    return np.asarray((1.0 - (1.0 - i) * stay)[..., None])


def _si2_step(state: np.ndarray, p: Params) -> np.ndarray:
    i = state[..., 0]
    stay = np.exp(_log_stay(p["alpha"], p["beta"], p["degree"], i))
    return np.asarray((1.0 - (1.0 - i) * stay)[..., None])


SI_MAP = MapModel(
    name="si",
    state_names=("informed",),
    parameters=(_BETA, DEGREE),
    start=informed_start,
    observe=informed_observe,
    equations="i[t+1] = i[t] + (1 - i[t]) * (1 - (1 - beta * i[t]) ** k)",
    reference="Kiss, Miller & Simon (2017), Mathematics of Epidemics on Networks, ch. 4",
    step=_si_step,
)

SI2_MAP = MapModel(
    name="si2",
    state_names=("informed",),
    parameters=(_ALPHA, _BETA, DEGREE),
    start=informed_start,
    observe=informed_observe,
    equations="i[t+1] = i[t] + (1 - i[t]) * (1 - (1 - alpha) * (1 - beta * i[t]) ** k)",
    reference=(
        "Bass (1969), A new product growth for model consumer durables, Management Science "
        "15(5):215-227 (two channels); discrete-time mean field on a k-regular graph"
    ),
    step=_si2_step,
)


# --- si-groups2: two susceptibility groups ----------------------------------------------------


def _groups2_step(state: np.ndarray, p: Params) -> np.ndarray:
    s1, s2 = state[..., 0], state[..., 1]
    i = 1.0 - s1 - s2
    stay1 = np.exp(_log_stay(p["alpha"], p["beta_1"], p["degree"], i))
    stay2 = np.exp(_log_stay(p["alpha"], p["beta_2"], p["degree"], i))
    return np.stack([s1 * stay1, s2 * stay2], axis=-1)


GROUPS2_MAP = MapModel(
    name="si-groups2",
    state_names=("susceptible_1", "susceptible_2"),
    parameters=(_ALPHA, _BETA_1, _BETA_2, SHARE_1, DEGREE),
    start=groups2_start,
    observe=groups2_observe,
    equations=(
        "i = 1 - s_1 - s_2;  s_g[t+1] = s_g[t] * (1 - alpha) * (1 - beta_g * i[t]) ** k; "
        "s_1[0] = share_1 (1 - i0), s_2[0] = (1 - share_1)(1 - i0)"
    ),
    reference="Kiss, Miller & Simon (2017), Mathematics of Epidemics on Networks, ch. 4",
    step=_groups2_step,
)


# --- si-persona: one class per persona ---------------------------------------------------------


def _persona_step(state: np.ndarray, p: Params) -> np.ndarray:
    i = (1.0 - np.sum(persona_weights(p) * state, axis=-1))[..., None]
    k = np.asarray(p["degree"])[..., None]
    return np.asarray(state * np.exp(_log_stay(p["alpha_c"], p["beta_c"], k, i)))


PERSONA_MAP = per_class_map(
    name="si-persona",
    parameters=(_ALPHA_C, _BETA_C, WEIGHT_BY_CLASS, DEGREE),
    equations=(
        "w_c = weight_c / sum(weight);  i = 1 - sum_c w_c s_c;  "
        "s_c[t+1] = s_c[t] * (1 - alpha_c) * (1 - beta_c * i[t]) ** k;  s_c[0] = 1 - i0"
    ),
    reference="Kiss, Miller & Simon (2017), Mathematics of Epidemics on Networks, ch. 4",
    step=_persona_step,
)


# --- pair: pair approximation on a k-regular graph --------------------------------------------


def _pair_step(state: np.ndarray, p: Params) -> np.ndarray:
    s, x, y = state[..., 0], state[..., 1], state[..., 2]
    alpha, beta, k = p["alpha"], p["beta"], p["degree"]
    ks = k * s
    # q: probability that a given neighbour of a susceptible agent is informed.
    q = np.divide(x, ks, out=np.zeros(np.broadcast_shapes(x.shape, ks.shape)), where=ks > 0)
    q = np.clip(q, 0.0, 1.0)
    miss = 1.0 - beta * q  # a neighbour of unknown state fails to inform
    r0 = (1.0 - alpha) * miss ** (k - 1.0)  # stays S, one neighbour known to be S
    r1 = r0 * (1.0 - beta)  # stays S, one neighbour known to be I
    return np.stack([s * r0 * miss, y * r0 * (1.0 - r0) + x * r1, y * r0 * r0], axis=-1)


PAIR_MAP = MapModel(
    name="pair",
    state_names=("susceptible", "si_pairs", "ss_pairs"),
    parameters=(_ALPHA, _BETA, DEGREE),
    start=pair_start,
    observe=pair_observe,
    equations=(
        "per node: S susceptible, x = [SI], y = [SS] (ordered), k S = x + y; q = x / (k S); "
        "r0 = (1 - alpha)(1 - beta q)^(k-1), r1 = (1 - beta) r0; "
        "S' = S (1 - alpha)(1 - beta q)^k, x' = y r0 (1 - r0) + x r1, y' = y r0^2; "
        "S[0] = 1 - i0, x[0] = k S[0] i0, y[0] = k S[0]^2"
    ),
    reference=(
        "Keeling (1999), The effects of local spatial structure on epidemiological invasions, "
        "Proc. R. Soc. B 266:859-867 (pair closure); discrete synchronous rounds: docs/models.md"
    ),
    step=_pair_step,
)
