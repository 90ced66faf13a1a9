"""``si`` and ``si2``: exact binomial maximum likelihood on the pooled exposure table."""

from __future__ import annotations

import numpy as np

from spillover.fit._base import AgentData, ExposureEstimator, checked_exposures
from spillover.fit._hazard import HazardFit, fit_hazards, hazard_loglik, profile_interval
from spillover.fit._result import FitStatus, ParamValue
from spillover.fit._spec import ModelSpec, Overlay, spread_starts
from spillover.models import SI2_MAP, SI2_ODE, SI_MAP, SI_ODE

__all__ = ["SI2_SPEC", "SI_SPEC", "SI2Estimator", "SIEstimator"]


class _HazardEstimator(ExposureEstimator):
    """Shared machinery: pooled (n_exposed, at_risk, shared) rows and a hazard-linear design.

    Standard errors and ``covariance_`` come from the observed information (delta method to
    the probability scale); intervals are profile-likelihood intervals, which stay valid next
    to the bound 0.
    """

    param_names: tuple[str, ...] = ()
    #: The fitted attribute holding one rate per column of the design, by ``param_names``.
    _rates_attr: str = "theta_"

    def _design(self, m: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, exposures: AgentData) -> _HazardEstimator:
        """Fit by exact binomial maximum likelihood on the exposure table's sufficient statistics.

        Raises
        ------
        FitError
            When the table is empty (no agent was ever at risk).
        """
        m, at_risk, shared = checked_exposures(self.name, exposures).totals_by_exposure()
        n_obs = int(at_risk.sum())
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
        # The same delta method for the covariance (forecast bands draw from it).
        cov = fit.covariance * np.outer(1.0 - rates, 1.0 - rates)
        if impossible:
            se[:] = np.nan  # the model cannot produce these data: no uncertainty to report
            cov[:] = np.nan
        low: dict[str, ParamValue] = {}
        high: dict[str, ParamValue] = {}
        if self.intervals and not impossible:
            for j, name in enumerate(self.param_names):
                lo, hi = profile_interval(
                    design[reachable], at_risk[reachable], shared[reachable], fit, j
                )
                low[name], high[name] = float(-np.expm1(-lo)), float(-np.expm1(-hi))
        ci = (low, high, "profile" if low else "wald")
        self._set_result(
            self.param_names, rates, se, loglik, n_obs, status, message, ci=ci, covariance=cov
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
            return "bound", f"estimate on a bound (0 or 1) for {', '.join(names)}"
        if not fit.identifiable:
            return "not-identified", "the data cannot tell the rates apart (singular information)"
        return "converged", ""

    def loglik(self, exposures: AgentData) -> float:
        """Log-likelihood of (possibly held-out) exposures at the fitted parameters."""
        theta = self._fitted(self._rates_attr)
        table = checked_exposures(self.name, exposures, fitting=False)
        m, at_risk, shared = table.totals_by_exposure()
        h = -np.log1p(-np.array([theta[n] for n in self.param_names]))
        ll, _, _ = hazard_loglik(h, self._design(m), at_risk.astype(float), shared.astype(float))
        return ll


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


SI_SPEC = ModelSpec.of(
    SI_MAP,
    SI_ODE,
    "one online rate beta, no offline channel",
    estimator=SIEstimator,
    curve_fit=True,
    effective_curve_rates=("beta",),
    starts=spread_starts({"beta": 0.05}),
    sweep_default=True,
)

SI2_SPEC = ModelSpec.of(
    SI2_MAP,
    SI2_ODE,
    "offline rate alpha and online rate beta (Bass-type)",
    estimator=SI2Estimator,
    curve_fit=True,
    effective_curve_rates=("beta",),
    starts=spread_starts({"alpha": 0.005, "beta": 0.05}),
    overlays=(
        Overlay("si2 rates, homogeneous mean field", "si2"),
        Overlay("si2 rates, pair approximation", "pair"),
    ),
    sweep_default=True,
)
