"""Reproductive numbers and the critical range of the online-to-offline rate.

All from the deterministic models (``loop-mf``, ``loop-pair``); derivations in docs/loop.md.

- Online reproductive number (early growth, ``alpha = 0``, nobody offline yet). An engaged
  agent stays engaged for a round with ``s = (1 - eta)(1 - gamma)``. Homogeneous mean field:
  ``R = k beta / (1 - s)``. Pair closure (exact on the k-regular tree): each of the k - 1
  unaware neighbours is reached with the transmissibility ``T = beta / (1 - (1 - beta) s)``
  (one trial per round while engaged, and only until it succeeds), ``R = (k - 1) T``.
- Critical online-to-offline rate ``eta_c``: ``R(eta_c) = 1``; above it the online spread, and
  with it offline participation, dies out.
- Critical range: the rates ``eta`` for which the cascade's peak participating share reaches
  the emission threshold (``threshold`` rule), or for which one cascade emits at least one
  event on average (``hawkes`` rule: ``R_loop = rate * n_nodes * sum_t P[t] >= 1``). Offline
  participation needs ``eta`` large enough to pull engaged agents offline and small enough not
  to stop the online spread that feeds it, so the range is an interval ``(eta_low, eta_high)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq

from spillover.exceptions import ConfigError
from spillover.loop._emission import EmissionRule
from spillover.models import coupled_map

__all__ = [
    "CriticalRange",
    "critical_eta",
    "critical_range",
    "loop_reproductive_number",
    "online_reproductive_number",
]

_CLOSURES = ("loop-mf", "loop-pair")


def _check_closure(closure: str) -> None:
    if closure not in _CLOSURES:
        raise ConfigError(f"closure must be one of {', '.join(_CLOSURES)}; got {closure!r}")


def online_reproductive_number(
    beta: float, gamma: float, eta: float, degree: int, closure: str = "loop-pair"
) -> float:
    """Engaged agents made by one engaged agent early in the spread (``alpha = 0``)."""
    _check_closure(closure)
    s = (1.0 - eta) * (1.0 - gamma)
    if closure == "loop-mf":
        return float(degree * beta / (1.0 - s)) if s < 1.0 else float("inf")
    denom = 1.0 - (1.0 - beta) * s
    return float((degree - 1) * beta / denom) if denom > 0.0 else float("inf")


def critical_eta(beta: float, gamma: float, degree: int, closure: str = "loop-pair") -> float:
    """The online-to-offline rate at which the online reproductive number is 1.

    Returns 0.0 when the spread is subcritical even with ``eta = 0`` and 1.0 when it stays
    supercritical for every ``eta`` (``k beta >= 1``, or ``(k - 1) beta >= 1`` for the pair).
    """
    _check_closure(closure)
    if online_reproductive_number(beta, gamma, 0.0, degree, closure) <= 1.0:
        return 0.0
    if online_reproductive_number(beta, gamma, 1.0, degree, closure) >= 1.0:
        return 1.0
    if closure == "loop-mf":
        # k beta = 1 - (1 - eta)(1 - gamma)
        return float(1.0 - (1.0 - degree * beta) / (1.0 - gamma))
    # (k - 1) beta = 1 - (1 - beta)(1 - eta)(1 - gamma)
    return float(1.0 - (1.0 - (degree - 1) * beta) / ((1.0 - beta) * (1.0 - gamma)))


@dataclass(frozen=True)
class CriticalRange:
    """Rates ``eta`` in ``[low, high]`` give an offline outburst; ``None`` bounds: none."""

    low: float | None
    high: float | None
    closure: str

    def contains(self, eta: float) -> bool:
        return self.low is not None and self.high is not None and self.low <= eta <= self.high


def _hawkes_events(participating: np.ndarray, rate: float, n_nodes: int) -> np.ndarray:
    """Expected events a cascade emits under the ``hawkes`` rule: ``rate n sum_{t>=1} P[t]``."""
    return np.asarray(rate * n_nodes * participating[..., 1:].sum(axis=-1))


def _score(
    eta: np.ndarray, rates: Mapping[str, Any], *, rule: EmissionRule, n_nodes: int, closure: str
) -> np.ndarray:
    """Positive where an outburst is predicted: peak share - threshold, or R_loop - 1.

    ``rates`` holds the other keyword arguments of :func:`coupled_map`.
    """
    participating = coupled_map(closure, eta=eta, **rates).participating
    if rule.mode == "threshold":
        return np.asarray(participating.max(axis=-1) - rule.threshold)
    return np.asarray(_hawkes_events(participating, rule.rate, n_nodes) - 1.0)


def critical_range(
    *,
    beta: float,
    gamma: float,
    delta: float,
    degree: int,
    i0: float,
    n_rounds: int,
    rule: EmissionRule,
    n_nodes: int,
    kappa: float = 0.0,
    closure: str = "loop-pair",
    n_grid: int = 400,
) -> CriticalRange:
    """The interval of ``eta`` in (0, 1] in which the model predicts an offline outburst.

    Scans ``n_grid`` rates (one batched map), then refines each end by root finding. If the
    predicted set is not one interval, the outermost ends are returned.
    """
    _check_closure(closure)
    rates = {
        "beta": beta,
        "gamma": gamma,
        "delta": delta,
        "kappa": kappa,
        "degree": degree,
        "i0": i0,
        "n_rounds": n_rounds,
    }
    grid = np.linspace(1e-4, 1.0, n_grid)
    score = _score(grid, rates, rule=rule, n_nodes=n_nodes, closure=closure)
    inside = np.flatnonzero(score >= 0.0)
    if inside.size == 0:
        return CriticalRange(None, None, closure)

    def f(x: float) -> float:
        return float(_score(np.array(x), rates, rule=rule, n_nodes=n_nodes, closure=closure))

    first, last = int(inside[0]), int(inside[-1])
    low = float(grid[0]) if first == 0 else float(brentq(f, grid[first - 1], grid[first]))
    high = 1.0 if last == n_grid - 1 else float(brentq(f, grid[last], grid[last + 1]))
    return CriticalRange(low, high, closure)


def loop_reproductive_number(
    *,
    beta: float,
    eta: float,
    gamma: float,
    delta: float,
    degree: int,
    i0: float,
    n_rounds: int,
    rate: float,
    n_nodes: int,
    kappa: float = 0.0,
    closure: str = "loop-pair",
) -> float:
    """Expected events one cascade emits under the ``hawkes`` rule (the loop's branching
    ratio): ``rate * n_nodes * sum_{t >= 1} P[t]``."""
    _check_closure(closure)
    curves = coupled_map(
        closure,
        beta=beta,
        eta=eta,
        delta=delta,
        gamma=gamma,
        kappa=kappa,
        degree=degree,
        i0=i0,
        n_rounds=n_rounds,
    )
    return float(_hawkes_events(curves.participating, rate, n_nodes))
