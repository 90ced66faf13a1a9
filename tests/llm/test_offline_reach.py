"""The offline channel of LLM and table policies: alpha = offline_reach x P(share | met offline)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spillover.cli import main
from spillover.config import DEFAULT_OFFLINE_REACH, LLMConfig, SimulationConfig
from spillover.events import Event
from spillover.exceptions import ConfigError
from spillover.llm import FakeBackend, LLMRequest
from spillover.policies import ExposureBatch, LLMPolicy, TabulatedPolicy, with_offline_reach


def offline_high(request: LLMRequest) -> float:
    """A model that shares a lot when it meets the news offline (0.6), 0.3 from a feed."""
    return 0.6 if "outside the platform" in request.messages[-1][1] else 0.3


def test_with_offline_reach_combines_the_two_channels() -> None:
    answers = np.array([[0.6, 0.3, 0.5], [0.2, 0.0, 1.0]])
    out = with_offline_reach(answers, 0.1)
    np.testing.assert_allclose(out[:, 0], [0.06, 0.02])
    np.testing.assert_allclose(out[0, 1:], 1 - (1 - 0.06) * (1 - np.array([0.3, 0.5])))
    np.testing.assert_allclose(out[1, 1:], [0.02, 1.0])
    assert with_offline_reach(answers, None) is answers
    np.testing.assert_allclose(with_offline_reach(answers, 0.0)[:, 1:], answers[:, 1:])


def test_llm_policy_applies_the_reach(event: Event) -> None:
    policy = LLMPolicy(FakeBackend(offline_high), model="m", buckets="0,1", offline_reach=0.05)
    batch = ExposureBatch(persona=np.array([3, 3]), n_exposed=np.array([0, 1]))
    p = policy.share_probability(batch, event)
    np.testing.assert_allclose(p, [0.05 * 0.6, 1 - (1 - 0.03) * (1 - 0.3)])
    table = policy.table(event)
    assert table.offline_reach == 0.05
    assert table.probabilities[event.event_id][3, 0] == pytest.approx(0.6)  # the raw answer
    np.testing.assert_allclose(table.share_probability(batch, event), p)
    assert policy.provenance()["offline_reach"] == 0.05


def test_the_reach_travels_with_the_table(tmp_path: Path, event: Event) -> None:
    answers = np.full((32, 2), 0.5)
    table = TabulatedPolicy({event.event_id: answers}, (0, 1), {}, 0.1)
    doc = json.loads(table.save(tmp_path / "t.json").read_text())
    assert doc["offline_reach"] == 0.1 and "P(share | met the news offline)" in doc["values"]
    loaded = TabulatedPolicy.load(tmp_path / "t.json")
    assert loaded.offline_reach == 0.1
    batch = ExposureBatch(persona=np.array([0]), n_exposed=np.array([0]))
    assert loaded.share_probability(batch, event)[0] == pytest.approx(0.05)
    assert loaded.with_reach(0.5).share_probability(batch, event)[0] == pytest.approx(0.25)
    learned = TabulatedPolicy({event.event_id: answers}, (0, 1), {})
    with pytest.raises(ConfigError, match="tables of LLM answers"):
        learned.with_reach(0.1)
    with pytest.raises(ConfigError, match="offline_reach"):
        TabulatedPolicy({event.event_id: answers}, (0, 1), {}, 1.5)


def test_offline_reach_in_the_config() -> None:
    local = LLMConfig(local=True)
    assert SimulationConfig(policy="llm", llm=local, offline_reach=0.2).offline_reach == 0.2
    with pytest.raises(ConfigError, match="offline_reach applies to policies"):
        SimulationConfig(offline_reach=0.1)
    with pytest.raises(ConfigError, match="offline_reach"):
        SimulationConfig(policy="llm", llm=local, offline_reach=-0.1)
    assert 0 < DEFAULT_OFFLINE_REACH < 0.1


def test_a_reach_of_zero_leaves_only_the_network(tmp_path: Path, event: Event) -> None:
    """With no offline reach nobody but the seeds' neighbours' chain can share."""
    from spillover.engine import simulate
    from spillover.graphs import random_regular

    policy = LLMPolicy(FakeBackend(offline_high), model="m", buckets="0,1", offline_reach=0.0)
    graph = random_regular(200, 2, rng=1)  # cycles: spread only along them
    result = simulate(graph, policy, n_rounds=3, n_reps=1, n_seeds=1, event=event, rng=2)
    informed = result.curves.informed[0]
    # From one seed on cycles, at most 2 new agents per round through the network.
    assert informed[-1] <= 1 + 2 * 3


def test_cli_records_the_reach(tmp_path: Path) -> None:
    from spillover.llm import StandinServer

    with StandinServer(max_lifetime_s=60.0) as server:
        out = tmp_path / "run"
        argv = ["simulate", "--llm-base-url", server.url, "--llm-model", "standin-1"]
        argv += ["--n-nodes", "64", "--degree", "4", "--rounds", "3", "--replicates", "1"]
        argv += ["--offline-reach", "0.25", "--seed", "1", "-q", "--out", str(out)]
        try:
            main(argv)
        except SystemExit as exc:
            assert not exc.code
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["offline_reach"] == 0.25
    assert manifest["llm"]["offline_reach"] == 0.25
    assert json.loads((out / "llm_table.json").read_text())["offline_reach"] == 0.25


def _event(fatalities: int, event_id: str = "X1") -> Event:
    import datetime

    return Event(
        event_id=event_id,
        date=datetime.date(2024, 1, 1),
        country="Fictional Republic",
        event_type="Battles",
        sub_event_type="",
        actors=(),
        fatalities=fatalities,
        summary="",
    )


def test_salience_scales_the_reach_with_the_fatalities() -> None:
    from spillover.policies import event_offline_reach, salience

    assert salience(_event(0), "fatalities") == 1.0
    assert salience(_event(100), "fatalities") == pytest.approx(1 + np.log(101))
    assert salience(_event(100), "none") == 1.0
    assert event_offline_reach(0.01, _event(6), "fatalities") == pytest.approx(
        0.01 * (1 + np.log(7))
    )
    assert event_offline_reach(0.5, _event(10_000), "fatalities") == 1.0  # at most 1
    assert event_offline_reach(None, _event(6), "fatalities") is None


def test_a_scaled_table_gives_deadlier_events_more_offline_reach(tmp_path: Path) -> None:
    quiet, deadly = _event(0, "Q"), _event(20, "D")
    answers = np.full((32, 2), 0.5)
    table = TabulatedPolicy({"Q": answers, "D": answers}, (0, 1), {}, 0.02, "fatalities")
    batch = ExposureBatch(persona=np.array([0, 0]), n_exposed=np.array([0, 1]))
    alpha_q = 0.02 * 0.5
    alpha_d = 0.02 * (1 + np.log(21)) * 0.5
    np.testing.assert_allclose(
        table.share_probability(batch, quiet), [alpha_q, 1 - (1 - alpha_q) * 0.5]
    )
    np.testing.assert_allclose(
        table.share_probability(batch, deadly), [alpha_d, 1 - (1 - alpha_d) * 0.5]
    )
    # The scale travels with the saved table and can be turned off on replay.
    loaded = TabulatedPolicy.load(table.save(tmp_path / "t.json"))
    assert loaded.offline_reach_scale == "fatalities"
    assert loaded.share_probability(batch, deadly)[0] == pytest.approx(alpha_d)
    assert loaded.with_reach(0.02, "none").share_probability(batch, deadly)[0] == pytest.approx(
        alpha_q
    )
    learned = TabulatedPolicy({"Q": answers}, (0, 1), {})
    with pytest.raises(ConfigError, match="offline_reach_scale applies to tables of LLM answers"):
        learned.with_reach(None, "fatalities")


def test_llm_policy_scales_the_reach_per_event() -> None:
    policy = LLMPolicy(
        FakeBackend(offline_high),
        model="m",
        buckets="0,1",
        offline_reach=0.05,
        offline_reach_scale="fatalities",
    )
    batch = ExposureBatch(persona=np.array([3]), n_exposed=np.array([0]))
    deadly = _event(6)
    assert policy.share_probability(batch, deadly)[0] == pytest.approx(0.05 * (1 + np.log(7)) * 0.6)
    assert policy.provenance()["offline_reach_scale"] == "fatalities"
    assert policy.table(deadly).offline_reach_scale == "fatalities"


def test_the_scale_in_the_config_and_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = LLMConfig(local=True)
    config = SimulationConfig(policy="llm", llm=local, offline_reach_scale="fatalities")
    assert config.to_dict()["offline_reach_scale"] == "fatalities"
    with pytest.raises(ConfigError, match="offline_reach_scale applies to policies"):
        SimulationConfig(offline_reach_scale="fatalities")
    with pytest.raises(ConfigError, match="offline_reach_scale must be one of none, fatalities"):
        SimulationConfig(policy="llm", llm=local, offline_reach_scale="deaths")  # type: ignore[arg-type]
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "simulate",
                "--offline-reach-scale",
                "deaths",
                "--policy",
                "llm",
                "--llm-local",
                "--out",
                str(tmp_path / "r"),
            ]
        )
    assert exc.value.code == 2
    assert "offline_reach_scale must be one of none, fatalities" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_replay_keeps_the_tables_scale_unless_one_is_given(tmp_path: Path) -> None:
    from spillover.pipeline import build_policy

    answers = np.full((32, 2), 0.5)
    path = TabulatedPolicy({"*": answers}, (0, 1), {}, 0.02, "fatalities").save(tmp_path / "t.json")
    base = SimulationConfig(policy="tabulated", policy_table=str(path))
    for config in (base, base.replace(offline_reach=0.05)):
        policy = build_policy(config)
        assert isinstance(policy, TabulatedPolicy) and policy.offline_reach_scale == "fatalities"
    plain = TabulatedPolicy({"*": answers}, (0, 1), {}, 0.02).save(tmp_path / "p.json")
    scaled = build_policy(base.replace(policy_table=str(plain), offline_reach_scale="fatalities"))
    assert isinstance(scaled, TabulatedPolicy) and scaled.offline_reach_scale == "fatalities"
