"""LLMPolicy (archetype mode), exposure buckets and TabulatedPolicy: cost, sources, rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from spillover.engine import simulate
from spillover.events import Event
from spillover.exceptions import ConfigError, LLMError, PolicyError
from spillover.graphs import random_regular
from spillover.llm import FakeBackend, LLMRequest
from spillover.policies import (
    ANY_EVENT,
    ExposureBatch,
    ExposureBuckets,
    LLMPolicy,
    Policy,
    TabulatedPolicy,
)

_EXPOSURE = re.compile(r"(\d+)(?: or \d+| and \d+| or more)? of the people you follow")


def by_key(request: LLMRequest) -> float:
    """A fake model: 0.01 offline, rising with the exposure the prompt states, by persona."""
    m = _EXPOSURE.search(request.messages[-1][1])
    persona = sum(ch == "+" for ch in request.messages[0][1]) % 3  # unused but deterministic
    k = int(m.group(1)) if m else 0
    return min(0.01 + 0.08 * k + 0.001 * persona, 1.0)


def test_buckets() -> None:
    b = ExposureBuckets()
    assert b.labels() == ["0", "1", "2", "3-4", "5-8", "9+"]
    assert b.index(np.array([0, 1, 2, 3, 4, 5, 8, 9, 40])).tolist() == [0, 1, 2, 3, 3, 4, 4, 5, 5]
    assert b.needed(8) == [0, 1, 2, 3, 4] and b.needed(2) == [0, 1, 2]
    assert ExposureBuckets("0, 2, 10").lower == (0, 2, 10)
    assert ExposureBuckets(range(4)).labels() == ["0", "1", "2", "3+"]
    for bad in ("1,2", "0,3,2", "0,x", ""):
        with pytest.raises(ConfigError):
            ExposureBuckets(bad)


def test_requests_do_not_grow_with_the_number_of_agents(event: Event) -> None:
    counts = []
    for n in (1_000, 100_000):
        fake = FakeBackend(by_key)
        policy = LLMPolicy(fake, model="m")
        simulate(random_regular(n, 8, rng=1), policy, n_rounds=3, n_seeds=5, event=event, rng=1)
        counts.append(len(fake.requests))
    # 32 personas x buckets 0, 1, 2, 3-4, 5-8 (the largest degree is 8), one request each.
    assert counts == [32 * 5, 32 * 5]


def test_one_answer_per_key_is_reused_for_every_agent(event: Event) -> None:
    fake = FakeBackend(by_key)
    policy = LLMPolicy(fake, model="m")
    assert isinstance(policy, Policy)
    batch = ExposureBatch(persona=np.array([0, 0, 5, 5, 5]), n_exposed=np.array([3, 4, 3, 4, 30]))
    p = policy.share_probability(batch, event)
    assert len(fake.requests) == 3  # keys (0, 3-4), (5, 3-4), (5, 9+)
    assert p[0] == p[1] and p[2] == p[3] and p[4] > p[3]
    policy.share_probability(batch, event)
    assert len(fake.requests) == 3  # memoised
    assert policy.stats()["probability_sources"] == {"logprobs": 3}


def test_samples_when_the_server_gives_no_logprobs(event: Event) -> None:
    fake = FakeBackend(by_key, logprobs=False)
    policy = LLMPolicy(fake, model="m", samples=8)
    batch = ExposureBatch(persona=np.arange(4), n_exposed=np.array([0, 1, 2, 9]))
    p = policy.share_probability(batch, event)
    assert len(fake.requests) == 4 * 8
    assert sorted({r.sample_index for r in fake.requests}) == list(range(8))
    # Only sample 0 asks for log-probabilities (auto mode); samples have distinct seeds.
    assert {r.logprobs for r in fake.requests if r.sample_index > 0} == {False}
    assert len({(r.messages, r.seed) for r in fake.requests}) == 32
    assert np.all(np.isin(p * 8, np.arange(9)))  # a share of 8 samples
    assert policy.stats()["probability_sources"] == {"samples": 4}


def test_auto_mode_samples_only_the_keys_without_logprobs(event: Event) -> None:
    class Mixed(FakeBackend):
        def answer(self, request: LLMRequest) -> object:  # type: ignore[override]
            r = super().answer(request)
            if "outside the platform" in request.messages[-1][1]:
                return r.__class__(**{**r.__dict__, "probability": None})
            return r

    fake = Mixed(by_key)
    policy = LLMPolicy(fake, model="m", samples=5)
    batch = ExposureBatch(persona=np.array([1, 1]), n_exposed=np.array([0, 2]))
    policy.share_probability(batch, event)
    assert len(fake.requests) == 1 + 1 + 4
    assert policy.stats()["probability_sources"] == {"logprobs": 1, "samples": 1}


def test_probability_sources_can_be_forced(event: Event) -> None:
    batch = ExposureBatch(persona=np.array([2]), n_exposed=np.array([1]))
    samples = FakeBackend(by_key)
    LLMPolicy(samples, model="m", probability="samples", samples=3).share_probability(batch, event)
    assert len(samples.requests) == 3 and not any(r.logprobs for r in samples.requests)
    with pytest.raises(LLMError, match="no log-probabilities"):
        LLMPolicy(FakeBackend(logprobs=False), model="m", probability="logprobs").share_probability(
            batch, event
        )


def test_invalid_answers_follow_the_rule(event: Event) -> None:
    batch = ExposureBatch(persona=np.array([0, 31]), n_exposed=np.array([1, 1]))

    def refuse_persona_0(r: LLMRequest) -> bool:
        return "practical and traditional" in r.messages[0][1] and "reserved" in r.messages[0][1]

    strict = LLMPolicy(FakeBackend(by_key, invalid=refuse_persona_0), model="m")
    with pytest.raises(LLMError, match=r"invalid answer .* persona O-C-E-A-N-, exposure 1"):
        strict.share_probability(batch, event)
    lenient_backend = FakeBackend(lambda r: 1.0, invalid=refuse_persona_0)
    lenient = LLMPolicy(lenient_backend, model="m", invalid="not_shared", samples=4)
    p = lenient.share_probability(batch, event)
    assert p[0] == 0.0 and p[1] == 1.0  # persona 0: every sample invalid, counted as "no"
    assert lenient.stats()["invalid_answers_used"] == 4


def test_policy_errors(event: Event) -> None:
    policy = LLMPolicy(FakeBackend(), model="m")
    batch = ExposureBatch(persona=np.array([0]), n_exposed=np.array([1]))
    with pytest.raises(PolicyError, match="needs the event"):
        policy.share_probability(batch, None)
    feed = LLMPolicy(FakeBackend(), model="m", mode="feed")
    with pytest.raises(PolicyError, match="simulate_feed"):
        feed.share_probability(batch, event)
    with pytest.raises(ConfigError, match="llm_mode"):
        LLMPolicy(FakeBackend(), model="m", mode="chat")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="llm_samples"):
        LLMPolicy(FakeBackend(), model="m", samples=0)
    with pytest.raises(PolicyError, match="not been asked"):
        policy.table()


def test_planned_requests_count_without_sending(event: Event) -> None:
    fake = FakeBackend()
    plan = LLMPolicy(fake, model="m", samples=10).planned_requests(range(32), 8, event)
    assert plan["keys"] == 160 and plan["first_pass"] == 160 and plan["worst_case"] == 1600
    assert plan["buckets"] == ["0", "1", "2", "3-4", "5-8"] and fake.requests == []
    feed = LLMPolicy(fake, model="m", mode="feed", samples=4).planned_requests([0, 1], 8, event)
    assert feed["keys"] == 2 and feed["worst_case"] == 8


def test_tabulated_replay_reproduces_the_llm_run_exactly(tmp_path: Path, event: Event) -> None:
    graph = random_regular(2000, 8, rng=3)
    policy = LLMPolicy(FakeBackend(by_key), model="m")
    llm_run = simulate(graph, policy, n_rounds=15, n_reps=3, n_seeds=5, event=event, rng=9)
    table = policy.table(event)
    path = table.save(tmp_path / "table.json")
    doc = json.loads(path.read_text())
    assert doc["events"][event.event_id][0][5] is None  # bucket 9+ never asked (degree 8)
    assert doc["source"]["model"] == "m" and doc["bucket_labels"][3] == "3-4"
    replay = TabulatedPolicy.load(path)
    again = simulate(graph, replay, n_rounds=15, n_reps=3, n_seeds=5, event=event, rng=9)
    np.testing.assert_array_equal(
        llm_run.curves.informed_by_persona, again.curves.informed_by_persona
    )
    np.testing.assert_array_equal(llm_run.exposures.shared, again.exposures.shared)
    with pytest.raises(PolicyError, match="bucket 9\\+"):
        replay.share_probability(ExposureBatch(np.array([0]), np.array([12])), event)
    other = Event(**{**{f: getattr(event, f) for f in event.__slots__}, "event_id": "OTHER"})
    with pytest.raises(PolicyError, match="no table for event 'OTHER'"):
        replay.share_probability(ExposureBatch(np.array([0]), np.array([1])), other)


def test_tabulate_asks_every_bucket(event: Event) -> None:
    fake = FakeBackend(by_key)
    full = LLMPolicy(fake, model="m").tabulate([event], personas=[0, 1])
    t = full.probabilities[event.event_id]
    assert len(fake.requests) == 2 * 6
    assert not np.isnan(t[:2]).any() and np.isnan(t[2:]).all()


def test_surrogate_learned_from_an_exposure_table(event: Event) -> None:
    graph = random_regular(3000, 6, rng=2)
    truth = LLMPolicy(FakeBackend(by_key), model="m", buckets=range(8))
    run = simulate(graph, truth, n_rounds=20, n_reps=4, n_seeds=10, event=event, rng=5)
    learned = TabulatedPolicy.from_exposures(run.exposures, buckets=ExposureBuckets(range(8)))
    assert set(learned.probabilities) == {ANY_EVENT}
    est = learned.probabilities[ANY_EVENT]
    exact = truth.table(event).probabilities[event.event_id]
    counts = np.array(learned.source["at_risk"])
    well = counts >= 100
    assert well.sum() >= 64
    se = np.sqrt(exact * (1 - exact) / np.maximum(counts, 1))
    z = np.abs(est - exact)[well] / se[well]
    assert z.max() < 5  # maximum-likelihood estimates within binomial noise of the truth
    replay = simulate(graph, learned, n_rounds=20, n_reps=4, n_seeds=10, event=event, rng=6)
    gap = np.abs(replay.curves.fraction().mean(0) - run.curves.fraction().mean(0)).max()
    assert gap < 0.05


def test_tabulated_policy_validation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="shape"):
        TabulatedPolicy({"*": np.zeros((3, 6))})
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        TabulatedPolicy({"*": np.full((32, 6), 2.0)})
    with pytest.raises(ConfigError, match="at least one"):
        TabulatedPolicy({})
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(ConfigError, match="not a spillover tabulated policy"):
        TabulatedPolicy.load(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        TabulatedPolicy.load(tmp_path / "none.json")
    t = TabulatedPolicy({"*": np.full((32, 6), 0.5)})
    assert t.describe()["kind"] == "tabulated"
    assert t.share_probability(ExposureBatch(np.array([3]), np.array([2])), None).tolist() == [0.5]
