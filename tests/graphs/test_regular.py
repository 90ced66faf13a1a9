"""random_regular: simplicity, exact regularity, reproducibility and (near-)uniformity."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest
from scipy import stats
from scipy.sparse import csr_array

from spillover.exceptions import GraphError
from spillover.graphs import Graph, _regular, random_regular


def assert_regular_and_simple(g: Graph, n_nodes: int, degree: int) -> None:
    assert g.n_nodes == n_nodes
    assert g.n_edges == n_nodes * degree // 2
    assert np.all(g.degrees == degree)
    assert g.is_simple()
    assert g.is_regular()
    assert g.name == f"random_regular(n_nodes={n_nodes}, degree={degree})"


@pytest.mark.parametrize(
    ("n_nodes", "degree"),
    [
        (1, 0),
        (2, 1),
        (3, 2),  # complement path: the triangle
        (4, 3),  # complement path: K4
        (5, 2),
        (6, 2),
        (8, 3),
        (12, 5),
        (20, 8),  # repair path on a tiny graph
        (30, 20),  # complement of a 9-regular graph
        (100, 40),
        (2000, 8),
        (3001, 4),
        (50_000, 3),
    ],
)
def test_simple_and_exactly_regular(n_nodes: int, degree: int) -> None:
    for seed in range(3):
        assert_regular_and_simple(random_regular(n_nodes, degree, rng=seed), n_nodes, degree)


def test_degree_zero_gives_an_empty_graph() -> None:
    g = random_regular(5, 0, rng=0)
    assert g.n_edges == 0
    assert g.degrees.tolist() == [0] * 5


@pytest.mark.parametrize("degree", [3, 4, 8])
def test_connected_for_degree_at_least_three(degree: int) -> None:
    for seed in range(4):
        assert random_regular(2000, degree, rng=seed).is_connected()


def test_same_seed_same_arrays_different_seeds_differ() -> None:
    a = random_regular(2000, 8, rng=7)
    b = random_regular(2000, 8, rng=7)
    c = random_regular(2000, 8, rng=8)
    assert np.array_equal(a.indptr, b.indptr)
    assert a.indices.tobytes() == b.indices.tobytes()
    assert not np.array_equal(a.indices, c.indices)
    seq = random_regular(2000, 8, rng=np.random.SeedSequence(7))
    assert np.array_equal(seq.indices, a.indices)


def test_generator_is_advanced_not_reset() -> None:
    gen = np.random.default_rng(3)
    first = random_regular(500, 4, rng=gen)
    second = random_regular(500, 4, rng=gen)
    assert not np.array_equal(first.indices, second.indices)


def test_indices_are_sorted_within_rows() -> None:
    g = random_regular(1000, 6, rng=1)
    rows = g.indices.reshape(1000, 6)
    assert np.all(np.diff(rows, axis=1) > 0)
    assert g.indptr.tolist() == list(range(0, 6001, 6))


def count_labelled_graphs(n_nodes: int, degree: int, draws: int, seed: int) -> Counter[bytes]:
    gen = np.random.default_rng(seed)
    return Counter(random_regular(n_nodes, degree, rng=gen).indices.tobytes() for _ in range(draws))


@pytest.mark.parametrize(
    ("n_nodes", "degree", "n_graphs"),
    [(5, 2, 12), (6, 2, 70), (6, 3, 70)],  # 5-cycles; cycle covers; their complements
)
def test_labelled_graphs_are_uniform(n_nodes: int, degree: int, n_graphs: int) -> None:
    counts = count_labelled_graphs(n_nodes, degree, 60 * n_graphs, seed=11)
    assert len(counts) == n_graphs
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3


def test_two_triangles_have_their_uniform_share() -> None:
    # Of the 70 labelled 2-regular graphs on 6 nodes, 10 are two triangles, 60 a hexagon.
    draws = 4200
    gen = np.random.default_rng(5)
    triangles = sum(random_regular(6, 2, rng=gen).is_connected() is False for _ in range(draws))
    expected = draws / 7
    assert abs(triangles - expected) < 4 * np.sqrt(draws * (1 / 7) * (6 / 7))


def test_repair_path_is_uniform_enough_on_a_small_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    # Force the swap repair where rejection would be used: still a valid, spread-out sample.
    monkeypatch.setattr(_regular, "_REJECTION_ATTEMPTS", 0)
    counts = count_labelled_graphs(8, 3, 3000, seed=2)
    assert len(counts) > 2500  # 19355 labelled cubic graphs on 8 nodes: few repeats if uniform
    for graph_bytes in counts:
        g = Graph(np.arange(0, 25, 3), np.frombuffer(graph_bytes, dtype=np.int32))
        assert g.is_simple()


def count_triangles(g: Graph) -> int:
    a = csr_array((np.ones(g.indices.size), g.indices, g.indptr), shape=(g.n_nodes,) * 2)
    return round(float((a @ a).multiply(a).sum()) / 6)


def test_triangle_count_matches_uniform_regular_graphs() -> None:
    # For uniform random k-regular graphs the triangle count tends to Poisson((k-1)**3 / 6);
    # a biased repair would show here (the graphs are large enough to use it).
    degree, seeds = 8, range(20)
    mean = np.mean([count_triangles(random_regular(2000, degree, rng=s)) for s in seeds])
    expected = (degree - 1) ** 3 / 6
    assert abs(mean - expected) < 4 * np.sqrt(expected / len(seeds))


def test_gives_up_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_regular, "_REJECTION_WORK", 0)
    monkeypatch.setattr(_regular, "_MAX_ROUNDS", 0)
    monkeypatch.setattr(_regular, "_MAX_PAIRINGS", 2)
    with pytest.raises(GraphError, match="no simple graph found after 2 pairings"):
        random_regular(100, 8, rng=0)


@pytest.mark.parametrize(
    ("n_nodes", "degree", "message"),
    [
        (5, 3, "n_nodes \\* degree must be even; got n_nodes=5, degree=3"),
        (4, 4, "degree must be < n_nodes; got n_nodes=4, degree=4"),
        (3, 7, "degree must be < n_nodes; got n_nodes=3, degree=7"),
        (0, 0, "n_nodes must be >= 1; got n_nodes=0"),
        (-5, 2, "n_nodes must be >= 1; got n_nodes=-5"),
        (10, -1, "degree must be >= 0; got degree=-1"),
        (10.0, 2, "n_nodes must be an integer; got 10.0 of type float"),
        (10, 2.5, "degree must be an integer; got 2.5 of type float"),
        (10, True, "degree must be an integer; got True of type bool"),
        ("10", 2, "n_nodes must be an integer; got '10' of type str"),
    ],
)
def test_errors(n_nodes: object, degree: object, message: str) -> None:
    with pytest.raises(GraphError, match="^random_regular: " + message):
        random_regular(n_nodes, degree, rng=0)  # type: ignore[arg-type]


def test_numpy_integer_sizes_are_accepted() -> None:
    g = random_regular(np.int64(10), np.int32(4), rng=0)  # type: ignore[arg-type]
    assert_regular_and_simple(g, 10, 4)


def test_bad_seed_is_rejected() -> None:
    with pytest.raises(ValueError, match="seed must be >= 0"):
        random_regular(10, 2, rng=-1)


@pytest.mark.parametrize(
    ("n_nodes", "degree", "seed", "digest"),
    [
        (10, 3, 0, "06cf4f371d60cec26146290318e8dc5d"),  # rejection
        (60, 4, 1, "920f701c4aa8ce947bc3f1280649d84d"),  # rejection
        (3001, 4, 5, "a150fa28b993a700967b7523c07eae63"),  # repair
        (2000, 8, 1, "15893e16c174eb0d501162bda524a89d"),  # repair
        (100_000, 8, 3, "95fda0d05eb1ef5dcc9856c5b7332199"),  # repair
        (30, 20, 2, "9f5a29658a23d6c3ad5a5e597002cc06"),  # complement
    ],
)
def test_same_seed_draws_the_same_graph_as_before(
    n_nodes: int, degree: int, seed: int, digest: str
) -> None:
    # Stored runs name their graph by its seed: these are the arrays drawn by the version that
    # shuffled with Generator.shuffle (numpy 2.4), which shuffle_as_numpy must reproduce exactly.
    g = random_regular(n_nodes, degree, rng=seed)
    got = hashlib.sha256(g.indptr.tobytes() + g.indices.tobytes()).hexdigest()
    assert got[:32] == digest
