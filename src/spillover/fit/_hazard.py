"""Binomial maximum likelihood for rates that act additively on the hazard scale.

Each row of an exposure table is ``at_risk`` Bernoulli trials with success probability
``p = 1 - exp(-z)``, ``z = X @ h``, where ``h >= 0`` are per-round hazards and ``X`` is a
non-negative design row. The rule of DESIGN section 2 is of this form:
``1 - (1 - alpha) (1 - beta)^m = 1 - exp(-(h_alpha + m h_beta))`` with
``h = -log(1 - rate)``. The log-likelihood

    l(h) = sum_rows  shared * log(1 - exp(-z)) - (at_risk - shared) * z

is concave in h (``log(1 - e^-z)`` is concave and z is linear), so the maximum is unique when
the design has full rank. It is found by a projected Newton method with the exact Hessian
(:func:`spillover.fit._newton.newton_search`, compiled): hazards on a bound whose gradient
points outwards are held there; the others take a damped Newton step ``(-H + lam diag(-H)) d
= g`` (Levenberg-Marquardt), halved until the value increases, so an infeasible point (value
-inf) is never accepted. The damping grows when a step fails, which keeps the search moving
where the Hessian is singular (a ridge: rates that the data cannot tell apart). Convergence
is declared only when the optimality conditions hold: no free hazard can still raise the
value appreciably. On this problem, general-purpose bounded quasi-Newton searches stopped
short of the maximum by a few log-likelihood units, which is enough to spoil likelihood-ratio
and profile intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.stats import chi2

from spillover.fit._newton import H_MAX, NEWTON_MESSAGES, newton_search

__all__ = ["HazardFit", "fit_hazards", "hazard_loglik", "loglik_at", "profile_interval"]


def loglik_at(z: np.ndarray, at_risk: np.ndarray, shared: np.ndarray) -> float:
    """Log-likelihood of the counts at known hazards ``z`` per row (a held-out score)."""
    ll, _, _ = hazard_loglik(
        np.ones(1), z[:, None], at_risk.astype(np.float64), shared.astype(np.float64)
    )
    return ll


def hazard_loglik(
    h: np.ndarray,
    design: np.ndarray,
    at_risk: np.ndarray,
    shared: np.ndarray,
    offset: np.ndarray | float = 0.0,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, gradient and Hessian in the hazards ``h``.

    Parameters
    ----------
    h : ndarray, shape (k,)
    design : ndarray, shape (n_rows, k)
    at_risk, shared : ndarray, shape (n_rows,)
    offset : float or ndarray, shape (n_rows,)
        A known part of the hazard, ``z = offset + design @ h`` (used to profile a parameter).

    Returns
    -------
    loglik : float
        ``-inf`` when a row with ``shared > 0`` has ``z == 0``.
    grad : ndarray, shape (k,)
    hess : ndarray, shape (k, k)
    """
    return _likelihood(design, at_risk, shared, offset)(h)


_Objective = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]


def _likelihood(
    design: np.ndarray,
    at_risk: np.ndarray,
    shared: np.ndarray,
    offset: np.ndarray | float = 0.0,
) -> _Objective:
    """:func:`hazard_loglik` as a function of ``h`` alone, with what does not depend on ``h``
    worked out once (an optimiser evaluates it many times on the same rows)."""
    failed = at_risk - shared
    active = shared > 0
    s = shared[active]
    minus_failed = -failed.astype(np.float64)

    def value(h: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        z = offset + design @ h
        za = z[active]
        if (za <= 0.0).any():
            # Someone shared where the model gives probability 0: impossible data.
            k = h.shape[0]
            return -np.inf, np.full(k, np.inf), np.full((k, k), -np.inf)
        # In terms of q = exp(-z) and p = 1 - q, which stay finite for any z >= 0 (e^z
        # overflows once a hazard is large, e.g. a rate estimated at 1).
        q = np.exp(-za)
        p_share = -np.expm1(-za)
        loglik = float((s * np.log(p_share)).sum() - (failed * z).sum())
        dz = minus_failed.copy()
        dz[active] += s * q / p_share
        d2z = np.zeros_like(z)
        d2z[active] = -s * q / p_share**2
        grad = design.T @ dz
        hess = (design * d2z[:, None]).T @ design
        return loglik, grad, hess

    return value


def _search(
    design: np.ndarray,
    at_risk: np.ndarray,
    shared: np.ndarray,
    offset: np.ndarray | float,
    h0: np.ndarray,
    max_iter: int = 500,
) -> tuple[np.ndarray, bool, str, tuple[float, np.ndarray, np.ndarray]]:
    """Maximise :func:`hazard_loglik` over ``0 <= h <= H_MAX`` by the projected Newton method
    (:func:`spillover.fit._newton.newton_search`).

    Returns the final ``h``, whether it converged, how the search ended, and the value,
    gradient and Hessian there.
    """
    design = np.ascontiguousarray(design, dtype=np.float64)
    n = design.shape[0]
    offsets = np.ascontiguousarray(np.broadcast_to(np.asarray(offset, dtype=np.float64), (n,)))
    h, ll, grad, hess, code = newton_search(
        design,
        np.ascontiguousarray(at_risk, dtype=np.float64),
        np.ascontiguousarray(shared, dtype=np.float64),
        offsets,
        np.ascontiguousarray(h0, dtype=np.float64),
        max_iter,
    )
    message = NEWTON_MESSAGES[code].format(max_iter=max_iter)
    return h, code <= 1, message, (float(ll), grad, hess)


@dataclass(frozen=True)
class HazardFit:
    """Hazards at the maximum, their covariance, and how the search ended."""

    hazards: np.ndarray
    covariance: np.ndarray
    loglik: float
    at_bound: np.ndarray
    converged: bool
    message: str
    identifiable: bool = True


def _start(k: int, start: np.ndarray | None) -> np.ndarray:
    return np.full(k, 0.05) if start is None else np.maximum(np.asarray(start, float), 1e-6)


def fit_hazards(
    design: np.ndarray,
    at_risk: np.ndarray,
    shared: np.ndarray,
    start: np.ndarray | None = None,
    offset: np.ndarray | float = 0.0,
) -> HazardFit:
    """Maximise :func:`hazard_loglik` over ``h >= 0``.

    The covariance is the inverse observed information over the hazards not at their bound
    (rows and columns of bound hazards are NaN: a curvature-based interval does not apply).
    """
    design = np.asarray(design, dtype=np.float64)
    at_risk = np.asarray(at_risk, dtype=np.float64)
    shared = np.asarray(shared, dtype=np.float64)
    k = design.shape[1]
    h, converged, message, (ll, grad, hess) = _search(
        design, at_risk, shared, offset, _start(k, start)
    )
    # On a bound when the likelihood would still like to go past it.
    at_bound = ((h <= 0.0) & (grad <= 0.0)) | ((h >= H_MAX) & (grad >= 0.0))
    cov = np.full((k, k), np.nan)
    free = ~at_bound
    identifiable = True
    if free.any():
        info = -hess[np.ix_(free, free)]
        # A (nearly) singular information matrix is a ridge of equally likely rates: the data
        # cannot tell them apart, and no standard error is meaningful.
        if not np.all(np.isfinite(info)) or np.linalg.cond(info) > 1e10:
            identifiable = False
        else:
            cov_free = np.linalg.inv(info)
            if np.all(np.isfinite(cov_free)) and np.all(np.diag(cov_free) > 0):
                cov[np.ix_(free, free)] = cov_free
            else:
                identifiable = False
    h.flags.writeable = False
    cov.flags.writeable = False
    return HazardFit(
        hazards=h,
        covariance=cov,
        loglik=ll,
        at_bound=at_bound,
        converged=converged,
        message=message,
        identifiable=identifiable,
    )


def profile_interval(
    design: np.ndarray,
    at_risk: np.ndarray,
    shared: np.ndarray,
    fit: HazardFit,
    j: int,
    level: float = 0.95,
) -> tuple[float, float]:
    """Profile-likelihood interval of hazard ``j``: where ``2 (l_max - l_profile) <= chi2_1``.

    Unlike a Wald interval it respects the bound at 0 and the skew of the likelihood near it,
    which is where rates of interest (small offline rates) sit.

    Returns
    -------
    (low, high) : hazards; ``low`` is 0 when the bound is inside the interval.
    """
    design = np.asarray(design, dtype=np.float64)
    at_risk = np.asarray(at_risk, dtype=np.float64)
    shared = np.asarray(shared, dtype=np.float64)
    target = fit.loglik - chi2.ppf(level, 1) / 2.0
    others = [i for i in range(design.shape[1]) if i != j]
    warm = [fit.hazards[others]]
    column, rest = design[:, j], design[:, others]

    def profile(v: float) -> float:
        offset = column * v
        if not others:
            return hazard_loglik(np.zeros(0), rest, at_risk, shared, offset)[0]
        # The maximum over the other hazards (as fit_hazards finds it; no covariance needed).
        hazards, _, _, (loglik, _, _) = _search(
            rest, at_risk, shared, offset, _start(len(others), warm[0])
        )
        if np.isfinite(loglik):
            warm[0] = hazards
        return loglik

    h_hat = float(fit.hazards[j])
    if h_hat <= 0.0 or profile(0.0) >= target:
        low = 0.0
    else:
        low = float(brentq(lambda v: profile(v) - target, 0.0, h_hat, xtol=1e-9, rtol=1e-6))
    warm[0] = fit.hazards[others]
    step = max(h_hat, 1e-4)
    high = h_hat + step
    for _ in range(200):
        if profile(high) < target:
            break
        step *= 2.0
        high = h_hat + step
    else:
        return low, float("inf")
    high = float(brentq(lambda v: profile(v) - target, h_hat, high, xtol=1e-9, rtol=1e-6))
    return low, high
