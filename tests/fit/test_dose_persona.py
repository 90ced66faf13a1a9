"""si-dose-persona as a registry entry: names from the run, a per-class dose map, recovery."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from spillover.exceptions import ConfigError
from spillover.fit import (
    DOSE_PERSONA_SPEC,
    DataParams,
    ModelSpec,
    SIDosePersonaEstimator,
    dose_persona_levels,
    get_model,
)
from spillover.models import DOSE_PERSONA_MAP, DOSE_PERSONA_ODE, SI2_MAP, SI2_ODE
from spillover.personas import N_PERSONAS
from spillover.trajectories import ExposureTable

#: Known per-(persona, m) rates of the generator: alpha_c and a saturating online part.
ALPHA = np.array([0.004, 0.012, 0.008, 0.02])
ONLINE_MAX = np.array([0.30, 0.12, 0.45, 0.20])


def _true_p(persona: np.ndarray, m: np.ndarray) -> np.ndarray:
    """p(c, m) = 1 - (1 - alpha_c)(1 - online_c(m)), online_c(m) = max_c (1 - 0.6^m)."""
    online = ONLINE_MAX[persona] * (1.0 - 0.6 ** np.asarray(m, dtype=np.float64))
    return 1.0 - (1.0 - ALPHA[persona]) * (1.0 - online)


def _ring(n_nodes: int, degree: int) -> np.ndarray:
    """Neighbour lists of a ring lattice: each node linked to degree / 2 on each side."""
    offsets = np.concatenate([np.arange(1, degree // 2 + 1), -np.arange(1, degree // 2 + 1)])
    return (np.arange(n_nodes)[:, None] + offsets[None, :]) % n_nodes


def _simulate(seed: int, n_nodes: int = 4000, n_reps: int = 4, n_rounds: int = 14) -> ExposureTable:
    """An SI spread of our own (not the engine) on a ring lattice of degree 6 with 4 personas,
    tabulated as the engine does: one row per (replicate, round, persona, m) at risk."""
    rng = np.random.default_rng(seed)
    neighbours = _ring(n_nodes, 6)
    persona = rng.integers(0, ALPHA.size, n_nodes)
    rows: list[tuple[int, int, int, int, int, int]] = []
    for rep in range(n_reps):
        informed = np.zeros(n_nodes, dtype=bool)
        informed[rng.choice(n_nodes, 40, replace=False)] = True
        for t in range(1, n_rounds + 1):
            m = informed[neighbours].sum(axis=1)
            at_risk = ~informed
            shares = at_risk & (rng.random(n_nodes) < _true_p(persona, m))
            key = persona[at_risk] * 7 + m[at_risk]
            n = np.bincount(key, minlength=ALPHA.size * 7)
            s = np.bincount(persona[shares] * 7 + m[shares], minlength=ALPHA.size * 7)
            for k in np.flatnonzero(n):
                rows.append((rep, t, int(k // 7), int(k % 7), int(n[k]), int(s[k])))
            informed = informed | shares
    cols = np.array(rows, dtype=np.int64).T
    return ExposureTable(*cols)


@pytest.fixture(scope="module")
def table() -> ExposureTable:
    return _simulate(1)


def test_parameter_names_come_from_the_run(table: ExposureTable) -> None:
    spec = get_model("si-dose-persona")
    assert spec is DOSE_PERSONA_SPEC and spec.data_params is not None
    names = spec.params_for(table)
    assert names == ("alpha_c", *(f"online_{m}_c" for m in range(1, 6)), "online_6+_c")
    fit = spec.make_estimator().fit(table)
    assert tuple(fit.result_.params) == names
    assert all(len(v) == N_PERSONAS for v in fit.result_.params.values())
    # with buckets, one rate per bucket, named by it
    bucketed = spec.params_for(table, buckets="0,1,2,4")
    assert bucketed == ("alpha_c", "online_1_c", "online_2-3_c", "online_4+_c")
    assert tuple(spec.make_estimator(buckets="0,1,2,4").fit(table).result_.params) == bucketed
    # the other models' names are fixed: params_for needs no data
    assert get_model("si2").params_for() == ("alpha", "beta")
    with pytest.raises(ConfigError, match="names its parameters from the data"):
        spec.params_for()


def test_predictions_of_a_fitted_model_match_its_per_cell_rates(table: ExposureTable) -> None:
    spec = get_model("si-dose-persona")
    est = spec.make_estimator().fit(table)
    params = est.result_.params
    assert est.result_.status == "converged"
    # Per (persona, m) cell, the fitted rate is the cell's share frequency (the constraint is
    # slack for these data: the maximum is the saturated one).
    cells: dict[tuple[int, int], list[int]] = {}
    for c, m, n, s in zip(table.persona, table.n_exposed, table.at_risk, table.shared, strict=True):
        cell = cells.setdefault((int(c), int(m)), [0, 0])
        cell[0] += int(n)
        cell[1] += int(s)
    for (c, m), (n, s) in cells.items():
        online = 0.0 if m == 0 else params[f"online_{m if m < 6 else '6+'}_c"][c]
        p_fit = 1.0 - (1.0 - params["alpha_c"][c]) * (1.0 - online)
        assert p_fit == pytest.approx(s / n, rel=1e-9, abs=1e-15), (c, m)
    # The map's per-class dose rates are the fitted ones, count by count.
    weights = np.bincount(table.persona, minlength=N_PERSONAS).astype(float)
    rates = spec.map_rates(dict(params), weights)
    online_m_c = rates["online_m_c"]
    assert online_m_c.shape == (N_PERSONAS, 6)
    for c in range(ALPHA.size):
        expected = [params[f"online_{m}_c"][c] for m in (1, 2, 3, 4, 5)] + [
            params["online_6+_c"][c]
        ]
        np.testing.assert_array_equal(online_m_c[c], expected)
    # predict: one round of the map from i0 is the binomial mean of the per-cell rates.
    i0, k = 0.05, 6
    curve = spec.predict(params, degree=k, i0=i0, n_rounds=3, weights=weights)
    pm = binom.pmf(np.arange(k + 1), k, i0)
    w = weights / weights.sum()
    stay = 0.0
    for c in range(ALPHA.size):
        p_cm = [1.0 - (1.0 - params["alpha_c"][c])] + [
            1.0 - (1.0 - params["alpha_c"][c]) * (1.0 - online_m_c[c, m - 1]) for m in range(1, 7)
        ]
        stay += w[c] * (1.0 - i0) * float(pm @ (1.0 - np.array(p_cm)))
    assert curve[1] == pytest.approx(1.0 - stay, rel=1e-12)
    np.testing.assert_array_equal(est.predict(degree=k, i0=i0, n_rounds=3, weights=weights), curve)
    # ...and the ODE takes the hazards of the same rates.
    hazards = spec.ode_params(params, degree=k, weights=weights)
    np.testing.assert_allclose(hazards["g_m_c"], -np.log1p(-online_m_c))
    DOSE_PERSONA_ODE.validate(hazards)


@pytest.mark.slow
def test_known_per_persona_exposure_rates_are_recovered_within_intervals() -> None:
    inside = total = 0
    for seed in range(12):
        fit = SIDosePersonaEstimator().fit(_simulate(100 + seed)).result_
        assert fit.status == "converged", fit.message
        for name, values in fit.params.items():
            low, high = fit.ci_low[name], fit.ci_high[name]
            for c in range(ALPHA.size):
                if name == "alpha_c":
                    truth = ALPHA[c]
                else:
                    label = name.removeprefix("online_").removesuffix("_c").rstrip("+")
                    # the open level "6+" is m = 6: no node of the ring has more neighbours
                    truth = ONLINE_MAX[c] * (1.0 - 0.6 ** int(label))
                se = fit.stderr[name][c]  # type: ignore[index]
                assert abs(values[c] - truth) < 5 * se, (seed, name, c)  # type: ignore[index]
                inside += int(low[c] <= truth <= high[c])  # type: ignore[index]
                total += 1
    coverage = inside / total
    assert 0.90 <= coverage <= 0.99, coverage


def test_own_params_are_found_among_other_names_and_checked(table: ExposureTable) -> None:
    spec = get_model("si-dose-persona")
    params = dict(spec.make_estimator().fit(table).result_.params)
    mixed = {**params, "beta_c": params["alpha_c"], "online_m": (0.1,)}
    assert tuple(spec.own_params(mixed)) == tuple(params)
    assert dose_persona_levels(params).lower == (0, 1, 2, 3, 4, 5, 6)
    gap = {k: v for k, v in params.items() if k != "online_3_c"}
    with pytest.raises(ConfigError, match="not consecutive exposure levels"):
        spec.own_params(gap)
    with pytest.raises(ConfigError, match="alpha_c"):
        spec.own_params({"online_1+_c": params["online_1_c"]})
    with pytest.raises(ConfigError, match=r"unknown \['beta_c'"):
        spec.predict(mixed, degree=6, i0=0.01, n_rounds=2, weights=np.ones(N_PERSONAS))
    with pytest.raises(ConfigError, match="weights"):
        spec.predict(params, degree=6, i0=0.01, n_rounds=2)


def test_classes_without_estimates_are_left_out_or_refused() -> None:
    spec = get_model("si-dose-persona")
    nan = math.nan
    params = {
        "alpha_c": (0.01, 0.02, nan),
        "online_1_c": (0.1, nan, nan),  # class 1 never had one informed neighbour
        "online_2+_c": (0.2, 0.3, nan),
    }
    weights = np.array([1.0, 1.0, 0.0])  # class 2 has no agents
    rates = spec.map_rates(params, weights)
    np.testing.assert_array_equal(rates["alpha_c"], [0.01, 0.02, 0.0])
    # an unseen level takes the rate of the level below it (0 above level 0)
    np.testing.assert_array_equal(rates["online_m_c"], [[0.1, 0.2], [0.0, 0.3], [0.0, 0.0]])
    assert spec.predict(params, degree=4, i0=0.01, n_rounds=3, weights=weights).shape == (4,)
    with pytest.raises(ConfigError, match="alpha_c"):
        spec.predict(params, degree=4, i0=0.01, n_rounds=3, weights=np.ones(3))


def test_data_params_need_an_agent_level_spread_model() -> None:
    names = DataParams(names=lambda data: (), own=lambda p: (), to_map=lambda p, w: {})
    with pytest.raises(ConfigError, match="data_params"):
        ModelSpec(
            "x",
            "",
            SI2_MAP,
            SI2_ODE,
            params=("alpha", "beta"),
            curve_fit=True,
            starts=({"alpha": 0.01, "beta": 0.05},),
            data_params=names,
        )
    assert DOSE_PERSONA_MAP.name == DOSE_PERSONA_SPEC.name
