"""Comparing fitted models: information criteria and Akaike weights."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from spillover.exceptions import ConfigError
from spillover.fit import FitResult

__all__ = ["CRITERIA", "ComparisonRow", "Criterion", "akaike_weights", "compare"]

Criterion = Literal["aic", "aicc", "bic"]
#: Criteria a comparison can be ordered by. BIC is the default: on simulated data it picked the
#: generating model among si, si2 and si-groups2 in every trial (docs/fitting.md), where AIC,
#: whose penalty is light for the nested mixture, sometimes preferred si-groups2 over si2.
CRITERIA: tuple[str, ...] = ("bic", "aic", "aicc")


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
    delta_bic: float
    akaike_weight: float
    status: str
    held_out_loglik: float | None = None


def compare(
    results: Sequence[FitResult],
    held_out: dict[str, float] | None = None,
    criterion: Criterion = "bic",
) -> list[ComparisonRow]:
    """Rows sorted by ``criterion`` (infeasible models last), with deltas and Akaike weights.

    Only compare results fitted to the same data: information criteria of likelihoods of
    different data (an exposure table and a curve) are not comparable.
    """
    if criterion not in CRITERIA:
        raise ConfigError(f"criterion must be one of {', '.join(CRITERIA)}; got {criterion!r}")
    aic = [r.aic for r in results]
    weights = akaike_weights(aic)

    def floor(values: list[float]) -> float:
        finite = [v for v in values if math.isfinite(v)]
        return min(finite) if finite else math.inf

    best_aic = floor(aic)
    best_bic = floor([r.bic for r in results])
    rows = [
        ComparisonRow(
            model=r.model,
            n_params=r.n_params,
            loglik=r.loglik,
            aic=r.aic,
            aicc=r.aicc,
            bic=r.bic,
            delta_aic=r.aic - best_aic,
            delta_bic=r.bic - best_bic,
            akaike_weight=float(w),
            status=r.status,
            held_out_loglik=None if held_out is None else held_out.get(r.model),
        )
        for r, w in zip(results, weights, strict=True)
    ]
    key = {"aic": "aic", "aicc": "aicc", "bic": "bic"}[criterion]
    return sorted(rows, key=lambda row: (not math.isfinite(getattr(row, key)), getattr(row, key)))
