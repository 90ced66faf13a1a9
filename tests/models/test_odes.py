"""ODE models and the integration driver: closed forms, EoN's pairwise model, statuses, errors."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from spillover.exceptions import ConfigError, IntegrationError
from spillover.models import (
    GROUPS2_ODE,
    MAP_MODELS,
    METHODS,
    ODE_MODELS,
    PAIR_MAP,
    PAIR_ODE,
    PERSONA_ODE,
    SI2_MAP,
    SI2_ODE,
    SI_ODE,
    MapModel,
    OdeModel,
    Params,
    Solution,
    integrate,
    map_curve,
    probability_to_hazard,
)

T = np.linspace(0.0, 60.0, 241)


def _solve(model: OdeModel, params: dict[str, object], i0: float = 0.01, **kw: object) -> Solution:
    return integrate(model, params, model.initial_state(i0, params), T, **kw)  # type: ignore[arg-type]


def _bass(a: float, c: float, i0: float, t: np.ndarray) -> np.ndarray:
    """Solution of di/dt = (1 - i)(a + c i): (a + c i)/(1 - i) grows as exp((a + c) t)."""
    r = (a + c * i0) / (1 - i0) * np.exp((a + c) * t)
    return np.asarray((r - a) / (r + c))


# --- closed forms ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(METHODS))
def test_si_ode_is_the_logistic(method: str) -> None:
    b, k, i0 = 0.03, 8, 0.002
    sol = _solve(SI_ODE, {"b": b, "degree": k}, i0, method=method)
    assert sol.status == "success" and sol.success
    logistic = i0 * np.exp(k * b * T) / (1 - i0 + i0 * np.exp(k * b * T))
    np.testing.assert_allclose(sol.informed, logistic, atol=1e-6)
    np.testing.assert_array_equal(sol.t, T)


def test_si2_ode_is_the_bass_curve() -> None:
    a, b, k, i0 = 0.01, 0.05, 8, 0.005
    sol = _solve(SI2_ODE, {"a": a, "b": b, "degree": k}, i0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sol.informed, _bass(a, k * b, i0, T), atol=1e-8)


def test_offline_only_odes_decay_exponentially() -> None:
    a, i0 = 0.07, 0.01
    expected = 1 - (1 - i0) * np.exp(-a * T)
    for model, params in [
        (SI2_ODE, {"a": a, "b": 0.0, "degree": 8}),
        (PAIR_ODE, {"a": a, "b": 0.0, "degree": 8}),
        (GROUPS2_ODE, {"a": a, "b_1": 0.0, "b_2": 0.0, "share_1": 0.4, "degree": 8}),
        (
            PERSONA_ODE,
            {"a_c": [a, a], "b_c": [0, 0], "weight_by_class": [1, 3], "degree": 8},
        ),
    ]:
        np.testing.assert_allclose(_solve(model, params, i0).informed, expected, atol=1e-7)


# --- invariants and equivalences --------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 4, 8, 16])
@pytest.mark.parametrize(("a", "b"), [(0.0, 0.1), (0.01, 0.05), (0.2, 1.0)])
def test_pair_ode_conserves_edges_and_stays_a_fraction(k: int, a: float, b: float) -> None:
    sol = _solve(PAIR_ODE, {"a": a, "b": b, "degree": k})
    assert sol.status == "success"
    s, x, y = sol.y.T
    np.testing.assert_allclose(k * s, x + y, atol=1e-8)
    assert np.all((sol.informed >= -1e-9) & (sol.informed <= 1 + 1e-9))
    assert np.all(np.diff(sol.informed) >= -1e-9)


def test_pair_ode_lags_the_homogeneous_ode() -> None:
    params = {"a": 0.001, "b": 0.05, "degree": 8}
    pair, homogeneous = _solve(PAIR_ODE, params), _solve(SI2_ODE, params)
    assert np.all(pair.informed <= homogeneous.informed + 1e-8)
    assert (homogeneous.informed - pair.informed).max() > 0.05


def test_groups2_ode_with_equal_rates_is_si2() -> None:
    g = _solve(GROUPS2_ODE, {"a": 0.004, "b_1": 0.06, "b_2": 0.06, "share_1": 0.3, "degree": 8})
    s = _solve(SI2_ODE, {"a": 0.004, "b": 0.06, "degree": 8})
    np.testing.assert_allclose(g.informed, s.informed, atol=1e-7)


def test_persona_ode_with_identical_classes_is_si2() -> None:
    n = 32
    params = {
        "a_c": np.full(n, 0.004),
        "b_c": np.full(n, 0.06),
        "weight_by_class": np.arange(1.0, n + 1),
        "degree": 8,
    }
    p = _solve(PERSONA_ODE, params)
    assert p.y.shape == (T.size, n)
    s = _solve(SI2_ODE, {"a": 0.004, "b": 0.06, "degree": 8})
    np.testing.assert_allclose(p.informed, s.informed, atol=1e-7)


@pytest.mark.parametrize(("map_model", "ode_model"), [(SI2_MAP, SI2_ODE), (PAIR_MAP, PAIR_ODE)])
def test_maps_approach_the_odes_as_rounds_get_short(
    map_model: MapModel, ode_model: OdeModel
) -> None:
    # Rates divided by f and f times as many rounds: the same ODE, and the map's distance to it
    # shrinks like 1/f (first order in the per-round rates).
    errors = []
    for f in (2, 4, 8):
        alpha, beta, k = 0.004 / f, 0.08 / f, 8
        n_rounds = 60 * f
        hazards = {"a": probability_to_hazard(alpha), "b": probability_to_hazard(beta), "degree": k}
        t = np.arange(n_rounds + 1.0)
        sol = integrate(ode_model, hazards, ode_model.initial_state(0.01, hazards), t)
        curve = map_curve(map_model, {"alpha": alpha, "beta": beta, "degree": k}, 0.01, n_rounds)
        errors.append(np.abs(sol.informed - curve).max())
    assert errors[2] < 0.05
    np.testing.assert_allclose(np.array(errors[1:]) / errors[:-1], 0.5, atol=0.05)


@pytest.mark.parametrize(("k", "a", "b"), [(3, 0.0, 0.3), (8, 0.01, 0.05), (16, 0.2, 0.5)])
def test_pair_ode_equals_the_edge_based_model(k: int, a: float, b: float) -> None:
    # Edge-based compartmental model (Miller & Volz), exact for SI on configuration-model
    # k-regular graphs: theta' = -b (theta - S0 e^{-a t} theta^(k-1)), S = S0 e^{-a t} theta^k.
    from scipy.integrate import solve_ivp

    i0 = 0.01
    s0 = 1 - i0
    ebcm = solve_ivp(
        lambda t, th: -b * (th - s0 * np.exp(-a * t) * th ** (k - 1)),
        (T[0], T[-1]),
        [1.0],
        t_eval=T,
        rtol=1e-11,
        atol=1e-13,
    )
    expected = 1 - s0 * np.exp(-a * T) * ebcm.y[0] ** k
    params = {"a": a, "b": b, "degree": k}
    sol = _solve(PAIR_ODE, params, i0, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(sol.informed, expected, atol=1e-8)


# --- EoN's pairwise model (Kiss, Miller & Simon 2017, system 4.11) -----------------------------


def _eon_pairwise(
    n_nodes: float, k: int, b: float, i0: float, tmax: float, tcount: int
) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        # EoN's sources have invalid escape sequences, a SyntaxWarning when first compiled.
        warnings.simplefilter("ignore")
        import EoN  # type: ignore[import-untyped]

        s0 = n_nodes * (1 - i0)
        si0 = k * s0 * i0  # S-I edges (EoN counts counts, not per-node densities)
        ss0 = k * s0 * (1 - i0)  # [SS] counts each S-S edge twice, as here
        t, _, informed, _ = EoN.SIR_homogeneous_pairwise(
            s0, n_nodes - s0, 0.0, si0, ss0, k, b, 0.0, tmin=0.0, tmax=tmax, tcount=tcount
        )
    return np.asarray(t), np.asarray(informed) / n_nodes


@pytest.mark.parametrize(("k", "b", "i0"), [(3, 0.3, 0.01), (6, 0.2, 0.01), (16, 0.05, 0.001)])
def test_pair_ode_agrees_with_eon_pairwise_model(k: int, b: float, i0: float) -> None:
    t, eon_informed = _eon_pairwise(10_000.0, k, b, i0, tmax=60.0, tcount=601)
    params = {"a": 0.0, "b": b, "degree": k}
    sol = integrate(PAIR_ODE, params, PAIR_ODE.initial_state(i0, params), t)
    assert sol.status == "success"
    err = np.abs(sol.informed - eon_informed).max()
    print(f"k={k} b={b} i0={i0}: max |pair ODE - EoN pairwise| = {err:.2e}")
    assert err < 1e-6
    assert eon_informed[-1] > 0.99  # a real comparison: the curve went all the way


# --- the driver: statuses ---------------------------------------------------------------------


def _blow_up_model() -> OdeModel:
    def rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
        return y**2  # y = 1 / (1 - t): infinite at t = 1

    return OdeModel(
        name="blow-up",
        state_names=("y",),
        parameters=(),
        start=lambda i0, p: i0[..., None],
        observe=lambda states, p: states[..., 0],
        equations="dy/dt = y^2",
        reference="",
        check=None,
        per_class_state=False,
        rhs=rhs,
    )


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_solution_that_blows_up_is_reported_not_raised(method: str) -> None:
    t = np.linspace(0.0, 2.0, 9)
    sol = integrate(_blow_up_model(), {}, [1.0], t, method=method)
    assert sol.status == "failed" and not sol.success
    assert sol.message
    # The points before the blow-up are kept, and are right.
    assert 1 <= sol.t.size < t.size
    early = sol.t < 0.9
    np.testing.assert_allclose(sol.y[early, 0], 1 / (1 - sol.t[early]), rtol=1e-5)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_absurd_rates_give_a_failed_status(method: str) -> None:
    params = {"a": 1e300, "b": 1e300, "degree": 8}
    sol = integrate(PAIR_ODE, params, PAIR_ODE.initial_state(0.01, params), T, method=method)
    assert sol.status == "failed"
    assert sol.t[0] == 0.0 and sol.y.shape == (sol.t.size, 3)


def test_step_budget_stops_with_the_points_reached() -> None:
    params = {"a": 0.0, "b": 0.05, "degree": 8}
    y0 = PAIR_ODE.initial_state(0.01, params)
    sol = integrate(PAIR_ODE, params, y0, T, max_steps=20, method="RK45")
    assert sol.status == "failed"
    assert "max_steps = 20" in sol.message
    assert sol.n_steps == 20 and sol.n_evaluations > 20
    full = integrate(PAIR_ODE, params, y0, T, method="RK45")
    assert full.n_steps > 20 and full.status == "success"
    np.testing.assert_allclose(sol.informed, full.informed[: sol.t.size], atol=1e-6)


def test_max_step_is_honoured() -> None:
    params = {"b": 0.05, "degree": 8}
    sol = _solve(SI_ODE, params, max_step=0.5)
    assert sol.status == "success" and sol.n_steps >= 120


def test_an_error_inside_a_models_rhs_propagates() -> None:
    def rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
        raise KeyError("a bug in the model")

    broken = dataclasses.replace(_blow_up_model(), rhs=rhs)
    with pytest.raises(KeyError, match="a bug in the model"):
        integrate(broken, {}, [1.0], [0.0, 1.0])


def test_a_single_time_returns_the_initial_state() -> None:
    sol = integrate(SI_ODE, {"b": 0.1, "degree": 4}, [0.3], [5.0])
    assert sol.status == "success"
    assert sol.t.tolist() == [5.0] and sol.y.tolist() == [[0.3]] and sol.informed.tolist() == [0.3]


def test_solution_is_frozen_and_read_only() -> None:
    sol = _solve(SI2_ODE, {"a": 0.01, "b": 0.05, "degree": 8})
    assert sol.state_names == ("informed",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sol.status = "failed"  # type: ignore[misc]
    for arr in (sol.t, sol.y, sol.informed):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1.0


def test_ode_models_are_listed_by_their_design_names() -> None:
    assert set(ODE_MODELS) == {
        "si",
        "si2",
        "si-groups2",
        "si-persona",
        "pair",
        "si-dose2",
        "si-dose",
        "si-dose-persona",
    }
    for model in ODE_MODELS.values():
        assert model.equations and model.reference
        assert all(lo >= 0 for lo, _ in model.bounds.values())


# --- the driver: errors -----------------------------------------------------------------------


PAIR = {"a": 0.01, "b": 0.05, "degree": 8}
Y0 = [0.99, 0.0792, 7.8408]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (
            {"a": -0.1, "b": 0.05, "degree": 8},
            r"pair: parameter 'a' must be finite and in \[0, inf\]",
        ),
        ({"a": 0.01, "b": float("inf"), "degree": 8}, r"'b'.*got inf"),
        ({"a": 0.01, "b": 0.05, "degree": 0}, r"'degree'.*got 0\.0"),
        ({"a": 0.01, "b": 0.05, "degree": 4.5}, r"'degree'.*whole number"),
        ({"a": 0.01, "b": 0.05}, r"missing \['degree'\]"),
        ({"a": [0.01, 0.02], "b": 0.05, "degree": 8}, r"'a' must be a scalar for integrate"),
    ],
)
def test_bad_parameters_raise_config_error(params: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        integrate(PAIR_ODE, params, Y0, T)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y0": [0.99, 0.0792]}, r"y0 must be a finite array of shape \(3,\)"),
        ({"y0": [np.nan, 0.0, 0.0]}, r"y0 must be a finite"),
        ({"t_eval": [0.0, 2.0, 1.0]}, r"strictly increasing"),
        ({"t_eval": []}, r"non-empty"),
        ({"t_eval": [[0.0, 1.0]]}, r"1-d"),
        ({"method": "Euler"}, r"method must be one of"),
        ({"rtol": 0.0}, r"rtol must be a positive number"),
        ({"rtol": 1e-16}, r"rtol must be >= 1e-13"),
        ({"atol": -1.0}, r"atol must be a positive number"),
        ({"max_step": 0.0}, r"max_step"),
        ({"max_steps": 0}, r"max_steps must be an integer >= 1"),
    ],
)
def test_bad_input_raises_integration_error(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"y0": Y0, "t_eval": T, **kwargs}
    with pytest.raises(IntegrationError, match=match):
        integrate(PAIR_ODE, PAIR, **args)  # type: ignore[arg-type]


def test_a_map_model_cannot_be_integrated() -> None:
    with pytest.raises(IntegrationError, match="OdeModel"):
        integrate(SI2_MAP, {"alpha": 0.1, "beta": 0.1, "degree": 4}, [0.1], T)  # type: ignore[arg-type]


def test_initial_state_rejects_bad_i0() -> None:
    for i0 in (0.0, 1.0, 1.5, -0.1, float("nan")):
        with pytest.raises(ConfigError, match="i0 must be"):
            PAIR_ODE.initial_state(i0, PAIR)


# --- declaring an ODE on a map's states -------------------------------------------------------


def test_on_states_of_takes_the_map_states_and_not_its_check() -> None:
    persona = MAP_MODELS["si-persona"]
    assert persona.check is not None

    def rhs(t: float, y: np.ndarray, p: Params) -> np.ndarray:
        return -y

    ode = OdeModel.on_states_of(persona, parameters=(), equations="dy/dt = -y", rhs=rhs)
    for field in ("name", "state_names", "start", "observe", "per_class_state", "reference"):
        assert getattr(ode, field) == getattr(persona, field)
    assert ode.check is None and ode.rhs is rhs and ode.parameters == ()
    start = ODE_MODELS["si-persona"].start
    other = OdeModel.on_states_of(
        persona, parameters=(), equations="", rhs=rhs, reference="R", start=start
    )
    assert other.reference == "R" and other.start is start
    for name, map_model in MAP_MODELS.items():
        for field in ("state_names", "observe", "per_class_state"):
            assert getattr(ODE_MODELS[name], field) == getattr(map_model, field)


def test_model_fields_are_keywords_with_defaults_for_check_and_per_class_state() -> None:
    model = _blow_up_model()
    with pytest.raises(TypeError):
        OdeModel(*(getattr(model, f.name) for f in dataclasses.fields(model)))  # type: ignore[misc]
    short = OdeModel(
        name="y",
        state_names=("y",),
        parameters=(),
        start=model.start,
        observe=model.observe,
        equations="",
        reference="",
        rhs=model.rhs,
    )
    assert short.check is None and short.per_class_state is False
