"""Contracts of ``simulate``: invariants, reproducibility, early stopping, errors."""

from __future__ import annotations

import numpy as np
import pytest

from spillover.engine import probability_table, simulate
from spillover.exceptions import ConfigError, PolicyError
from spillover.graphs import Graph, random_regular
from spillover.policies import ConstantPolicy, ExposureBatch, default_persona_policy


@pytest.fixture(scope="module")
def graph() -> Graph:
    return random_regular(2000, 8, rng=7)


def test_invariants(graph: Graph) -> None:
    r = simulate(graph, default_persona_policy(), n_rounds=30, n_reps=4, n_seeds=3, rng=1)
    informed = r.curves.informed
    assert informed.shape == (4, 31)
    assert np.all(informed[:, 0] == 3)
    assert np.all(np.diff(informed, axis=1) >= 0)
    ex = r.exposures
    for rep in range(4):
        rows = ex.replicate == rep
        # at risk at the start of round t = everybody not informed by the end of round t - 1
        at_risk = np.bincount(ex.round[rows], weights=ex.at_risk[rows], minlength=31)
        shared = np.bincount(ex.round[rows], weights=ex.shared[rows], minlength=31)
        np.testing.assert_array_equal(at_risk[1:], graph.n_nodes - informed[rep, :-1])
        np.testing.assert_array_equal(shared[1:], np.diff(informed[rep]))
        a = r.adoptions
        assert (a.replicate == rep).sum() == informed[rep, -1]
    assert np.all(ex.n_exposed <= 8)
    # seeds are the round-0 adoptions
    zero = r.adoptions.round == 0
    np.testing.assert_array_equal(
        np.sort(r.adoptions.agent[zero & (r.adoptions.replicate == 0)]), r.seeds[0]
    )


def test_same_seed_same_result_and_different_seed_differs(graph: Graph) -> None:
    a = simulate(graph, default_persona_policy(), n_rounds=20, n_reps=2, n_seeds=2, rng=5)
    b = simulate(graph, default_persona_policy(), n_rounds=20, n_reps=2, n_seeds=2, rng=5)
    c = simulate(graph, default_persona_policy(), n_rounds=20, n_reps=2, n_seeds=2, rng=6)
    for name, col in a.exposures.columns().items():
        np.testing.assert_array_equal(col, b.exposures.columns()[name])
    np.testing.assert_array_equal(a.curves.informed_by_persona, b.curves.informed_by_persona)
    assert not np.array_equal(a.curves.informed, c.curves.informed)


def test_replicate_does_not_depend_on_number_of_replicates(graph: Graph) -> None:
    few = simulate(graph, ConstantPolicy(0.01, 0.05), n_rounds=15, n_reps=2, rng=11)
    many = simulate(graph, ConstantPolicy(0.01, 0.05), n_rounds=15, n_reps=5, rng=11)
    np.testing.assert_array_equal(few.curves.informed, many.curves.informed[:2])


def test_stops_early_but_tables_cover_all_rounds() -> None:
    # Two components; the seed's component saturates, the other stays at risk with p = 0.
    edges = [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)]
    g = Graph.from_edges(6, edges)
    r = simulate(
        g,
        ConstantPolicy(0.0, 1.0),
        n_rounds=10,
        seeds=[0],
        rng=0,
        persona_of_node=np.zeros(6, dtype=np.int8),
    )
    assert r.last_active_round[0] == 1
    np.testing.assert_array_equal(r.curves.informed[0], [1] + [3] * 10)
    ex = r.exposures
    late = ex.round >= 2
    assert set(ex.round[late].tolist()) == set(range(2, 11))
    assert np.all(ex.at_risk[late] == 3) and np.all(ex.shared[late] == 0)


def test_certain_and_impossible_sharing(graph: Graph) -> None:
    everyone = simulate(graph, ConstantPolicy(1.0, 0.0), n_rounds=3, rng=0)
    np.testing.assert_array_equal(
        everyone.curves.informed[0], [1, graph.n_nodes, graph.n_nodes, graph.n_nodes]
    )
    nobody = simulate(graph, ConstantPolicy(0.0, 0.0), n_rounds=3, n_seeds=4, rng=0)
    np.testing.assert_array_equal(nobody.curves.informed[0], [4, 4, 4, 4])


def test_online_only_spreads_one_hop_per_round() -> None:
    path = Graph.from_edges(6, [(i, i + 1) for i in range(5)])
    r = simulate(
        path,
        ConstantPolicy(0.0, 1.0),
        n_rounds=5,
        seeds=[0],
        rng=0,
        persona_of_node=np.zeros(6, dtype=np.int8),
    )
    np.testing.assert_array_equal(r.curves.informed[0], [1, 2, 3, 4, 5, 6])


def test_returned_arrays_are_read_only(graph: Graph) -> None:
    r = simulate(graph, ConstantPolicy(0.01, 0.1), n_rounds=5, rng=0)
    for arr in (r.curves.informed_by_persona, r.exposures.at_risk, r.adoptions.agent, r.seeds):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1


class _BadPolicy:
    def share_probability(self, batch: ExposureBatch, event: object) -> np.ndarray:
        return np.full(len(batch), 1.5)

    def describe(self) -> dict[str, object]:
        return {"kind": "bad"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_rounds": 0}, "n_rounds must be >= 1"),
        ({"n_rounds": 5, "n_reps": 0}, "n_reps must be >= 1"),
        ({"n_rounds": 5, "n_seeds": 10_000}, "n_seeds must be <= n_nodes"),
        ({"n_rounds": 5, "seeds": [0, 0]}, "seeds must be distinct"),
        ({"n_rounds": 5, "seeds": [5000]}, "seeds must be agent ids"),
        ({"n_rounds": 5, "persona_of_node": np.zeros(3, dtype=np.int8)}, "persona"),
    ],
)
def test_bad_arguments(graph: Graph, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        simulate(graph, ConstantPolicy(0.1, 0.1), rng=0, **kwargs)  # type: ignore[arg-type]


def test_policy_out_of_range_is_a_policy_error(graph: Graph) -> None:
    with pytest.raises(PolicyError, match=r"returned 1.5 .* must be finite and in \[0, 1\]"):
        simulate(graph, _BadPolicy(), n_rounds=3, rng=0)


def test_probability_table_matches_policy() -> None:
    table = probability_table(ConstantPolicy(0.1, 0.2), None, 3)
    expected = 1 - 0.9 * 0.8 ** np.arange(4)
    np.testing.assert_allclose(table, np.tile(expected, (32, 1)))
