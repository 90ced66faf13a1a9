"""The estimator contract (scikit-learn conventions) shared by every model fitted here.

``__init__`` stores arguments; ``fit(data)`` validates, fits, and sets ``theta_``, ``stderr_``,
``loglik_``, ``n_obs_`` and ``result_`` (a frozen :class:`FitResult`); ``loglik(data)`` scores
(possibly held-out) data at the fitted parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from spillover.exceptions import ConfigError, FitError, NotFittedError
from spillover.fit._result import FitResult, FitStatus, ParamValue
from spillover.trajectories import AgentHistories, ExposureTable

__all__ = ["AgentData", "ExposureEstimator", "checked_exposures"]

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


class ExposureEstimator:
    """Base of the agent-level estimators, fitted on an :class:`ExposureTable`.

    Parameters
    ----------
    intervals : bool
        Compute profile-likelihood intervals where the model has them (otherwise Wald
        intervals from the standard errors); off for repeated fits such as held-out scoring.
    """

    name: ClassVar[str] = ""

    def __init__(self, *, intervals: bool = True) -> None:
        self.intervals = intervals

    theta_: dict[str, ParamValue]
    stderr_: dict[str, ParamValue]
    loglik_: float
    n_obs_: int
    result_: FitResult

    def fit(self, exposures: AgentData) -> ExposureEstimator:
        raise NotImplementedError

    def loglik(self, exposures: AgentData) -> float:
        """Log-likelihood of (possibly held-out) exposures at the fitted parameters."""
        raise NotImplementedError

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
    ) -> None:
        """Set ``theta_``, ``stderr_``, ``loglik_``, ``n_obs_`` and the frozen ``result_``.

        The one place a fit becomes a :class:`FitResult`; ``n_params`` defaults to
        ``len(names)``, ``model`` to the estimator's name; ``ci`` is ``(low, high, method)``
        (by default Wald intervals from the standard errors).
        """
        low, high, method = ci if ci is not None else ({}, {}, "wald")
        self.theta_ = {n: _plain(v) for n, v in zip(names, params, strict=True)}
        self.stderr_ = {n: _plain(v) for n, v in zip(names, stderr, strict=True)}
        self.loglik_ = float(loglik)
        self.n_obs_ = int(n_obs)
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
        )

    def _fitted(self, attr: str) -> Any:
        try:
            return getattr(self, attr)
        except AttributeError:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit() first"
            ) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _plain(value: ParamValue) -> ParamValue:
    """A float, or a tuple of floats for per-class parameters."""
    if isinstance(value, tuple):
        return tuple(float(x) for x in value)
    return float(value)
