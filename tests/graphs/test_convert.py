"""networkx adapters, and that importing the package does not import networkx."""

from __future__ import annotations

import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from spillover.exceptions import GraphError
from spillover.graphs import Graph, from_networkx, random_regular


def test_importing_graphs_does_not_import_networkx() -> None:
    code = "import sys, spillover.graphs; print('networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_round_trip_through_networkx() -> None:
    g = random_regular(200, 5, rng=4)
    h = g.to_networkx()
    assert isinstance(h, nx.Graph)
    assert h.name == g.name
    assert list(h.nodes) == list(range(200))
    assert h.number_of_edges() == g.n_edges
    back, labels = from_networkx(h)
    assert back == g
    assert labels == tuple(range(200))


def test_isolated_nodes_survive_the_round_trip() -> None:
    g = Graph.from_edges(5, [(0, 3)], name="sparse")
    back, _ = from_networkx(g.to_networkx())
    assert back == g


def test_non_integer_labels_are_sorted() -> None:
    h = nx.Graph([("c", "a"), ("a", "b")])
    h.add_node("d")
    g, labels = from_networkx(h)
    assert labels == ("a", "b", "c", "d")
    assert g.edges().tolist() == [[0, 1], [0, 2]]
    assert g.n_nodes == 4
    assert g.name == "from_networkx(n_nodes=4, n_edges=2)"


def test_unsortable_labels_keep_insertion_order() -> None:
    h = nx.Graph()
    h.add_edges_from([(("x", 1), 5), (5, "z")])
    g, labels = from_networkx(h, name="mixed")
    assert labels == (("x", 1), 5, "z")
    assert g.edges().tolist() == [[0, 1], [1, 2]]
    assert g.name == "mixed"


def test_networkx_generators_convert() -> None:
    h = nx.karate_club_graph()
    g, labels = from_networkx(h)
    assert labels == tuple(range(34))
    assert g.n_edges == 78
    assert g.is_simple()
    assert np.array_equal(g.degrees, [d for _, d in sorted(h.degree)])


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        (nx.DiGraph([(0, 1)]), r"g must be undirected; got a DiGraph .*to_undirected"),
        (nx.MultiGraph([(0, 1), (0, 1)]), "g must not be a multigraph; got a MultiGraph"),
        (nx.Graph([(0, 1), (2, 2)]), "self-loops are not allowed; got 1 node.* e.g. 2"),
        ([(0, 1)], "g must be a networkx.Graph; got list"),
    ],
)
def test_from_networkx_errors(graph: object, message: str) -> None:
    with pytest.raises(GraphError, match="^from_networkx: " + message):
        from_networkx(graph)
