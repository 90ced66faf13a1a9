"""Comparing fitted models: information criteria and Akaike weights.

Likelihood fits (the agent-level models on an exposure table) are ranked by AIC, AICc and BIC
of their log-likelihood. Curve fits, whose standard errors are inflated by the quasi-likelihood
dispersion phi, are ranked by the quasi-likelihood criteria QAIC, QAICc and QBIC of
``loglik / phi`` with one phi for every model compared (:func:`common_dispersion`), so that a
difference of criteria and the width of the intervals tell the same story; with phi <= 1 they
are the plain criteria.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from spillover.exceptions import ConfigError
from spillover.fit import FitResult, quasi_information_criteria

__all__ = [
    "CRITERIA",
    "ComparisonRow",
    "Criterion",
    "akaike_weights",
    "common_dispersion",
    "compare",
    "criterion_name",
]

Criterion = Literal["aic", "aicc", "bic"]
#: Criteria a comparison can be ordered by. BIC is the default: on simulated data it picked the
#: generating model among si, si2 and si-groups2 in every trial (docs/fitting.md), where AIC,
#: whose penalty is light for the nested mixture, sometimes preferred si-groups2 over si2.
CRITERIA: tuple[str, ...] = ("bic", "aic", "aicc")

_NAMES = {"aic": "AIC", "aicc": "AICc", "bic": "BIC"}


def criterion_name(criterion: str, dispersion: float | None = None) -> str:
    """``"BIC"``, or ``"QBIC"`` when a dispersion ``phi > 1`` turns it into its quasi form."""
    name = _NAMES[criterion]
    return f"Q{name}" if dispersion is not None and dispersion > 1.0 else name


def common_dispersion(results: Sequence[FitResult]) -> tuple[float, str] | None:
    """(phi, model): the dispersion a comparison of curve fits uses, and whose fit it is.

    The textbook choice (Burnham and Anderson's c-hat): one phi for every model compared,
    estimated from the most general one, here the fit with the most free parameters among
    those with a finite log-likelihood and dispersion (on a tie, the higher log-likelihood:
    the better fit, whose Pearson chi2 holds the least lack of fit). None when no result
    has a dispersion (likelihood fits).
    """
    candidates = [
        r
        for r in results
        if r.dispersion is not None and math.isfinite(r.dispersion) and math.isfinite(r.loglik)
    ]
    if not candidates:
        return None
    general = max(candidates, key=lambda r: (r.n_params, r.loglik))
    assert general.dispersion is not None
    return float(general.dispersion), general.model


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
    """One model's line in a comparison table.

    ``aic``, ``aicc``, ``bic`` are the criteria of the log-likelihood. With ``dispersion``
    (phi > 1, curve fits) the comparison ranks by ``qaic``, ``qaicc``, ``qbic`` instead, and
    ``delta_aic``, ``delta_bic`` and ``akaike_weight`` are those of QAIC and QBIC; without it the
    q fields are None.
    """

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
    dispersion: float | None = None
    qaic: float | None = None
    qaicc: float | None = None
    qbic: float | None = None

    def value(self, criterion: str) -> float:
        """The value of ``criterion`` (``aic``, ``aicc``, ``bic``) this row is ranked by:
        its quasi form when the comparison has a dispersion."""
        quasi = {"aic": self.qaic, "aicc": self.qaicc, "bic": self.qbic}[criterion]
        return quasi if quasi is not None else float(getattr(self, criterion))


#: The fields a comparison row copies from its fit.
_FROM_FIT = ("model", "n_params", "loglik", "aic", "aicc", "bic")


def compare(
    results: Sequence[FitResult],
    held_out: dict[str, float] | None = None,
    criterion: Criterion = "bic",
    dispersion: float | None = None,
) -> list[ComparisonRow]:
    """Rows sorted by ``criterion`` (infeasible models last), with deltas and Akaike weights.

    ``dispersion`` is the common quasi-likelihood phi of curve fits
    (:func:`common_dispersion`): when it is above 1 the rows are ranked by QAIC, QAICc or QBIC,
    whose differences are those of the raw criteria with the log-likelihood part divided by phi.
    Only compare results fitted to the same data: information criteria of likelihoods of
    different data (an exposure table and a curve) are not comparable.
    """
    if criterion not in CRITERIA:
        raise ConfigError(f"criterion must be one of {', '.join(CRITERIA)}; got {criterion!r}")
    if dispersion is not None and not (math.isfinite(dispersion) and dispersion >= 0):
        raise ConfigError(f"the dispersion must be a number >= 0; got {dispersion!r}")
    quasi = dispersion is not None and dispersion > 1.0
    q: list[tuple[float, float, float] | None] = [
        quasi_information_criteria(r.loglik, r.n_params, r.n_obs, dispersion)
        if quasi and dispersion is not None
        else None
        for r in results
    ]
    ranked_aic = [r.aic if v is None else v[0] for r, v in zip(results, q, strict=True)]
    ranked_bic = [r.bic if v is None else v[2] for r, v in zip(results, q, strict=True)]
    weights = akaike_weights(ranked_aic)

    def floor(values: list[float]) -> float:
        finite = [v for v in values if math.isfinite(v)]
        return min(finite) if finite else math.inf

    best_aic = floor(ranked_aic)
    best_bic = floor(ranked_bic)
    rows = [
        ComparisonRow(
            **{name: getattr(r, name) for name in _FROM_FIT},
            delta_aic=a - best_aic,
            delta_bic=b - best_bic,
            akaike_weight=float(w),
            status=r.status,
            held_out_loglik=None if held_out is None else held_out.get(r.model),
            dispersion=dispersion if quasi else None,
            qaic=None if v is None else v[0],
            qaicc=None if v is None else v[1],
            qbic=None if v is None else v[2],
        )
        for r, w, a, b, v in zip(results, weights, ranked_aic, ranked_bic, q, strict=True)
    ]
    return sorted(
        rows, key=lambda row: (not math.isfinite(row.value(criterion)), row.value(criterion))
    )
