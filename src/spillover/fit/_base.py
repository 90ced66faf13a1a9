"""The estimator contract (scikit-learn conventions) shared by every model fitted here.

``__init__`` stores arguments (read back by ``get_params``, changed by ``set_params``, shown by
``repr``); ``fit(data)`` validates, fits, and sets ``theta_``, ``stderr_``, ``loglik_``,
``n_obs_``, ``covariance_`` and ``result_`` (a frozen :class:`FitResult`, built in one place);
reading a fitted attribute before ``fit`` raises :class:`NotFittedError`. ``loglik(data)``
and ``score(data)`` score (possibly held-out) data at the fitted parameters;
``predict(degree=..., i0=..., n_rounds=...)`` gives the expected informed fraction per round
from the model's map.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from spillover.exceptions import ConfigError, FitError, NotFittedError
from spillover.fit._result import FitResult, FitStatus, ParamValue
from spillover.trajectories import AgentHistories, ExposureTable

__all__ = ["AgentData", "Estimator", "ExposureEstimator", "checked_exposures"]

#: What agent-level estimators take: the exposure table, or agent histories for the models
#: whose spec lists ``"agents"`` in its ``data``. Each estimator checks its input in one place
#: (:func:`checked_exposures` for exposure-only models).
AgentData = ExposureTable | AgentHistories


def checked_exposures(name: str, exposures: object, *, fitting: bool = True) -> ExposureTable:
    """The table, if it is an ExposureTable (with someone at risk, when ``fitting``).

    Raises
    ------
    ConfigError
        For anything but an ExposureTable (agent histories included).
    FitError
        When fitting a table with nobody at risk.
    """
    if not isinstance(exposures, ExposureTable):
        raise ConfigError(f"{name}: fit expects an ExposureTable; got {type(exposures).__name__}")
    if fitting and (len(exposures) == 0 or int(exposures.at_risk.sum()) == 0):
        raise FitError(f"{name}: the exposure table has no agent at risk; nothing to fit")
    return exposures


class Estimator:
    """Base of every estimator: parameters, ``repr``, fitted attributes, predict and score."""

    name: ClassVar[str] = ""

    theta_: dict[str, ParamValue]
    stderr_: dict[str, ParamValue]
    loglik_: float
    n_obs_: int
    covariance_: np.ndarray | None
    result_: FitResult

    @classmethod
    def _init_params(cls) -> list[inspect.Parameter]:
        skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        params = inspect.signature(cls.__init__).parameters.values()
        return [p for p in params if p.name != "self" and p.kind not in skip]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments, by name (``deep`` is accepted for scikit-learn)."""
        return {p.name: getattr(self, p.name) for p in self._init_params()}

    def set_params(self, **params: Any) -> Estimator:
        """Change constructor arguments; returns ``self`` (refit to use them).

        Raises
        ------
        ConfigError
            For a name that is not a constructor argument.
        """
        valid = [p.name for p in self._init_params()]
        for key, value in params.items():
            if key not in valid:
                raise ConfigError(
                    f"{type(self).__name__}: unknown parameter {key!r}; valid: {', '.join(valid)}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        shown = []
        for p in self._init_params():
            value = getattr(self, p.name)
            if p.default is inspect.Parameter.empty or value != p.default:
                shown.append(f"{p.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def __getattr__(self, attr: str) -> Any:
        # Called only when normal lookup fails: a fitted attribute before fit().
        if attr.endswith("_") and not attr.startswith("_"):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit() first ({attr} is set by fit)"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    def loglik(self, data: Any) -> float:
        """Log-likelihood of (possibly held-out) data at the fitted parameters."""
        raise NotImplementedError

    def score(self, data: Any) -> float:
        """Held-out log-likelihood of ``data`` at the fitted parameters (higher is better).

        Raises
        ------
        NotFittedError
            Before ``fit``.
        """
        return self.loglik(data)

    def predict(
        self,
        *,
        degree: int,
        i0: ArrayLike,
        n_rounds: int,
        weights: ArrayLike | None = None,
    ) -> np.ndarray:
        """Expected informed fraction after rounds 0..n_rounds at the fitted parameters.

        The model's map from the registry (``get_model(name).predict``); ``weights`` are the
        class shares for per-persona models.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        """
        from spillover.fit._registry import get_model

        result = self.result_
        return get_model(result.model).predict(
            result.params, degree=degree, i0=i0, n_rounds=n_rounds, weights=weights
        )

    def _set_result(
        self,
        names: Sequence[str],
        params: Iterable[Any],
        stderr: Iterable[Any],
        loglik: float,
        n_obs: int,
        status: FitStatus,
        message: str = "",
        *,
        n_params: int | None = None,
        model: str | None = None,
        ci: tuple[Mapping[str, ParamValue], Mapping[str, ParamValue], str] | None = None,
        dispersion: float | None = None,
        covariance: np.ndarray | None = None,
    ) -> None:
        """Set ``theta_``, ``stderr_``, ``loglik_``, ``n_obs_``, ``covariance_`` and the frozen
        ``result_``.

        The one place a fit becomes a :class:`FitResult`; ``n_params`` defaults to
        ``len(names)``, ``model`` to the estimator's name; ``ci`` is ``(low, high, method)``
        (by default Wald intervals from the standard errors); ``dispersion`` is a curve fit's
        quasi-likelihood phi; ``covariance`` the covariance of the estimates in probability
        units, over the values of ``params`` flattened in the order of ``names`` (NaN rows for
        values without one; None when the model does not keep it), which forecast bands draw
        from (:func:`spillover.fit.forecast_curve`).
        """
        low, high, method = ci if ci is not None else ({}, {}, "wald")
        self.theta_ = {n: _plain(v) for n, v in zip(names, params, strict=True)}
        self.stderr_ = {n: _plain(v) for n, v in zip(names, stderr, strict=True)}
        self.loglik_ = float(loglik)
        self.n_obs_ = int(n_obs)
        if covariance is not None:
            covariance = np.array(covariance, dtype=np.float64)
            covariance.flags.writeable = False
        self.covariance_ = covariance
        self.result_ = FitResult(
            model=self.name if model is None else model,
            params=self.theta_,
            stderr=self.stderr_,
            loglik=self.loglik_,
            n_params=len(names) if n_params is None else n_params,
            n_obs=self.n_obs_,
            status=status,
            message=message,
            ci_low=low,
            ci_high=high,
            ci_method=method,
            dispersion=None if dispersion is None else float(dispersion),
        )

    def _fitted(self, attr: str) -> Any:
        return getattr(self, attr)  # NotFittedError before fit (see __getattr__)


class ExposureEstimator(Estimator):
    """Base of the agent-level estimators, fitted on an :class:`ExposureTable` (or agent
    histories, for the models whose spec lists ``"agents"``).

    Parameters
    ----------
    intervals : bool
        Compute profile-likelihood intervals where the model has them (otherwise Wald
        intervals from the standard errors); off for repeated fits such as held-out scoring.
    """

    def __init__(self, *, intervals: bool = True) -> None:
        self.intervals = intervals

    def fit(self, exposures: AgentData) -> ExposureEstimator:
        raise NotImplementedError

    def loglik(self, exposures: AgentData) -> float:
        """Log-likelihood of (possibly held-out) exposures at the fitted parameters."""
        raise NotImplementedError


def _plain(value: ParamValue) -> ParamValue:
    """A float, or a tuple of floats for per-class parameters."""
    if isinstance(value, tuple):
        return tuple(float(x) for x in value)
    return float(value)
