"""Chained runs (events seeding cascades), their tables, and fitting the coupling rates on data
from an independent simulator."""

from __future__ import annotations

import datetime
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from spillover.exceptions import ConfigError, FitError
from spillover.graphs import random_regular
from spillover.io import read_events
from spillover.io._loop import LOOP_TABLES, read_loop_tables, write_loop_dir
from spillover.loop import (
    CoupledRates,
    EmissionRule,
    LoopSettings,
    event_columns,
    fit_coupling,
    offline_columns,
    run_loop,
)
from spillover.loop._emission import emission_rounds

_RATES = CoupledRates(beta=0.1, eta=0.12, gamma=0.1, delta=0.2, kappa=0.02)


def _root_event():
    from spillover.io import example_events

    return example_events()[0]


def _settings(**kw: object) -> LoopSettings:
    base = {
        "n_rounds": 60,
        "n_seeds": 6,
        "generations": 2,
        "max_cascades": 6,
        "emission": EmissionRule(threshold=0.04),
    }
    base.update(kw)
    return LoopSettings(**base)  # type: ignore[arg-type]


def test_threshold_rule_emits_on_upward_crossings_only() -> None:
    part = np.array([0, 2, 5, 9, 4, 6, 11, 12, 3])
    rounds = emission_rounds(part, 100, EmissionRule(threshold=0.05), np.random.default_rng(0))
    assert rounds.tolist() == [2, 5]


def test_hawkes_rule_mean_is_rate_times_participation() -> None:
    part = np.array([0, 100, 300, 200, 50])
    rule = EmissionRule(mode="hawkes", rate=0.01)
    rng = np.random.default_rng(1)
    n = [emission_rounds(part, 1000, rule, rng).size for _ in range(4000)]
    # mean 6.5, sd of the mean sqrt(6.5 / 4000) = 0.04
    assert abs(np.mean(n) - 6.5) < 0.2


def test_bad_emission_and_loop_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="emission mode"):
        EmissionRule(mode="poisson")
    with pytest.raises(ConfigError, match="threshold"):
        EmissionRule(threshold=0.0)
    with pytest.raises(ConfigError, match="generations"):
        LoopSettings(generations=-1)


def test_events_seed_cascades_from_participants_and_are_acled_events(tmp_path: Path) -> None:
    graph = random_regular(2000, 6, rng=2)
    res = run_loop(graph, _RATES, _root_event(), _settings(), n_reps=2, rng=11)
    assert res.events, "this setting is inside the critical range: cascades must emit events"
    by_id = {(c.replicate, c.cascade): c for c in res.cascades}
    for e in res.events:
        assert e.event.event_type in ("Protests", "Riots")
        assert e.event.date == _root_event().date + datetime.timedelta(days=e.abs_round)
        assert e.participating >= 0.04 * 2000
        if e.child >= 0:
            child = by_id[(e.replicate, e.child)]
            parent = by_id[(e.replicate, e.cascade)]
            assert child.start_round == e.abs_round
            assert child.generation == parent.generation + 1
            who = parent.arrays.participants_at(e.round)
            assert set(child.seeds.tolist()) <= set(who.tolist())
    assert max(c.generation for c in res.cascades) <= 2
    assert sum(c.replicate == 0 for c in res.cascades) <= 6
    out = write_loop_dir(res, graph, tmp_path / "run", config={}, timings={})
    back = read_events(out / "events.csv")
    assert [e.event_id for e in back] == [e.event.event_id for e in res.events]
    assert back[0] == res.events[0].event


def test_chained_run_same_seed_same_bytes(tmp_path: Path) -> None:
    graph = random_regular(1500, 6, rng=5)
    outs = []
    for name in ("a", "b"):
        res = run_loop(graph, _RATES, _root_event(), _settings(), n_reps=2, rng=2024)
        outs.append(write_loop_dir(res, graph, tmp_path / name, config={}, timings={}))
    for f in (*LOOP_TABLES, "events.csv"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    other = run_loop(graph, _RATES, _root_event(), _settings(), n_reps=2, rng=2025)
    written = read_loop_tables(outs[0])
    assert not np.array_equal(
        offline_columns(other)["participating"], written["offline"]["participating"]
    )
    np.testing.assert_array_equal(
        written["loop_events"]["abs_round"],
        event_columns(run_loop(graph, _RATES, _root_event(), _settings(), n_reps=2, rng=2024))[
            "abs_round"
        ],
    )


def _independent_offline(
    rates: CoupledRates, n: int, k: int, n_rounds: int, n_seeds: int, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A separate simulator: networkx graph, sequential numpy draws, agent loop in Python,
    written to the documented offline and joins table columns."""
    rng = np.random.default_rng(seed)
    g = nx.random_regular_graph(k, n, seed=seed)
    nbrs = [list(g.neighbors(i)) for i in range(n)]
    state = np.zeros(n, dtype=int)  # 0 S, 1 E, 2 P, 3 F, 4 L
    state[rng.choice(n, n_seeds, replace=False)] = 1
    rows: dict[str, list[int]] = {
        c: [] for c in ("round", "engaged", "participating", "joined", "faded_now", "left_now")
    }
    jrows: dict[str, list[int]] = {"n_participating": [], "at_risk": [], "joined": []}

    def record(t: int, flows: tuple[int, int, int]) -> None:
        rows["round"].append(t)
        rows["engaged"].append(int(np.sum(state == 1)))
        rows["participating"].append(int(np.sum(state == 2)))
        for name, v in zip(("joined", "faded_now", "left_now"), flows, strict=True):
            rows[name].append(v)

    record(0, (0, 0, 0))
    for t in range(1, n_rounds + 1):
        new = state.copy()
        joined = faded = left = 0
        tally: dict[int, list[int]] = {}
        for i in range(n):
            if state[i] == 0:
                m = sum(state[j] == 1 for j in nbrs[i])
                if m and rng.random() < 1 - (1 - rates.beta) ** m:
                    new[i] = 1
            elif state[i] == 1:
                m = sum(state[j] == 2 for j in nbrs[i])
                cell = tally.setdefault(m, [0, 0])
                cell[0] += 1
                if rng.random() < 1 - (1 - rates.eta) * (1 - rates.kappa) ** m:
                    new[i], joined, cell[1] = 2, joined + 1, cell[1] + 1
                elif rng.random() < rates.gamma:
                    new[i], faded = 3, faded + 1
            elif state[i] == 2 and rng.random() < rates.delta:
                new[i], left = 4, left + 1
        state = new
        record(t, (joined, faded, left))
        for m, (risk, done) in sorted(tally.items()):
            jrows["n_participating"].append(m)
            jrows["at_risk"].append(risk)
            jrows["joined"].append(done)
    offline = {k2: np.array(v) for k2, v in rows.items()}
    offline["replicate"] = np.zeros(n_rounds + 1, dtype=int)
    offline["cascade"] = np.zeros(n_rounds + 1, dtype=int)
    return offline, {k2: np.array(v) for k2, v in jrows.items()}


@pytest.mark.slow
def test_coupling_rates_recovered_with_covering_intervals_on_independent_data() -> None:
    truth = CoupledRates(beta=0.2, eta=0.1, gamma=0.12, delta=0.25, kappa=0.05)
    n_data = 30
    covered = {name: 0 for name in ("eta", "kappa", "gamma", "delta")}
    estimates: dict[str, list[float]] = {name: [] for name in covered}
    for seed in range(n_data):
        offline, joins = _independent_offline(truth, 250, 6, 25, 5, seed)
        fit = fit_coupling(offline, joins)
        for name in covered:
            r = fit.rates[name]
            estimates[name].append(r.estimate)
            covered[name] += r.low <= getattr(truth, name) <= r.high
    for name in covered:
        # 95% intervals: P(fewer than 24 of 30 cover) < 0.3% when the coverage is right.
        assert covered[name] >= 24, (name, covered[name])
        assert abs(np.mean(estimates[name]) - getattr(truth, name)) < 0.25 * getattr(truth, name)


def test_fit_without_joins_table_uses_counts_only_and_rejects_bad_tables() -> None:
    graph = random_regular(1000, 6, rng=8)
    rates = CoupledRates(beta=0.1, eta=0.15, gamma=0.1, delta=0.2)
    res = run_loop(graph, rates, _root_event(), _settings(generations=0), n_reps=3, rng=3)
    fit = fit_coupling(offline_columns(res))
    assert set(fit.rates) == {"eta", "gamma", "delta"}
    for name in fit.rates:
        r = fit.rates[name]
        assert r.low < r.estimate < r.high
        assert abs(r.estimate - getattr(rates, name)) < 0.03
    with pytest.raises(FitError, match="column 'cascade'"):
        fit_coupling({"replicate": np.zeros(2)})
