"""Erdős–Rényi, Watts–Strogatz and Barabási–Albert generators."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import stats

from spillover.exceptions import GraphError
from spillover.graphs import barabasi_albert, erdos_renyi, watts_strogatz

# -- erdos_renyi -----------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.001, 0.01, 0.3, 0.7, 0.95])
def test_erdos_renyi_edge_count_matches_binomial(p: float) -> None:
    n = 300
    pairs = n * (n - 1) // 2
    for seed in range(3):
        g = erdos_renyi(n, p=p, rng=seed)
        assert g.is_simple()
        assert g.n_nodes == n
        assert abs(g.n_edges - pairs * p) < 5 * np.sqrt(pairs * p * (1 - p))
        assert g.name == f"erdos_renyi(n_nodes=300, p={p!r})"


def test_erdos_renyi_mean_degree_and_poisson_degrees() -> None:
    g = erdos_renyi(100_000, mean_degree=8.0, rng=1)
    assert g.name == "erdos_renyi(n_nodes=100000, mean_degree=8.0)"
    assert g.is_simple()
    degrees = g.degrees
    assert abs(degrees.mean() - 8.0) < 0.05
    assert abs(degrees.var() - 8.0) < 0.3  # nearly Poisson(8)


def test_erdos_renyi_labelled_graphs_are_uniform_at_half() -> None:
    # G(4, 1/2) gives each of the 2**6 labelled graphs on 4 nodes with probability 1/64.
    gen = np.random.default_rng(4)
    counts = Counter(erdos_renyi(4, p=0.5, rng=gen).indices.tobytes() for _ in range(64 * 60))
    assert len(counts) == 64
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3


def test_erdos_renyi_edge_count_distribution() -> None:
    gen = np.random.default_rng(9)
    draws = 3000
    counts = np.bincount(
        [erdos_renyi(4, p=0.3, rng=gen).n_edges for _ in range(draws)], minlength=7
    )
    expected = stats.binom(6, 0.3).pmf(np.arange(7)) * draws
    assert stats.chisquare(counts, expected).pvalue > 1e-3


@pytest.mark.parametrize(
    ("kwargs", "n_edges"),
    [({"p": 0.0}, 0), ({"p": 1.0}, 45), ({"mean_degree": 9}, 45), ({"mean_degree": 0.0}, 0)],
)
def test_erdos_renyi_extremes(kwargs: dict[str, float], n_edges: int) -> None:
    g = erdos_renyi(10, rng=0, **kwargs)
    assert g.n_edges == n_edges
    assert g.is_simple()


def test_erdos_renyi_single_node() -> None:
    assert erdos_renyi(1, p=1.0, rng=0).n_edges == 0
    assert erdos_renyi(1, mean_degree=0, rng=0).n_edges == 0


def test_erdos_renyi_is_reproducible() -> None:
    a = erdos_renyi(5000, mean_degree=4, rng=3)
    b = erdos_renyi(5000, mean_degree=4, rng=3)
    c = erdos_renyi(5000, mean_degree=4, rng=4)
    assert a == b
    assert a != c


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((10,), {}, "give exactly one of mean_degree and p; got mean_degree=None, p=None"),
        ((10,), {"p": 0.1, "mean_degree": 1}, "give exactly one of mean_degree and p"),
        ((10,), {"p": 1.5}, r"p must be in \[0, 1\]; got p=1.5"),
        ((10,), {"p": float("nan")}, r"p must be in \[0, 1\]; got p=nan"),
        ((10,), {"p": "0.1"}, "p must be a real number; got '0.1' of type str"),
        ((10,), {"mean_degree": 10}, r"mean_degree must be in \[0, 9\]; got mean_degree=10.0"),
        ((10,), {"mean_degree": -1}, r"mean_degree must be in \[0, 9\]; got mean_degree=-1.0"),
        ((0,), {"p": 0.1}, "n_nodes must be >= 1; got n_nodes=0"),
        ((2.5,), {"p": 0.1}, "n_nodes must be an integer; got 2.5"),
    ],
)
def test_erdos_renyi_errors(args: tuple[object], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(GraphError, match="^erdos_renyi: " + message):
        erdos_renyi(*args, rng=0, **kwargs)  # type: ignore[arg-type]


# -- watts_strogatz --------------------------------------------------------------------------


def test_watts_strogatz_without_rewiring_is_the_ring_lattice() -> None:
    g = watts_strogatz(10, 4, 0.0, rng=0)
    assert g.name == "watts_strogatz(n_nodes=10, degree=4, rewire_prob=0.0)"
    for i in range(10):
        expected = sorted({(i + d) % 10 for d in (-2, -1, 1, 2)})
        assert g.neighbors(i).tolist() == expected


@pytest.mark.parametrize("rewire_prob", [0.1, 0.5, 1.0])
def test_watts_strogatz_keeps_edge_count_and_simplicity(rewire_prob: float) -> None:
    g = watts_strogatz(2000, 6, rewire_prob, rng=1)
    assert g.n_edges == 6000
    assert g.is_simple()
    assert g.degrees.mean() == 6.0
    assert g.is_regular() is False


def test_watts_strogatz_is_reproducible() -> None:
    assert watts_strogatz(500, 4, 0.2, rng=5) == watts_strogatz(500, 4, 0.2, rng=5)
    assert watts_strogatz(500, 4, 0.2, rng=5) != watts_strogatz(500, 4, 0.2, rng=6)


def test_watts_strogatz_degree_zero() -> None:
    assert watts_strogatz(5, 0, 0.5, rng=0).n_edges == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10, 3, 0.1), "degree must be even; got degree=3"),
        ((10, 10, 0.1), "degree must be < n_nodes; got n_nodes=10, degree=10"),
        ((10, 4, -0.1), r"rewire_prob must be in \[0, 1\]; got rewire_prob=-0.1"),
        ((10, 4, None), "rewire_prob must be a real number; got None"),
        ((0, 0, 0.1), "n_nodes must be >= 1; got n_nodes=0"),
        ((10, -2, 0.1), "degree must be >= 0; got degree=-2"),
    ],
)
def test_watts_strogatz_errors(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(GraphError, match="^watts_strogatz: " + message):
        watts_strogatz(*args, rng=0)  # type: ignore[arg-type]


# -- barabasi_albert -------------------------------------------------------------------------


def test_barabasi_albert_sizes_and_degrees() -> None:
    g = barabasi_albert(3000, 3, rng=2)
    assert g.name == "barabasi_albert(n_nodes=3000, n_links=3)"
    assert g.n_edges == (3000 - 3) * 3
    assert g.is_simple()
    assert g.is_connected()
    assert g.degrees.min() >= 3
    assert g.max_degree > 50  # heavy tail: hubs far above the mean of about 6


def test_barabasi_albert_is_reproducible() -> None:
    assert barabasi_albert(500, 2, rng=5) == barabasi_albert(500, 2, rng=5)
    assert barabasi_albert(500, 2, rng=5) != barabasi_albert(500, 2, rng=6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10, 0), "n_links must be >= 1; got n_links=0"),
        ((10, 10), "n_links must be < n_nodes; got n_nodes=10, n_links=10"),
        ((0, 1), "n_nodes must be >= 1; got n_nodes=0"),
        ((10, 1.5), "n_links must be an integer; got 1.5"),
    ],
)
def test_barabasi_albert_errors(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(GraphError, match="^barabasi_albert: " + message):
        barabasi_albert(*args, rng=0)  # type: ignore[arg-type]
