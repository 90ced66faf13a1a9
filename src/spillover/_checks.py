"""Checks of the counts every simulation takes (rounds, replicates, seeds), shared by the engine
and the loop; each raises :class:`ConfigError` naming the parameter and the value received."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spillover.exceptions import ConfigError

__all__ = ["check_count", "check_run_sizes", "check_seed_ids"]


def check_count(name: str, value: object, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer >= ``minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def check_run_sizes(*, n_rounds: object, n_reps: object, n_seeds: object) -> tuple[int, int, int]:
    """``(n_rounds, n_reps, n_seeds)`` as ints, each at least 1."""
    return (
        check_count("n_rounds", n_rounds, 1),
        check_count("n_reps", n_reps, 1),
        check_count("n_seeds", n_seeds, 1),
    )


def check_seed_ids(seeds: Sequence[int] | np.ndarray, n_nodes: int) -> np.ndarray:
    """Given seed agents as int64 ids, in their order: a non-empty 1-d list of distinct ids in
    ``0..n_nodes - 1``."""
    given = np.asarray(seeds)
    if given.ndim != 1 or given.size == 0 or not np.issubdtype(given.dtype, np.integer):
        raise ConfigError(f"seeds must be a non-empty 1-d list of agent ids; got {seeds!r}")
    if given.min() < 0 or given.max() >= n_nodes:
        raise ConfigError(f"seeds must be agent ids in 0..{n_nodes - 1}; got {given.tolist()}")
    if np.unique(given).size != given.size:
        raise ConfigError(f"seeds must be distinct; got {given.tolist()}")
    return given.astype(np.int64)
