"""The estimator contract (scikit-learn conventions) shared by every model fitted here.

``__init__`` stores arguments; ``fit(data)`` validates, fits, and sets ``theta_``, ``stderr_``,
``loglik_``, ``n_obs_`` and ``result_`` (a frozen :class:`FitResult`); ``loglik(data)`` scores
(possibly held-out) data at the fitted parameters.
"""

from __future__ import annotations

from typing import Any, ClassVar

from spillover.exceptions import ConfigError, FitError, NotFittedError
from spillover.fit._result import FitResult, ParamValue
from spillover.trajectories import ExposureTable

__all__ = ["ExposureEstimator", "checked_exposures"]


def checked_exposures(name: str, exposures: object) -> ExposureTable:
    """The table, if it is an ExposureTable with someone at risk; typed errors otherwise."""
    if not isinstance(exposures, ExposureTable):
        raise ConfigError(f"{name}: fit expects an ExposureTable; got {type(exposures).__name__}")
    if len(exposures) == 0 or int(exposures.at_risk.sum()) == 0:
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

    def fit(self, exposures: ExposureTable) -> ExposureEstimator:
        raise NotImplementedError

    def loglik(self, exposures: ExposureTable) -> float:
        """Log-likelihood of (possibly held-out) exposures at the fitted parameters."""
        raise NotImplementedError

    def _fitted(self, attr: str) -> Any:
        try:
            return getattr(self, attr)
        except AttributeError:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit() first"
            ) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
