"""Central-difference Hessians for likelihoods without an analytic one."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["numerical_hessian"]


def numerical_hessian(
    fun: Callable[[np.ndarray], float], x: np.ndarray, *, rel_step: float = 1e-4
) -> np.ndarray:
    """Hessian of a scalar function by central differences, shape (k, k).

    Steps are relative to each coordinate (absolute near 0), which suits parameters of very
    different sizes (a share near 0.5, a rate near 0.001).
    """
    x = np.asarray(x, dtype=np.float64)
    k = x.size
    h = rel_step * np.maximum(np.abs(x), 1e-3)
    hess = np.empty((k, k))
    f0 = fun(x)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        hess[i, i] = (fun(x + ei) - 2.0 * f0 + fun(x - ei)) / h[i] ** 2
        for j in range(i + 1, k):
            ej = np.zeros(k)
            ej[j] = h[j]
            value = (fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) + fun(x - ei - ej)) / (
                4.0 * h[i] * h[j]
            )
            hess[i, j] = hess[j, i] = value
    return hess
