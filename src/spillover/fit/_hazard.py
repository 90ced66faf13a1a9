"""Binomial maximum likelihood for rates that act additively on the hazard scale.

Each row of an exposure table is ``at_risk`` Bernoulli trials with success probability
``p = 1 - exp(-z)``, ``z = X @ h``, where ``h >= 0`` are per-round hazards and ``X`` is a
non-negative design row. The rule of DESIGN section 2 is of this form:
``1 - (1 - alpha) (1 - beta)^m = 1 - exp(-(h_alpha + m h_beta))`` with
``h = -log(1 - rate)``. The log-likelihood

    l(h) = sum_rows  shared * log(1 - exp(-z)) - (at_risk - shared) * z

is concave in h (``log(1 - e^-z)`` is concave and z is linear), so the maximum is unique when
the design has full rank, and a bounded quasi-Newton search (L-BFGS-B) finds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

__all__ = ["HazardFit", "fit_hazards", "hazard_loglik"]


def hazard_loglik(
    h: np.ndarray, design: np.ndarray, at_risk: np.ndarray, shared: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, gradient and Hessian in the hazards ``h``.

    Parameters
    ----------
    h : ndarray, shape (k,)
    design : ndarray, shape (n_rows, k)
    at_risk, shared : ndarray, shape (n_rows,)

    Returns
    -------
    loglik : float
        ``-inf`` when a row with ``shared > 0`` has ``z == 0``.
    grad : ndarray, shape (k,)
    hess : ndarray, shape (k, k)
    """
    z = design @ h
    failed = at_risk - shared
    active = shared > 0
    zero = active & (z <= 0.0)
    if zero.any():
        # Someone shared where the model gives probability 0: impossible data.
        k = h.shape[0]
        return -np.inf, np.full(k, np.inf), np.full((k, k), -np.inf)
    za = z[active]
    em1 = np.expm1(za)  # e^z - 1
    s = shared[active]
    loglik = float((s * np.log(-np.expm1(-za))).sum() - (failed * z).sum())
    dz = -failed.astype(np.float64)
    dz[active] += s / em1
    d2z = np.zeros_like(z)
    d2z[active] = -s * (em1 + 1.0) / em1**2
    grad = design.T @ dz
    hess = (design * d2z[:, None]).T @ design
    return loglik, grad, hess


@dataclass(frozen=True)
class HazardFit:
    """Hazards at the maximum, their covariance, and how the search ended."""

    hazards: np.ndarray
    covariance: np.ndarray
    loglik: float
    at_bound: np.ndarray
    converged: bool
    message: str


def fit_hazards(
    design: np.ndarray, at_risk: np.ndarray, shared: np.ndarray, start: np.ndarray | None = None
) -> HazardFit:
    """Maximise :func:`hazard_loglik` over ``h >= 0``.

    The covariance is the inverse observed information over the hazards not at their bound
    (rows and columns of bound hazards are NaN: a curvature-based interval does not apply).
    """
    design = np.asarray(design, dtype=np.float64)
    at_risk = np.asarray(at_risk, dtype=np.float64)
    shared = np.asarray(shared, dtype=np.float64)
    k = design.shape[1]
    # Per-trial scaling keeps the objective O(1) so the optimiser's tolerances mean the same
    # for ten rows and for ten million trials.
    scale = max(float(at_risk.sum()), 1.0)
    h0 = np.full(k, 0.05) if start is None else np.maximum(np.asarray(start, float), 1e-6)

    def objective(h: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad, _ = hazard_loglik(h, design, at_risk, shared)
        if not np.isfinite(ll):
            # The line search needs finite values: a huge one makes it back off from points
            # where the data are impossible (a zero hazard where somebody shared).
            return 1e10, np.zeros_like(h)
        return -ll / scale, -grad / scale

    res = minimize(
        objective,
        h0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * k,
        options={"ftol": 0.0, "gtol": 1e-12, "maxiter": 10_000, "maxls": 50},
    )
    h = np.maximum(np.asarray(res.x, dtype=np.float64), 0.0)
    ll, grad, hess = hazard_loglik(h, design, at_risk, shared)
    # On the bound when it is 0 and the likelihood would still like it lower.
    at_bound = (h == 0.0) & (grad <= 0.0)
    cov = np.full((k, k), np.nan)
    free = ~at_bound
    if free.any():
        info = -hess[np.ix_(free, free)]
        try:
            cov_free = np.linalg.inv(info)
            if np.all(np.isfinite(cov_free)) and np.all(np.diag(cov_free) > 0):
                cov[np.ix_(free, free)] = cov_free
        except np.linalg.LinAlgError:
            pass
    h.flags.writeable = False
    cov.flags.writeable = False
    return HazardFit(
        hazards=h,
        covariance=cov,
        loglik=ll,
        at_bound=at_bound,
        converged=bool(res.success),
        message=str(res.message),
    )
