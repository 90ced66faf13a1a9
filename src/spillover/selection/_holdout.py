"""Held-out log-likelihood with whole replicates held out (K-fold over replicates)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spillover.exceptions import ConfigError
from spillover.fit import ESTIMATORS, SIGroups2Estimator, check_model_names
from spillover.trajectories import AgentHistories, ExposureTable

__all__ = ["held_out_loglik", "replicate_folds"]


def replicate_folds(replicates: np.ndarray, n_folds: int) -> list[np.ndarray]:
    """Split the distinct replicate ids into ``n_folds`` groups, in order (deterministic)."""
    ids = np.unique(replicates)
    if ids.size < 2:
        raise ConfigError(f"held-out scoring needs at least 2 replicates; got {ids.size}")
    n_folds = min(n_folds, ids.size)
    return [fold for fold in np.array_split(ids, n_folds) if fold.size]


def _subset(
    table: ExposureTable | AgentHistories, keep: np.ndarray
) -> ExposureTable | AgentHistories:
    mask = np.isin(table.replicate, keep)
    cols = {name: values[mask] for name, values in table.columns().items()}
    return type(table)(**cols)


def held_out_loglik(
    exposures: ExposureTable,
    models: Sequence[str],
    *,
    n_folds: int = 5,
    agents: AgentHistories | None = None,
) -> dict[str, float]:
    """Sum over folds of each model's log-likelihood of the held-out replicates.

    Each fold is fitted on the other replicates and scored on its own, so a model that
    overfits pays for it; the sums are comparable across models fitted to the same table.
    ``si-groups2`` uses agent histories when given.
    """
    names = check_model_names(models, tuple(ESTIMATORS))
    folds = replicate_folds(exposures.replicate, n_folds)
    all_ids = np.unique(exposures.replicate)
    scores = dict.fromkeys(names, 0.0)
    for fold in folds:
        train_ids = np.setdiff1d(all_ids, fold)
        train_ex, test_ex = _subset(exposures, train_ids), _subset(exposures, fold)
        for name in names:
            estimator = ESTIMATORS[name](intervals=False)
            if name == SIGroups2Estimator.name and agents is not None:
                estimator.fit(_subset(agents, train_ids))  # type: ignore[arg-type]
                scores[name] += estimator.loglik(_subset(agents, fold))  # type: ignore[arg-type]
            else:
                estimator.fit(train_ex)  # type: ignore[arg-type]
                scores[name] += estimator.loglik(test_ex)  # type: ignore[arg-type]
    return scores
