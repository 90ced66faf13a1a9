"""Agent-level estimators on the exposure table (scikit-learn conventions).

``__init__`` stores arguments; ``fit(exposures)`` validates, fits, and sets ``theta_``,
``stderr_``, ``loglik_``, ``n_obs_`` and ``result_`` (a frozen :class:`FitResult`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from spillover.exceptions import ConfigError, FitError, NotFittedError
from spillover.fit._hazard import HazardFit, fit_hazards, hazard_loglik
from spillover.fit._result import FitResult, FitStatus
from spillover.trajectories import ExposureTable

__all__ = ["ESTIMATORS", "SI2Estimator", "SIEstimator", "fit_exposures"]


class _HazardEstimator:
    """Shared machinery: pooled (n_exposed, at_risk, shared) rows and a hazard-linear design."""

    name: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()

    theta_: dict[str, float]
    stderr_: dict[str, float]
    loglik_: float
    n_obs_: int
    result_: FitResult

    def _design(self, m: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, exposures: ExposureTable) -> _HazardEstimator:
        """Fit by exact binomial maximum likelihood on the exposure table's sufficient statistics.

        Raises
        ------
        FitError
            When the table is empty (no agent was ever at risk).
        """
        if not isinstance(exposures, ExposureTable):
            raise ConfigError(
                f"{self.name}: fit expects an ExposureTable; got {type(exposures).__name__}"
            )
        m, at_risk, shared = exposures.totals_by_exposure()
        n_obs = int(at_risk.sum())
        if n_obs == 0:
            raise FitError(f"{self.name}: the exposure table has no agent at risk; nothing to fit")
        design = self._design(m)
        # Rows the model cannot reach (z == 0 whatever h is) carry no information on h, and
        # make the data impossible if anyone shared there.
        reachable = design.any(axis=1)
        impossible = int(shared[~reachable].sum())
        fit = fit_hazards(
            design[reachable],
            at_risk[reachable],
            shared[reachable],
            start=self._start(m, at_risk, shared),
        )
        loglik = -np.inf if impossible else fit.loglik
        status, message = self._status(fit, impossible)
        rates = -np.expm1(-fit.hazards)
        # Delta method: d rate / d hazard = 1 - rate.
        se = np.sqrt(np.diag(fit.covariance)) * (1.0 - rates)
        self.theta_ = {n: float(v) for n, v in zip(self.param_names, rates, strict=True)}
        self.stderr_ = {n: float(v) for n, v in zip(self.param_names, se, strict=True)}
        self.loglik_ = float(loglik)
        self.n_obs_ = n_obs
        self.result_ = FitResult(
            model=self.name,
            params=self.theta_,
            stderr=self.stderr_,
            loglik=self.loglik_,
            n_params=len(self.param_names),
            n_obs=n_obs,
            status=status,
            message=message,
        )
        return self

    def _start(self, m: np.ndarray, at_risk: np.ndarray, shared: np.ndarray) -> np.ndarray:
        # Crude per-trial hazard as a starting point; the problem is concave, so it only
        # saves iterations.
        mean_p = min(max(float(shared.sum()) / float(at_risk.sum()), 1e-6), 0.5)
        mean_m = max(float((m * at_risk).sum()) / float(at_risk.sum()), 1.0)
        h = -np.log1p(-mean_p)
        return np.full(len(self.param_names), h / mean_m)

    def _status(self, fit: HazardFit, impossible: int) -> tuple[FitStatus, str]:
        if impossible:
            return "infeasible", (
                f"{impossible} shares happened where the model gives "
                "probability 0 (no informed neighbour and no offline rate)"
            )
        if not fit.converged:
            return "failed", f"optimiser did not converge: {fit.message}"
        if fit.at_bound.any():
            names = [n for n, b in zip(self.param_names, fit.at_bound, strict=True) if b]
            return "bound", f"estimate on the bound 0 for {', '.join(names)}"
        return "converged", ""

    def loglik(self, exposures: ExposureTable) -> float:
        """Log-likelihood of (possibly held-out) exposures at the fitted parameters."""
        theta = self._fitted("theta_")
        m, at_risk, shared = exposures.totals_by_exposure()
        h = -np.log1p(-np.array([theta[n] for n in self.param_names]))
        ll, _, _ = hazard_loglik(h, self._design(m), at_risk.astype(float), shared.astype(float))
        return ll

    def _fitted(self, attr: str) -> Any:
        try:
            return getattr(self, attr)
        except AttributeError:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit() first"
            ) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SIEstimator(_HazardEstimator):
    """``si``: one online rate beta, no offline channel (``p = 1 - (1 - beta)^m``)."""

    name = "si"
    param_names = ("beta",)

    def _design(self, m: np.ndarray) -> np.ndarray:
        return np.asarray(m, dtype=np.float64)[:, None]


class SI2Estimator(_HazardEstimator):
    """``si2``: offline rate alpha and online rate beta (``p = 1 - (1-alpha)(1-beta)^m``)."""

    name = "si2"
    param_names = ("alpha", "beta")

    def _design(self, m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, dtype=np.float64)
        return np.column_stack([np.ones_like(m), m])


ESTIMATORS: dict[str, type[_HazardEstimator]] = {
    SIEstimator.name: SIEstimator,
    SI2Estimator.name: SI2Estimator,
}


def fit_exposures(
    exposures: ExposureTable, models: tuple[str, ...] = ("si", "si2")
) -> list[FitResult]:
    """Fit each named model to an exposure table; results in the order asked."""
    unknown = [m for m in models if m not in ESTIMATORS]
    if unknown:
        raise ConfigError(
            f"unknown model(s) {', '.join(map(repr, unknown))}; known: {', '.join(ESTIMATORS)}"
        )
    return [ESTIMATORS[name]().fit(exposures).result_ for name in models]
