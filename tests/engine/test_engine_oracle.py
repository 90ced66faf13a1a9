"""Oracle tests of the engine: exact enumeration on tiny graphs, and a slow reference simulator."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from spillover._rng import seed_record
from spillover.engine import decision_uniform, decision_uniforms, probability_table, simulate
from spillover.graphs import Graph, random_regular
from spillover.personas import N_PERSONAS
from spillover.policies import ConstantPolicy, PersonaPolicy, default_persona_policy


def _exact_path_distribution(
    graph: Graph, prob: np.ndarray, persona: np.ndarray, seeds: tuple[int, ...], n_rounds: int
) -> dict[tuple[int, ...], float]:
    """P(adoption-round vector) by enumerating the synchronous chain (DESIGN section 2)."""
    n = graph.n_nodes
    start = tuple(0 if i in seeds else -1 for i in range(n))
    dist = {start: 1.0}
    for t in range(1, n_rounds + 1):
        nxt: dict[tuple[int, ...], float] = {}
        for state, mass in dist.items():
            susceptible = [i for i in range(n) if state[i] < 0]
            p = []
            for i in susceptible:
                m = sum(1 for j in graph.neighbors(i) if state[j] >= 0)
                p.append(prob[persona[i], m])
            for outcome in itertools.product((False, True), repeat=len(susceptible)):
                w = mass
                new = list(state)
                for i, pi, shares in zip(susceptible, p, outcome, strict=True):
                    w *= pi if shares else 1.0 - pi
                    if shares:
                        new[i] = t
                if w > 0:
                    nxt[tuple(new)] = nxt.get(tuple(new), 0.0) + w
        dist = nxt
    return dist


@pytest.mark.parametrize("case", ["star-offline", "path-online-only", "mixed-personas"])
def test_path_distribution_matches_exact_enumeration(case: str) -> None:
    edges = {
        "star-offline": [(0, 1), (0, 2), (0, 3), (3, 4)],
        "path-online-only": [(0, 1), (1, 2), (2, 3), (3, 4)],
        "mixed-personas": [(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (4, 1)],
    }[case]
    graph = Graph.from_edges(5, edges)
    persona = np.array([0, 31, 16, 1, 7], dtype=np.int8)
    if case == "path-online-only":
        policy: ConstantPolicy | PersonaPolicy = ConstantPolicy(0.0, 0.45)
    elif case == "star-offline":
        policy = ConstantPolicy(0.15, 0.3)
    else:
        alpha = np.linspace(0.0, 0.3, N_PERSONAS)
        beta = np.linspace(0.5, 0.1, N_PERSONAS)
        policy = PersonaPolicy(alpha, beta)
    m = np.arange(graph.max_degree + 1)
    prob = np.stack(
        [
            policy.share_probability(
                type("B", (), {"persona": np.full(m.size, c), "n_exposed": m})(), None
            )  # type: ignore[arg-type]
            for c in range(N_PERSONAS)
        ]
    )
    seeds = (0,)
    n_rounds = 3
    exact = _exact_path_distribution(graph, prob, persona, seeds, n_rounds)
    assert abs(sum(exact.values()) - 1.0) < 1e-12

    n_reps = 6000
    result = simulate(
        graph,
        policy,
        n_rounds=n_rounds,
        n_reps=n_reps,
        seeds=list(seeds),
        persona_of_node=persona,
        rng=12345,
    )
    paths = np.full((n_reps, 5), -1)
    a = result.adoptions
    paths[a.replicate, a.agent] = a.round
    observed = Counter(map(tuple, paths.tolist()))
    assert set(observed) <= set(exact), "a path the model gives probability 0 was simulated"

    # Chi-square goodness of fit, pooling cells with small expected counts.
    keys = sorted(exact, key=lambda k: -exact[k])
    expected = np.array([exact[k] * n_reps for k in keys])
    counts = np.array([observed.get(k, 0) for k in keys], dtype=float)
    big = expected >= 5
    exp_cells = np.append(expected[big], expected[~big].sum())
    obs_cells = np.append(counts[big], counts[~big].sum())
    if exp_cells[-1] == 0:
        exp_cells, obs_cells = exp_cells[:-1], obs_cells[:-1]
    p_value = stats.chisquare(obs_cells, exp_cells).pvalue
    assert p_value > 1e-3, f"simulated paths disagree with the exact law (p = {p_value:.2g})"


def _reference(
    graph: Graph, prob: np.ndarray, persona: np.ndarray, seeds: np.ndarray, n_rounds: int, key: int
) -> tuple[np.ndarray, dict[tuple[int, int, int], tuple[int, int]]]:
    """Straightforward simulation: recount everything from scratch every round."""
    n = graph.n_nodes
    adopted = np.full(n, -1)
    adopted[seeds] = 0
    table: dict[tuple[int, int, int], tuple[int, int]] = {}
    for t in range(1, n_rounds + 1):
        informed = adopted >= 0
        exposure = np.array([informed[graph.neighbors(i)].sum() for i in range(n)])
        susceptible = np.flatnonzero(~informed)
        u = decision_uniforms(key, t, susceptible)
        p = prob[persona[susceptible], exposure[susceptible]]
        shares = u < p
        for i, s in zip(susceptible, shares, strict=True):
            k = (t, int(persona[i]), int(exposure[i]))
            at_risk, shared = table.get(k, (0, 0))
            table[k] = (at_risk + 1, shared + int(s))
        adopted[susceptible[shares]] = t
    return adopted, table


@pytest.mark.parametrize("alpha_zero", [False, True])
def test_engine_equals_reference_simulation(alpha_zero: bool) -> None:
    graph = random_regular(300, 4, rng=3)
    if alpha_zero:
        base = default_persona_policy()
        policy = PersonaPolicy(np.zeros(N_PERSONAS), base.beta_by_persona * 2)
    else:
        policy = default_persona_policy()
    persona = (np.arange(300) * 7) % N_PERSONAS
    n_rounds, n_reps = 25, 3
    result = simulate(
        graph, policy, n_rounds=n_rounds, n_reps=n_reps, n_seeds=3, persona_of_node=persona, rng=99
    )
    m = np.arange(graph.max_degree + 1)
    prob = np.stack(
        [
            policy.share_probability(
                type("B", (), {"persona": np.full(m.size, c), "n_exposed": m})(), None
            )  # type: ignore[arg-type]
            for c in range(N_PERSONAS)
        ]
    )
    record = seed_record(99)
    ex = result.exposures
    for rep in range(n_reps):
        key = int(record.generator("dynamics", rep).integers(0, 2**64, dtype=np.uint64))
        adopted, table = _reference(graph, prob, persona, result.seeds[rep], n_rounds, key)
        sel = result.adoptions.replicate == rep
        engine_adopted = np.full(300, -1)
        engine_adopted[result.adoptions.agent[sel]] = result.adoptions.round[sel]
        np.testing.assert_array_equal(engine_adopted, adopted)
        rows = ex.replicate == rep
        engine_table = {
            (int(t), int(c), int(mm)): (int(a), int(s))
            for t, c, mm, a, s in zip(
                ex.round[rows],
                ex.persona[rows],
                ex.n_exposed[rows],
                ex.at_risk[rows],
                ex.shared[rows],
                strict=True,
            )
        }
        assert engine_table == table
        informed = np.array([(adopted >= 0) & (adopted <= t) for t in range(n_rounds + 1)]).sum(1)
        np.testing.assert_array_equal(result.curves.informed[rep], informed)


def test_jit_and_numpy_uniforms_agree() -> None:
    agents = np.arange(0, 10_000, 37)
    for key, t in [(0, 1), (2**64 - 1, 7), (123456789, 400)]:
        vec = decision_uniforms(key, t, agents)
        jit = np.array([decision_uniform(np.uint64(key), t, int(i)) for i in agents])
        np.testing.assert_array_equal(vec, jit)


def test_uniforms_look_uniform_and_independent() -> None:
    u = decision_uniforms(42, 3, np.arange(200_000))
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    v = decision_uniforms(42, 4, np.arange(200_000))
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.01
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01


def test_engine_equals_reference_while_few_agents_are_at_risk() -> None:
    # Rounds with few candidates walk the at-risk list, the others sweep all agents: on a
    # sparse, slowly growing spread both kinds occur, and both must match the reference.
    graph = random_regular(4000, 3, rng=8)
    policy = ConstantPolicy(0.0, 0.35)
    persona = np.arange(4000) % N_PERSONAS
    n_rounds = 30
    result = simulate(graph, policy, n_rounds=n_rounds, seeds=[5], persona_of_node=persona, rng=21)
    informed = result.curves.informed[0]
    # Candidates are at most the informed agents' neighbours: under n / 16 in round 4, far
    # over it at the end.
    assert informed[3] * 3 < graph.n_nodes / 16 < informed[-1] / 2
    key = int(seed_record(21).generator("dynamics", 0).integers(0, 2**64, dtype=np.uint64))
    prob = probability_table(policy, None, graph.max_degree)
    adopted, table = _reference(graph, prob, persona, np.array([5]), n_rounds, key)
    paths = np.full(graph.n_nodes, -1)
    paths[result.adoptions.agent] = result.adoptions.round
    np.testing.assert_array_equal(paths, adopted)
    ex = result.exposures
    got = {
        (int(t), int(c), int(m)): (int(a), int(s))
        for t, c, m, a, s in zip(
            ex.round, ex.persona, ex.n_exposed, ex.at_risk, ex.shared, strict=True
        )
    }
    assert got == table
