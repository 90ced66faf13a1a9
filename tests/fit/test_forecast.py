"""Forecasts of held-out rounds: the band's two sources of noise, its errors, its checks.

The chain-binomial replicate noise is checked against closed forms (offline-only spread:
every agent's share is an independent coin), the parameter draws against the covariance they
come from, and the pair map's forecast of k-regular runs against the runs themselves
(the validation of docs/fitting.md, marked slow).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from spillover.engine import simulate
from spillover.exceptions import ConfigError
from spillover.fit import (
    MODELS,
    CurveEstimator,
    CurveForecast,
    check_fit_rounds,
    forecast_curve,
    get_model,
)
from spillover.graphs import random_regular
from spillover.policies import ConstantPolicy
from spillover.selection import analyse, fit_window
from spillover.trajectories import Curves


def _curves(counts: np.ndarray, n_nodes: int) -> Curves:
    """Curves from cumulative counts of shape (n_reps, n_rounds + 1)."""
    return Curves(np.asarray(counts)[:, :, None], n_nodes)


@pytest.mark.parametrize("bad", [0, -1, 12, 13, True, 2.5, "3"])
def test_fit_rounds_outside_1_to_last_minus_1_is_refused_naming_the_option(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"fit_rounds must be an integer from 1 to 11"):
        check_fit_rounds(bad, 12)


def test_fit_rounds_inside_the_run_are_accepted() -> None:
    assert check_fit_rounds(1, 12) == 1
    assert check_fit_rounds(np.int64(11), 12) == 11
    with pytest.raises(ConfigError, match="at least 2 rounds"):
        check_fit_rounds(1, 1)


@pytest.fixture(scope="module")
def run() -> Curves:
    graph = random_regular(1500, 6, rng=4)
    result = simulate(graph, ConstantPolicy(0.003, 0.06), n_rounds=30, n_reps=4, n_seeds=3, rng=4)
    return result.curves


@pytest.fixture(scope="module")
def pair_fit(run: Curves) -> CurveEstimator:
    _, window = fit_window(None, run, 12)
    assert window is not None
    return CurveEstimator("pair", 6).fit(window)


def _pair_forecast(run: Curves, fit: CurveEstimator, **kwargs: object) -> CurveForecast:
    return forecast_curve(
        "pair",
        fit.result_.params,
        run,
        fit_rounds=12,
        degree=6,
        **kwargs,  # type: ignore[arg-type]
    )


def test_errors_and_coverage_follow_their_definitions(
    run: Curves, pair_fit: CurveEstimator
) -> None:
    f = _pair_forecast(run, pair_fit, covariance=pair_fit.covariance_)
    assert f.parameter_draws == "covariance"
    assert f.predicted.shape == f.low.shape == f.high.shape == (31,)
    assert f.rounds.tolist() == list(range(13, 31))
    observed = run.fraction().mean(axis=0)
    np.testing.assert_allclose(f.observed, observed)
    np.testing.assert_allclose(f.observed_sd, run.fraction().std(axis=0, ddof=1))
    held = slice(13, 31)
    err = f.predicted[held] - observed[held]
    assert f.rmse == pytest.approx(float(np.sqrt(np.mean(err**2))))
    assert f.max_abs_error == pytest.approx(float(np.abs(err).max()))
    inside = (observed[held] >= f.low[held]) & (observed[held] <= f.high[held])
    assert f.coverage == pytest.approx(float(inside.mean()))
    assert np.all(f.low <= f.high)
    # The prediction is the map at the estimate, from the observed initial fraction.
    i0 = float(run.informed[:, 0].mean()) / run.n_nodes
    expected = get_model("pair").predict(
        dict(pair_fit.result_.params), degree=6, i0=i0, n_rounds=30
    )
    np.testing.assert_allclose(f.predicted, expected)
    doc = f.to_dict()
    assert {len(doc[k]) for k in ("predicted", "low", "high")} == {18}
    assert doc["rmse"] == f.rmse and doc["coverage"] == f.coverage


def test_bands_repeat_with_their_seed(run: Curves, pair_fit: CurveEstimator) -> None:
    a = _pair_forecast(run, pair_fit, covariance=pair_fit.covariance_, rng=7)
    b = _pair_forecast(run, pair_fit, covariance=pair_fit.covariance_, rng=7)
    c = _pair_forecast(run, pair_fit, covariance=pair_fit.covariance_, rng=8)
    assert np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high)
    assert not np.array_equal(a.high, c.high)


def test_correlated_draws_give_a_narrower_band_than_independent_ones(
    run: Curves, pair_fit: CurveEstimator
) -> None:
    # alpha and beta fitted to the early rounds trade off against each other (correlation
    # near -1): drawing them independently from their standard errors overstates the spread.
    cov = np.asarray(pair_fit.covariance_)
    assert cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) < -0.8
    held = slice(13, 31)
    joint = _pair_forecast(run, pair_fit, covariance=cov)
    alone = _pair_forecast(run, pair_fit, stderr=pair_fit.result_.stderr)
    noise_only = _pair_forecast(run, pair_fit)
    assert alone.parameter_draws == "stderr" and noise_only.parameter_draws == "none"
    width = {
        name: float((f.high[held] - f.low[held]).mean())
        for name, f in (("joint", joint), ("alone", alone), ("noise", noise_only))
    }
    assert width["noise"] < width["joint"] < width["alone"], width


def test_replicate_noise_of_an_offline_only_spread_is_binomial() -> None:
    # With beta = 0 every susceptible agent shares with probability alpha each round, on its
    # own: after t rounds the informed count is seeds + Binomial(N - seeds, 1 - (1 - alpha)^t).
    # No standard errors: the band is the replicate noise alone, for one replicate.
    n_nodes, seeds, alpha, n_rounds = 400, 10, 0.04, 12
    counts = np.full((1, n_rounds + 1), seeds)
    f = forecast_curve(
        "si2",
        {"alpha": alpha, "beta": 0.0},
        _curves(counts, n_nodes),
        fit_rounds=1,
        degree=4,
        n_draws=4000,
        level=0.9,
        rng=3,
    )
    t = np.arange(n_rounds + 1)
    p = 1.0 - (1.0 - alpha) ** t
    low = (seeds + binom.ppf(0.05, n_nodes - seeds, p)) / n_nodes
    high = (seeds + binom.ppf(0.95, n_nodes - seeds, p)) / n_nodes
    np.testing.assert_allclose(f.low, low, atol=1.5 / n_nodes)
    np.testing.assert_allclose(f.high, high, atol=1.5 / n_nodes)
    np.testing.assert_allclose(f.predicted, seeds / n_nodes + (1 - seeds / n_nodes) * p)


def test_a_band_for_the_mean_of_n_replicates_narrows_like_one_over_root_n() -> None:
    n_nodes, seeds, alpha = 400, 10, 0.04
    widths = []
    for n_reps in (1, 16):
        counts = np.full((n_reps, 13), seeds)
        f = forecast_curve(
            "si2",
            {"alpha": alpha, "beta": 0.0},
            _curves(counts, n_nodes),
            fit_rounds=1,
            degree=4,
            n_draws=2000,
            rng=5,
        )
        widths.append(float((f.high - f.low)[6:].mean()))
    assert widths[0] / widths[1] == pytest.approx(4.0, rel=0.15)


def _params_of(name: str) -> dict[str, object]:
    values = {
        "alpha": 0.01,
        "beta": 0.05,
        "beta_1": 0.08,
        "beta_2": 0.02,
        "share_1": 0.4,
        "beta_first": 0.06,
        "beta_further": 0.03,
        "online_m": (0.05, 0.09, 0.12),
        "alpha_c": tuple(np.linspace(0.005, 0.02, 32)),
        "beta_c": tuple(np.linspace(0.02, 0.08, 32)),
        "online_1_c": tuple(np.linspace(0.02, 0.06, 32)),
        "online_2+_c": tuple(np.linspace(0.05, 0.1, 32)),
    }
    spec = get_model(name)
    if spec.data_params is not None:  # si-dose-persona: names of a fit on levels 0, 1, 2+
        return {p: values[p] for p in ("alpha_c", "online_1_c", "online_2+_c")}
    return {p: values[p] for p in spec.params}


@pytest.mark.parametrize("name", list(MODELS))
def test_the_chain_follows_every_map_when_its_noise_is_small(name: str) -> None:
    # A million agents and 1 % seeds: the replicate noise is tiny, so the band hugs the map.
    # This checks that the chain moves each model's state (pair counts, groups, classes)
    # consistently with its informed fraction.
    n_nodes, n_rounds = 1_000_000, 25
    counts = np.full((2, n_rounds + 1), n_nodes // 100)
    weights = np.full(32, 1 / 32) if get_model(name).per_class else None
    f = forecast_curve(
        name,
        _params_of(name),
        _curves(counts, n_nodes),
        fit_rounds=5,
        degree=6,
        weights=weights,
        n_draws=20,
        rng=1,
    )
    middle = (f.low + f.high) / 2
    assert float(np.abs(middle - f.predicted).max()) < 2e-3
    assert float((f.high - f.low).max()) < 1e-2


def test_per_persona_forecasts_need_the_persona_shares() -> None:
    counts = np.full((2, 11), 20)
    with pytest.raises(ConfigError, match="weights"):
        forecast_curve(
            "si-persona", _params_of("si-persona"), _curves(counts, 1000), fit_rounds=3, degree=4
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"level": 1.0}, "level must be"), ({"n_draws": 1}, "n_draws must be")],
)
def test_bad_band_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    counts = np.full((2, 11), 20)
    with pytest.raises(ConfigError, match=message):
        forecast_curve(
            "si2",
            {"alpha": 0.01, "beta": 0.05},
            _curves(counts, 1000),
            fit_rounds=3,
            degree=4,
            **kwargs,  # type: ignore[arg-type]
        )


# --- validation: the pair map forecasts k-regular runs within replicate noise ----------------


@pytest.mark.slow
@pytest.mark.parametrize("degree", [3, 4, 8, 16])
def test_pair_forecast_of_regular_runs_is_within_replicate_noise(degree: int) -> None:
    n_nodes, n_reps = 5000, 8
    graph = random_regular(n_nodes, degree, rng=degree)
    policy = ConstantPolicy(0.002, 0.25 / degree)  # the same early growth for every k
    result = simulate(graph, policy, n_rounds=70, n_reps=n_reps, n_seeds=5, rng=degree)
    mean = result.curves.fraction().mean(axis=0)
    # Held out: from a third of the rise (10 % to 90 % informed) to 95 % informed, so that
    # saturated rounds, which any model gets right, do not flatter the score.
    r10, r90, r95 = (int(np.argmax(mean >= q)) for q in (0.1, 0.9, 0.95))
    fit_rounds = round(r10 + (r90 - r10) / 3)
    curves = Curves(result.curves.informed_by_persona[:, : r95 + 1], n_nodes)
    analysis = analyse(
        curves=curves, degree=degree, models=["pair"], n_folds=0, fit_rounds=fit_rounds
    )
    assert analysis.forecast is not None
    forecast = analysis.forecast.get("pair")
    assert forecast is not None and forecast.parameter_draws == "covariance"
    replicate_sd = float(analysis.forecast.observed_sd[fit_rounds + 1 :].mean())
    assert forecast.rmse < 2.0 * replicate_sd, (forecast.rmse, replicate_sd)
    assert forecast.coverage >= 0.8, forecast.coverage
