"""The compiled projected Newton search: its evaluation agrees with ``hazard_loglik``, and what
it returns is the constrained maximum (optimality conditions, and no better point found by an
independent bounded optimiser)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from spillover.fit import fit_hazards, hazard_loglik
from spillover.fit._newton import NEWTON_MESSAGES, _evaluate, newton_search

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def _problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 25))
    k = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    design = rng.integers(0, 4, size=(n, k)).astype(np.float64)
    design[:, 0] = 1.0  # an offline column, so that every row is reachable
    at_risk = rng.integers(1, 400, size=n).astype(np.float64)
    rates = rng.uniform(0.0, draw(st.sampled_from([0.001, 0.05, 0.5])), size=k)
    p = 1.0 - np.exp(-(design @ -np.log1p(-rates)))
    shared = rng.binomial(at_risk.astype(np.int64), p).astype(np.float64)
    return design, at_risk, shared


@PROPERTY
@given(_problems(), st.one_of(st.just(0.0), st.floats(1e-6, 0.3)))
def test_the_evaluation_is_hazard_loglik(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray], scale: float
) -> None:
    design, at_risk, shared = problem
    h = np.full(design.shape[1], scale)
    k = design.shape[1]
    grad, hess = np.empty(k), np.empty((k, k))
    ll = _evaluate(design, np.zeros(design.shape[0]), shared, at_risk - shared, h, grad, hess)
    want_ll, want_grad, want_hess = hazard_loglik(h, design, at_risk, shared)
    if not np.isfinite(want_ll):
        assert ll == -np.inf
        return
    assert ll == pytest.approx(want_ll, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(hess, want_hess, rtol=1e-10, atol=1e-8)


@PROPERTY
@given(_problems())
def test_the_search_reaches_the_constrained_maximum(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    design, at_risk, shared = problem
    fit = fit_hazards(design, at_risk, shared)
    assert fit.converged, fit.message
    h = fit.hazards
    ll, grad, hess = hazard_loglik(h, design, at_risk, shared)
    assert fit.loglik == pytest.approx(ll, rel=1e-12, abs=1e-9)
    # Optimality: what a Newton step on each hazard alone would still gain is below the
    # rounding of the value (at 0, only a gradient pointing inwards could gain anything).
    tol = 1e-8 * (1.0 + abs(ll))
    curvature = np.maximum(-np.diag(hess), 1e-12)
    gain = 0.5 * grad**2 / curvature
    assert np.all(gain[h > 0.0] <= tol)
    assert np.all(gain[(h <= 0.0) & (grad > 0.0)] <= tol)

    # An independent bounded optimiser finds nothing better.
    def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, g, _ = hazard_loglik(x, design, at_risk, shared)
        if not np.isfinite(value):
            return 1e300, np.zeros_like(x)
        return -value, -g

    start = np.full(design.shape[1], 0.05)
    other = minimize(
        negative, start, jac=True, method="L-BFGS-B", bounds=[(0.0, 40.0)] * design.shape[1],
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
    )  # fmt: skip
    assert fit.loglik >= -other.fun - 1e-7 * (1.0 + abs(ll))


def test_a_start_that_gives_the_data_probability_zero_is_reported() -> None:
    design = np.array([[0.0], [1.0]])
    _, ll, _, _, code = newton_search(
        design, np.array([5.0, 5.0]), np.array([1.0, 1.0]), np.zeros(2), np.array([0.1]), 500
    )
    assert (
        ll == -np.inf and NEWTON_MESSAGES[code] == "the starting point gives the data probability 0"
    )
    assert not fit_hazards(design, np.array([5.0, 5.0]), np.array([1.0, 1.0])).converged


def test_a_ridge_converges_and_is_marked_not_identifiable() -> None:
    column = np.arange(1.0, 7.0)
    design = np.column_stack([column, column])  # two rates the data cannot tell apart
    at_risk = np.full(6, 300.0)
    shared = np.array([20.0, 41.0, 58.0, 77.0, 93.0, 110.0])
    fit = fit_hazards(design, at_risk, shared)
    assert fit.converged and not fit.identifiable
    single = fit_hazards(column[:, None], at_risk, shared)
    assert fit.hazards.sum() == pytest.approx(single.hazards[0], rel=1e-6)
    assert fit.loglik == pytest.approx(single.loglik, rel=1e-10)


def test_the_iteration_limit_is_reported() -> None:
    design = np.column_stack([np.ones(5), np.arange(5.0)])
    at_risk = np.full(5, 100.0)
    shared = np.array([5.0, 12.0, 20.0, 26.0, 35.0])
    *_, code = newton_search(design, at_risk, shared, np.zeros(5), np.array([0.5, 0.5]), 1)
    assert NEWTON_MESSAGES[code].format(max_iter=1) == "no convergence in 1 iterations"
    *_, code = newton_search(design, at_risk, shared, np.zeros(5), np.array([0.5, 0.5]), 500)
    assert code == 0


def test_large_tables_take_the_matrix_product_evaluation_and_agree() -> None:
    from spillover.fit._newton import _BLAS_WORK

    rng = np.random.default_rng(4)
    n, k = 3000, 6
    assert n * k * k > _BLAS_WORK
    design = rng.integers(0, 3, size=(n, k)).astype(np.float64)
    design[:, 0] = 1.0
    at_risk = rng.integers(1, 200, size=n).astype(np.float64)
    p = 1.0 - np.exp(-(design @ rng.uniform(0.001, 0.05, size=k)))
    shared = rng.binomial(at_risk.astype(np.int64), p).astype(np.float64)
    h = np.full(k, 0.02)
    grad, hess = np.empty(k), np.empty((k, k))
    ll = _evaluate(design, np.zeros(n), shared, at_risk - shared, h, grad, hess)
    want_ll, want_grad, want_hess = hazard_loglik(h, design, at_risk, shared)
    assert ll == pytest.approx(want_ll, rel=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-10)
    np.testing.assert_allclose(hess, want_hess, rtol=1e-10)
    fit = fit_hazards(design, at_risk, shared)
    assert fit.converged
    _, g, _ = hazard_loglik(fit.hazards, design, at_risk, shared)
    assert np.all(np.abs(g[fit.hazards > 0]) < 1e-4 * (1.0 + abs(fit.loglik)))
