"""Dose-response maps and ODEs: closed forms, nesting of si2, batches, bad parameters."""

from __future__ import annotations

import numpy as np
import pytest

from spillover.exceptions import ConfigError
from spillover.models import (
    DOSE2_MAP,
    DOSE2_ODE,
    DOSE_MAP,
    DOSE_ODE,
    DOSE_PERSONA_MAP,
    DOSE_PERSONA_ODE,
    PERSONA_ODE,
    SI2_ODE,
    exposure_weights,
    integrate,
    map_curve,
    persona_map,
    si2_map,
)


def _dose2_closed_form(alpha: float, first: float, further: float, k: int, i: float) -> float:
    """One round of si-dose2 from the binomial sum in closed form (q = 1 - beta_further)."""
    q = 1.0 - further
    none = (1.0 - i) ** k
    stay = (1.0 - alpha) * (none + (1.0 - first) * ((1.0 - i + i * q) ** k - none) / q)
    return i + (1.0 - i) * (1.0 - stay)


@pytest.mark.parametrize("k", [1, 3, 8, 20])
def test_dose2_map_step_is_the_closed_form_of_the_binomial_mean(k: int) -> None:
    alpha, first, further = 0.02, 0.3, 0.05
    curve = map_curve(
        DOSE2_MAP,
        {"alpha": alpha, "beta_first": first, "beta_further": further, "degree": k},
        0.05,
        3,
    )
    i = 0.05
    for t in range(1, 4):
        i = _dose2_closed_form(alpha, first, further, k, i)
        assert curve[t] == pytest.approx(i, rel=1e-12)


def test_exposure_weights_are_binomial_and_sum_to_one() -> None:
    w = exposure_weights(np.array([0.1, 0.5]), np.array([4, 2]))
    assert w.shape == (2, 5)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0)
    assert w[1, 3:].tolist() == [0.0, 0.0]  # k = 2 has no m >= 3
    assert w[0, 1] == pytest.approx(4 * 0.1 * 0.9**3)


def test_dose_maps_nest_si2_in_batches() -> None:
    alpha = np.array([0.001, 0.01])
    beta, k = 0.05, 5
    si2 = si2_map(alpha, beta, k, 0.02, 25)
    dose2 = map_curve(
        DOSE2_MAP,
        {"alpha": alpha, "beta_first": beta, "beta_further": beta, "degree": k},
        0.02,
        25,
    )
    online = 1 - (1 - beta) ** np.arange(1, k + 1)
    dose = map_curve(DOSE_MAP, {"alpha": alpha, "online_m": online, "degree": k}, 0.02, 25)
    assert dose2.shape == dose.shape == (2, 26)
    np.testing.assert_allclose(dose2, si2, atol=1e-13)
    np.testing.assert_allclose(dose, si2, atol=1e-13)


def test_the_last_online_rate_holds_for_larger_exposures() -> None:
    # online_m = (0.2,) for every m >= 1 is si-dose2 with beta_further = 0.
    a = map_curve(DOSE_MAP, {"alpha": 0.01, "online_m": [0.2], "degree": 6}, 0.01, 20)
    b = map_curve(
        DOSE2_MAP, {"alpha": 0.01, "beta_first": 0.2, "beta_further": 0.0, "degree": 6}, 0.01, 20
    )
    np.testing.assert_allclose(a, b, atol=1e-13)


def test_dose_odes_nest_si2() -> None:
    t = np.arange(21.0)
    si2 = integrate(SI2_ODE, {"a": 0.01, "b": 0.07, "degree": 8}, [0.01], t)
    dose2 = integrate(
        DOSE2_ODE, {"a": 0.01, "b_first": 0.07, "b_further": 0.07, "degree": 8}, [0.01], t
    )
    dose = integrate(DOSE_ODE, {"a": 0.01, "g_m": 0.07 * np.arange(1, 9), "degree": 8}, [0.01], t)
    assert si2.success and dose2.success and dose.success
    np.testing.assert_allclose(dose2.informed, si2.informed, atol=1e-7)
    np.testing.assert_allclose(dose.informed, si2.informed, atol=1e-7)


def test_bad_dose_parameters_are_named() -> None:
    with pytest.raises(ConfigError, match="beta_first"):
        map_curve(
            DOSE2_MAP,
            {"alpha": 0.01, "beta_first": 1.5, "beta_further": 0.1, "degree": 4},
            0.01,
            5,
        )
    with pytest.raises(ConfigError, match="online_m"):
        map_curve(DOSE_MAP, {"alpha": 0.01, "online_m": 0.1, "degree": 4}, 0.01, 5)


# --- si-dose-persona: si-dose per class -------------------------------------------------------


def test_dose_persona_map_with_identical_classes_is_si_dose() -> None:
    online = np.array([0.05, 0.08, 0.1])
    pooled = map_curve(DOSE_MAP, {"alpha": 0.01, "online_m": online, "degree": 6}, 0.02, 25)
    per_class = map_curve(
        DOSE_PERSONA_MAP,
        {
            "alpha_c": np.full(4, 0.01),
            "online_m_c": np.tile(online, (4, 1)),
            "weight_by_class": [1, 2, 3, 4],
            "degree": 6,
        },
        0.02,
        25,
    )
    np.testing.assert_allclose(per_class, pooled, rtol=1e-12)


def test_dose_persona_map_and_ode_nest_si_persona() -> None:
    # online_m_c[c, m] = 1 - (1 - beta_c)^m for every m <= k is si-persona's rule.
    rng = np.random.default_rng(2)
    k, n = 5, 6
    alpha, beta = rng.uniform(0, 0.02, n), rng.uniform(0.01, 0.2, n)
    weights = rng.integers(1, 5, n).astype(float)
    m = np.arange(1, k + 1)
    online = 1.0 - (1.0 - beta[:, None]) ** m
    params = {"alpha_c": alpha, "online_m_c": online, "weight_by_class": weights, "degree": k}
    expected = persona_map(alpha, beta, weights, k, 0.01, 30).informed
    np.testing.assert_allclose(map_curve(DOSE_PERSONA_MAP, params, 0.01, 30), expected, rtol=1e-11)
    a, b = -np.log1p(-alpha), -np.log1p(-beta)
    hazards = {"a_c": a, "g_m_c": b[:, None] * m, "weight_by_class": weights, "degree": k}
    t = np.arange(31.0)
    got = integrate(DOSE_PERSONA_ODE, hazards, DOSE_PERSONA_ODE.initial_state(0.01, hazards), t)
    plain = {"a_c": a, "b_c": b, "weight_by_class": weights, "degree": k}
    ref = integrate(PERSONA_ODE, plain, PERSONA_ODE.initial_state(0.01, plain), t)
    assert got.success and ref.success
    np.testing.assert_allclose(got.informed, ref.informed, atol=1e-7)


def test_dose_persona_map_batches_draws_over_classes() -> None:
    # Draws on a batch axis, classes and exposures on the last two (as forecasts give them).
    online = np.array([[[0.1, 0.2]], [[0.2, 0.3]]])  # (2 draws, 1 class, M = 2)
    params = {
        "alpha_c": np.array([[0.01], [0.02]]),
        "online_m_c": online,
        "weight_by_class": [1.0],
        "degree": 4,
    }
    batch = map_curve(DOSE_PERSONA_MAP, params, 0.05, 10)
    assert batch.shape == (2, 11)
    one = map_curve(
        DOSE_PERSONA_MAP,
        {"alpha_c": [0.02], "online_m_c": [[0.2, 0.3]], "weight_by_class": [1.0], "degree": 4},
        0.05,
        10,
    )
    np.testing.assert_allclose(batch[1], one, rtol=1e-13)


@pytest.mark.parametrize(
    ("online", "weights", "match"),
    [
        ([0.1, 0.2], [1.0], "one value per class and exposure count"),
        ([[0.1, 0.2], [0.1, 0.2]], [1.0], "same number of classes"),
        ([[0.1, 0.2]], [0.0], "positive sum"),
    ],
)
def test_dose_persona_map_refuses_bad_shapes(
    online: list[object], weights: list[float], match: str
) -> None:
    params = {"alpha_c": [0.01], "online_m_c": online, "weight_by_class": weights, "degree": 4}
    with pytest.raises(ConfigError, match=match):
        map_curve(DOSE_PERSONA_MAP, params, 0.05, 3)
