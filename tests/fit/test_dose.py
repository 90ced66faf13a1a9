"""Dose-response models: exact fits on exposure tables, nesting, levels, identifiability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spillover.fit import SI2Estimator, SIDosePersonaEstimator
from spillover.fit._dose import (
    SIDose2Estimator,
    SIDoseEstimator,
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
    online_m = fit.theta_["online_m"]
    assert isinstance(online_m, tuple) and len(online_m) == 4  # m = 1..4, the last open-ended
    assert list(fit.level_rates_) == ["alpha", "online_1", "online_2", "online_3", "online_4+"]
    for m in range(1, 5):
        # p(m) = 1 - (1 - alpha)(1 - online): the fit reproduces each observed frequency
        p_m = 1 - (1 - fit.theta_["alpha"]) * (1 - online_m[m - 1])
        assert p_m == pytest.approx(freq[m], rel=1e-5)
    assert fit.result_.status == "converged"
    assert fit.result_.n_params == 5
    # si2 is nested: its maximum cannot be higher; on saturating data it is far lower.
    si2 = SI2Estimator().fit(table)
    assert si2.loglik_ < fit.loglik_ - 50
    low, high = fit.result_.ci_low["online_m"], fit.result_.ci_high["online_m"]
    assert isinstance(low, tuple) and isinstance(high, tuple)
    assert all(lo < est < hi for lo, est, hi in zip(low, online_m, high, strict=True))
    assert fit.result_.ci_method == "profile"
    # Held-out scoring uses the level rates: on the training data it is the maximum.
    assert fit.loglik(table) == pytest.approx(fit.loglik_, rel=1e-9)


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
    assert list(fit.level_rates_) == [
        "alpha",
        "online_1",
        "online_2",
        "online_3-4",
        "online_5-8",
        "online_9+",
    ]
    assert fit.result_.n_params == 6
    # Per count m = 1..9: counts within a bucket share its rate.
    rate = fit.level_rates_
    assert fit.theta_["online_m"] == (
        rate["online_1"],
        rate["online_2"],
        rate["online_3-4"],
        rate["online_3-4"],
        *(rate["online_5-8"],) * 4,
        rate["online_9+"],
    )
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


def test_dose_models_are_in_the_registry_and_nest_si2() -> None:
    """si-dose2 and si-dose come through the registry like every model: estimator, map, ODE,
    predict; at rates where they reduce to si2 they predict si2's curve."""
    from spillover.fit import ESTIMATORS, HAZARD_SYMBOLS, get_model

    assert {"si-dose2", "si-dose"} <= set(ESTIMATORS)
    alpha, beta, k = 0.01, 0.06, 6
    si2 = get_model("si2").predict({"alpha": alpha, "beta": beta}, degree=k, i0=0.01, n_rounds=40)
    dose2 = get_model("si-dose2").predict(
        {"alpha": alpha, "beta_first": beta, "beta_further": beta}, degree=k, i0=0.01, n_rounds=40
    )
    online_m = tuple(1 - (1 - beta) ** np.arange(1, k + 1))
    dose = get_model("si-dose").predict(
        {"alpha": alpha, "online_m": online_m}, degree=k, i0=0.01, n_rounds=40
    )
    np.testing.assert_allclose(dose2, si2, atol=1e-12)
    np.testing.assert_allclose(dose, si2, atol=1e-12)
    assert HAZARD_SYMBOLS["beta_first"] == "b_first" and HAZARD_SYMBOLS["online_m"] == "g_m"
    hazards = get_model("si-dose2").ode_params(
        {"alpha": alpha, "beta_first": beta, "beta_further": beta}, degree=k
    )
    assert hazards["b_first"] == pytest.approx(-math.log1p(-beta))


def test_fitted_dose_models_predict_the_mean_field_of_their_rates() -> None:
    """A saturating response: the first neighbour matters, further ones add little. The fitted
    si-dose2 predicts with the map at its rates, and faster early spread than si2 at the same
    first-neighbour rate with beta = beta_further."""
    rng = np.random.default_rng(8)
    alpha, first, further = 0.004, 0.10, 0.01
    m = np.arange(9)
    p = 1 - (1 - alpha) * (1 - first * (m >= 1)) * (1 - further) ** np.maximum(m - 1, 0)
    table = _table(p, 40_000, rng)
    est = SIDose2Estimator().fit(table)
    curve = est.predict(degree=8, i0=0.01, n_rounds=30)
    assert curve.shape == (31,)
    assert np.all(np.diff(curve) >= 0)
    si2_low = get_si2_curve(alpha, further, 8)
    assert curve[10] > si2_low[10]
    dose = SIDoseEstimator().fit(table)  # nests si-dose2: close predictions on the same data
    np.testing.assert_allclose(dose.predict(degree=8, i0=0.01, n_rounds=30), curve, atol=5e-3)


def get_si2_curve(alpha: float, beta: float, k: int) -> np.ndarray:
    from spillover.fit import get_model

    return get_model("si2").predict({"alpha": alpha, "beta": beta}, degree=k, i0=0.01, n_rounds=30)
