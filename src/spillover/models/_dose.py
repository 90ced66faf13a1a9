"""Dose-response mean-field maps and ODEs: the chance of sharing as a function of exposure.

In ``si2`` every informed neighbour adds the same hazard. The dose-response models relax that
(the estimators are in :mod:`spillover.fit._dose`):

- ``si-dose2``: a rate for the first informed neighbour and another for each further one,
  ``P(stay | m) = (1 - alpha)(1 - beta_first)(1 - beta_further)^(m - 1)`` for m >= 1.
- ``si-dose``: a free online rate per exposure count, ``P(stay | m) = (1 - alpha)(1 -
  online_m[m])``, the last count open-ended (counts beyond it share its rate).
- ``si-dose-persona``: ``si-dose`` for each class (persona) c, ``P(stay | c, m) = (1 - alpha_c)
  (1 - online_m_c[c, m])``, with classes of shares ``w_c`` placed at random as in
  ``si-persona``.

On a k-regular graph in the mean field each of the k neighbours is informed with probability
``i`` independently, so the number of informed neighbours ``m`` is Binomial(k, i) and
``i[t+1] = i[t] + (1 - i[t]) (1 - E[P(stay | m)])``. With ``beta_first = beta_further`` (or
``online_m[m] = 1 - (1 - beta)^m``) this is the ``si2`` map exactly. The ODEs take hazards:
``di/dt = (1 - i)(a + E[g(m)])`` with ``g`` the online hazard at exposure m. The per-class
model tracks the susceptible share within each class, ``s_c``, with ``i = 1 - sum_c w_c s_c``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binom

from spillover.exceptions import ConfigError
from spillover.models._base import MapModel, OdeModel, Parameter, Params
from spillover.models._maps import _ALPHA, _ALPHA_C
from spillover.models._odes import _A, _A_C
from spillover.models._states import (
    DEGREE,
    WEIGHT_BY_CLASS,
    informed_observe,
    informed_start,
    per_class_map,
    per_class_ode,
    persona_weights,
)

__all__ = [
    "DOSE2_MAP",
    "DOSE2_ODE",
    "DOSE_MAP",
    "DOSE_ODE",
    "DOSE_PERSONA_MAP",
    "DOSE_PERSONA_ODE",
    "exposure_weights",
]

_BETA_FIRST = Parameter(
    "beta_first", 0.0, 1.0, "per-round probability of sharing for the first informed neighbour"
)
_BETA_FURTHER = Parameter(
    "beta_further", 0.0, 1.0, "per-round probability of sharing per further informed neighbour"
)
_ONLINE_M = Parameter(
    "online_m",
    0.0,
    1.0,
    "online probability of sharing at exposure m = 1, 2, ... (last axis; the last value holds "
    "for every larger m)",
    per_class=True,
)
_B_FIRST = Parameter("b_first", 0.0, math.inf, "online hazard of the first informed neighbour")
_B_FURTHER = Parameter("b_further", 0.0, math.inf, "online hazard per further informed neighbour")
_G_M = Parameter(
    "g_m",
    0.0,
    math.inf,
    "online hazard at exposure m = 1, 2, ... (last axis; the last value holds for every larger m)",
    per_class=True,
)


def exposure_weights(i: np.ndarray, degree: np.ndarray) -> np.ndarray:
    """``P(m informed neighbours)`` for m = 0..max(k): Binomial(k, i), batch + (max k + 1,)."""
    k = np.asarray(degree, dtype=np.float64)
    m = np.arange(int(np.max(k)) + 1, dtype=np.float64)
    return np.asarray(binom.pmf(m, k[..., None], np.asarray(i, dtype=np.float64)[..., None]))


def _by_count(values: np.ndarray, n_counts: int) -> np.ndarray:
    """A per-exposure vector (m = 1..M on the last axis) at m = 0..n_counts - 1 (0 at m = 0)."""
    v = np.asarray(values, dtype=np.float64)
    index = np.clip(np.arange(n_counts) - 1, 0, v.shape[-1] - 1)
    out = v[..., index]
    out[..., 0] = 0.0
    return out


def _dose_start(i0: np.ndarray, p: Params) -> np.ndarray:
    """State ``(i,)`` broadcast over the batch; the per-exposure axis is not a batch axis."""
    scalars = {n: v for n, v in p.items() if n not in ("online_m", "g_m")}
    vectors = [np.shape(v)[:-1] for n, v in p.items() if n in ("online_m", "g_m")]
    shape = np.broadcast_shapes(i0.shape, *(np.shape(v) for v in scalars.values()), *vectors)
    return np.broadcast_to(i0, shape)[..., None].copy()


def _check_k(model: str, p: Params) -> None:
    if np.max(p["degree"]) > 100_000:
        raise ConfigError(f"{model}: degree above 100,000 is not supported by the dose maps")


# --- si-dose2 ----------------------------------------------------------------------------------


def _dose2_step(state: np.ndarray, p: Params) -> np.ndarray:
    i = state[..., 0]
    w = exposure_weights(i, p["degree"])
    m = np.arange(w.shape[-1], dtype=np.float64)
    first = np.asarray(p["beta_first"])[..., None]
    further = np.asarray(p["beta_further"])[..., None]
    online_stay = np.where(m >= 1, (1.0 - first) * (1.0 - further) ** np.maximum(m - 1, 0), 1.0)
    stay = (1.0 - np.asarray(p["alpha"])) * np.sum(w * online_stay, axis=-1)
    return np.asarray((1.0 - (1.0 - i) * stay)[..., None])


DOSE2_MAP = MapModel(
    name="si-dose2",
    state_names=("informed",),
    parameters=(_ALPHA, _BETA_FIRST, _BETA_FURTHER, DEGREE),
    start=informed_start,
    observe=informed_observe,
    equations=(
        "m ~ Binomial(k, i[t]);  i[t+1] = i[t] + (1 - i[t]) * (1 - (1 - alpha) * "
        "E[(1 - beta_first)^(m >= 1) * (1 - beta_further)^max(m - 1, 0)])"
    ),
    reference=(
        "Dodds & Watts (2004), Universal behavior in a generalized model of contagion, "
        "Phys. Rev. Lett. 92:218701 (dose-response contagion); mean field on a k-regular graph"
    ),
    check=_check_k,
    step=_dose2_step,
)


def _dose2_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    i, k = y[0], p["degree"]
    none = (1.0 - i) ** k  # P(m = 0)
    online = p["b_first"] * (1.0 - none) + p["b_further"] * (k * i - 1.0 + none)
    return np.array([(1.0 - i) * (p["a"] + online)])


DOSE2_ODE = OdeModel.on_states_of(
    DOSE2_MAP,
    parameters=(_A, _B_FIRST, _B_FURTHER, DEGREE),
    equations=(
        "di/dt = (1 - i)(a + b_first P(m >= 1) + b_further E[max(m - 1, 0)]), m ~ Binomial(k, i): "
        "P(m >= 1) = 1 - (1 - i)^k, E[max(m - 1, 0)] = k i - 1 + (1 - i)^k"
    ),
    check=_check_k,
    rhs=_dose2_rhs,
)


# --- si-dose -----------------------------------------------------------------------------------


def _dose_step(state: np.ndarray, p: Params) -> np.ndarray:
    i = state[..., 0]
    w = exposure_weights(i, p["degree"])
    online = _by_count(p["online_m"], w.shape[-1])
    stay = (1.0 - np.asarray(p["alpha"])) * np.sum(w * (1.0 - online), axis=-1)
    return np.asarray((1.0 - (1.0 - i) * stay)[..., None])


DOSE_MAP = MapModel(
    name="si-dose",
    state_names=("informed",),
    parameters=(_ALPHA, _ONLINE_M, DEGREE),
    start=_dose_start,
    observe=informed_observe,
    equations=(
        "m ~ Binomial(k, i[t]);  i[t+1] = i[t] + (1 - i[t]) * (1 - (1 - alpha) * "
        "E[1 - online_m[min(m, M)]]), online_m[0] = 0"
    ),
    reference=DOSE2_MAP.reference,
    check=_check_k,
    step=_dose_step,
)


def _dose_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    w = exposure_weights(np.asarray(y[0]), p["degree"])
    g = _by_count(p["g_m"], w.shape[-1])
    return np.array([(1.0 - y[0]) * (p["a"] + float(np.sum(w * g)))])


DOSE_ODE = OdeModel.on_states_of(
    DOSE_MAP,
    parameters=(_A, _G_M, DEGREE),
    equations="di/dt = (1 - i)(a + E[g_m[min(m, M)]]), m ~ Binomial(k, i), g_m[0] = 0",
    check=_check_k,
    rhs=_dose_rhs,
)


# --- si-dose-persona ---------------------------------------------------------------------------

_ONLINE_M_C = Parameter(
    "online_m_c",
    0.0,
    1.0,
    "online probability of sharing of each class (second-to-last axis) at exposure "
    "m = 1, 2, ... (last axis; the last value holds for every larger m)",
    per_class=True,
    per_exposure=True,
)
_G_M_C = Parameter(
    "g_m_c",
    0.0,
    math.inf,
    "online hazard of each class (second-to-last axis) at exposure m = 1, 2, ... (last axis; "
    "the last value holds for every larger m)",
    per_class=True,
    per_exposure=True,
)


def _class_online_mean(i: np.ndarray, p: Params, online: str) -> np.ndarray:
    """``E[v_c(m)]`` over m ~ Binomial(k, i) of a per-class vector ``v = p[online]``,
    batch + (n_classes,); ``v_c(0) = 0``."""
    w = exposure_weights(i, p["degree"])  # batch + (K + 1,)
    by_count = _by_count(p[online], w.shape[-1])  # batch + (n_classes, K + 1)
    return np.asarray(np.sum(w[..., None, :] * by_count, axis=-1))


def _dose_persona_step(state: np.ndarray, p: Params) -> np.ndarray:
    i = 1.0 - np.sum(persona_weights(p) * state, axis=-1)
    online_share = _class_online_mean(i, p, "online_m_c")  # E[online_m_c[c, m]]
    return np.asarray(state * (1.0 - p["alpha_c"]) * (1.0 - online_share))


DOSE_PERSONA_MAP = per_class_map(
    name="si-dose-persona",
    parameters=(_ALPHA_C, _ONLINE_M_C, WEIGHT_BY_CLASS, DEGREE),
    equations=(
        "w_c = weight_c / sum(weight);  i = 1 - sum_c w_c s_c;  m ~ Binomial(k, i[t]);  "
        "s_c[t+1] = s_c[t] * (1 - alpha_c) * E[1 - online_m_c[c, min(m, M)]], "
        "online_m_c[c, 0] = 0;  s_c[0] = 1 - i0"
    ),
    reference=DOSE2_MAP.reference,
    step=_dose_persona_step,
    first_check=_check_k,
)


def _dose_persona_rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
    i = np.asarray(1.0 - np.sum(persona_weights(p) * y))
    return np.asarray(-y * (p["a_c"] + _class_online_mean(i, p, "g_m_c")))


DOSE_PERSONA_ODE = per_class_ode(
    DOSE_PERSONA_MAP,
    parameters=(_A_C, _G_M_C, WEIGHT_BY_CLASS, DEGREE),
    equations=(
        "w_c = weight_c / sum(weight);  i = 1 - sum_c w_c s_c;  "
        "ds_c/dt = -s_c (a_c + E[g_m_c[c, min(m, M)]]), m ~ Binomial(k, i), g_m_c[c, 0] = 0"
    ),
    rhs=_dose_persona_rhs,
    first_check=_check_k,
)
