"""Aggregate estimation: fitting mean-field and pair maps to informed counts alone.

For users who only have curves (cumulative informed counts per round, per replicate). The
model's deterministic map, started from the observed initial fraction, predicts the share of
still-susceptible agents who share in each round,
``p_t = (i[t] - i[t-1]) / (1 - i[t-1])``; each replicate's new shares are scored as

    new_rt ~ Binomial(S_r,t-1, p_t),   S = agents not yet informed.

Assumptions, stated plainly: the map describes the mean dynamics (true for the pair map on
k-regular graphs to within its documented error, less so for the homogeneous map); rounds are
treated as independent given S, which they are not (a replicate that runs ahead stays ahead),
so the raw binomial information overstates precision. Standard errors are therefore inflated
by the quasi-likelihood dispersion ``phi = Pearson chi2 / (n_cells - n_params)`` when phi > 1
(``FitResult.dispersion``). Each fit's AIC and BIC are those of the raw log-likelihood; model
selection (:func:`spillover.selection.compare`) ranks curve fits by the quasi-likelihood
criteria QAIC and QBIC with one phi for the models compared, so that their differences agree
with the inflated intervals. ``n_obs`` counts the susceptible agent-rounds of the binomial
cells (sum over replicates and rounds of ``S_r,t-1``). Curve fits are compared with curve fits
of the same curves only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit

from spillover.exceptions import ConfigError, FitError
from spillover.fit._base import Estimator
from spillover.fit._numdiff import numerical_hessian
from spillover.fit._registry import CURVE_ESTIMATORS, get_model
from spillover.fit._result import FitResult, FitStatus
from spillover.trajectories import Curves

__all__ = ["CurveEstimator", "curve_loglik", "fit_curves", "predict_curve"]


def _binomial_terms(curves: Curves, frac: np.ndarray) -> tuple[np.ndarray, ...]:
    informed = curves.informed.astype(np.float64)
    new = np.diff(informed, axis=1)
    susceptible = curves.n_nodes - informed[:, :-1]
    prev = frac[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.clip((frac[1:] - prev) / (1.0 - prev), 0.0, 1.0)
    return new, susceptible, np.broadcast_to(p, new.shape)


def curve_loglik(curves: Curves, frac: np.ndarray) -> float:
    """Binomial log-likelihood of each round's new shares given the model's fractions."""
    new, susceptible, p = _binomial_terms(curves, frac)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(new > 0, new * np.log(p), 0.0) + np.where(
            susceptible - new > 0, (susceptible - new) * np.log1p(-p), 0.0
        )
    total = float(terms.sum())
    return total if math.isfinite(total) else -math.inf


class CurveEstimator(Estimator):
    """Fit one of :data:`CURVE_ESTIMATORS` to curves; ``degree`` is the graph's k.

    Besides the fitted attributes of every estimator, ``covariance_`` is the covariance of the
    estimates (per-round probabilities, in ``theta_`` order; inflated by the dispersion like
    the standard errors; NaN where they are undefined) and ``dispersion_`` is phi.
    """

    name: ClassVar[str] = "curve"

    def __init__(self, model: str, degree: int) -> None:
        self.model = model
        self.degree = degree

    def fit(self, curves: Curves) -> CurveEstimator:
        if self.model not in CURVE_ESTIMATORS:
            raise ConfigError(
                f"model {self.model!r} cannot be fitted to curves; "
                f"curve models: {', '.join(CURVE_ESTIMATORS)}"
            )
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or self.degree < 1:
            raise ConfigError(
                f"degree must be an integer >= 1; got {self.degree!r}", params=("degree",)
            )
        if not isinstance(curves, Curves):
            raise ConfigError(f"expected Curves; got {type(curves).__name__}")
        if curves.n_rounds < 1:
            raise FitError("curves need at least two rounds (0 and 1) to fit")
        spec = get_model(self.model)
        names = spec.params

        def predict(theta: np.ndarray) -> np.ndarray:
            params = dict(zip(names, theta, strict=True))
            return spec.predict(params, degree=k, i0=i0, n_rounds=n_rounds)

        informed = curves.informed
        k, n_rounds = self.degree, curves.n_rounds
        i0 = float(informed[:, 0].mean()) / curves.n_nodes
        if not 0.0 < i0 < 1.0:
            raise FitError(f"the initial informed fraction must be in (0, 1); got {i0}")
        self.i0_ = i0

        def loglik(theta: np.ndarray) -> float:
            if np.any(theta < 0) or np.any(theta >= 1):
                return -math.inf
            return curve_loglik(curves, predict(theta))

        n_obs = int((curves.n_nodes - informed[:, :-1]).sum())
        scale = float(max(n_obs, 1))

        def objective(x: np.ndarray) -> float:
            ll = loglik(expit(x))
            return -ll / scale if math.isfinite(ll) else 1e10

        best = None
        for start in spec.starts:
            res = minimize(
                objective,
                logit(np.array([start[p] for p in names])),
                method="Nelder-Mead",
                options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 8000},
            )
            if best is None or res.fun < best.fun:
                best = res
        assert best is not None
        theta = expit(best.x)
        ll = loglik(theta)
        se = np.full(theta.size, math.nan)
        interior = np.all((theta > 1e-7) & (theta < 1 - 1e-7))
        phi = self._dispersion(curves, predict(theta), theta.size)
        covariance = np.full((theta.size, theta.size), math.nan)
        if interior and math.isfinite(ll):
            try:
                cov = np.linalg.inv(-numerical_hessian(loglik, theta))
                if np.all(np.diag(cov) > 0):
                    se = np.sqrt(np.diag(cov) * max(phi, 1.0))
                    covariance = cov * max(phi, 1.0)
            except np.linalg.LinAlgError:
                pass
        status: FitStatus = "converged"
        message = f"dispersion phi = {phi:.2f}"
        if not math.isfinite(ll):
            status, message = "infeasible", "the model gives the curves probability 0"
        elif not interior:
            status = "bound"
            message += "; an estimate is on a bound (0 or 1)"
        elif not best.success:
            status = "failed"
            message += f"; {best.message}"
        self.dispersion_ = phi
        self._set_result(
            names,
            theta,
            se,
            ll,
            n_obs,
            status,
            message,
            model=self.model,
            dispersion=phi,
            covariance=covariance,
        )
        return self

    def loglik(self, curves: Curves) -> float:
        """Binomial log-likelihood of (possibly held-out) curves at the fitted parameters."""
        theta = self._fitted("theta_")
        if not isinstance(curves, Curves) or curves.n_rounds < 1:
            raise ConfigError("loglik expects Curves with at least two rounds (0 and 1)")
        i0 = float(curves.informed[:, 0].mean()) / curves.n_nodes
        frac = get_model(self.model).predict(
            theta, degree=self.degree, i0=i0, n_rounds=curves.n_rounds
        )
        return curve_loglik(curves, frac)

    @staticmethod
    def _dispersion(curves: Curves, frac: np.ndarray, n_params: int) -> float:
        new, susceptible, p = _binomial_terms(curves, frac)
        var = susceptible * p * (1.0 - p)
        cells = var > 0
        if cells.sum() <= n_params:
            return 1.0
        chi2 = float((((new - susceptible * p) ** 2)[cells] / var[cells]).sum())
        return chi2 / float(cells.sum() - n_params)


def fit_curves(curves: Curves, models: Sequence[str], degree: int) -> list[FitResult]:
    """Fit each named curve model; results in the order asked."""
    return [CurveEstimator(name, degree).fit(curves).result_ for name in models]


def predict_curve(
    model: str, params: Mapping[str, Any], degree: int, i0: float, n_rounds: int
) -> np.ndarray:
    """The informed fraction per round, shape (n_rounds + 1,), of a model's map.

    ``params`` may hold more names than the model has (those of another model with the same
    rates); the model's own are taken. Equivalent to ``get_model(model).predict(...)``.
    """
    spec = get_model(model)
    own = spec.own_params(params)
    return np.asarray(spec.predict(own, degree=degree, i0=i0, n_rounds=n_rounds), dtype=np.float64)
