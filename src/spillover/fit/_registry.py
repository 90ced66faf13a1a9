"""Model names -> estimators, and fitting several models at once."""

from __future__ import annotations

from collections.abc import Sequence

from spillover.exceptions import ConfigError
from spillover.fit._base import ExposureEstimator
from spillover.fit._estimators import SI2Estimator, SIEstimator
from spillover.fit._groups import SIGroups2Estimator
from spillover.fit._persona import SIPersonaEstimator
from spillover.fit._result import FitResult
from spillover.trajectories import ExposureTable

__all__ = ["ESTIMATORS", "check_model_names", "fit_exposures"]

#: Agent-level models fitted on an exposure table, in the order they are reported.
ESTIMATORS: dict[str, type[ExposureEstimator]] = {
    SIEstimator.name: SIEstimator,
    SI2Estimator.name: SI2Estimator,
    SIGroups2Estimator.name: SIGroups2Estimator,
    SIPersonaEstimator.name: SIPersonaEstimator,
}


def check_model_names(models: Sequence[str], known: Sequence[str]) -> tuple[str, ...]:
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ConfigError(
            f"unknown model(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )
    if not models:
        raise ConfigError("no model to fit: give at least one model name")
    return tuple(dict.fromkeys(models))


def fit_exposures(
    exposures: ExposureTable, models: Sequence[str] = tuple(ESTIMATORS)
) -> list[FitResult]:
    """Fit each named model to an exposure table; results in the order asked."""
    names = check_model_names(models, tuple(ESTIMATORS))
    return [ESTIMATORS[name]().fit(exposures).result_ for name in names]
