"""Mean-field and pair-closure models of the coupled spread: maps (per round) and ODEs.

Per-node fractions: ``S`` unaware, ``E`` engaged online, ``P`` participating offline, ``Z``
ever participated (cumulative); the pair models add ``x = [SE]`` and ``y = [SS]`` (ordered
pairs per node). Maps take the per-round probabilities of :class:`CoupledRates`, ODEs hazards
(one unit of time = one round). Equations and derivations: docs/loop.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from spillover.models._base import MapModel, OdeModel, Parameter, Params
from spillover.models._curves import seeded_states
from spillover.models._states import DEGREE, batch_shape

__all__ = [
    "LOOP_MF_MAP",
    "LOOP_MF_ODE",
    "LOOP_PAIR_MAP",
    "LOOP_PAIR_ODE",
    "CoupledCurves",
    "coupled_map",
]

_RATES = (
    Parameter("alpha", 0.0, 1.0, "per-round probability of engaging without an engaged neighbour"),
    Parameter("beta", 0.0, 1.0, "per-round probability of engaging per engaged neighbour"),
    Parameter("gamma", 0.0, 1.0, "per-round probability that engagement fades"),
    Parameter("eta", 0.0, 1.0, "per-round online-to-offline probability of an engaged agent"),
    Parameter("kappa", 0.0, 1.0, "per-round probability of joining per participating neighbour"),
    Parameter("delta", 0.0, 1.0, "per-round probability of leaving offline participation"),
)
_HAZARDS = (
    Parameter("a", 0.0, math.inf, "hazard of engaging without an engaged neighbour"),
    Parameter("b", 0.0, math.inf, "engaging hazard per engaged neighbour"),
    Parameter("g", 0.0, math.inf, "hazard of engagement fading"),
    Parameter("e", 0.0, math.inf, "online-to-offline hazard of an engaged agent"),
    Parameter("c", 0.0, math.inf, "joining hazard per participating neighbour"),
    Parameter("d", 0.0, math.inf, "hazard of leaving offline participation"),
)


def _mf_start(i0: np.ndarray, p: Params) -> np.ndarray:
    shape = batch_shape(i0, p)
    i = np.broadcast_to(i0, shape)
    zero = np.zeros(shape)
    return np.stack([1.0 - i, i, zero, zero], axis=-1)


def _pair_start(i0: np.ndarray, p: Params) -> np.ndarray:
    shape = batch_shape(i0, p)
    i = np.broadcast_to(i0, shape)
    k = np.broadcast_to(p["degree"], shape)
    s = 1.0 - i
    zero = np.zeros(shape)
    return np.stack([s, i, zero, zero, k * s * i, k * s * s], axis=-1)


def _aware(states: np.ndarray, p: Params) -> np.ndarray:
    return np.asarray(1.0 - states[..., 0])


def _offline_step(
    s: np.ndarray, s_next: np.ndarray, e: np.ndarray, part: np.ndarray, z: np.ndarray, p: Params
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """E, P, Z after one round, and the chance that an engaged agent stays engaged."""
    join = 1.0 - (1.0 - p["eta"]) * (1.0 - p["kappa"] * part) ** p["degree"]
    joined = e * join
    stay_e = (1.0 - join) * (1.0 - p["gamma"])
    e_next = e * stay_e + (s - s_next)
    p_next = part * (1.0 - p["delta"]) + joined
    return e_next, p_next, z + joined, stay_e


def _mf_step(state: np.ndarray, p: Params) -> np.ndarray:
    s, e, part, z = (state[..., j] for j in range(4))
    s_next = s * (1.0 - p["alpha"]) * (1.0 - p["beta"] * e) ** p["degree"]
    e_next, p_next, z_next, _ = _offline_step(s, s_next, e, part, z, p)
    return np.stack([s_next, e_next, p_next, z_next], axis=-1)


def _pair_step(state: np.ndarray, p: Params) -> np.ndarray:
    s, e, part, z, x, y = (state[..., j] for j in range(6))
    alpha, beta, k = p["alpha"], p["beta"], p["degree"]
    ks = k * s
    q = np.divide(x, ks, out=np.zeros(np.broadcast_shapes(x.shape, ks.shape)), where=ks > 0)
    miss = 1.0 - beta * np.clip(q, 0.0, 1.0)
    r0 = (1.0 - alpha) * miss ** (k - 1.0)  # stays unaware, one neighbour known unaware
    r1 = r0 * (1.0 - beta)  # stays unaware, one neighbour known engaged
    s_next = s * r0 * miss
    e_next, p_next, z_next, stay_e = _offline_step(s, s_next, e, part, z, p)
    x_next = y * r0 * (1.0 - r0) + x * r1 * stay_e
    return np.stack([s_next, e_next, p_next, z_next, x_next, y * r0 * r0], axis=-1)


_MF_EQ = (
    "S' = S (1 - alpha)(1 - beta E)^k;  J = E (1 - (1 - eta)(1 - kappa P)^k);  "
    "E' = E - J - (E - J) gamma + S - S';  P' = P (1 - delta) + J;  Z' = Z + J"
)
_REF = (
    "coupled online-offline spillover after Tian, Brantingham & Rodriguez (2025), "
    "arXiv 2507.13310 (model as built here: docs/loop.md); pair closure after Keeling (1999)"
)

LOOP_MF_MAP = MapModel(
    name="loop-mf",
    state_names=("unaware", "engaged", "participating", "ever_participated"),
    parameters=(*_RATES, DEGREE),
    start=_mf_start,
    observe=_aware,
    equations=_MF_EQ,
    reference=_REF,
    step=_mf_step,
)

LOOP_PAIR_MAP = MapModel(
    name="loop-pair",
    state_names=(
        "unaware",
        "engaged",
        "participating",
        "ever_participated",
        "se_pairs",
        "ss_pairs",
    ),
    parameters=(*_RATES, DEGREE),
    start=_pair_start,
    observe=_aware,
    equations=(
        "q = [SE]/(k S); r0 = (1 - alpha)(1 - beta q)^(k-1); r1 = (1 - beta) r0; "
        "S' = S r0 (1 - beta q); stay_E = (1 - join)(1 - gamma); "
        "[SE]' = [SS] r0 (1 - r0) + [SE] r1 stay_E; [SS]' = [SS] r0^2; E, P, Z as loop-mf"
    ),
    reference=_REF,
    step=_pair_step,
)


def _join_hazard(e_: np.ndarray, part: np.ndarray, p: Params) -> np.ndarray:
    return np.asarray(p["e"] + p["degree"] * p["c"] * part)


def _mf_rhs(t: float, st: np.ndarray, p: Params) -> np.ndarray:
    s, e, part, _ = st
    force = s * (p["a"] + p["degree"] * p["b"] * e)
    join = _join_hazard(e, part, p) * e
    return np.array([-force, force - join - p["g"] * e, join - p["d"] * part, join])


def _pair_rhs(t: float, st: np.ndarray, p: Params) -> np.ndarray:
    s, e, part, _, x, y = st
    a, b, k = p["a"], p["b"], p["degree"]
    join_h = _join_hazard(e, part, p)
    join = join_h * e
    c = (k - 1.0) / k if k > 0 else 0.0
    sse = c * y * x / s if s > 0 else 0.0
    ese = c * x * x / s if s > 0 else 0.0
    dx = a * (y - x) + b * (sse - ese - x) - (join_h + p["g"]) * x
    dy = -2.0 * a * y - 2.0 * b * sse
    ds = -a * s - b * x
    return np.array([ds, -ds - join - p["g"] * e, join - p["d"] * part, join, dx, dy])


LOOP_MF_ODE = OdeModel.on_states_of(
    LOOP_MF_MAP,
    parameters=(*_HAZARDS, DEGREE),
    equations=(
        "dS/dt = -S (a + k b E); dE/dt = S (a + k b E) - (e + k c P) E - g E; "
        "dP/dt = (e + k c P) E - d P; dZ/dt = (e + k c P) E"
    ),
    rhs=_mf_rhs,
)

LOOP_PAIR_ODE = OdeModel.on_states_of(
    LOOP_PAIR_MAP,
    parameters=(*_HAZARDS, DEGREE),
    equations=(
        "dS/dt = -a S - b [SE]; d[SE]/dt = a([SS] - [SE]) + b([SSE] - [ESE] - [SE]) "
        "- (e + k c P + g)[SE]; d[SS]/dt = -2 a [SS] - 2 b [SSE]; "
        "[SSE] = ((k-1)/k)[SS][SE]/S, [ESE] = ((k-1)/k)[SE]^2/S; E, P, Z as loop-mf"
    ),
    rhs=_pair_rhs,
)


@dataclass(frozen=True)
class CoupledCurves:
    """Expected per-node fractions after rounds 0..n_rounds (batch + (n_rounds + 1,) each)."""

    unaware: np.ndarray
    engaged: np.ndarray
    participating: np.ndarray
    ever_participated: np.ndarray


def coupled_map(
    model: str,
    *,
    beta: ArrayLike,
    eta: ArrayLike,
    delta: ArrayLike,
    degree: ArrayLike,
    i0: ArrayLike,
    n_rounds: int,
    alpha: ArrayLike = 0.0,
    gamma: ArrayLike = 0.0,
    kappa: ArrayLike = 0.0,
) -> CoupledCurves:
    """Run ``loop-mf`` or ``loop-pair`` from a share ``i0`` of engaged seeds placed at random.

    Parameters broadcast like numpy (a batch of rates gives batch-shaped curves).
    """
    from spillover.exceptions import ConfigError

    maps = {"loop-mf": LOOP_MF_MAP, "loop-pair": LOOP_PAIR_MAP}
    if model not in maps:
        raise ConfigError(f"model must be one of {', '.join(maps)}; got {model!r}")
    m = maps[model]
    params = {
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "eta": eta,
        "kappa": kappa,
        "delta": delta,
        "degree": degree,
    }
    _, states = seeded_states(m, params, i0, n_rounds)
    return CoupledCurves(*(np.asarray(states[..., j]) for j in range(4)))
