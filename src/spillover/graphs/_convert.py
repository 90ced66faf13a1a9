"""Adapters between :class:`Graph` and networkx; networkx is imported only when they are called."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np

from spillover.exceptions import GraphError
from spillover.graphs._graph import Graph

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["from_networkx", "to_networkx"]


def from_networkx(g: nx.Graph, *, name: str | None = None) -> tuple[Graph, tuple[Hashable, ...]]:
    """Convert an undirected networkx graph, relabelling its nodes ``0 .. n - 1``.

    Nodes are numbered in sorted order of their labels when the labels can be sorted (so a graph
    on the integers ``0 .. n - 1`` keeps its labels), otherwise in the graph's insertion order.
    Edge and node attributes are not carried over.

    Parameters
    ----------
    g
        An undirected :class:`networkx.Graph` without self-loops (not a DiGraph or MultiGraph).
    name
        Name of the result; defaults to ``g.name`` if set, else
        ``"from_networkx(n_nodes=..., n_edges=...)"``.

    Returns
    -------
    graph : Graph
        The same graph on nodes ``0 .. n - 1``.
    labels : tuple
        Shape (n_nodes,): ``labels[i]`` is the networkx label of node ``i``.

    Raises
    ------
    GraphError
        If ``g`` is not a networkx graph, is directed, is a multigraph or has self-loops.

    Notes
    -----
    Iterates over the edges in Python: about a second per million edges.

    Examples
    --------
    >>> import networkx as nx
    >>> graph, labels = from_networkx(nx.path_graph(["b", "a", "c"]))
    >>> labels, graph.edges().tolist()
    (('a', 'b', 'c'), [[0, 1], [0, 2]])
    """
    import networkx as nx

    func = "from_networkx"
    if not isinstance(g, nx.Graph):
        raise GraphError(f"{func}: g must be a networkx.Graph; got {type(g).__name__}")
    if g.is_directed():
        raise GraphError(
            f"{func}: g must be undirected; got a {type(g).__name__} (convert it with "
            "g.to_undirected())"
        )
    if g.is_multigraph():
        raise GraphError(
            f"{func}: g must not be a multigraph; got a {type(g).__name__} (convert it with "
            "networkx.Graph(g), which merges parallel edges)"
        )
    loops = list(nx.nodes_with_selfloops(g))
    if loops:
        raise GraphError(
            f"{func}: self-loops are not allowed; got {len(loops)} node(s) with one, "
            f"e.g. {loops[0]!r}"
        )
    nodes: list[Any] = list(g.nodes)
    try:
        labels = tuple(sorted(nodes))
    except TypeError:
        labels = tuple(nodes)
    n = len(labels)
    index = {label: i for i, label in enumerate(labels)}
    flat = np.fromiter(
        (index[end] for edge in g.edges() for end in edge), dtype=np.int64, count=2 * len(g.edges)
    )
    if name is None:
        name = g.name or f"from_networkx(n_nodes={n}, n_edges={flat.size // 2})"
    return Graph.from_edges(n, flat.reshape(-1, 2), name=name), labels


def to_networkx(graph: Graph) -> nx.Graph:
    """``graph`` as a :class:`networkx.Graph` on nodes ``0 .. n_nodes - 1``, named alike."""
    import networkx as nx

    out = nx.Graph(name=graph.name)
    out.add_nodes_from(range(graph.n_nodes))
    out.add_edges_from(graph.edges().tolist())
    return out
