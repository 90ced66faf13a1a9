"""Estimators: fitting models of the spread to exposure tables."""

from spillover.fit._base import ExposureEstimator
from spillover.fit._curves import (
    CURVE_ESTIMATORS,
    CurveEstimator,
    curve_loglik,
    fit_curves,
    predict_curve,
)
from spillover.fit._estimators import SI2Estimator, SIEstimator
from spillover.fit._groups import SIGroups2Estimator, groups2_agents_loglik, groups2_loglik
from spillover.fit._hazard import HazardFit, fit_hazards, hazard_loglik, profile_interval
from spillover.fit._persona import SIPersonaEstimator, totals_by_persona_exposure
from spillover.fit._registry import ESTIMATORS, check_model_names, fit_exposures
from spillover.fit._result import FitResult, FitStatus, ParamValue, information_criteria
from spillover.fit._sindy import DiscoveredEquation, discover_equation
from spillover.fit._traits import TraitEffects, fit_trait_effects

__all__ = [
    "CURVE_ESTIMATORS",
    "ESTIMATORS",
    "CurveEstimator",
    "DiscoveredEquation",
    "ExposureEstimator",
    "FitResult",
    "FitStatus",
    "HazardFit",
    "ParamValue",
    "SI2Estimator",
    "SIEstimator",
    "SIGroups2Estimator",
    "SIPersonaEstimator",
    "TraitEffects",
    "check_model_names",
    "curve_loglik",
    "discover_equation",
    "fit_curves",
    "fit_exposures",
    "fit_hazards",
    "fit_trait_effects",
    "groups2_agents_loglik",
    "groups2_loglik",
    "hazard_loglik",
    "information_criteria",
    "predict_curve",
    "profile_interval",
    "totals_by_persona_exposure",
]
