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

__all__ = [
    "CRITERIA",
    "Analysis",
    "ComparisonRow",
    "Criterion",
    "ModelGroup",
    "akaike_weights",
    "analyse",
    "available_models",
    "compare",
    "held_out_loglik",
    "replicate_folds",
]
