"""The model registry: one spec per model, one parameter vocabulary, consumers that read it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from spillover.exceptions import ConfigError
from spillover.fit import (
    CURVE_ESTIMATORS,
    ESTIMATORS,
    HAZARD_SYMBOLS,
    MODELS,
    CurveEstimator,
    FitResult,
    ModelSpec,
    SI2Estimator,
    default_models,
    get_model,
    register_model,
    spread_starts,
    sweep_models,
    unregister_model,
)
from spillover.models import (
    MAP_MODELS,
    ODE_MODELS,
    SI2_MAP,
    SI2_ODE,
    integrate,
    map_curve,
    persona_map,
    si2_map,
)
from spillover.personas import N_PERSONAS
from spillover.selection import analyse, available_models
from spillover.trajectories import Curves, ExposureTable


def _exposures(alpha: float, beta: float, rng: np.random.Generator) -> ExposureTable:
    m = np.tile(np.arange(9), 4)
    rep = np.repeat(np.arange(4), 9)
    p = 1 - (1 - alpha) * (1 - beta) ** m
    at_risk = np.full(m.size, 400)
    return ExposureTable(
        replicate=rep,
        round=np.ones_like(m),
        persona=np.zeros_like(m),
        n_exposed=m,
        at_risk=at_risk,
        shared=rng.binomial(at_risk, p),
    )


def _curves(alpha: float, beta: float, degree: int, n_nodes: int, n_rounds: int) -> Curves:
    frac = si2_map(alpha, beta, degree, 0.01, n_rounds)
    informed = np.round(frac * n_nodes).astype(np.int64)
    return Curves(informed_by_persona=np.stack([informed, informed])[:, :, None], n_nodes=n_nodes)


def test_every_model_has_one_spec_binding_map_ode_and_fit() -> None:
    defaults = ["si", "si2", "si-groups2", "si-persona", "pair", "si-dose2", "si-dose"]
    assert list(MODELS) == [*defaults, "si-dose-persona"]
    # si-dose-persona is fitted when named: the models fitted by default are unchanged
    assert list(default_models()) == defaults
    for name, spec in MODELS.items():
        assert spec.name == name
        assert spec.map is MAP_MODELS[name]
        assert spec.ode is ODE_MODELS[name]
        # the fitted names are parameters of the map: one vocabulary
        assert set(spec.params) <= set(spec.map.param_names)
        assert set(spec.bounds) == set(spec.params)
    assert list(ESTIMATORS) == [
        "si",
        "si2",
        "si-groups2",
        "si-persona",
        "si-dose2",
        "si-dose",
        "si-dose-persona",
    ]
    assert ESTIMATORS["si2"] is SI2Estimator
    assert list(CURVE_ESTIMATORS) == ["si", "si2", "si-groups2", "pair"]
    assert sweep_models() == ("si", "si2")


def test_fitted_params_feed_the_models_predict_directly() -> None:
    rng = np.random.default_rng(3)
    table = _exposures(0.01, 0.06, rng)
    fit = get_model("si2").make_estimator().fit(table).result_
    spec = get_model("si2")
    curve = spec.predict(fit.params, degree=8, i0=0.01, n_rounds=30)
    expected = si2_map(fit.params["alpha"], fit.params["beta"], 8, 0.01, 30)
    np.testing.assert_array_equal(curve, expected)
    assert curve.shape == (31,)
    assert not curve.flags.writeable


def test_persona_fit_params_are_the_maps_params() -> None:
    rng = np.random.default_rng(4)
    alpha = rng.uniform(0.001, 0.01, N_PERSONAS)
    beta = rng.uniform(0.02, 0.08, N_PERSONAS)
    weights = rng.integers(1, 5, N_PERSONAS).astype(float)
    weights[3] = 0.0
    params = {"alpha_c": tuple(alpha), "beta_c": tuple(beta)}
    fit = FitResult(
        "si-persona", params, params, loglik=-1.0, n_params=64, n_obs=10, status="converged"
    )
    spec = get_model("si-persona")
    got = spec.predict(fit.params, degree=8, i0=0.01, n_rounds=20, weights=weights)
    expected = persona_map(alpha, beta, weights, 8, 0.01, 20).informed
    np.testing.assert_array_equal(got, expected)
    # map_curve on the map itself takes the same names (plus degree and weights)
    direct = map_curve(spec.map, {**fit.params, "degree": 8, "weight_by_class": weights}, 0.01, 20)
    np.testing.assert_array_equal(direct, expected)
    # an absent class (weight 0) may have no estimate; a present one may not
    alpha_nan = alpha.copy()
    alpha_nan[3] = np.nan
    params_nan = {"alpha_c": alpha_nan, "beta_c": beta}
    np.testing.assert_array_equal(
        spec.predict(params_nan, degree=8, i0=0.01, n_rounds=20, weights=weights), expected
    )
    alpha_nan[4] = np.nan
    with pytest.raises(ConfigError, match="alpha_c"):
        spec.predict(params_nan, degree=8, i0=0.01, n_rounds=20, weights=weights)
    with pytest.raises(ConfigError, match="weights"):
        spec.predict(params, degree=8, i0=0.01, n_rounds=20)


def test_predict_names_missing_and_unknown_parameters() -> None:
    spec = get_model("si2")
    with pytest.raises(ConfigError, match=r"missing \['beta'\], unknown \['b'\]"):
        spec.predict({"alpha": 0.1, "b": 0.1}, degree=8, i0=0.01, n_rounds=3)
    with pytest.raises(ConfigError, match="unknown model 'sir'"):
        get_model("sir")


def test_ode_hazards_are_derived_from_the_probabilities() -> None:
    assert HAZARD_SYMBOLS["alpha"] == "a" and HAZARD_SYMBOLS["beta_c"] == "b_c"
    spec = get_model("si2")
    ode = spec.ode_params({"alpha": 0.01, "beta": 0.05}, degree=8)
    assert set(ode) == set(SI2_ODE.param_names)
    assert ode["a"] == pytest.approx(-np.log1p(-0.01))
    assert ode["b"] == pytest.approx(-np.log1p(-0.05))
    # every model's ODE takes exactly the derived names
    for s in MODELS.values():
        assert s.ode is not None
        vectors = {p.name for p in s.map.parameters if p.per_class}
        values = {p: (np.full(4, 0.01) if p in vectors else 0.01) for p in s.params}
        if s.data_params is not None:  # fitted names from the data (si-dose-persona)
            values = {n: np.full(4, 0.01) for n in ("alpha_c", "online_1_c", "online_2+_c")}
        weights = np.ones(4) if s.per_class else None
        derived = s.ode_params(values, degree=8, weights=weights)
        assert set(derived) == set(s.ode.param_names)
        s.ode.validate(derived)
    t = np.arange(31.0)
    sol = integrate(SI2_ODE, ode, SI2_ODE.initial_state(0.01, ode), t)
    # the Bass curve of di/dt = (1 - i)(a + k b i) at the derived hazards
    a, c, i0 = -np.log1p(-0.01), 8 * -np.log1p(-0.05), 0.01
    r = (a + c * i0) / (1 - i0) * np.exp((a + c) * t)
    np.testing.assert_allclose(sol.informed, (r - a) / (c + r), atol=1e-6)


def test_spec_rejects_inconsistent_declarations() -> None:
    with pytest.raises(ConfigError, match="not parameters of its map"):
        ModelSpec("x", "", SI2_MAP, SI2_ODE, params=("alpha", "gamma"), estimator=SI2Estimator)
    with pytest.raises(ConfigError, match="list them in params"):
        ModelSpec("x", "", SI2_MAP, SI2_ODE, params=("alpha",), estimator=SI2Estimator)
    with pytest.raises(ConfigError, match="starting values"):
        ModelSpec("x", "", SI2_MAP, SI2_ODE, params=("alpha", "beta"), curve_fit=True)
    with pytest.raises(ConfigError, match="neither"):
        ModelSpec("x", "", SI2_MAP, SI2_ODE, params=("alpha", "beta"))
    with pytest.raises(ConfigError, match=r"effective_curve_rates \['gamma'\]"):
        ModelSpec(
            "x",
            "",
            SI2_MAP,
            SI2_ODE,
            params=("alpha", "beta"),
            estimator=SI2Estimator,
            effective_curve_rates=("gamma",),
        )


def test_spec_of_takes_the_name_and_the_fitted_parameters_from_the_map() -> None:
    spec = ModelSpec.of(SI2_MAP, SI2_ODE, "si2 again", estimator=SI2Estimator)
    assert (spec.name, spec.description, spec.params) == ("si2", "si2 again", ("alpha", "beta"))
    assert spec.map is SI2_MAP and spec.ode is SI2_ODE and spec.estimator is SI2Estimator
    persona = get_model("si-persona")
    assert ModelSpec.of(persona.map, None, "", estimator=SI2Estimator).params == (
        "alpha_c",
        "beta_c",
    )
    with pytest.raises(ConfigError, match="starting values"):
        ModelSpec.of(SI2_MAP, SI2_ODE, "", curve_fit=True)


def test_specs_say_which_curve_rates_are_effective_and_which_maps_need_a_regular_graph() -> None:
    # The homogeneous mean fields leave out neighbour correlations: their online rates fitted
    # to curves are effective. The pair approximation's are per contact, on k-regular graphs.
    assert get_model("si").effective_curve_rates == ("beta",)
    assert get_model("si2").effective_curve_rates == ("beta",)
    assert get_model("si-groups2").effective_curve_rates == ("beta_1", "beta_2")
    assert get_model("pair").effective_curve_rates == ()
    assert [name for name, spec in MODELS.items() if spec.needs_regular] == ["pair"]


@pytest.fixture
def offline_only() -> Iterator[ModelSpec]:
    """A model added at run time: si2's map under another name, fitted to curves only."""
    spec = register_model(
        ModelSpec(
            name="si2-curves",
            description="si2 fitted to curves under another name",
            map=SI2_MAP,
            ode=SI2_ODE,
            params=("alpha", "beta"),
            curve_fit=True,
            starts=spread_starts({"alpha": 0.005, "beta": 0.05}),
        )
    )
    yield spec
    unregister_model(spec.name)


def test_a_registered_model_reaches_every_consumer(offline_only: ModelSpec) -> None:
    assert "si2-curves" in MODELS and "si2-curves" in CURVE_ESTIMATORS
    assert "si2-curves" not in ESTIMATORS
    curves = _curves(0.01, 0.05, 8, 5000, 25)
    _, curve_models = available_models(None, curves, 8)
    assert "si2-curves" in curve_models
    fitted = CurveEstimator("si2-curves", 8).fit(curves).result_
    reference = CurveEstimator("si2", 8).fit(curves).result_
    assert fitted.params == reference.params
    analysis = analyse(curves=curves, degree=8, models=["si2-curves"])
    assert [r.model for r in analysis.groups[0].results] == ["si2-curves"]
    with pytest.raises(ConfigError, match="already registered"):
        register_model(offline_only)
    with pytest.raises(ConfigError, match="built in"):
        unregister_model("si2")


def test_spread_starts_matches_the_documented_rule() -> None:
    base, low, high = spread_starts({"alpha": 0.005, "share_1": 0.5}, shares=("share_1",))
    assert base == {"alpha": 0.005, "share_1": 0.5}
    assert low == {"alpha": 0.005 * 0.3, "share_1": 0.5 * 0.6}
    assert high == {"alpha": 0.015, "share_1": 0.3}


def test_agent_data_prefers_what_the_spec_lists_first() -> None:
    rng = np.random.default_rng(5)
    table = _exposures(0.01, 0.06, rng)
    assert get_model("si-groups2").agent_data(table, None) is table
    assert get_model("si2").agent_data(table, None) is table
    with pytest.raises(ConfigError, match="curves only"):
        get_model("pair").make_estimator()


def test_estimators_follow_the_scikit_learn_contract() -> None:
    from spillover.exceptions import NotFittedError
    from spillover.fit import SIGroups2Estimator

    est = SI2Estimator(intervals=False)
    assert repr(est) == "SI2Estimator(intervals=False)"
    assert repr(SI2Estimator()) == "SI2Estimator()"
    assert repr(CurveEstimator("pair", 8)) == "CurveEstimator(model='pair', degree=8)"
    assert est.get_params() == {"intervals": False}
    assert est.set_params(intervals=True) is est and est.intervals is True
    with pytest.raises(ConfigError, match="unknown parameter 'degree'"):
        est.set_params(degree=3)
    with pytest.raises(NotFittedError, match="not fitted"):
        _ = est.theta_
    with pytest.raises(NotFittedError):
        est.predict(degree=8, i0=0.01, n_rounds=3)
    assert not hasattr(SIGroups2Estimator(), "result_")
    rng = np.random.default_rng(8)
    train, test = _exposures(0.01, 0.06, rng), _exposures(0.01, 0.06, rng)
    est.fit(train)
    assert est.score(test) == est.loglik(test) < 0
    curve = est.predict(degree=8, i0=0.01, n_rounds=10)
    expected = get_model("si2").predict(est.result_.params, degree=8, i0=0.01, n_rounds=10)
    np.testing.assert_array_equal(curve, expected)
    curves = _curves(0.01, 0.05, 8, 5000, 25)
    curve_est = CurveEstimator("si2", 8).fit(curves)
    assert curve_est.score(curves) == pytest.approx(curve_est.loglik_)
