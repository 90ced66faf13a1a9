"""Comparing fitted models: information criteria and Akaike weights."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spillover.fit import FitResult

__all__ = ["ComparisonRow", "akaike_weights", "compare"]


def akaike_weights(criterion: Sequence[float]) -> np.ndarray:
    """``exp(-delta/2)`` normalised, where delta is the gap to the smallest finite value.

    Models with an infinite criterion (infeasible) get weight 0.
    """
    values = np.asarray(criterion, dtype=np.float64)
    finite = np.isfinite(values)
    weights = np.zeros_like(values)
    if finite.any():
        delta = values[finite] - values[finite].min()
        w = np.exp(-delta / 2.0)
        weights[finite] = w / w.sum()
    return weights


@dataclass(frozen=True)
class ComparisonRow:
    """One model's line in a comparison table."""

    model: str
    n_params: int
    loglik: float
    aic: float
    aicc: float
    bic: float
    delta_aic: float
    akaike_weight: float
    status: str
    held_out_loglik: float | None = None


def compare(
    results: Sequence[FitResult], held_out: dict[str, float] | None = None
) -> list[ComparisonRow]:
    """Rows sorted by AIC (infeasible models last), with delta AIC and Akaike weights.

    Only compare results fitted to the same data: information criteria of likelihoods of
    different data (an exposure table and a curve) are not comparable.
    """
    aic = [r.aic for r in results]
    weights = akaike_weights(aic)
    finite = [a for a in aic if math.isfinite(a)]
    best = min(finite) if finite else math.inf
    rows = [
        ComparisonRow(
            model=r.model,
            n_params=r.n_params,
            loglik=r.loglik,
            aic=r.aic,
            aicc=r.aicc,
            bic=r.bic,
            delta_aic=r.aic - best,
            akaike_weight=float(w),
            status=r.status,
            held_out_loglik=None if held_out is None else held_out.get(r.model),
        )
        for r, w in zip(results, weights, strict=True)
    ]
    return sorted(rows, key=lambda row: (not math.isfinite(row.aic), row.aic))
