"""Dose-response models: exact fits on exposure tables, nesting, levels, identifiability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spillover.fit import SI2Estimator
from spillover.fit._dose import (
    SIDose2Estimator,
    SIDoseEstimator,
    SIDosePersonaEstimator,
    levels_for,
)
from spillover.trajectories import ExposureTable


def _table(p_of_m: np.ndarray, n: int, rng: np.random.Generator, persona: int = 0) -> ExposureTable:
    """One round per exposure count m = 0..len-1, ``n`` agents at risk each, binomial shares."""
    m = np.arange(p_of_m.size)
    shared = rng.binomial(n, p_of_m)
    return ExposureTable(
        replicate=np.zeros(m.size, dtype=int),
        round=np.ones(m.size, dtype=int),
        persona=np.full(m.size, persona),
        n_exposed=m,
        at_risk=np.full(m.size, n),
        shared=shared,
    )


def test_si_dose_is_the_free_rate_per_exposure_count() -> None:
    rng = np.random.default_rng(3)
    p = np.array([0.01, 0.10, 0.11, 0.12, 0.13])
    table = _table(p, 20_000, rng)
    fit = SIDoseEstimator().fit(table)
    freq = table.shared / table.at_risk
    assert fit.theta_["alpha"] == pytest.approx(freq[0], rel=1e-6)
    for m in range(1, 5):
        online = fit.theta_[f"online_{m}" if m < 4 else "online_4+"]
        # p(m) = 1 - (1 - alpha)(1 - online): the fit reproduces each observed frequency
        assert 1 - (1 - fit.theta_["alpha"]) * (1 - online) == pytest.approx(freq[m], rel=1e-5)
    assert fit.result_.status == "converged"
    assert fit.result_.n_params == 5
    # si2 is nested: its maximum cannot be higher; on saturating data it is far lower.
    si2 = SI2Estimator().fit(table)
    assert si2.loglik_ < fit.loglik_ - 50
    low, high = fit.result_.ci_low["online_1"], fit.result_.ci_high["online_1"]
    assert isinstance(low, float) and isinstance(high, float)
    assert low < fit.theta_["online_1"] < high


def test_si_dose2_recovers_first_and_further_rates() -> None:
    rng = np.random.default_rng(4)
    alpha, first, further = 0.005, 0.08, 0.02
    m = np.arange(9)
    p = 1 - (1 - alpha) * (1 - first * (m >= 1)) * (1 - further) ** np.maximum(m - 1, 0)
    table = _table(p, 50_000, rng)
    fit = SIDose2Estimator().fit(table)
    for name, truth in (("alpha", alpha), ("beta_first", first), ("beta_further", further)):
        est, se = fit.theta_[name], fit.stderr_[name]
        assert abs(est - truth) < 4 * se, name
    # On si2 data the first-neighbour rate equals the further one within error.
    p_si2 = 1 - (1 - alpha) * (1 - 0.05) ** m
    fit2 = SIDose2Estimator().fit(_table(p_si2, 50_000, rng))
    gap = fit2.theta_["beta_first"] - fit2.theta_["beta_further"]
    assert abs(gap) < 4 * math.hypot(fit2.stderr_["beta_first"], fit2.stderr_["beta_further"])


def test_buckets_give_one_online_rate_per_bucket() -> None:
    rng = np.random.default_rng(5)
    p = np.array([0.02, 0.3, 0.3, 0.33, 0.33, 0.35, 0.35, 0.35, 0.35, 0.36])
    table = _table(p, 5_000, rng)
    fit = SIDoseEstimator(buckets="0,1,2,3,5,9").fit(table)
    assert list(fit.theta_) == [
        "alpha",
        "online_1",
        "online_2",
        "online_3-4",
        "online_5-8",
        "online_9+",
    ]
    assert fit.result_.n_params == 6
    # Buckets without data are left out of the levels.
    few = _table(p[:4], 5_000, rng)
    assert levels_for(few, (0, 1, 2, 3, 5, 9)).lower == (0, 1, 2, 3)


def test_dose_persona_separates_and_scores_held_out() -> None:
    rng = np.random.default_rng(6)
    a = _table(np.array([0.01, 0.2, 0.25]), 4_000, rng, persona=0)
    b = _table(np.array([0.03, 0.05, 0.07]), 4_000, rng, persona=1)
    both = ExposureTable(
        **{k: np.concatenate([a.columns()[k], b.columns()[k]]) for k in a.columns()}
    )
    fit = SIDosePersonaEstimator().fit(both)
    pooled_a, pooled_b = SIDoseEstimator().fit(a), SIDoseEstimator().fit(b)
    assert fit.loglik_ == pytest.approx(pooled_a.loglik_ + pooled_b.loglik_, rel=1e-9)
    assert fit.theta_["alpha_c"][0] == pytest.approx(pooled_a.theta_["alpha"], rel=1e-6)
    assert math.isnan(fit.theta_["alpha_c"][5])  # no agent of persona 5
    assert fit.loglik(both) == pytest.approx(fit.loglik_, rel=1e-9)
    assert fit.result_.n_params == 6


def test_singular_information_is_reported_as_not_identified() -> None:
    # Everybody at risk had exactly 2 informed neighbours: alpha and beta enter only as
    # alpha + 2 beta, a ridge of equally likely pairs.
    table = ExposureTable(
        replicate=[0, 1],
        round=[1, 1],
        persona=[0, 0],
        n_exposed=[2, 2],
        at_risk=[1000, 1000],
        shared=[100, 90],
    )
    fit = SI2Estimator().fit(table)
    assert fit.result_.status == "not-identified"
    assert "cannot tell" in fit.result_.message
