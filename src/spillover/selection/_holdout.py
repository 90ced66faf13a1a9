"""Held-out log-likelihood with whole replicates held out (K-fold over replicates)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spillover.exceptions import ConfigError
from spillover.fit import ESTIMATORS, AgentData, check_model_names, get_model
from spillover.trajectories import AgentHistories, ExposureTable

__all__ = ["held_out_loglik", "replicate_folds"]


def replicate_folds(replicates: np.ndarray, n_folds: int) -> list[np.ndarray]:
    """Split the distinct replicate ids into ``n_folds`` groups, in order (deterministic)."""
    ids = np.unique(replicates)
    if ids.size < 2:
        raise ConfigError(f"held-out scoring needs at least 2 replicates; got {ids.size}")
    n_folds = min(n_folds, ids.size)
    return [fold for fold in np.array_split(ids, n_folds) if fold.size]


def _subset(table: AgentData, keep: np.ndarray) -> AgentData:
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
    # Each model is scored on the data it is fitted to (agent histories when it prefers them).
    sources = {name: get_model(name).agent_data(exposures, agents) for name in names}
    for fold in folds:
        train_ids = np.setdiff1d(all_ids, fold)
        for name in names:
            estimator = get_model(name).make_estimator(intervals=False)
            estimator.fit(_subset(sources[name], train_ids))
            scores[name] += estimator.loglik(_subset(sources[name], fold))
    return scores
