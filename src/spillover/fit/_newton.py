"""The projected Newton search of the hazard-linear likelihood, compiled.

The same search as described in :mod:`spillover.fit._hazard` (exact Hessian, hazards held on
a bound when the gradient points outwards, Levenberg-Marquardt damping, step halving until
the value increases, convergence only where no free hazard can still raise the value). The
problems are small (a few hazards, tens of rows) and fitted by the hundred (one per persona
and model in the two-rates verdict, each profile interval's inner maxima), so the time went
into interpreting the loop, not into arithmetic: compiled, a per-persona fit takes
microseconds instead of about a millisecond.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["NEWTON_MESSAGES", "newton_search"]

#: Largest hazard considered: ``1 - exp(-40)`` is 1 to double precision, so a rate estimated
#: at 1 (everybody at risk shared) sits on this bound instead of running off to infinity.
H_MAX = 40.0

#: Rows x hazards^2 above which the evaluation's sums are matrix products rather than loops.
_BLAS_WORK = 16384

#: How a search ended, by the code :func:`newton_search` returns (codes 0 and 1 converged).
NEWTON_MESSAGES = (
    "converged",
    "converged (to the precision of the likelihood)",
    "no step increases the likelihood, but it is not at an optimum",
    "no convergence in {max_iter} iterations",
    "the starting point gives the data probability 0",
)


@numba.njit(cache=True, error_model="numpy")
def _evaluate(
    design: np.ndarray,
    offset: np.ndarray,
    shared: np.ndarray,
    failed: np.ndarray,
    h: np.ndarray,
    grad: np.ndarray,
    hess: np.ndarray,
) -> float:
    """Log-likelihood at ``h``; its gradient and Hessian into ``grad`` and ``hess``.

    ``-inf`` (gradient ``inf``, Hessian ``-inf``) when someone shared where the model gives
    probability 0. Small problems (the per-persona fits) sum in plain loops; past
    :data:`_BLAS_WORK` the sums over rows are matrix products (BLAS), which keeps tables of
    many rows and parameters (trait effects: 90,000 rows, 12 hazards) as fast as numpy.
    """
    n, k = design.shape
    if n * k * k > _BLAS_WORK:
        z = offset + design @ h
    else:
        z = offset.copy()
        for r in range(n):
            for c in range(k):
                z[r] += design[r, c] * h[c]
    dz = np.empty(n)
    d2z = np.zeros(n)
    gained = 0.0
    lost = 0.0
    for r in range(n):
        s = shared[r]
        dz[r] = -failed[r]
        if s > 0.0:
            if z[r] <= 0.0:
                grad[:] = np.inf
                hess[:, :] = -np.inf
                return -np.inf
            # In terms of q = exp(-z) and p = 1 - q, finite for any z >= 0.
            q = np.exp(-z[r])
            p = -np.expm1(-z[r])
            gained += s * np.log(p)
            dz[r] += s * q / p
            d2z[r] = -s * q / (p * p)
        lost += failed[r] * z[r]
    if n * k * k > _BLAS_WORK:
        grad[:] = design.T @ dz
        weighted = design * d2z.reshape((n, 1))
        hess[:, :] = weighted.T @ design
        return gained - lost
    grad[:] = 0.0
    hess[:, :] = 0.0
    for r in range(n):
        for a in range(k):
            grad[a] += design[r, a] * dz[r]
            x = design[r, a] * d2z[r]
            if x != 0.0:
                for b in range(a, k):
                    hess[a, b] += x * design[r, b]
    for a in range(k):
        for b in range(a):
            hess[a, b] = hess[b, a]
    return gained - lost


@numba.njit(cache=True, error_model="numpy")
def _solve(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, bool]:
    """``a x = b`` by Gaussian elimination with partial pivoting; False when singular."""
    n = b.shape[0]
    m = a.copy()
    x = b.copy()
    for col in range(n):
        pivot = col
        for r in range(col + 1, n):
            if abs(m[r, col]) > abs(m[pivot, col]):
                pivot = r
        if m[pivot, col] == 0.0 or not np.isfinite(m[pivot, col]):
            return x, False
        if pivot != col:
            for c in range(n):
                m[col, c], m[pivot, c] = m[pivot, c], m[col, c]
            x[col], x[pivot] = x[pivot], x[col]
        for r in range(col + 1, n):
            f = m[r, col] / m[col, col]
            if f != 0.0:
                for c in range(col, n):
                    m[r, c] -= f * m[col, c]
                x[r] -= f * x[col]
    for r in range(n - 1, -1, -1):
        total = x[r]
        for c in range(r + 1, n):
            total -= m[r, c] * x[c]
        x[r] = total / m[r, r]
    return x, True


@numba.njit(cache=True, error_model="numpy")
def newton_search(
    design: np.ndarray,
    at_risk: np.ndarray,
    shared: np.ndarray,
    offset: np.ndarray,
    h0: np.ndarray,
    max_iter: int,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, int]:
    """Maximise the hazard-linear log-likelihood over ``0 <= h <= H_MAX``.

    Returns the final ``h``, the log-likelihood, gradient and Hessian there, and the code of
    how the search ended (:data:`NEWTON_MESSAGES`).
    """
    k = design.shape[1]
    failed = at_risk - shared
    h = np.minimum(np.maximum(h0.copy(), 0.0), H_MAX)
    grad = np.empty(k)
    hess = np.empty((k, k))
    grad_new = np.empty(k)
    hess_new = np.empty((k, k))
    candidate = np.empty(k)
    ll = _evaluate(design, offset, shared, failed, h, grad, hess)
    if not np.isfinite(ll):
        return h, ll, grad, hess, 4
    free = np.empty(k, dtype=np.int64)
    lam = 0.0
    for _ in range(max_iter):
        n_free = 0
        for c in range(k):
            at_low = h[c] <= 0.0 and grad[c] <= 0.0
            at_high = h[c] >= H_MAX and grad[c] >= 0.0
            if not (at_low or at_high):
                free[n_free] = c
                n_free += 1
        if n_free == 0:
            return h, ll, grad, hess, 0
        g = np.empty(n_free)
        neg_hess = np.empty((n_free, n_free))
        diag = np.empty(n_free)
        gain = 0.0
        tiny = 1e-12 * (1.0 + abs(ll))
        for i in range(n_free):
            c = free[i]
            g[i] = grad[c]
            for j in range(n_free):
                neg_hess[i, j] = -hess[c, free[j]]
            # What a relative change of each free hazard could still gain.
            gain = max(gain, abs(grad[c]) * max(abs(h[c]), 1e-3))
            diag[i] = max(neg_hess[i, i], tiny)
        if gain <= 1e-9 * (1.0 + abs(ll)):
            return h, ll, grad, hess, 0
        # The gain a full Newton step predicts; below the rounding of the value itself no
        # step can be seen to increase it, and the point is the maximum to working precision.
        decrement = 0.0
        for i in range(n_free):
            decrement += g[i] * (g[i] / diag[i])
        decrement *= 0.5
        if decrement <= 1e-11 * (1.0 + abs(ll)):
            return h, ll, grad, hess, 0
        moved = False
        ll_new = -np.inf
        while lam <= 1e12:
            damped = neg_hess.copy()
            for i in range(n_free):
                damped[i, i] += lam * diag[i]
            direction, ok = _solve(damped, g)
            if ok:
                slope = 0.0
                for i in range(n_free):
                    if not np.isfinite(direction[i]):
                        ok = False
                    slope += direction[i] * g[i]
                ok = ok and slope > 0.0
            if ok:
                t = 1.0
                for _ in range(40):
                    candidate[:] = h
                    for i in range(n_free):
                        c = free[i]
                        candidate[c] = min(max(h[c] + t * direction[i], 0.0), H_MAX)
                    ll_new = _evaluate(
                        design, offset, shared, failed, candidate, grad_new, hess_new
                    )
                    if np.isfinite(ll_new) and ll_new > ll:
                        moved = True
                        break
                    t *= 0.5
            if moved:
                break
            lam = max(1e-6, 10.0 * lam)
        if not moved:
            if decrement <= 1e-8 * (1.0 + abs(ll)):
                return h, ll, grad, hess, 1
            return h, ll, grad, hess, 2
        h, candidate = candidate, h
        grad, grad_new = grad_new, grad
        hess, hess_new = hess_new, hess
        ll = ll_new
        lam = lam / 10.0 if lam > 1e-6 else 0.0
    return h, ll, grad, hess, 3
