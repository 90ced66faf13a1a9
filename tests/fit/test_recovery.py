"""Validation of the agent-level estimators on data simulated by the engine.

Recovery of known rates (several seeds), coverage of the 95 % intervals, and model selection
picking the generating model. Marked slow: they run in CI, not in quick local loops.
"""

from __future__ import annotations

import numpy as np
import pytest

from spillover.engine import agent_histories, simulate
from spillover.fit import (
    SI2Estimator,
    SIGroups2Estimator,
    SIPersonaEstimator,
    fit_exposures,
    fit_trait_effects,
)
from spillover.graphs import random_regular
from spillover.policies import (
    ALPHA_EFFECTS,
    BETA_EFFECTS,
    ConstantPolicy,
    PersonaPolicy,
    default_persona_policy,
)
from spillover.selection import compare

pytestmark = pytest.mark.slow

TWO_GROUPS = PersonaPolicy(
    np.full(32, 0.002), np.where(np.arange(32) >= 16, 0.15, 0.03)
)  # group 1 = high openness (personas 16-31), share 0.5


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_si2_recovery_on_engine_runs(seed: int) -> None:
    graph = random_regular(5000, 8, rng=seed)
    result = simulate(
        graph, ConstantPolicy(0.004, 0.06), n_rounds=60, n_reps=4, n_seeds=5, rng=seed
    )
    est = SI2Estimator().fit(result.exposures)
    for name, true in (("alpha", 0.004), ("beta", 0.06)):
        assert abs(est.theta_[name] - true) < 3 * est.stderr_[name]  # type: ignore[operator]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_si_groups2_recovery_from_agent_histories(seed: int) -> None:
    graph = random_regular(20_000, 8, rng=seed)
    result = simulate(graph, TWO_GROUPS, n_rounds=60, n_reps=5, n_seeds=20, rng=seed)
    est = SIGroups2Estimator().fit(agent_histories(graph, result))
    assert est.result_.status == "converged"
    truth = {"alpha": 0.002, "beta_1": 0.15, "beta_2": 0.03, "share_1": 0.5}
    for name, true in truth.items():
        assert abs(est.theta_[name] - true) < 3 * est.stderr_[name], (name, est.theta_)  # type: ignore[operator]


def test_si_groups2_from_exposures_alone_is_labelled_approximate() -> None:
    graph = random_regular(5000, 8, rng=4)
    result = simulate(graph, TWO_GROUPS, n_rounds=60, n_reps=3, n_seeds=10, rng=4)
    res = SIGroups2Estimator().fit(result.exposures).result_
    assert "approximate" in res.message
    assert res.params["beta_1"] > res.params["beta_2"]  # type: ignore[operator]


def test_si_persona_recovers_each_persona() -> None:
    policy = default_persona_policy()
    graph = random_regular(32_000, 8, rng=5)
    result = simulate(graph, policy, n_rounds=80, n_reps=4, n_seeds=20, rng=5)
    est = SIPersonaEstimator().fit(result.exposures)
    for key, truth in (("alpha_c", policy.alpha_by_persona), ("beta_c", policy.beta_by_persona)):
        z = (np.asarray(est.theta_[key]) - truth) / np.asarray(est.stderr_[key])
        # 32 estimates per channel: at most one beyond 3 standard errors
        assert np.sum(np.abs(z) > 3) <= 1, (key, np.round(z, 2))
        low, high = np.asarray(est.result_.ci_low[key]), np.asarray(est.result_.ci_high[key])
        assert np.mean((low <= truth) & (truth <= high)) >= 0.85


def test_trait_effects_recover_the_default_policy() -> None:
    graph = random_regular(32_000, 8, rng=6)
    result = simulate(graph, default_persona_policy(), n_rounds=80, n_reps=4, n_seeds=20, rng=6)
    traits = fit_trait_effects(result.exposures)
    for i, effects in enumerate((ALPHA_EFFECTS, BETA_EFFECTS)):
        z = (traits.coef[i, 1:] - np.asarray(effects)) / traits.stderr[i, 1:]
        assert np.all(np.abs(z) < 3), (i, np.round(z, 2))


def test_coverage_of_profile_intervals_is_near_nominal() -> None:
    graph = random_regular(300, 6, rng=0)
    alpha, beta = 0.01, 0.08
    hits = {"alpha": 0, "beta": 0}
    n_sets = 300
    for seed in range(n_sets):
        result = simulate(
            graph, ConstantPolicy(alpha, beta), n_rounds=25, n_reps=1, n_seeds=2, rng=1000 + seed
        )
        res = SI2Estimator().fit(result.exposures).result_
        for name, true in (("alpha", alpha), ("beta", beta)):
            hits[name] += res.ci_low[name] <= true <= res.ci_high[name]  # type: ignore[operator]
    for name, count in hits.items():
        coverage = count / n_sets
        # nominal 0.95; with 300 sets the sampling sd of the coverage is about 0.013
        assert 0.92 <= coverage <= 0.98, (name, coverage)


GENERATORS = {
    "si": ConstantPolicy(0.0, 0.08),
    "si2": ConstantPolicy(0.004, 0.06),
    "si-groups2": TWO_GROUPS,
}


@pytest.mark.parametrize("truth", sorted(GENERATORS))
def test_selection_picks_the_generating_model(truth: str) -> None:
    # BIC names the best model by default; AIC is recorded for docs/fitting.md.
    trials = 12
    correct = {"bic": 0, "aic": 0}
    for trial in range(trials):
        graph = random_regular(4000, 8, rng=100 + trial)
        result = simulate(
            graph, GENERATORS[truth], n_rounds=60, n_reps=3, n_seeds=8, rng=200 + trial
        )
        fits = fit_exposures(result.exposures, ("si", "si2"))
        fits.append(SIGroups2Estimator().fit(agent_histories(graph, result)).result_)
        for criterion in correct:
            correct[criterion] += compare(fits, criterion=criterion)[0].model == truth  # type: ignore[arg-type]
    assert correct["bic"] >= trials - 1, f"{truth}: BIC picked it in {correct}"
    assert correct["aic"] >= trials - 3, f"{truth}: AIC picked it in {correct}"


def test_event_type_effects_recover_the_default_multipliers() -> None:
    from spillover.io import example_events
    from spillover.policies import DEFAULT_EVENT_MULTIPLIERS
    from spillover.trajectories import ExposureTable

    events = {e.event_id: e for e in example_events()}
    graph = random_regular(20_000, 8, rng=7)
    tables, labels = [], []
    for i, event_id in enumerate(("VEL0001", "ARV0003", "SOL0003")):  # battles, riots, strategic
        event = events[event_id]
        result = simulate(
            graph,
            default_persona_policy(),
            event=event,
            n_rounds=80,
            n_reps=3,
            n_seeds=20,
            rng=10 + i,
        )
        tables.append(result.exposures)
        labels.append(np.full(len(result.exposures), event.event_type, dtype=object))
    pooled = ExposureTable(
        **{
            name: np.concatenate([t.columns()[name] for t in tables])
            for name in tables[0].columns()
        }
    )
    effects = fit_trait_effects(pooled, event_types=np.concatenate(labels))
    assert effects.reference_event == "Battles"
    ref = DEFAULT_EVENT_MULTIPLIERS["Battles"]
    for label in ("Riots", "Strategic developments"):
        j = effects.terms.index(f"event: {label}")
        for i in range(2):  # alpha, beta: the multipliers scale hazards, so log ratios are exact
            truth = np.log(DEFAULT_EVENT_MULTIPLIERS[label][i] / ref[i])
            z = (effects.coef[i, j] - truth) / effects.stderr[i, j]
            assert abs(z) < 3, (label, i, effects.coef[i, j], truth)
    # the trait effects are still recovered from the pooled table
    z = (effects.coef[1, 1:6] - np.asarray(BETA_EFFECTS)) / effects.stderr[1, 1:6]
    assert np.all(np.abs(z) < 3)
