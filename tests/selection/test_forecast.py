"""``analyse(fit_rounds=R)``: fits see rounds 0..R only, forecasts cover the rest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spillover.engine import agent_histories, simulate
from spillover.exceptions import ConfigError
from spillover.fit import SI2Estimator
from spillover.graphs import random_regular
from spillover.io import dumps_json
from spillover.policies import ConstantPolicy
from spillover.selection import analyse, fit_window
from spillover.trajectories import SimulationResult

FIT_ROUNDS = 10


@pytest.fixture(scope="module")
def run() -> tuple[SimulationResult, object]:
    graph = random_regular(1200, 6, rng=2)
    result = simulate(graph, ConstantPolicy(0.004, 0.06), n_rounds=24, n_reps=3, n_seeds=3, rng=2)
    return result, agent_histories(graph, result)


def test_fit_window_keeps_rounds_up_to_r(run: tuple[SimulationResult, object]) -> None:
    result, _ = run
    exposures, curves = fit_window(result.exposures, result.curves, FIT_ROUNDS)
    assert exposures is not None and curves is not None
    assert exposures.round.max() == FIT_ROUNDS and len(exposures) < len(result.exposures)
    assert curves.n_rounds == FIT_ROUNDS
    np.testing.assert_array_equal(curves.informed, result.curves.informed[:, : FIT_ROUNDS + 1])


def test_fits_use_the_fitted_rounds_only_and_every_model_forecasts(
    run: tuple[SimulationResult, object],
) -> None:
    result, agents = run
    analysis = analyse(
        exposures=result.exposures,
        curves=result.curves,
        agents=agents,  # type: ignore[arg-type]
        degree=6,
        models=["si2", "si-groups2", "si-persona", "pair"],
        n_folds=0,
        fit_rounds=FIT_ROUNDS,
        weights=np.full(32, 1 / 32),
    )
    exposures, _ = fit_window(result.exposures, None, FIT_ROUNDS)
    assert exposures is not None
    si2 = next(r for g in analysis.groups for r in g.results if r.model == "si2")
    assert si2.params == SI2Estimator().fit(exposures).result_.params
    # Agent histories cover the whole run: they are set aside, and the analysis says so.
    assert any("agent histories" in note for note in analysis.notes)
    forecast = analysis.forecast
    assert forecast is not None and forecast.fit_rounds == FIT_ROUNDS
    assert [f.model for f in forecast.models] == ["si2", "si-groups2", "si-persona", "pair"]
    assert forecast.data == {
        "si2": "exposures",
        "si-groups2": "exposures",
        "si-persona": "exposures",
        "pair": "curves",
    }
    assert forecast.get("pair").parameter_draws == "covariance"  # type: ignore[union-attr]
    # Agent-level fits draw from the covariance of their own estimates too.
    assert {f.parameter_draws for f in forecast.models} == {"covariance"}
    doc = json.loads(dumps_json(analysis.to_dict()))["forecast"]
    n_held = 24 - FIT_ROUNDS
    assert doc["rounds"] == list(range(FIT_ROUNDS + 1, 25))
    assert len(doc["observed"]) == len(doc["observed_sd"]) == n_held
    np.testing.assert_allclose(
        doc["observed"], result.curves.fraction().mean(axis=0)[FIT_ROUNDS + 1 :]
    )
    assert doc["level"] == 0.95 and doc["n_reps"] == 3
    for entry in doc["models"]:
        assert {len(entry[k]) for k in ("predicted", "low", "high")} == {n_held}
        assert entry["rmse"] >= 0 and 0 <= entry["coverage"] <= 1
        assert entry["data"] in ("exposures", "curves")


def test_models_without_a_forecast_are_named_in_the_notes(
    run: tuple[SimulationResult, object],
) -> None:
    result, _ = run
    analysis = analyse(
        exposures=result.exposures,
        curves=result.curves,
        degree=6,
        models=["si", "si-persona"],
        n_folds=0,
        fit_rounds=FIT_ROUNDS,
    )
    assert analysis.forecast is not None and analysis.forecast.models == ()
    notes = " ".join(analysis.notes)
    assert "si: no forecast (fit status infeasible)" in notes  # offline shares, no alpha
    assert "si-persona: no forecast (it needs the persona shares" in notes


def test_the_analysis_repeats_exactly(run: tuple[SimulationResult, object]) -> None:
    result, _ = run
    docs = [
        analyse(curves=result.curves, degree=6, models=["pair"], fit_rounds=FIT_ROUNDS).to_dict()
        for _ in range(2)
    ]
    assert docs[0]["forecast"] == docs[1]["forecast"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fit_rounds": 0}, "fit_rounds must be an integer from 1 to 23"),
        ({"fit_rounds": 24}, "fit_rounds must be an integer from 1 to 23"),
        ({"fit_rounds": 5, "curves": None}, "the input does not hold"),
        ({"fit_rounds": 5, "degree": None}, "needs the graph's degree: give degree"),
    ],
)
def test_bad_fit_rounds_are_refused(
    run: tuple[SimulationResult, object], kwargs: dict[str, object], message: str
) -> None:
    result, _ = run
    args: dict[str, object] = {
        "exposures": result.exposures,
        "curves": result.curves,
        "degree": 6,
        "models": ["si2"],
    }
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        analyse(**args)  # type: ignore[arg-type]
