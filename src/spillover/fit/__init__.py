"""Estimators: fitting models of the spread to exposure tables."""

from spillover.fit._estimators import ESTIMATORS, SI2Estimator, SIEstimator, fit_exposures
from spillover.fit._hazard import HazardFit, fit_hazards, hazard_loglik
from spillover.fit._result import FitResult, FitStatus, information_criteria

__all__ = [
    "ESTIMATORS",
    "FitResult",
    "FitStatus",
    "HazardFit",
    "SI2Estimator",
    "SIEstimator",
    "fit_exposures",
    "fit_hazards",
    "hazard_loglik",
    "information_criteria",
]
