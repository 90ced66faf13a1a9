"""The memory estimate of a run, and the refusal of a run that does not fit."""

from __future__ import annotations

import pytest

from spillover.engine import check_memory, estimate_memory
from spillover.exceptions import ConfigError


def test_estimate_grows_with_the_graph_and_the_replicates() -> None:
    small = estimate_memory(1_000_000, 8)
    big = estimate_memory(100_000_000, 8)
    assert 20 * small.peak < big.peak
    # 100M agents of degree 8: int32 indices (3.2 GB) plus row pointers and degrees.
    assert 4.0 * 2**30 < big.graph < 5.0 * 2**30
    assert estimate_memory(1_000_000, 8, n_reps=10).engine > 5 * small.engine
    assert estimate_memory(1_000_000, 8, build_graph=False).graph_build == 0
    assert "100,000,000 agents" in big.describe()


def test_a_run_that_does_not_fit_is_refused_with_one_clear_message() -> None:
    estimate = estimate_memory(100_000_000, 8)
    with pytest.raises(ConfigError, match=r"needs about \d+\.\d GB of memory, and 1\.0 GB"):
        check_memory(estimate, available=2**30)
    check_memory(estimate_memory(10_000, 8), available=2**30)  # fits: no error
