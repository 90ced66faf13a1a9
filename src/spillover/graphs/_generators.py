"""Other random graph families: Erdős–Rényi (numpy), Watts–Strogatz and Barabási–Albert
(networkx, seeded from the caller's generator)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from spillover._rng import SeedLike, as_generator
from spillover.exceptions import GraphError
from spillover.graphs._checks import MAX_NODES, check_count, check_probability, check_real
from spillover.graphs._graph import (
    Graph,
    complement_keys,
    graph_from_sorted_keys,
    pairs_to_sorted_keys,
)

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["barabasi_albert", "erdos_renyi", "watts_strogatz"]

IntArray = npt.NDArray[np.int64]


def erdos_renyi(
    n_nodes: int,
    *,
    mean_degree: float | None = None,
    p: float | None = None,
    rng: SeedLike = None,
) -> Graph:
    """A G(n, p) random graph: each pair of nodes is an edge independently with probability p.

    Parameters
    ----------
    n_nodes
        Number of nodes, >= 1.
    mean_degree
        Expected degree ``p * (n_nodes - 1)``, in ``[0, n_nodes - 1]``. Give this or ``p``.
    p
        Edge probability in ``[0, 1]``. Give this or ``mean_degree``.
    rng
        Seed or generator (int, SeedSequence, Generator or None for fresh entropy).

    Returns
    -------
    Graph
        Named ``"erdos_renyi(n_nodes=..., p=...)"`` (or ``mean_degree=...``, as given).

    Raises
    ------
    GraphError
        If not exactly one of ``mean_degree`` and ``p`` is given, or a value is out of range.

    Notes
    -----
    Exact and vectorised: the number of edges is drawn from its binomial distribution, then
    that many distinct pairs uniformly (random pairs, duplicates dropped, topped up). For
    ``p > 1/2`` the complement is drawn and inverted through an ``n_nodes**2`` mask, so dense
    graphs are limited to some 10**4 nodes, as their edge lists would be anyway. A million nodes
    of mean degree 8 take about a second.

    Examples
    --------
    >>> erdos_renyi(1000, mean_degree=5.0, rng=1).n_nodes
    1000
    """
    func = "erdos_renyi"
    n = check_count(func, "n_nodes", n_nodes, minimum=1)
    if n > MAX_NODES:
        raise GraphError(f"{func}: n_nodes must be <= {MAX_NODES}; got n_nodes={n}")
    if (mean_degree is None) == (p is None):
        raise GraphError(
            f"{func}: give exactly one of mean_degree and p; got mean_degree={mean_degree!r}, "
            f"p={p!r}"
        )
    if p is None:
        d = check_real(func, "mean_degree", mean_degree, low=0.0, high=float(n - 1))
        prob = d / (n - 1) if n > 1 else 0.0
        name = f"{func}(n_nodes={n}, mean_degree={d!r})"
    else:
        prob = check_probability(func, "p", p)
        name = f"{func}(n_nodes={n}, p={prob!r})"
    gen = as_generator(rng)
    n_pairs = n * (n - 1) // 2
    n_edges = int(gen.binomial(n_pairs, prob))
    if 2 * n_edges > n_pairs:
        keys = complement_keys(n, _keys_of_pairs(n, _sample_pairs(n, n_pairs - n_edges, gen)))
    else:
        keys = _keys_of_pairs(n, _sample_pairs(n, n_edges, gen))
    return graph_from_sorted_keys(n, keys, name)


def _sample_pairs(n: int, count: int, gen: np.random.Generator) -> IntArray:
    """``count`` distinct unordered pairs ``lo * n + hi`` (lo < hi), uniformly, sorted."""
    chosen = np.empty(0, dtype=np.int64)
    while chosen.size < count:
        # A little extra per draw, since some pairs will repeat.
        size = (count - chosen.size) * 9 // 8 + 16
        a = gen.integers(0, n, size=size, dtype=np.int64)
        b = gen.integers(0, n - 1, size=size, dtype=np.int64)
        b += b >= a  # uniform over b != a
        merged = np.concatenate((chosen, np.minimum(a, b) * n + np.maximum(a, b)))
        # Sort and mask rather than np.unique, whose hashing is several times slower here.
        merged.sort()
        chosen = merged[np.concatenate(([True], merged[1:] != merged[:-1]))]
    if chosen.size > count:
        # The distinct pairs seen are a uniformly random set given their number, so a uniform
        # subset of them is a uniform set of `count` pairs.
        drop = gen.choice(chosen.size, size=chosen.size - count, replace=False)
        chosen = np.delete(chosen, drop)
    return chosen


def _keys_of_pairs(n: int, pairs: IntArray) -> IntArray:
    lo = pairs // n
    return pairs_to_sorted_keys(n, lo, pairs - lo * n)


def _seed_for_networkx(gen: np.random.Generator) -> int:
    return int(gen.integers(0, 2**63 - 1))


def _from_networkx_generator(g: nx.Graph, name: str) -> Graph:
    from spillover.graphs._convert import from_networkx

    graph, _ = from_networkx(g, name=name)
    return graph


def watts_strogatz(n_nodes: int, degree: int, rewire_prob: float, *, rng: SeedLike = None) -> Graph:
    """A Watts–Strogatz small-world graph.

    A ring of ``n_nodes`` nodes, each joined to its ``degree / 2`` nearest neighbours on each
    side; then each edge's far end is rewired with probability ``rewire_prob`` to a uniformly
    chosen node, avoiding self-loops and repeated edges.

    Parameters
    ----------
    n_nodes
        Number of nodes, >= 1.
    degree
        Even ring degree, ``0 <= degree < n_nodes``.
    rewire_prob
        Probability in ``[0, 1]`` of rewiring each edge.
    rng
        Seed or generator (int, SeedSequence, Generator or None for fresh entropy).

    Returns
    -------
    Graph
        Named ``"watts_strogatz(n_nodes=..., degree=..., rewire_prob=...)"``; always
        ``n_nodes * degree / 2`` edges.

    Raises
    ------
    GraphError
        If ``degree`` is odd or not below ``n_nodes``, or ``rewire_prob`` is not in [0, 1].

    Notes
    -----
    Built by :func:`networkx.watts_strogatz_graph` seeded with an integer drawn from ``rng``,
    so the graph for a seed can change with the networkx version. Pure Python: about 0.5 s per
    10**5 nodes of degree 8, so practical up to about 10**6 nodes.

    Examples
    --------
    >>> watts_strogatz(100, 4, 0.1, rng=3).n_edges
    200
    """
    import networkx as nx

    func = "watts_strogatz"
    n = check_count(func, "n_nodes", n_nodes, minimum=1)
    k = check_count(func, "degree", degree, minimum=0)
    prob = check_probability(func, "rewire_prob", rewire_prob)
    if k % 2:
        raise GraphError(f"{func}: degree must be even; got degree={k}")
    if k >= n:
        raise GraphError(f"{func}: degree must be < n_nodes; got n_nodes={n}, degree={k}")
    seed = _seed_for_networkx(as_generator(rng))
    g = nx.watts_strogatz_graph(n, k, prob, seed=seed)
    return _from_networkx_generator(g, f"{func}(n_nodes={n}, degree={k}, rewire_prob={prob!r})")


def barabasi_albert(n_nodes: int, n_links: int, *, rng: SeedLike = None) -> Graph:
    """A Barabási–Albert preferential-attachment graph.

    Starting from a star on ``n_links + 1`` nodes, each new node links to ``n_links`` distinct
    existing nodes chosen with probability proportional to their degree.

    Parameters
    ----------
    n_nodes
        Number of nodes, ``> n_links``.
    n_links
        Edges added with each new node, >= 1.
    rng
        Seed or generator (int, SeedSequence, Generator or None for fresh entropy).

    Returns
    -------
    Graph
        Named ``"barabasi_albert(n_nodes=..., n_links=...)"``; ``(n_nodes - n_links) *
        n_links`` edges, mean degree close to ``2 * n_links``.

    Raises
    ------
    GraphError
        If ``n_links < 1`` or ``n_links >= n_nodes``.

    Notes
    -----
    Built by :func:`networkx.barabasi_albert_graph` seeded with an integer drawn from ``rng``,
    so the graph for a seed can change with the networkx version. Pure Python: about 1 s per
    10**5 nodes with ``n_links=4``, so practical up to a few times 10**5 nodes.

    Examples
    --------
    >>> barabasi_albert(100, 2, rng=3).n_edges
    196
    """
    import networkx as nx

    func = "barabasi_albert"
    n = check_count(func, "n_nodes", n_nodes, minimum=1)
    links = check_count(func, "n_links", n_links, minimum=1)
    if links >= n:
        raise GraphError(f"{func}: n_links must be < n_nodes; got n_nodes={n}, n_links={links}")
    seed = _seed_for_networkx(as_generator(rng))
    g = nx.barabasi_albert_graph(n, links, seed=seed)
    return _from_networkx_generator(g, f"{func}(n_nodes={n}, n_links={links})")
