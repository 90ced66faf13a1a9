"""Driving the maps: :func:`iterate`, :func:`map_curve` and one plain function per model.

Every function takes per-round probabilities (``alpha`` offline, ``beta`` online per informed
neighbour, DESIGN section 2) on a k-regular graph and an initial informed fraction
``i0 = n_seeds / n_nodes`` (seeds placed uniformly at random), and returns the expected informed
fraction after rounds 0..n_rounds. Scalar arguments broadcast: arrays of parameters give a batch
of curves, shape batch + (n_rounds + 1,).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from spillover.exceptions import ConfigError
from spillover.models._base import MapModel, ParamsLike, check_i0, check_n_rounds
from spillover.models._maps import GROUPS2_MAP, PAIR_MAP, PERSONA_MAP, SI2_MAP, SI_MAP

__all__ = [
    "PairState",
    "PersonaCurves",
    "groups2_map",
    "iterate",
    "map_curve",
    "pair_map",
    "pair_map_state",
    "persona_map",
    "seeded_states",
    "si2_map",
    "si_map",
]


def iterate(model: MapModel, params: ParamsLike, y0: ArrayLike, n_rounds: int) -> np.ndarray:
    """Apply a map ``n_rounds`` times.

    Parameters
    ----------
    model : MapModel
    params : mapping of str to float or array_like
        The model's parameters (validated; scalar ones may broadcast as a batch).
    y0 : array_like, shape batch + (n_states,)
        The state at round 0 (e.g. from ``model.initial_state(i0, params)``).
    n_rounds : int
        Number of rounds, >= 0.

    Returns
    -------
    ndarray of float64, shape batch + (n_rounds + 1, n_states), read-only
        The states after rounds 0..n_rounds.

    Raises
    ------
    ConfigError
        If a parameter, ``y0`` or ``n_rounds`` breaks its rule.
    """
    p = model.validate(params)
    n_rounds = check_n_rounds(model.name, n_rounds)
    state = np.array(y0, dtype=np.float64)
    n_states = model.n_states(p)
    if state.ndim < 1 or state.shape[-1] != n_states or not np.all(np.isfinite(state)):
        raise ConfigError(
            f"{model.name}: y0 must be a finite array with a last axis of {n_states} "
            f"({', '.join(model.state_names)}); got shape {state.shape}"
        )
    out = [state]
    # log1p(-1) = -inf for a rate of 1 is meant: it gives a survival of exactly 0.
    with np.errstate(divide="ignore"):
        for _ in range(n_rounds):
            state = np.asarray(model.step(state, p), dtype=np.float64)
            out.append(state)
    states = np.stack(np.broadcast_arrays(*out), axis=-2)
    states.flags.writeable = False
    return states


def seeded_states(
    model: MapModel, params: ParamsLike, i0: ArrayLike, n_rounds: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The validated parameters and the states after rounds 0..n_rounds from a share ``i0``
    informed at random (checked in that order: parameters, ``n_rounds``, ``i0``).

    Raises
    ------
    ConfigError
    """
    p = model.validate(params)
    n_rounds = check_n_rounds(model.name, n_rounds)
    return p, iterate(model, p, model.start(check_i0(model.name, i0), p), n_rounds)


def map_curve(model: MapModel, params: ParamsLike, i0: ArrayLike, n_rounds: int) -> np.ndarray:
    """Expected informed fraction after rounds 0..n_rounds, seeds placed at random.

    Parameters
    ----------
    model : MapModel
    params : mapping of str to float or array_like
    i0 : float or array_like
        Initial informed fraction ``n_seeds / n_nodes``, in (0, 1).
    n_rounds : int

    Returns
    -------
    ndarray of float64, shape batch + (n_rounds + 1,), read-only
        ``batch`` is the broadcast shape of ``i0`` and the scalar parameters (``()`` for
        scalars).
    """
    p, states = seeded_states(model, params, i0, n_rounds)
    informed = np.array(model.observe(states, p), dtype=np.float64)
    informed.flags.writeable = False
    return informed


def si_map(beta: ArrayLike, degree: ArrayLike, i0: ArrayLike, n_rounds: int) -> np.ndarray:
    """Homogeneous mean-field SI map on a k-regular graph (online channel only).

    ``i[t+1] = i[t] + (1 - i[t]) * (1 - (1 - beta * i[t]) ** k)``.

    Parameters
    ----------
    beta : float or array_like
        Per-round probability of sharing per informed neighbour, in [0, 1].
    degree : int or array_like
        k, >= 1.
    i0 : float or array_like
        Initial informed fraction ``n_seeds / n_nodes``, in (0, 1).
    n_rounds : int
        Last round, >= 0.

    Returns
    -------
    ndarray of float64, shape batch + (n_rounds + 1,), read-only
        Informed fraction after rounds 0..n_rounds; ``batch`` broadcasts the array arguments.

    Raises
    ------
    ConfigError
    """
    return map_curve(SI_MAP, {"beta": beta, "degree": degree}, i0, n_rounds)


def si2_map(
    alpha: ArrayLike, beta: ArrayLike, degree: ArrayLike, i0: ArrayLike, n_rounds: int
) -> np.ndarray:
    """Homogeneous mean-field two-channel map on a k-regular graph.

    ``i[t+1] = i[t] + (1 - i[t]) * (1 - (1 - alpha) * (1 - beta * i[t]) ** k)``: a susceptible
    agent's k neighbours are each informed with probability i[t], independently (Bass 1969 in
    discrete rounds).

    Parameters
    ----------
    alpha : float or array_like
        Per-round probability of sharing through the offline channel, in [0, 1].
    beta, degree, i0, n_rounds
        As for :func:`si_map`.

    Returns
    -------
    ndarray of float64, shape batch + (n_rounds + 1,), read-only

    Raises
    ------
    ConfigError
    """
    return map_curve(SI2_MAP, {"alpha": alpha, "beta": beta, "degree": degree}, i0, n_rounds)


def groups2_map(
    alpha: ArrayLike,
    beta_1: ArrayLike,
    beta_2: ArrayLike,
    share_1: ArrayLike,
    degree: ArrayLike,
    i0: ArrayLike,
    n_rounds: int,
) -> np.ndarray:
    """Homogeneous mean field with two susceptibility groups.

    A share ``share_1`` of agents has online rate ``beta_1``, the rest ``beta_2``; both have
    ``alpha``. With s_g the fraction of all agents that are in group g and susceptible, and
    ``i = 1 - s_1 - s_2``: ``s_g[t+1] = s_g[t] (1 - alpha)(1 - beta_g i[t])^k``.

    Parameters
    ----------
    alpha, beta_1, beta_2 : float or array_like
        Per-round probabilities, in [0, 1].
    share_1 : float or array_like
        Share of agents in group 1, in [0, 1].
    degree : int or array_like
        k, >= 1.
    i0 : float or array_like
        Initial informed fraction, in (0, 1); seeds are spread over both groups at random.
    n_rounds : int

    Returns
    -------
    ndarray of float64, shape batch + (n_rounds + 1,), read-only
        Informed fraction (both groups) after rounds 0..n_rounds.

    Raises
    ------
    ConfigError
    """
    params = {
        "alpha": alpha,
        "beta_1": beta_1,
        "beta_2": beta_2,
        "share_1": share_1,
        "degree": degree,
    }
    return map_curve(GROUPS2_MAP, params, i0, n_rounds)


class PersonaCurves(NamedTuple):
    """Informed fractions of :func:`persona_map`.

    Attributes
    ----------
    informed : ndarray, shape batch + (n_rounds + 1,)
        Whole population.
    informed_by_class : ndarray, shape batch + (n_rounds + 1, n_classes)
        Within each class (informed agents of class c / agents of class c).
    """

    informed: np.ndarray
    informed_by_class: np.ndarray


def persona_map(
    alpha_c: ArrayLike,
    beta_c: ArrayLike,
    weight_by_class: ArrayLike,
    degree: ArrayLike,
    i0: ArrayLike,
    n_rounds: int,
) -> PersonaCurves:
    """Per-class homogeneous mean field (e.g. the 32 personas) on a k-regular graph.

    Classes are placed at random, so every agent's neighbours are a random sample of the whole
    population: ``s_c[t+1] = s_c[t] (1 - alpha_c)(1 - beta_c i[t])^k`` with
    ``i = 1 - sum_c w_c s_c``, ``w_c`` the share of class c.

    Parameters
    ----------
    alpha_c, beta_c : array_like, shape (n_classes,)
        Per-round probabilities of each class (the receiver's class), in [0, 1].
    weight_by_class : array_like, shape (n_classes,)
        Shares of the classes, or counts: non-negative, normalised to sum to 1.
    degree : int
        k, >= 1.
    i0 : float
        Initial informed fraction, in (0, 1), the same in every class (seeds at random).
    n_rounds : int

    Returns
    -------
    PersonaCurves
        ``informed`` (n_rounds + 1,) and ``informed_by_class`` (n_rounds + 1, n_classes),
        read-only. Leading batch axes broadcast as for the other maps.

    Raises
    ------
    ConfigError
    """
    params = {
        "alpha_c": alpha_c,
        "beta_c": beta_c,
        "weight_by_class": weight_by_class,
        "degree": degree,
    }
    p, states = seeded_states(PERSONA_MAP, params, i0, n_rounds)
    informed = np.array(PERSONA_MAP.observe(states, p), dtype=np.float64)
    by_class = 1.0 - states
    informed.flags.writeable = False
    by_class.flags.writeable = False
    return PersonaCurves(informed=informed, informed_by_class=by_class)


class PairState(NamedTuple):
    """The state of :func:`pair_map_state`, per node (divide counts by ``n_nodes``).

    Attributes
    ----------
    susceptible : ndarray, shape batch + (n_rounds + 1,)
        S, the susceptible fraction.
    si_pairs : ndarray, shape batch + (n_rounds + 1,)
        x = [SI]: susceptible-informed edges per node.
    ss_pairs : ndarray, shape batch + (n_rounds + 1,)
        y = [SS]: ordered susceptible-susceptible pairs per node (each such edge counts twice).
        ``k S = x + y`` at every round.
    """

    susceptible: np.ndarray
    si_pairs: np.ndarray
    ss_pairs: np.ndarray


def pair_map_state(
    alpha: ArrayLike, beta: ArrayLike, degree: ArrayLike, i0: ArrayLike, n_rounds: int
) -> PairState:
    """Pair approximation of the synchronous SI rounds on a k-regular graph: full state.

    With ``q = x / (k S)``, ``r0 = (1 - alpha)(1 - beta q)^(k-1)``, ``r1 = (1 - beta) r0``::

        S' = S (1 - alpha)(1 - beta q)^k
        x' = y r0 (1 - r0) + x r1
        y' = y r0^2

    from ``S = 1 - i0``, ``x = k S i0``, ``y = k S^2`` (seeds at random). Derivation in
    docs/models.md; the closure is Keeling's (1999) pair approximation.

    Parameters
    ----------
    alpha, beta : float or array_like
        Per-round probabilities, in [0, 1].
    degree : int or array_like
        k, >= 1.
    i0 : float or array_like
        Initial informed fraction, in (0, 1).
    n_rounds : int

    Returns
    -------
    PairState
        ``susceptible``, ``si_pairs``, ``ss_pairs``, each batch + (n_rounds + 1,), read-only.

    Raises
    ------
    ConfigError
    """
    params = {"alpha": alpha, "beta": beta, "degree": degree}
    _, states = seeded_states(PAIR_MAP, params, i0, n_rounds)
    return PairState(states[..., 0], states[..., 1], states[..., 2])


def pair_map(
    alpha: ArrayLike, beta: ArrayLike, degree: ArrayLike, i0: ArrayLike, n_rounds: int
) -> np.ndarray:
    """Pair approximation of the synchronous SI rounds on a k-regular graph.

    The informed fraction ``1 - S`` of :func:`pair_map_state` (parameters as there); it tracks
    the engine on random k-regular graphs where the homogeneous :func:`si2_map` runs ahead.

    Returns
    -------
    ndarray of float64, shape batch + (n_rounds + 1,), read-only

    Raises
    ------
    ConfigError
    """
    return map_curve(PAIR_MAP, {"alpha": alpha, "beta": beta, "degree": degree}, i0, n_rounds)
