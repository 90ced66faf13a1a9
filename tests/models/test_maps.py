"""Discrete maps: closed forms, invariants, equivalences between models, validation."""

from __future__ import annotations

import numpy as np
import pytest

from spillover.exceptions import ConfigError
from spillover.models import (
    GROUPS2_MAP,
    MAP_MODELS,
    PAIR_MAP,
    PERSONA_MAP,
    SI2_MAP,
    SI_MAP,
    MapModel,
    groups2_map,
    hazard_to_probability,
    iterate,
    map_curve,
    pair_map,
    pair_map_state,
    persona_map,
    probability_to_hazard,
    si2_map,
    si_map,
)

RATES = [(0.0, 0.05), (0.002, 0.05), (0.05, 0.3), (0.3, 1.0), (1.0, 0.2), (0.01, 0.0)]
DEGREES = [1, 2, 4, 8, 16]


def _edge_based_map(alpha: float, beta: float, k: int, i0: float, n_rounds: int) -> np.ndarray:
    """Message passing on a k-regular tree (exact for locally tree-like graphs, N -> inf).

    theta(t): probability that a given neighbour has not informed a susceptible agent by the
    end of round t. S(t) = (1 - i0)(1 - alpha)^t theta^k, and theta falls by beta times the
    probability that the neighbour is informed and has not yet informed the agent.
    """
    theta, out = 1.0, [i0]
    for t in range(n_rounds):
        neighbour_susceptible = (1 - i0) * (1 - alpha) ** t * theta ** (k - 1)
        theta -= beta * (theta - neighbour_susceptible)
        out.append(1 - (1 - i0) * (1 - alpha) ** (t + 1) * theta**k)
    return np.array(out)


# --- closed forms ------------------------------------------------------------------------------


@pytest.mark.parametrize("mapper", ["si2", "pair", "groups2", "persona"])
def test_offline_only_maps_have_the_geometric_closed_form(mapper: str) -> None:
    alpha, i0, n_rounds = 0.07, 0.01, 30
    expected = 1 - (1 - i0) * (1 - alpha) ** np.arange(n_rounds + 1)
    if mapper == "si2":
        got = si2_map(alpha, 0.0, 8, i0, n_rounds)
    elif mapper == "pair":
        got = pair_map(alpha, 0.0, 8, i0, n_rounds)
    elif mapper == "groups2":
        got = groups2_map(alpha, 0.0, 0.0, 0.3, 8, i0, n_rounds)
    else:
        got = persona_map([alpha] * 3, [0.0] * 3, [1, 2, 3], 8, i0, n_rounds).informed
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)


def test_si_map_is_si2_without_the_offline_channel() -> None:
    np.testing.assert_array_equal(si_map(0.07, 6, 0.01, 40), si2_map(0.0, 0.07, 6, 0.01, 40))


def test_si2_map_follows_its_equation() -> None:
    alpha, beta, k, i0 = 0.003, 0.06, 8, 0.005
    i = [i0]
    for _ in range(25):
        i.append(i[-1] + (1 - i[-1]) * (1 - (1 - alpha) * (1 - beta * i[-1]) ** k))
    np.testing.assert_allclose(si2_map(alpha, beta, k, i0, 25), i, rtol=1e-13)


def test_degree_one_pair_map_is_exact_on_a_perfect_matching() -> None:
    # k = 1: agents come in isolated pairs, whose three-state chain (SS, SI, II) is solved
    # exactly; the pair approximation has nothing to approximate there.
    alpha, beta, i0 = 0.02, 0.3, 0.1
    ss, si, ii = (1 - i0) ** 2, 2 * i0 * (1 - i0), i0**2
    expected = [si / 2 + ii]
    stay_alone, stay_exposed = 1 - alpha, (1 - alpha) * (1 - beta)
    for _ in range(20):
        ss, si, ii = (
            ss * stay_alone**2,
            ss * 2 * stay_alone * (1 - stay_alone) + si * stay_exposed,
            ss * (1 - stay_alone) ** 2 + si * (1 - stay_exposed) + ii,
        )
        expected.append(si / 2 + ii)
    np.testing.assert_allclose(pair_map(alpha, beta, 1, i0, 20), expected, rtol=1e-13)


# --- the pair map ------------------------------------------------------------------------------


@pytest.mark.parametrize("k", DEGREES)
@pytest.mark.parametrize(("alpha", "beta"), RATES)
def test_pair_map_conserves_edges(k: int, alpha: float, beta: float) -> None:
    s = pair_map_state(alpha, beta, k, 0.01, 80)
    np.testing.assert_allclose(k * s.susceptible, s.si_pairs + s.ss_pairs, rtol=1e-12, atol=1e-15)
    assert np.all(s.si_pairs >= 0) and np.all(s.ss_pairs >= 0)


@pytest.mark.parametrize("k", DEGREES)
@pytest.mark.parametrize(("alpha", "beta"), RATES)
def test_pair_map_equals_the_edge_based_message_passing_map(
    k: int, alpha: float, beta: float
) -> None:
    # docs/models.md proves the two recursions equal; this is the numerical check.
    np.testing.assert_allclose(
        pair_map(alpha, beta, k, 0.01, 80), _edge_based_map(alpha, beta, k, 0.01, 80), atol=1e-13
    )


def test_pair_map_initial_state_has_no_correlations() -> None:
    s = pair_map_state(0.01, 0.1, 8, 0.2, 0)
    assert s.susceptible.tolist() == [0.8]
    np.testing.assert_allclose(s.si_pairs, [8 * 0.8 * 0.2])
    np.testing.assert_allclose(s.ss_pairs, [8 * 0.8 * 0.8])


@pytest.mark.parametrize("k", [2, 4, 8, 16])
def test_pair_map_lags_the_homogeneous_map(k: int) -> None:
    pair = pair_map(0.001, 0.4 / k, k, 0.005, 60)
    homogeneous = si2_map(0.001, 0.4 / k, k, 0.005, 60)
    assert np.all(pair <= homogeneous + 1e-15)
    assert (homogeneous - pair).max() > 0.05


# --- equivalences between models ---------------------------------------------------------------


@pytest.mark.parametrize("share_1", [0.0, 0.3, 1.0])
def test_groups2_with_equal_betas_is_si2(share_1: float) -> None:
    np.testing.assert_allclose(
        groups2_map(0.004, 0.06, 0.06, share_1, 8, 0.01, 50),
        si2_map(0.004, 0.06, 8, 0.01, 50),
        rtol=1e-12,
        atol=1e-15,
    )


def test_groups2_with_an_empty_group_is_si2_of_the_other() -> None:
    np.testing.assert_allclose(
        groups2_map(0.004, 0.06, 0.9, 1.0, 8, 0.01, 50),
        si2_map(0.004, 0.06, 8, 0.01, 50),
        rtol=1e-12,
    )


def test_persona_map_with_identical_classes_is_si2() -> None:
    n = 32
    got = persona_map(np.full(n, 0.004), np.full(n, 0.06), np.arange(1, n + 1), 8, 0.01, 50)
    expected = si2_map(0.004, 0.06, 8, 0.01, 50)
    np.testing.assert_allclose(got.informed, expected, rtol=1e-12)
    np.testing.assert_allclose(
        got.informed_by_class, np.repeat(expected[:, None], n, 1), rtol=1e-12
    )


def test_persona_map_with_two_classes_is_groups2() -> None:
    got = persona_map([0.004, 0.004], [0.02, 0.1], [0.3, 0.7], 8, 0.01, 50)
    expected = groups2_map(0.004, 0.02, 0.1, 0.3, 8, 0.01, 50)
    np.testing.assert_allclose(got.informed, expected, rtol=1e-12)
    np.testing.assert_allclose(
        got.informed, got.informed_by_class @ np.array([0.3, 0.7]), rtol=1e-12
    )
    assert np.all(got.informed_by_class[1:, 1] >= got.informed_by_class[1:, 0])


def test_persona_weights_may_be_counts() -> None:
    a = persona_map([0.01, 0.0], [0.05, 0.2], [100, 300], 6, 0.02, 30)
    b = persona_map([0.01, 0.0], [0.05, 0.2], [0.25, 0.75], 6, 0.02, 30)
    np.testing.assert_allclose(a.informed, b.informed, rtol=1e-14)


# --- bounds, monotonicity, shapes --------------------------------------------------------------


def _random_curve(name: str, k: int, rng: np.random.Generator) -> tuple[float, np.ndarray]:
    alpha, beta, i0 = rng.uniform(0, 0.3), rng.uniform(0, 1), rng.uniform(1e-4, 0.5)
    if name == "si":
        return i0, si_map(beta, k, i0, 40)
    if name == "si2":
        return i0, si2_map(alpha, beta, k, i0, 40)
    if name == "si-groups2":
        return i0, groups2_map(alpha, beta, beta / 3, 0.4, k, i0, 40)
    if name == "si-persona":
        rates = rng.uniform(0, [[0.1], [1.0], [1.0]], (3, 5))
        return i0, persona_map(*rates, k, i0, 40).informed
    return i0, pair_map(alpha, beta, k, i0, 40)


@pytest.mark.parametrize("name", sorted(MAP_MODELS))
@pytest.mark.parametrize("k", [1, 3, 8, 16])
def test_every_map_is_a_monotone_fraction(name: str, k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(20):
        i0, curve = _random_curve(name, k, rng)
        assert curve.shape == (41,)
        assert curve[0] == pytest.approx(i0, abs=1e-15)
        assert np.all((curve >= 0) & (curve <= 1))
        assert np.all(np.diff(curve) >= -1e-15)


def test_maps_broadcast_over_parameter_arrays() -> None:
    alpha = np.array([0.0, 0.01])[:, None]
    beta = np.array([0.02, 0.05, 0.1])
    for fn in (si2_map, pair_map):
        batch = fn(alpha, beta, 8, 0.01, 30)
        assert batch.shape == (2, 3, 31)
        for a in range(2):
            for b in range(3):
                # Equal up to rounding: vectorised and scalar code may round differently.
                np.testing.assert_allclose(
                    batch[a, b], fn(float(alpha[a, 0]), float(beta[b]), 8, 0.01, 30), rtol=1e-14
                )
    assert si_map(0.05, [4, 8], [0.01, 0.02], 10).shape == (2, 11)


def test_outputs_are_read_only() -> None:
    arrays = [
        si_map(0.05, 8, 0.01, 5),
        si2_map(0.01, 0.05, 8, 0.01, 5),
        groups2_map(0.01, 0.05, 0.1, 0.5, 8, 0.01, 5),
        pair_map(0.01, 0.05, 8, 0.01, 5),
        *pair_map_state(0.01, 0.05, 8, 0.01, 5),
        *persona_map([0.01], [0.05], [1], 8, 0.01, 5),
        iterate(SI2_MAP, {"alpha": 0.01, "beta": 0.05, "degree": 8}, [0.01], 5),
    ]
    for arr in arrays:
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 0.5


def test_zero_rounds_gives_the_initial_fraction() -> None:
    assert pair_map(0.1, 0.1, 4, 0.25, 0).tolist() == [0.25]


def test_rates_of_one_do_not_warn() -> None:
    assert si2_map(1.0, 1.0, 4, 0.5, 3).tolist() == [0.5, 1.0, 1.0, 1.0]
    assert pair_map(0.0, 1.0, 1, 0.5, 2)[-1] == pytest.approx(0.75)


# --- the model seam ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(MAP_MODELS.values()), ids=list(MAP_MODELS))
def test_map_models_declare_names_bounds_and_equations(model: MapModel) -> None:
    assert model.param_names == tuple(p.name for p in model.parameters)
    assert set(model.bounds) == set(model.param_names)
    assert all(lo <= hi for lo, hi in model.bounds.values())
    assert "degree" in model.param_names
    assert model.equations and model.reference
    with pytest.raises(AttributeError):
        model.name = "other"  # type: ignore[misc]


def test_map_curve_and_iterate_agree_with_the_functions() -> None:
    params = {"alpha": 0.01, "beta": 0.05, "degree": 8}
    np.testing.assert_array_equal(
        map_curve(PAIR_MAP, params, 0.01, 20), pair_map(0.01, 0.05, 8, 0.01, 20)
    )
    states = iterate(PAIR_MAP, params, PAIR_MAP.initial_state(0.01, params), 20)
    assert states.shape == (21, 3)
    np.testing.assert_array_equal(
        PAIR_MAP.informed_fraction(states, params), pair_map(0.01, 0.05, 8, 0.01, 20)
    )
    p = {"alpha": 0.01, "beta_1": 0.05, "beta_2": 0.2, "share_1": 0.5, "degree": 8}
    assert iterate(GROUPS2_MAP, p, GROUPS2_MAP.initial_state(0.01, p), 3).shape == (4, 2)
    pp = {
        "alpha_c": [0.0] * 5,
        "beta_c": [0.1] * 5,
        "weight_by_class": [1] * 5,
        "degree": 4,
    }
    assert iterate(PERSONA_MAP, pp, PERSONA_MAP.initial_state(0.01, pp), 3).shape == (4, 5)


def test_map_models_are_listed_by_their_design_names() -> None:
    assert set(MAP_MODELS) == {
        "si",
        "si2",
        "si-groups2",
        "si-persona",
        "pair",
        "si-dose2",
        "si-dose",
        "si-dose-persona",
    }
    assert MAP_MODELS["si"] is SI_MAP


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: si2_map(-0.1, 0.05, 8, 0.01, 10),
            r"'alpha' must be finite and in \[0, 1\].*-0\.1",
        ),
        (lambda: si2_map(0.01, 1.5, 8, 0.01, 10), r"'beta'.*1\.5"),
        (lambda: si2_map(0.01, float("nan"), 8, 0.01, 10), r"'beta'.*nan"),
        (lambda: si2_map(0.01, [0.1, -1.0], 8, 0.01, 10), r"'beta'\[1\].*-1\.0"),
        (lambda: si_map(0.05, 0, 0.01, 10), r"'degree'.*\[1, inf\], a whole number.*0\.0"),
        (lambda: pair_map(0.01, 0.05, 2.5, 0.01, 10), r"'degree'.*whole number.*2\.5"),
        (lambda: pair_map(0.01, 0.05, 8, 0.0, 10), r"i0 must be.*\(0, 1\); got 0\.0"),
        (lambda: pair_map(0.01, 0.05, 8, 1.0, 10), r"i0 must be.*got 1\.0"),
        (lambda: pair_map(0.01, 0.05, 8, -0.2, 10), r"i0 must be.*got -0\.2"),
        (lambda: si2_map(0.01, 0.05, 8, 0.01, -1), r"n_rounds must be >= 0; got -1"),
        (lambda: si2_map(0.01, 0.05, 8, 0.01, 2.5), r"n_rounds must be an integer"),
        (lambda: si2_map(0.01, "x", 8, 0.01, 3), r"'beta' must be a number"),
        (lambda: si2_map(True, 0.05, 8, 0.01, 3), r"'alpha' must be a number"),
        (lambda: groups2_map(0.01, 0.05, 0.1, 1.2, 8, 0.01, 3), r"'share_1'.*1\.2"),
        (lambda: persona_map([0.1, 0.2], [0.1], [1, 1], 8, 0.01, 3), r"same number of classes"),
        (lambda: persona_map([0.1], [0.1], [0.0], 8, 0.01, 3), r"positive sum"),
        (lambda: persona_map([0.1], [0.1], [-1.0], 8, 0.01, 3), r"'weight_by_class'\[0\]"),
        (lambda: persona_map(0.1, [0.1], [1.0], 8, 0.01, 3), r"one value per class"),
        (lambda: SI2_MAP.validate({"alpha": 0.1, "beta": 0.1}), r"missing \['degree'\]"),
        (lambda: SI_MAP.validate({"beta": 0.1, "degree": 4, "gamma": 1}), r"unknown \['gamma'\]"),
        (lambda: iterate(SI2_MAP, {"alpha": 0, "beta": 0, "degree": 4}, [0.1, 0.2], 3), r"y0"),
    ],
)
def test_bad_parameters_raise_config_error_naming_them(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        call()


def test_error_names_the_model() -> None:
    with pytest.raises(ConfigError, match=r"^pair: parameter 'alpha'"):
        pair_map(2.0, 0.05, 8, 0.01, 10)


# --- rate conversions --------------------------------------------------------------------------


def test_hazard_and_probability_are_inverse() -> None:
    p = np.array([0.0, 1e-12, 0.001, 0.05, 0.5, 0.999])
    h = probability_to_hazard(p)
    np.testing.assert_allclose(h[2:], -np.log(1 - p[2:]), rtol=1e-12)
    assert h[1] == pytest.approx(1e-12, rel=1e-11)  # log1p keeps small rates exact
    np.testing.assert_allclose(hazard_to_probability(h), p, rtol=1e-12, atol=0)
    assert probability_to_hazard(1.0) == np.inf
    assert hazard_to_probability(np.inf) == 1.0
    assert hazard_to_probability(np.inf, dt=0.0) == 0.0
    # Hazards add across channels and scale with time: two rounds at p = 1 - (1 - p)^2.
    assert hazard_to_probability(probability_to_hazard(0.1), dt=2.0) == pytest.approx(0.19)


def test_rate_conversions_reject_impossible_values() -> None:
    with pytest.raises(ConfigError, match=r"p must be a probability in \[0, 1\]; got 1\.5"):
        probability_to_hazard([0.1, 1.5])
    with pytest.raises(ConfigError, match=r"h must be a hazard >= 0; got -1\.0"):
        hazard_to_probability(-1.0)
    with pytest.raises(ConfigError, match="dt"):
        hazard_to_probability(1.0, dt=-1.0)


def test_seeded_states_are_the_states_behind_map_curve() -> None:
    from spillover.models import MAP_MODELS, map_curve, seeded_states

    model = MAP_MODELS["pair"]
    params = {"alpha": 0.01, "beta": 0.05, "degree": 8}
    p, states = seeded_states(model, params, 0.01, 20)
    assert states.shape == (21, 3) and not states.flags.writeable
    assert set(p) == set(params) and float(p["degree"]) == 8.0
    np.testing.assert_array_equal(model.observe(states, p), map_curve(model, params, 0.01, 20))
    # Checked in order: parameters, then n_rounds, then i0.
    with pytest.raises(ConfigError, match="beta"):
        seeded_states(model, {**params, "beta": 2.0}, 0.0, -1)
    with pytest.raises(ConfigError, match="n_rounds"):
        seeded_states(model, params, 0.0, -1)
    with pytest.raises(ConfigError, match="i0"):
        seeded_states(model, params, 0.0, 5)
