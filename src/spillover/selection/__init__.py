"""Model selection: information criteria, Akaike weights, held-out log-likelihood."""

from spillover.selection._analysis import Analysis, ModelGroup, analyse, available_models
from spillover.selection._criteria import (
    CRITERIA,
    ComparisonRow,
    Criterion,
    akaike_weights,
    compare,
)
from spillover.selection._holdout import held_out_loglik, replicate_folds
from spillover.selection._verdict import (
    READINGS,
    Evidence,
    TwoRatesVerdict,
    heterogeneity_test,
    two_rates_verdict,
)

__all__ = [
    "CRITERIA",
    "READINGS",
    "Analysis",
    "ComparisonRow",
    "Criterion",
    "Evidence",
    "ModelGroup",
    "TwoRatesVerdict",
    "akaike_weights",
    "analyse",
    "available_models",
    "compare",
    "held_out_loglik",
    "heterogeneity_test",
    "replicate_folds",
    "two_rates_verdict",
]
