"""Discrete-time mean-field maps as model values: one ``step`` per synchronous engine round.

Parameters are per-round probabilities (``alpha`` offline, ``beta`` online per informed
neighbour, as in DESIGN section 2) and the degree k of a k-regular graph. Each step is pure and
vectorised over leading (batch) axes of the state. The plain functions that run them
(``si2_map``, ``pair_map``, ...) are in ``_curves.py``; equations and derivations in
docs/models.md.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from spillover.exceptions import ConfigError
from spillover.models._base import MapModel, Parameter, Params

__all__ = ["GROUPS2_MAP", "PAIR_MAP", "PERSONA_MAP", "SI2_MAP", "SI_MAP"]

_ALPHA = Parameter(
    "alpha", 0.0, 1.0, "per-round probability of sharing through the offline channel"
)
_BETA = Parameter("beta", 0.0, 1.0, "per-round probability of sharing per informed neighbour")
_DEGREE = Parameter("degree", 1.0, math.inf, "degree k of the k-regular graph", integer=True)
_BETA_1 = Parameter("beta_1", 0.0, 1.0, "online probability per informed neighbour, group 1")
_BETA_2 = Parameter("beta_2", 0.0, 1.0, "online probability per informed neighbour, group 2")
_SHARE_1 = Parameter("share_1", 0.0, 1.0, "share of agents in group 1")
_ALPHA_C = Parameter(
    "alpha_by_class", 0.0, 1.0, "per-round offline probability of each class", per_class=True
)
_BETA_C = Parameter(
    "beta_by_class",
    0.0,
    1.0,
    "online probability per informed neighbour of each class",
    per_class=True,
)
_WEIGHT_C = Parameter(
    "weight_by_class", 0.0, math.inf, "share (or count) of agents in each class", per_class=True
)


def _batch_shape(i0: np.ndarray, p: Params) -> tuple[int, ...]:
    """Broadcast shape of i0 and the parameters (per-class parameters without their class axis)."""
    shapes = [np.shape(v) for v in p.values()]
    return np.broadcast_shapes(i0.shape, *shapes)


def _log_stay(alpha: ArrayLike, beta: ArrayLike, degree: ArrayLike, i: ArrayLike) -> np.ndarray:
    """log of (1 - alpha)(1 - beta i)^k, the chance of staying susceptible for one round."""
    a, b, k, x = (np.asarray(v, dtype=np.float64) for v in (alpha, beta, degree, i))
    return np.asarray(np.log1p(-a) + k * np.log1p(-b * x))


# --- si and si2: homogeneous mean field -------------------------------------------------------


def _informed_start(i0: np.ndarray, p: Params) -> np.ndarray:
    return np.broadcast_to(i0, _batch_shape(i0, p))[..., None].copy()


def _informed_observe(states: np.ndarray, p: Params) -> np.ndarray:
    return states[..., 0]


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
    parameters=(_BETA, _DEGREE),
    start=_informed_start,
    observe=_informed_observe,
    equations="i[t+1] = i[t] + (1 - i[t]) * (1 - (1 - beta * i[t]) ** k)",
    reference="Kiss, Miller & Simon (2017), Mathematics of Epidemics on Networks, ch. 4",
    check=None,
    per_class_state=False,
    step=_si_step,
)

SI2_MAP = MapModel(
    name="si2",
    state_names=("informed",),
    parameters=(_ALPHA, _BETA, _DEGREE),
    start=_informed_start,
    observe=_informed_observe,
    equations="i[t+1] = i[t] + (1 - i[t]) * (1 - (1 - alpha) * (1 - beta * i[t]) ** k)",
    reference=(
        "Bass (1969), A new product growth for model consumer durables, Management Science "
        "15(5):215-227 (two channels); discrete-time mean field on a k-regular graph"
    ),
    check=None,
    per_class_state=False,
    step=_si2_step,
)


# --- si-groups2: two susceptibility groups ----------------------------------------------------


def _groups2_start(i0: np.ndarray, p: Params) -> np.ndarray:
    shape = _batch_shape(i0, p)
    s = 1.0 - np.broadcast_to(i0, shape)
    share = np.broadcast_to(p["share_1"], shape)
    return np.stack([share * s, (1.0 - share) * s], axis=-1)


def _groups2_observe(states: np.ndarray, p: Params) -> np.ndarray:
    return np.asarray(1.0 - states[..., 0] - states[..., 1])


def _groups2_step(state: np.ndarray, p: Params) -> np.ndarray:
    s1, s2 = state[..., 0], state[..., 1]
    i = 1.0 - s1 - s2
    stay1 = np.exp(_log_stay(p["alpha"], p["beta_1"], p["degree"], i))
    stay2 = np.exp(_log_stay(p["alpha"], p["beta_2"], p["degree"], i))
    return np.stack([s1 * stay1, s2 * stay2], axis=-1)


GROUPS2_MAP = MapModel(
    name="si-groups2",
    state_names=("susceptible_1", "susceptible_2"),
    parameters=(_ALPHA, _BETA_1, _BETA_2, _SHARE_1, _DEGREE),
    start=_groups2_start,
    observe=_groups2_observe,
    equations=(
        "i = 1 - s_1 - s_2;  s_g[t+1] = s_g[t] * (1 - alpha) * (1 - beta_g * i[t]) ** k; "
        "s_1[0] = share_1 (1 - i0), s_2[0] = (1 - share_1)(1 - i0)"
    ),
    reference="Kiss, Miller & Simon (2017), Mathematics of Epidemics on Networks, ch. 4",
    check=None,
    per_class_state=False,
    step=_groups2_step,
)


# --- si-persona: one class per persona ---------------------------------------------------------


def _persona_check(model: str, p: Params) -> None:
    n = {
        name: np.shape(p[name])[-1]
        for name in ("alpha_by_class", "beta_by_class", "weight_by_class")
    }
    if len(set(n.values())) != 1:
        raise ConfigError(
            f"{model}: alpha_by_class, beta_by_class and weight_by_class must have the same "
            f"number of classes (last axis); got {n}"
        )
    total = np.sum(p["weight_by_class"], axis=-1)
    if np.any(total <= 0.0):
        raise ConfigError(
            f"{model}: weight_by_class must have a positive sum; got sum {np.min(total)}"
        )


def _persona_weights(p: Params) -> np.ndarray:
    w = p["weight_by_class"]
    return np.asarray(w / np.sum(w, axis=-1, keepdims=True))


def _persona_batch(i0: np.ndarray, p: Params) -> tuple[int, ...]:
    return np.broadcast_shapes(
        i0.shape,
        np.shape(p["degree"]),
        *(np.shape(p[n])[:-1] for n in ("alpha_by_class", "beta_by_class", "weight_by_class")),
    )


def _persona_start(i0: np.ndarray, p: Params) -> np.ndarray:
    batch = _persona_batch(i0, p)
    n_classes = np.shape(p["alpha_by_class"])[-1]
    s = 1.0 - np.broadcast_to(i0, batch)
    return np.broadcast_to(s[..., None], (*batch, n_classes)).copy()


def _persona_observe(states: np.ndarray, p: Params) -> np.ndarray:
    return np.asarray(1.0 - np.sum(_persona_weights(p) * states, axis=-1))


def _persona_step(state: np.ndarray, p: Params) -> np.ndarray:
    i = (1.0 - np.sum(_persona_weights(p) * state, axis=-1))[..., None]
    k = np.asarray(p["degree"])[..., None]
    return np.asarray(state * np.exp(_log_stay(p["alpha_by_class"], p["beta_by_class"], k, i)))


PERSONA_MAP = MapModel(
    name="si-persona",
    state_names=("susceptible_by_class",),
    parameters=(_ALPHA_C, _BETA_C, _WEIGHT_C, _DEGREE),
    start=_persona_start,
    observe=_persona_observe,
    equations=(
        "w_c = weight_c / sum(weight);  i = 1 - sum_c w_c s_c;  "
        "s_c[t+1] = s_c[t] * (1 - alpha_c) * (1 - beta_c * i[t]) ** k;  s_c[0] = 1 - i0"
    ),
    reference="Kiss, Miller & Simon (2017), Mathematics of Epidemics on Networks, ch. 4",
    check=_persona_check,
    per_class_state=True,
    step=_persona_step,
)


# --- pair: pair approximation on a k-regular graph --------------------------------------------


def _pair_start(i0: np.ndarray, p: Params) -> np.ndarray:
    shape = _batch_shape(i0, p)
    i = np.broadcast_to(i0, shape)
    k = np.broadcast_to(p["degree"], shape)
    s = 1.0 - i
    return np.stack([s, k * s * i, k * s * s], axis=-1)


def _pair_observe(states: np.ndarray, p: Params) -> np.ndarray:
    return 1.0 - states[..., 0]


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
    parameters=(_ALPHA, _BETA, _DEGREE),
    start=_pair_start,
    observe=_pair_observe,
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
    check=None,
    per_class_state=False,
    step=_pair_step,
)
