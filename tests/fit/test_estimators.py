"""Agent-level estimators: likelihood maths, recovery of known rates, status, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from spillover.exceptions import ConfigError, FitError, NotFittedError
from spillover.fit import SI2Estimator, SIEstimator, fit_exposures, hazard_loglik
from spillover.trajectories import ExposureTable


def _synthetic(
    alpha: float, beta: float, *, at_risk: int, rng: np.random.Generator, max_m: int = 8
) -> ExposureTable:
    m = np.arange(max_m + 1)
    p = 1 - (1 - alpha) * (1 - beta) ** m
    shared = rng.binomial(at_risk, p)
    zeros = np.zeros_like(m)
    return ExposureTable(
        replicate=zeros,
        round=zeros + 1,
        persona=zeros,
        n_exposed=m,
        at_risk=np.full(m.size, at_risk),
        shared=shared,
    )


def test_gradient_and_hessian_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    design = np.column_stack([np.ones(9), np.arange(9.0)])
    at_risk = np.full(9, 500.0)
    shared = rng.binomial(500, 0.3, size=9).astype(float)
    h = np.array([0.05, 0.08])
    ll, grad, hess = hazard_loglik(h, design, at_risk, shared)
    assert math.isfinite(ll)

    def f(x: np.ndarray) -> float:
        return hazard_loglik(x, design, at_risk, shared)[0]

    np.testing.assert_allclose(grad, approx_fprime(h, f, 1e-7), rtol=1e-4)
    num_hess = np.array(
        [
            approx_fprime(h, lambda x, j=j: hazard_loglik(x, design, at_risk, shared)[1][j], 1e-7)
            for j in range(2)
        ]
    )
    np.testing.assert_allclose(hess, num_hess, rtol=1e-4)


def test_loglik_is_the_binomial_loglik() -> None:
    design = np.array([[1.0, 0.0], [1.0, 2.0]])
    at_risk = np.array([10.0, 4.0])
    shared = np.array([1.0, 3.0])
    alpha, beta = 0.1, 0.3
    h = -np.log1p(-np.array([alpha, beta]))
    p = 1 - (1 - alpha) * (1 - beta) ** np.array([0, 2])
    expected = float(np.sum(shared * np.log(p) + (at_risk - shared) * np.log1p(-p)))
    assert hazard_loglik(h, design, at_risk, shared)[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_si2_recovers_known_rates_within_three_standard_errors(seed: int) -> None:
    alpha, beta = 0.02, 0.09
    table = _synthetic(alpha, beta, at_risk=20_000, rng=np.random.default_rng(seed))
    est = SI2Estimator().fit(table)
    assert est.result_.status == "converged"
    for name, true in (("alpha", alpha), ("beta", beta)):
        assert abs(est.theta_[name] - true) < 3 * est.stderr_[name], (name, est.theta_)


def test_si_recovers_beta_and_si2_puts_alpha_on_the_bound() -> None:
    table = _synthetic(0.0, 0.07, at_risk=50_000, rng=np.random.default_rng(11))
    si = SIEstimator().fit(table)
    si2 = SI2Estimator().fit(table)
    assert abs(si.theta_["beta"] - 0.07) < 3 * si.stderr_["beta"]
    assert si2.result_.status == "bound"
    assert si2.theta_["alpha"] == 0.0 and math.isnan(si2.stderr_["alpha"])
    # Nested models: the larger one can never fit worse.
    assert si2.loglik_ >= si.loglik_ - 1e-6


def test_si_is_infeasible_when_agents_share_without_informed_neighbours() -> None:
    table = _synthetic(0.05, 0.07, at_risk=5_000, rng=np.random.default_rng(2))
    res = SIEstimator().fit(table).result_
    assert res.status == "infeasible" and res.loglik == -math.inf and res.aic == math.inf
    assert "probability 0" in res.message


def test_fit_result_document_and_criteria() -> None:
    table = _synthetic(0.02, 0.09, at_risk=2_000, rng=np.random.default_rng(3))
    si2 = fit_exposures(table, ("si2",))[0]
    doc = si2.to_dict()
    assert set(doc) >= {
        "name",
        "params",
        "stderr",
        "loglik",
        "n_params",
        "n_obs",
        "aic",
        "bic",
        "status",
    }
    assert doc["n_obs"] == 9 * 2_000 and doc["n_params"] == 2
    assert doc["aic"] == pytest.approx(4 - 2 * doc["loglik"])
    assert doc["bic"] == pytest.approx(2 * math.log(18_000) - 2 * doc["loglik"])
    with pytest.raises(TypeError):
        si2.params["alpha"] = 1.0  # type: ignore[index]


def test_errors() -> None:
    empty = ExposureTable(*(np.zeros(0, dtype=int) for _ in range(6)))
    with pytest.raises(FitError, match="no agent at risk"):
        SI2Estimator().fit(empty)
    with pytest.raises(NotFittedError, match="call fit"):
        SI2Estimator().loglik(empty)
    with pytest.raises(ConfigError, match="unknown model"):
        fit_exposures(empty, ("sir",))
    with pytest.raises(ConfigError, match="shared must be <= at_risk"):
        ExposureTable(replicate=[0], round=[1], persona=[0], n_exposed=[0], at_risk=[1], shared=[2])
    with pytest.raises(ConfigError, match="must be >= 0"):
        ExposureTable(
            replicate=[0], round=[1], persona=[0], n_exposed=[-1], at_risk=[1], shared=[0]
        )


def test_held_out_loglik_at_the_estimate() -> None:
    rng = np.random.default_rng(5)
    train = _synthetic(0.02, 0.09, at_risk=5_000, rng=rng)
    test = _synthetic(0.02, 0.09, at_risk=5_000, rng=rng)
    est = SI2Estimator().fit(train)
    assert est.loglik(train) == pytest.approx(est.loglik_)
    assert est.loglik(test) < 0


def test_sparse_data_reach_the_maximum_not_the_start() -> None:
    # All shares at one exposure: a (nearly) flat direction that stalled an undamped Newton.
    from spillover.fit import fit_hazards

    design = np.column_stack([np.ones(4), np.arange(4.0)])
    at_risk = np.array([97.0, 27.0, 8.0, 5.0])
    shared = np.array([0.0, 0.0, 0.0, 2.0])
    fit = fit_hazards(design, at_risk, shared)
    assert fit.converged
    assert fit.hazards[0] == 0.0 and fit.at_bound[0]
    assert fit.loglik == pytest.approx(-6.430154810029923, abs=1e-6)
    # the maximum: no feasible direction increases the likelihood
    for dh in ([0.0, 1e-4], [0.0, -1e-4], [1e-4, 0.0]):
        ll = hazard_loglik(fit.hazards + np.array(dh), design, at_risk, shared)[0]
        assert ll <= fit.loglik + 1e-9


def test_everybody_sharing_drives_the_rate_to_one() -> None:
    from spillover.fit import fit_hazards

    design = np.ones((1, 1))
    fit = fit_hazards(design, np.array([10.0]), np.array([10.0]))
    assert fit.converged
    assert -np.expm1(-fit.hazards[0]) == pytest.approx(1.0)


def test_persona_outside_the_catalog_is_refused() -> None:
    with pytest.raises(ConfigError, match="catalog index"):
        ExposureTable(
            replicate=[0], round=[1], persona=[40], n_exposed=[0], at_risk=[1], shared=[0]
        )
    with pytest.raises(ConfigError, match="outside the range"):
        ExposureTable(
            replicate=[0], round=[1], persona=[40000], n_exposed=[0], at_risk=[1], shared=[0]
        )


def test_log_hazard_effect_is_the_wald_record_of_a_log_hazard_ratio() -> None:
    import math

    from spillover.fit import log_hazard_effect

    doc = log_hazard_effect(0.5, 0.1)
    assert list(doc) == ["log_hazard_ratio", "stderr", "ci_low", "ci_high", "hazard_ratio"]
    assert doc["ci_low"] == 0.5 - 1.959963984540054 * 0.1
    assert doc["ci_high"] == 0.5 + 1.959963984540054 * 0.1
    assert doc["hazard_ratio"] == math.exp(0.5) and doc["stderr"] == 0.1
