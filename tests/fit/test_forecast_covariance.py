"""Forecast bands of agent-level fits draw their parameters from the full covariance.

A generator of its own (not the engine): well-mixed agents, each susceptible one sees
``m ~ Binomial(k, i)`` informed neighbours and shares with ``1 - (1 - alpha)(1 - beta)^m``,
whose expected step is the ``si2`` map's. Its exposure rows and curves feed the fits.
"""

from __future__ import annotations

import numpy as np

from spillover import STREAMS
from spillover.fit import (
    CurveEstimator,
    SI2Estimator,
    SIDoseEstimator,
    SIPersonaEstimator,
    forecast_curve,
)
from spillover.io import FitInput
from spillover.selection import fit_window, forecast_models
from spillover.trajectories import Curves, ExposureTable


def _table(rows: list[tuple[int, int, int, int, int, int]]) -> ExposureTable:
    cols = np.array(rows, dtype=np.int64).reshape(-1, 6).T
    return ExposureTable(
        replicate=cols[0].astype(np.int32),
        round=cols[1].astype(np.int32),
        persona=cols[2].astype(np.int16),
        n_exposed=cols[3].astype(np.int32),
        at_risk=cols[4],
        shared=cols[5],
    )


def well_mixed(
    n_nodes: int,
    degree: int,
    alpha: float,
    beta: float,
    *,
    n_rounds: int,
    n_reps: int,
    n_seeds: int,
    rng: np.random.Generator,
) -> tuple[ExposureTable, Curves]:
    """Exposure rows (persona 0) and curves of the well-mixed generator."""
    rows: list[tuple[int, int, int, int, int, int]] = []
    informed = np.zeros((n_reps, n_rounds + 1), dtype=np.int64)
    for r in range(n_reps):
        count = n_seeds
        informed[r, 0] = count
        for t in range(1, n_rounds + 1):
            susceptible = n_nodes - count
            m = rng.binomial(degree, count / n_nodes, size=susceptible)
            shares = rng.random(susceptible) < 1.0 - (1.0 - alpha) * (1.0 - beta) ** m
            for value in np.unique(m):
                at = m == value
                rows.append((r, t, 0, int(value), int(at.sum()), int(shares[at].sum())))
            count += int(shares.sum())
            informed[r, t] = count
    return _table(rows), Curves(informed[:, :, None], n_nodes)


def _width(f: object, rounds: slice) -> float:
    return float((f.high[rounds] - f.low[rounds]).mean())  # type: ignore[attr-defined]


def test_agent_fits_keep_the_covariance_of_their_estimates() -> None:
    gen = np.random.default_rng(5)
    exposures, _ = well_mixed(1500, 6, 0.01, 0.05, n_rounds=15, n_reps=2, n_seeds=5, rng=gen)
    fit = SI2Estimator().fit(exposures)
    cov = fit.covariance_
    assert cov is not None and cov.shape == (2, 2)
    # The delta method of the standard errors, off-diagonal terms included.
    se = np.array([fit.stderr_["alpha"], fit.stderr_["beta"]])
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), se)
    assert cov[0, 1] != 0 and np.allclose(cov, cov.T)
    persona = SIPersonaEstimator().fit(exposures)
    assert persona.covariance_ is not None and persona.covariance_.shape == (64, 64)
    block = persona.covariance_[np.ix_([0, 32], [0, 32])]  # persona 0: alpha_0, beta_0
    np.testing.assert_allclose(block, cov, rtol=1e-4)  # one persona: the si2 fit itself


def test_negatively_correlated_rates_give_a_narrower_band_than_independent_draws() -> None:
    # Agents seen at m = 2 and 3 only: alpha and beta trade off (correlation near -1), and
    # what the map needs where about k i = 2.4 neighbours are informed (k = 8, 30 % informed),
    # alpha + k i beta, is known much better than either rate.
    gen = np.random.default_rng(11)
    rows = []
    for m in (2, 3):
        p = 1.0 - (1.0 - 0.02) * (1.0 - 0.03) ** m
        rows.append((0, 1, 0, m, 50_000, int(gen.binomial(50_000, p))))
    fit = SI2Estimator().fit(_table(rows))
    cov = fit.covariance_
    assert cov is not None
    assert cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) < -0.9
    curves = Curves(np.full((4, 11, 1), 600), 2000)
    kw = {"fit_rounds": 1, "degree": 8, "n_draws": 400, "rng": 3}
    joint = forecast_curve("si2", fit.result_.params, curves, covariance=cov, **kw)
    diagonal = forecast_curve("si2", fit.result_.params, curves, stderr=fit.result_.stderr, **kw)
    noise = forecast_curve("si2", fit.result_.params, curves, **kw)
    assert joint.parameter_draws == "covariance" and diagonal.parameter_draws == "stderr"
    held = slice(2, 6)
    w = {"joint": _width(joint, held), "diag": _width(diagonal, held), "noise": _width(noise, held)}
    # Measured: noise 0.021, joint 0.025, diagonal 0.061.
    assert w["noise"] < w["joint"] < 0.6 * w["diag"], w


def test_bucketed_dose_rates_are_drawn_alike_within_a_bucket() -> None:
    # Counts of one bucket share one rate: a singular (perfectly correlated) covariance,
    # which is drawn from, not refused.
    gen = np.random.default_rng(2)
    exposures, curves = well_mixed(1500, 6, 0.01, 0.05, n_rounds=14, n_reps=2, n_seeds=5, rng=gen)
    fit = SIDoseEstimator(buckets=(0, 1, 3)).fit(exposures)
    cov = fit.covariance_
    assert cov is not None
    n_counts = len(fit.result_.params["online_m"])  # type: ignore[arg-type]
    assert cov.shape == (1 + n_counts, 1 + n_counts)
    assert cov[1, 1] == cov[2, 2] == cov[1, 2]  # counts 1 and 2: one bucket
    f = forecast_curve(
        "si-dose", fit.result_.params, curves, fit_rounds=6, degree=6, covariance=cov, rng=1
    )
    assert f.parameter_draws == "covariance" and np.all(f.low <= f.high)


def test_bands_of_agent_fits_use_their_own_covariance_not_the_curve_fits() -> None:
    # si2 fitted to the exposure table and to the curves (as analyse does by default): each
    # band draws from its own fit's covariance, looked up by (data, model).
    gen = np.random.default_rng(8)
    exposures, curves = well_mixed(2000, 6, 0.004, 0.06, n_rounds=24, n_reps=3, n_seeds=4, rng=gen)
    window, curve_window = fit_window(exposures, curves, 10)
    assert window is not None and curve_window is not None
    agent = SI2Estimator().fit(window)
    curve = CurveEstimator("si2", 6).fit(curve_window)
    assert agent.covariance_ is not None
    forecast = forecast_models(
        [("exposures", agent.result_), ("curves", curve.result_)],
        curves,
        fit_rounds=10,
        degree=6,
        covariances={("exposures", "si2"): agent.covariance_, "si2": curve.covariance_},
        rng=4,
    )
    kw = {"fit_rounds": 10, "degree": 6}
    for f, est in zip(forecast.models, (agent, curve), strict=True):
        own = forecast_curve(
            "si2", est.result_.params, curves, covariance=est.covariance_, **kw, rng=4
        )
        assert f.parameter_draws == "covariance"
        np.testing.assert_array_equal(f.low, own.low)
        np.testing.assert_array_equal(f.high, own.high)


def test_a_run_seeds_its_forecast_bands_from_its_own_stream() -> None:
    seeded = FitInput("run", manifest={"seed": {"entropy": 17, "spawn_key": [3]}})
    seq = seeded.forecast_seed
    assert isinstance(seq, np.random.SeedSequence)
    assert seq.entropy == 17 and tuple(seq.spawn_key) == (3, STREAMS["forecast"])
    assert FitInput("table.parquet").forecast_seed == 0


def test_covariance_bands_cover_the_held_out_rounds_of_the_own_generator() -> None:
    # 30 data sets of the well-mixed generator: si2 fitted to rounds 0..8, its band (95 %,
    # the mean of 3 replicates) checked against the held-out observed mean.
    gen = np.random.default_rng(21)
    inside = []
    for _ in range(30):
        exposures, curves = well_mixed(
            1000, 6, 0.005, 0.05, n_rounds=20, n_reps=3, n_seeds=5, rng=gen
        )
        window, _ = fit_window(exposures, None, 8)
        assert window is not None
        fit = SI2Estimator(intervals=False).fit(window)
        f = forecast_curve(
            "si2",
            fit.result_.params,
            curves,
            fit_rounds=8,
            degree=6,
            covariance=fit.covariance_,
            n_draws=200,
            rng=int(gen.integers(2**31)),
        )
        assert f.parameter_draws == "covariance"
        inside.append(f.coverage)
    assert np.mean(inside) >= 0.9, np.mean(inside)


def test_persona_covariance_is_block_diagonal_and_drawn_jointly() -> None:
    # Personas are fitted on their own rows: no covariance between them (0, not unknown),
    # so a persona's band draws from it even where another persona's rate is on a bound.
    gen = np.random.default_rng(4)
    tables = []
    for c in range(3):
        t, _ = well_mixed(800, 6, 0.01 * (c + 1), 0.05, n_rounds=10, n_reps=2, n_seeds=4, rng=gen)
        tables.append(t)
    rows = [
        (int(r), int(t_), c, int(m), int(a), int(s))
        for c, t in enumerate(tables)
        for r, t_, m, a, s in zip(
            t.replicate, t.round, t.n_exposed, t.at_risk, t.shared, strict=True
        )
    ]
    # persona 3: nobody shares without an informed neighbour (alpha_3 on its bound 0)
    rows += [(0, 1, 3, 0, 500, 0), (0, 1, 3, 1, 400, 30), (0, 1, 3, 2, 300, 40)]
    fit = SIPersonaEstimator().fit(_table(rows))
    cov = fit.covariance_
    assert cov is not None and fit.result_.status == "bound"
    assert cov[0, 1] == 0.0 and cov[0, 32 + 1] == 0.0  # alpha_0 with alpha_1 and beta_1
    assert np.isnan(cov[4, 4])  # persona 4: no rows
    weights = np.zeros(32)
    weights[:4] = 0.25
    curves = Curves(np.full((2, 11, 1), 20), 3200)
    f = forecast_curve(
        "si-persona",
        fit.result_.params,
        curves,
        fit_rounds=3,
        degree=6,
        covariance=cov,
        weights=weights,
        rng=2,
    )
    assert f.parameter_draws == "covariance"
