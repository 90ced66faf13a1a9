"""The Policy seam: every implementation runs the same contract checks."""

from __future__ import annotations

import numpy as np
import pytest

from spillover.events import Event
from spillover.exceptions import ConfigError, PolicyError
from spillover.io import example_events
from spillover.personas import PERSONAS, trait_matrix
from spillover.policies import (
    ALPHA_EFFECTS,
    BETA_EFFECTS,
    ConstantPolicy,
    ExposureBatch,
    PersonaPolicy,
    Policy,
    checked_probabilities,
    default_persona_policy,
    scale_hazard,
    share_probability,
)

POLICIES = {
    "constant": lambda: ConstantPolicy(0.01, 0.08),
    "constant-extremes": lambda: ConstantPolicy(1.0, 1.0),
    "persona": lambda: PersonaPolicy(
        np.linspace(0, 0.05, 32), np.linspace(0.2, 0.01, 32), {"Protests": (2.0, 0.5)}
    ),
    "default-persona": default_persona_policy,
}


@pytest.fixture(params=sorted(POLICIES))
def policy(request: pytest.FixtureRequest) -> Policy:
    return POLICIES[request.param]()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def events() -> tuple[Event, ...]:
    return example_events()


def _batch(n: int = 500, seed: int = 0) -> ExposureBatch:
    rng = np.random.default_rng(seed)
    return ExposureBatch(persona=rng.integers(0, 32, n), n_exposed=rng.integers(0, 40, n))


def test_contract_probabilities_in_range_and_shape(
    policy: Policy, events: tuple[Event, ...]
) -> None:
    batch = _batch()
    for event in (None, *events):
        p = checked_probabilities(policy, batch, event)
        assert p.shape == (len(batch),)


def test_contract_pure_and_batch_independent(policy: Policy, events: tuple[Event, ...]) -> None:
    batch = _batch()
    whole = policy.share_probability(batch, events[0])
    again = policy.share_probability(batch, events[0])
    np.testing.assert_array_equal(whole, again)
    half = ExposureBatch(persona=batch.persona[:250], n_exposed=batch.n_exposed[:250])
    np.testing.assert_array_equal(policy.share_probability(half, events[0]), whole[:250])


def test_contract_monotone_in_exposure(policy: Policy) -> None:
    m = np.arange(30)
    for c in (0, 13, 31):
        p = policy.share_probability(ExposureBatch(np.full(30, c), m), None)
        assert np.all(np.diff(p) >= 0)


def test_contract_describe_is_json(policy: Policy) -> None:
    import json

    assert json.loads(json.dumps(policy.describe()))["kind"]


def test_share_probability_formula_and_stability() -> None:
    m = np.arange(10)
    np.testing.assert_allclose(share_probability(0.1, 0.2, m), 1 - 0.9 * 0.8**m, rtol=1e-14)
    tiny = share_probability(1e-18, 1e-18, np.array([3]))
    assert tiny[0] == pytest.approx(4e-18, rel=1e-9)
    assert share_probability(0.0, 1.0, np.array([0]))[0] == 0.0
    assert share_probability(0.0, 1.0, np.array([1]))[0] == 1.0


def test_event_multipliers_scale_hazards(events: tuple[Event, ...]) -> None:
    protest = next(e for e in events if e.event_type == "Protests")
    battle = next(e for e in events if e.event_type == "Battles")
    pol = POLICIES["persona"]()
    a0, b0 = pol.rates_for(battle)  # type: ignore[attr-defined]
    a1, b1 = pol.rates_for(protest)  # type: ignore[attr-defined]
    np.testing.assert_allclose(1 - a1, (1 - a0) ** 2.0)
    np.testing.assert_allclose(1 - b1, (1 - b0) ** 0.5)
    np.testing.assert_allclose(scale_hazard(np.array([0.5]), 2.0), [0.75])


def test_default_policy_follows_its_documented_trait_effects() -> None:
    pol = default_persona_policy()
    traits = trait_matrix().astype(float)
    for effects, rates in (
        (BETA_EFFECTS, pol.beta_by_persona),
        (ALPHA_EFFECTS, pol.alpha_by_persona),
    ):
        hazard = -np.log1p(-rates)
        for j, effect in enumerate(effects):
            hi, lo = hazard[traits[:, j] == 1], hazard[traits[:, j] == 0]
            # personas differ only in trait j when their indices differ in bit 4 - j
            ratio = np.exp(np.mean(np.log(hi)) - np.mean(np.log(lo)))
            assert ratio == pytest.approx(np.exp(effect), rel=1e-9)
    extraverted = [p.index for p in PERSONAS if p.levels[2]]
    introverted = [p.index for p in PERSONAS if not p.levels[2]]
    assert pol.beta_by_persona[extraverted].mean() > pol.beta_by_persona[introverted].mean()


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: ConstantPolicy(-0.1, 0.1), r"alpha must be in \[0, 1\]"),
        (lambda: ConstantPolicy(0.1, float("nan")), r"beta must be in \[0, 1\]"),
        (lambda: ConstantPolicy("a", 0.1), "alpha must be a number"),  # type: ignore[arg-type]
        (lambda: PersonaPolicy(np.zeros(31), np.zeros(32)), "32 values"),
        (lambda: PersonaPolicy(np.zeros(32), np.full(32, 2.0)), r"beta_by_persona\[0\]"),
        (lambda: PersonaPolicy(np.zeros(32), np.zeros(32), {"Riots": (1.0, -1.0)}), ">= 0"),
    ],
)
def test_bad_parameters(build: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build()  # type: ignore[operator]


def test_bad_batches() -> None:
    with pytest.raises(PolicyError, match="equal length"):
        ExposureBatch(np.zeros(3, dtype=int), np.zeros(2, dtype=int))
    with pytest.raises(PolicyError, match="non-negative"):
        ExposureBatch(np.zeros(2, dtype=int), np.array([0, -1]))
