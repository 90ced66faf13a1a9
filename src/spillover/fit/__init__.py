"""Estimators and the model registry: fitting models of the spread to runs.

Every model name has one :class:`ModelSpec` in :data:`MODELS` (map, ODE, parameters,
estimator, data, starts, ``predict``); adding a model: docs/extending.md.
"""

from spillover.fit._base import AgentData, ExposureEstimator, checked_exposures
from spillover.fit._curves import CurveEstimator, curve_loglik, fit_curves, predict_curve
from spillover.fit._dose import (
    DOSE2_SPEC,
    DOSE_SPEC,
    SIDose2Estimator,
    SIDoseEstimator,
    SIDosePersonaEstimator,
    dose2_design,
    dose_design,
    fit_per_persona,
    fit_used_columns,
    levels_for,
    offline_design,
    si2_design,
)
from spillover.fit._estimators import SI2Estimator, SIEstimator
from spillover.fit._forecast import (
    CurveForecast,
    ParameterDraws,
    check_fit_rounds,
    forecast_curve,
)
from spillover.fit._groups import SIGroups2Estimator, groups2_agents_loglik, groups2_loglik
from spillover.fit._hazard import HazardFit, fit_hazards, hazard_loglik, profile_interval
from spillover.fit._persona import SIPersonaEstimator, totals_by_persona_exposure
from spillover.fit._registry import (
    CURVE_ESTIMATORS,
    ESTIMATORS,
    MODELS,
    check_model_names,
    fit_exposures,
    get_model,
    register_model,
    sweep_models,
    unregister_model,
)
from spillover.fit._result import (
    FitResult,
    FitStatus,
    ParamValue,
    information_criteria,
    quasi_information_criteria,
)
from spillover.fit._robust import (
    CLUSTER,
    CLUSTERINGS,
    GOF_LEVEL,
    MIN_REPLICATE_CLUSTERS,
    GoodnessOfFit,
    Sandwich,
    cluster_sandwich,
    goodness_of_fit,
    share_dz,
)
from spillover.fit._sindy import DiscoveredEquation, discover_equation
from spillover.fit._spec import HAZARD_SYMBOLS, ModelSpec, Overlay, spread_starts
from spillover.fit._traits import (
    TRAIT_BASES,
    TraitEffects,
    fit_trait_effects,
    hazard_ratio,
    log_hazard_effect,
)

__all__ = [
    "CLUSTER",
    "CLUSTERINGS",
    "CURVE_ESTIMATORS",
    "DOSE2_SPEC",
    "DOSE_SPEC",
    "ESTIMATORS",
    "GOF_LEVEL",
    "HAZARD_SYMBOLS",
    "MIN_REPLICATE_CLUSTERS",
    "MODELS",
    "TRAIT_BASES",
    "AgentData",
    "CurveEstimator",
    "CurveForecast",
    "DiscoveredEquation",
    "ExposureEstimator",
    "FitResult",
    "FitStatus",
    "GoodnessOfFit",
    "HazardFit",
    "ModelSpec",
    "Overlay",
    "ParamValue",
    "ParameterDraws",
    "SI2Estimator",
    "SIDose2Estimator",
    "SIDoseEstimator",
    "SIDosePersonaEstimator",
    "SIEstimator",
    "SIGroups2Estimator",
    "SIPersonaEstimator",
    "Sandwich",
    "TraitEffects",
    "check_fit_rounds",
    "check_model_names",
    "checked_exposures",
    "cluster_sandwich",
    "curve_loglik",
    "discover_equation",
    "dose2_design",
    "dose_design",
    "fit_curves",
    "fit_exposures",
    "fit_hazards",
    "fit_per_persona",
    "fit_trait_effects",
    "fit_used_columns",
    "forecast_curve",
    "get_model",
    "goodness_of_fit",
    "groups2_agents_loglik",
    "groups2_loglik",
    "hazard_loglik",
    "hazard_ratio",
    "information_criteria",
    "levels_for",
    "log_hazard_effect",
    "offline_design",
    "predict_curve",
    "profile_interval",
    "quasi_information_criteria",
    "register_model",
    "share_dz",
    "si2_design",
    "spread_starts",
    "sweep_models",
    "totals_by_persona_exposure",
    "unregister_model",
]
