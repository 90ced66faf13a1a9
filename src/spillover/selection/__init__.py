"""Model selection: information criteria, Akaike weights, held-out log-likelihood, forecasts."""

from spillover.selection._analysis import N_OBS, Analysis, ModelGroup, analyse
from spillover.selection._choice import available_models
from spillover.selection._criteria import (
    CRITERIA,
    ComparisonRow,
    Criterion,
    akaike_weights,
    common_dispersion,
    compare,
    criterion_name,
)
from spillover.selection._forecast import Forecast, fit_window, forecast_models
from spillover.selection._holdout import held_out_loglik, replicate_folds
from spillover.selection._llm_noise import (
    DEFAULT_LLM_NOISE_TABLES,
    OFFLINE_RATES,
    LLMNoise,
    OfflineAnswers,
    effective_answers,
    flag_untrusted,
    llm_noise_of,
    offline_answers,
    with_llm_noise,
)
from spillover.selection._redraw import (
    REDRAWS,
    bootstrap_tables,
    redraw_centre,
    redraw_probabilities,
)
from spillover.selection._robust import (
    POOLED_DESIGNS,
    ModelErrors,
    RobustErrors,
    heterogeneity_reasons,
    robust_errors,
)
from spillover.selection._verdict import (
    READINGS,
    Evidence,
    TwoRatesVerdict,
    heterogeneity_test,
    two_rates_verdict,
)

__all__ = [
    "CRITERIA",
    "DEFAULT_LLM_NOISE_TABLES",
    "N_OBS",
    "OFFLINE_RATES",
    "POOLED_DESIGNS",
    "READINGS",
    "REDRAWS",
    "Analysis",
    "ComparisonRow",
    "Criterion",
    "Evidence",
    "Forecast",
    "LLMNoise",
    "ModelErrors",
    "ModelGroup",
    "OfflineAnswers",
    "RobustErrors",
    "TwoRatesVerdict",
    "akaike_weights",
    "analyse",
    "available_models",
    "bootstrap_tables",
    "common_dispersion",
    "compare",
    "criterion_name",
    "effective_answers",
    "fit_window",
    "flag_untrusted",
    "forecast_models",
    "held_out_loglik",
    "heterogeneity_reasons",
    "heterogeneity_test",
    "llm_noise_of",
    "offline_answers",
    "redraw_centre",
    "redraw_probabilities",
    "replicate_folds",
    "robust_errors",
    "two_rates_verdict",
    "with_llm_noise",
]
