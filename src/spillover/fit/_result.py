"""``FitResult``: the frozen outcome of fitting one model."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

__all__ = [
    "FitResult",
    "FitStatus",
    "ParamValue",
    "information_criteria",
    "quasi_information_criteria",
]

#: ``converged``: an interior optimum was found. ``bound``: the optimum lies on a parameter
#: bound (a rate of 0), where standard errors from the curvature are not reliable.
#: ``infeasible``: the model gives the data probability zero (log-likelihood -inf).
#: ``failed``: the optimiser did not converge.
#: ``not-identified``: the maximum is not unique (a singular information matrix): no standard
#: error is meaningful.
FitStatus = Literal["converged", "bound", "infeasible", "not-identified", "failed"]

ParamValue = float | tuple[float, ...]


def information_criteria(loglik: float, n_params: int, n_obs: int) -> tuple[float, float, float]:
    """(AIC, AICc, BIC) from a log-likelihood; AICc is +inf when ``n_obs <= n_params + 1``."""
    aic = 2.0 * n_params - 2.0 * loglik
    if n_obs > n_params + 1:
        aicc = aic + 2.0 * n_params * (n_params + 1) / (n_obs - n_params - 1)
    else:
        aicc = math.inf
    bic = n_params * math.log(max(n_obs, 1)) - 2.0 * loglik
    return aic, aicc, bic


def quasi_information_criteria(
    loglik: float, n_params: int, n_obs: int, dispersion: float
) -> tuple[float, float, float]:
    """(QAIC, QAICc, QBIC): the criteria of a quasi-likelihood, ``loglik / dispersion``.

    ``QAIC = -2 loglik / phi + 2 k``, ``QBIC = -2 loglik / phi + k log n`` and QAICc adds AICc's
    small-sample term to QAIC. ``k`` counts the model's free parameters, not phi: with one phi
    for every model compared, counting it would shift them all alike. With ``phi = 1`` these
    are AIC, AICc and BIC.
    """
    if not dispersion > 0:
        raise ValueError(f"the dispersion must be > 0; got {dispersion}")
    return information_criteria(loglik / dispersion, n_params, n_obs)


@dataclass(frozen=True)
class FitResult:
    """Estimates, uncertainty and fit statistics of one model.

    Attributes
    ----------
    model : str
        Model name (``si``, ``si2``, ...).
    params, stderr : mapping of str to float or tuple of float
        Estimates and standard errors in the per-round probability units of DESIGN section 2.
    loglik : float
        Maximised log-likelihood (``-inf`` when infeasible).
    n_params, n_obs : int
        Free parameters; observations, the n of BIC: agent-rounds at risk for agent-level fits
        (the Bernoulli trials of the likelihood, also for ``si-groups2`` on agent histories),
        susceptible agent-rounds implied by the curves for curve fits (the trials of their
        binomial cells).
    aic, aicc, bic : float
        Information criteria of the log-likelihood itself.
    status : {"converged", "bound", "infeasible", "failed"}
    message : str
        Human-readable detail on the status.
    ci_low, ci_high : mapping of str to float or tuple of float
        95 % interval of each parameter; by default Wald intervals ``estimate +- 1.96 se``
        clipped to [0, 1].
    ci_method : str
        ``"wald"`` or ``"profile"`` (profile likelihood).
    dispersion : float or None
        Quasi-likelihood dispersion of a curve fit, ``phi = Pearson chi2 / (cells - params)``
        (its standard errors are inflated by sqrt(phi) when phi > 1); None for likelihood fits.
    """

    model: str
    params: Mapping[str, ParamValue]
    stderr: Mapping[str, ParamValue]
    loglik: float
    n_params: int
    n_obs: int
    status: FitStatus
    message: str = ""
    ci_low: Mapping[str, ParamValue] = field(default_factory=dict)
    ci_high: Mapping[str, ParamValue] = field(default_factory=dict)
    ci_method: str = "wald"
    dispersion: float | None = None
    aic: float = field(init=False)
    aicc: float = field(init=False)
    bic: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "stderr", MappingProxyType(dict(self.stderr)))
        if not self.ci_low and not self.ci_high:
            low, high = _wald(self.params, self.stderr)
            object.__setattr__(self, "ci_low", low)
            object.__setattr__(self, "ci_high", high)
        object.__setattr__(self, "ci_low", MappingProxyType(dict(self.ci_low)))
        object.__setattr__(self, "ci_high", MappingProxyType(dict(self.ci_high)))
        aic, aicc, bic = information_criteria(self.loglik, self.n_params, self.n_obs)
        object.__setattr__(self, "aic", aic)
        object.__setattr__(self, "aicc", aicc)
        object.__setattr__(self, "bic", bic)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of one model in ``spillover fit --json`` (DESIGN section 6)."""

        def plain(v: ParamValue) -> float | list[float]:
            return list(v) if isinstance(v, tuple) else v

        return {
            "name": self.model,
            "params": {k: plain(v) for k, v in self.params.items()},
            "stderr": {k: plain(v) for k, v in self.stderr.items()},
            "loglik": self.loglik,
            "n_params": self.n_params,
            "n_obs": self.n_obs,
            "aic": self.aic,
            "aicc": self.aicc,
            "bic": self.bic,
            "status": self.status,
            "message": self.message,
            "ci_low": {k: plain(v) for k, v in self.ci_low.items()},
            "ci_high": {k: plain(v) for k, v in self.ci_high.items()},
            "ci_method": self.ci_method,
            "dispersion": self.dispersion,
        }


def _wald(
    params: Mapping[str, ParamValue], stderr: Mapping[str, ParamValue]
) -> tuple[dict[str, ParamValue], dict[str, ParamValue]]:
    z = 1.959963984540054
    low: dict[str, ParamValue] = {}
    high: dict[str, ParamValue] = {}
    for name, value in params.items():
        v = np.atleast_1d(np.asarray(value, dtype=np.float64))
        se = np.atleast_1d(np.asarray(stderr.get(name, math.nan), dtype=np.float64))
        lo = np.clip(v - z * se, 0.0, 1.0)
        hi = np.clip(v + z * se, 0.0, 1.0)
        if isinstance(value, tuple):
            low[name] = tuple(float(x) for x in lo)
            high[name] = tuple(float(x) for x in hi)
        else:
            low[name], high[name] = float(lo[0]), float(hi[0])
    return low, high
