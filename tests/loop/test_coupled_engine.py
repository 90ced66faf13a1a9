"""The coupled engine against a slow reference, the maps against their reductions, and the
mean-field critical range against the engine (oracle)."""

from __future__ import annotations

import numpy as np
import pytest

from spillover.engine import decision_uniforms
from spillover.exceptions import ConfigError
from spillover.graphs import Graph, random_regular
from spillover.loop import (
    CoupledRates,
    EmissionRule,
    critical_eta,
    critical_range,
    online_reproductive_number,
    simulate_coupled,
)
from spillover.loop._simulate import run_one
from spillover.models import (
    LOOP_MF_ODE,
    LOOP_PAIR_ODE,
    PAIR_ODE,
    coupled_map,
    integrate,
    pair_map,
    si2_map,
)


def _reference(
    graph: Graph,
    rates: CoupledRates,
    seeds: np.ndarray,
    n_rounds: int,
    key: int,
    tables: dict[str, np.ndarray] | None = None,
):
    """Recount every neighbourhood from scratch each round; same keyed uniforms. With
    ``tables``, fill its ``share_at_risk``, ``share_done``, ``join_at_risk`` and ``join_done``
    arrays (rounds x neighbour counts) too."""
    n = graph.n_nodes
    state = np.zeros(n, dtype=int)
    state[seeds] = 1
    nbrs = [np.asarray(graph.neighbors(i)) for i in range(n)]
    counts = [np.bincount(state, minlength=5)]
    flows = [np.zeros(4, dtype=int)]
    a, b, g, e, c, d = rates.as_array()
    for t in range(1, n_rounds + 1):
        u = decision_uniforms(key, t, np.arange(n))
        new = state.copy()
        flow = np.zeros(4, dtype=int)
        for i in range(n):
            m_e = int(np.sum(state[nbrs[i]] == 1))
            m_p = int(np.sum(state[nbrs[i]] == 2))
            if tables is not None and state[i] == 0:
                tables["share_at_risk"][t, m_e] += 1
                tables["share_done"][t, m_e] += u[i] < 1 - (1 - a) * (1 - b) ** m_e
            if tables is not None and state[i] == 1:
                tables["join_at_risk"][t, m_p] += 1
                tables["join_done"][t, m_p] += u[i] < 1 - (1 - e) * (1 - c) ** m_p
            if state[i] == 0 and u[i] < 1 - (1 - a) * (1 - b) ** m_e:
                new[i], flow[0] = 1, flow[0] + 1
            elif state[i] == 1:
                join = 1 - (1 - e) * (1 - c) ** m_p
                if u[i] < join:
                    new[i], flow[1] = 2, flow[1] + 1
                elif u[i] < join + (1 - join) * g:
                    new[i], flow[2] = 3, flow[2] + 1
            elif state[i] == 2 and u[i] < d:
                new[i], flow[3] = 4, flow[3] + 1
        state = new
        counts.append(np.bincount(state, minlength=5))
        flows.append(flow)
    return np.array(counts), np.array(flows)


@pytest.mark.parametrize("alpha", [0.0, 0.03])
def test_kernel_equals_slow_reference(alpha: float) -> None:
    graph = random_regular(120, 4, rng=3)
    rates = CoupledRates(alpha=alpha, beta=0.3, gamma=0.15, eta=0.2, kappa=0.1, delta=0.25)
    seeds = np.array([1, 7, 50])
    for key in (11, 2**63 + 5):
        got = run_one(graph, rates, seeds, 25, key)
        counts, flows = _reference(graph, rates, seeds, 25, key)
        np.testing.assert_array_equal(got.counts, counts)
        np.testing.assert_array_equal(got.flows, flows)
        # Sufficient statistics add up to the flows.
        np.testing.assert_array_equal(got.share_done.sum(1), flows[:, 0])
        np.testing.assert_array_equal(got.join_done.sum(1), flows[:, 1])
        np.testing.assert_array_equal(got.share_at_risk[1:].sum(1), counts[:-1, 0])
        np.testing.assert_array_equal(got.join_at_risk[1:].sum(1), counts[:-1, 1])


@pytest.mark.parametrize(
    "rates",
    [
        # An SI online layer through the coupled kernel: engaged agents never decide.
        CoupledRates(beta=0.2, eta=0.0, delta=0.3),
        # Fading only: unaware agents lose their engaged neighbours and leave the list.
        CoupledRates(beta=0.35, eta=0.0, gamma=0.4, delta=0.3),
        # Joining through offline contacts only, then through eta as well.
        CoupledRates(beta=0.3, eta=0.0, kappa=0.5, delta=0.2),
        CoupledRates(beta=0.3, eta=0.3, gamma=0.2, kappa=0.2, delta=0.6),
    ],
)
@pytest.mark.parametrize("graph_name", ["regular", "barabasi-albert"])
def test_kernel_tables_equal_the_slow_reference(rates: CoupledRates, graph_name: str) -> None:
    from spillover.graphs import barabasi_albert

    graph = (
        random_regular(150, 5, rng=4) if graph_name == "regular" else barabasi_albert(150, 2, rng=4)
    )
    seeds = np.array([0, 3, 77, 140])
    k1 = graph.max_degree + 1
    for key in (5, 2**62 + 9):
        got = run_one(graph, rates, seeds, 30, key)
        tables = {name: np.zeros((31, k1), dtype=np.int64) for name in _TABLES}
        counts, flows = _reference(graph, rates, seeds, 30, key, tables)
        np.testing.assert_array_equal(got.counts, counts)
        np.testing.assert_array_equal(got.flows, flows)
        for name in _TABLES:
            np.testing.assert_array_equal(getattr(got, name)[1:], tables[name][1:], err_msg=name)


_TABLES = ("share_at_risk", "share_done", "join_at_risk", "join_done")


def test_same_seed_same_arrays_and_replicates_independent_of_n_reps() -> None:
    graph = random_regular(300, 5, rng=1)
    rates = CoupledRates(beta=0.25, eta=0.1, gamma=0.05, delta=0.2)
    a = simulate_coupled(graph, rates, n_rounds=30, n_reps=3, n_seeds=3, rng=9)
    b = simulate_coupled(graph, rates, n_rounds=30, n_reps=2, n_seeds=3, rng=9)
    np.testing.assert_array_equal(a.counts[:2], b.counts)
    np.testing.assert_array_equal(a.join_at_risk[:2], b.join_at_risk)
    assert np.all(a.counts.sum(axis=2) == 300)


def test_bad_rates_and_counts_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="'eta' must be finite and in \\[0, 1\\]"):
        CoupledRates(beta=0.1, eta=1.5, delta=0.1)
    with pytest.raises(ConfigError, match="n_rounds"):
        simulate_coupled(Graph.from_edges(2, [(0, 1)]), CoupledRates(0.1, 0.1, 0.1), n_rounds=0)


def test_maps_reduce_to_the_si_maps_without_offline_layer() -> None:
    for k in (2, 4, 9):
        kw = {"beta": 0.2, "eta": 0.0, "delta": 0.3, "degree": k, "i0": 0.01, "n_rounds": 40}
        pair = coupled_map("loop-pair", alpha=0.01, **kw)  # type: ignore[arg-type]
        mf = coupled_map("loop-mf", alpha=0.01, **kw)  # type: ignore[arg-type]
        np.testing.assert_allclose(1 - pair.unaware, pair_map(0.01, 0.2, k, 0.01, 40), atol=1e-12)
        np.testing.assert_allclose(1 - mf.unaware, si2_map(0.01, 0.2, k, 0.01, 40), atol=1e-12)


def _message_passing(beta, gamma, eta, delta, k, i0, n_rounds):
    """Edge-based (cavity) recursion on the k-regular tree, derived independently of the pair
    map: theta = P(a neighbour has not engaged u), phi = P(it is unaware), psi = P(it is
    engaged and has not engaged u)."""
    s0, s = 1 - i0, (1 - eta) * (1 - gamma)
    theta, psi, e, part, z = 1.0, i0, i0, 0.0, 0.0
    out = [z]
    for _ in range(n_rounds):
        phi = s0 * theta ** (k - 1)
        theta_next = theta - beta * psi
        phi_next = s0 * theta_next ** (k - 1)
        psi = s * (1 - beta) * psi + (phi - phi_next)
        new_engaged = s0 * theta**k - s0 * theta_next**k
        joined = eta * e
        z += joined
        part = part * (1 - delta) + joined
        e = e * s + new_engaged
        theta = theta_next
        out.append(z)
    return np.array(out)


@pytest.mark.parametrize("k", [2, 3, 6, 12])
def test_pair_map_equals_message_passing_on_the_tree(k: int) -> None:
    beta, gamma, eta, delta = 0.9 / k, 0.1, 0.15, 0.2
    pair = coupled_map(
        "loop-pair", beta=beta, eta=eta, delta=delta, gamma=gamma, degree=k, i0=0.002, n_rounds=80
    )
    mp = _message_passing(beta, gamma, eta, delta, k, 0.002, 80)
    np.testing.assert_allclose(pair.ever_participated, mp, atol=1e-12)


def test_odes_integrate_and_reduce_to_pair_si() -> None:
    t = np.arange(41.0)
    p = {"a": 0.01, "b": 0.15, "g": 0.0, "e": 0.0, "c": 0.0, "d": 0.2, "degree": 5}
    sol = integrate(LOOP_PAIR_ODE, p, LOOP_PAIR_ODE.initial_state(0.01, p), t)
    ref_p = {"a": 0.01, "b": 0.15, "degree": 5}
    ref = integrate(PAIR_ODE, ref_p, PAIR_ODE.initial_state(0.01, ref_p), t)
    assert sol.status == "success"
    np.testing.assert_allclose(sol.informed, ref.informed, atol=1e-7)
    p2 = {"a": 0.0, "b": 0.1, "g": 0.1, "e": 0.2, "c": 0.05, "d": 0.2, "degree": 8}
    mf = integrate(LOOP_MF_ODE, p2, LOOP_MF_ODE.initial_state(0.01, p2), t)
    assert mf.status == "success"
    z = mf.y[:, 3]
    assert np.all(np.diff(z) >= -1e-12) and 0 < z[-1] < 1


def test_reproductive_number_crosses_one_at_the_critical_rate() -> None:
    for closure in ("loop-mf", "loop-pair"):
        eta_c = critical_eta(0.1, 0.1, 6, closure)
        assert 0 < eta_c < 1
        r = online_reproductive_number(0.1, 0.1, eta_c, 6, closure)
        assert r == pytest.approx(1.0, abs=1e-12)
    # The pair closure is the stricter: fewer effective contacts, repeated ones wasted.
    assert critical_eta(0.1, 0.1, 6, "loop-pair") < critical_eta(0.1, 0.1, 6, "loop-mf")


@pytest.mark.slow
def test_critical_range_from_the_pair_model_matches_the_engine() -> None:
    """Oracle: inside the predicted range most cascades cross the threshold, outside few do,
    and the engine's final offline size follows the pair map."""
    n, k, gamma, delta, n_seeds, n_rounds = 4000, 6, 0.1, 0.2, 8, 120
    beta = 0.37 / (k - 1 - 0.63)
    rule = EmissionRule(threshold=0.05)
    crit = critical_range(
        beta=beta,
        gamma=gamma,
        delta=delta,
        degree=k,
        i0=n_seeds / n,
        n_rounds=n_rounds,
        rule=rule,
        n_nodes=n,
    )
    assert crit.low is not None and crit.high is not None
    assert 0.0 < crit.low < crit.high < critical_eta(beta, gamma, k)
    graph = random_regular(n, k, rng=4)
    probes = {
        "below": crit.low / 2,
        "inside": (crit.low + crit.high) / 2,
        "above": crit.high + 0.6 * (1 - crit.high),
    }
    share_crossing = {}
    for name, eta in probes.items():
        rates = CoupledRates(beta=beta, eta=eta, gamma=gamma, delta=delta)
        res = simulate_coupled(graph, rates, n_rounds=n_rounds, n_reps=20, n_seeds=n_seeds, rng=7)
        peak = res.fraction("participating").max(axis=1)
        share_crossing[name] = float(np.mean(peak >= rule.threshold))
        pair = coupled_map(
            "loop-pair",
            beta=beta,
            eta=eta,
            delta=delta,
            gamma=gamma,
            degree=k,
            i0=n_seeds / n,
            n_rounds=n_rounds,
        )
        if name == "inside":
            z = res.ever_participated[:, -1]
            assert abs(np.median(z) - pair.ever_participated[-1]) < 0.03
    assert share_crossing["inside"] >= 0.8
    assert share_crossing["below"] <= 0.1
    assert share_crossing["above"] <= 0.1
