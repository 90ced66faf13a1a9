"""The Graph value: CSR invariants, construction from edges, checks and summary."""

from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pytest

from spillover.exceptions import ConfigError, GraphError
from spillover.graphs import Graph

TRIANGLE_AND_PATH = [(0, 1), (1, 2), (2, 0), (3, 4)]


def triangle_and_path() -> Graph:
    return Graph.from_edges(6, TRIANGLE_AND_PATH, name="tp")


def test_graph_error_is_a_config_error() -> None:
    assert issubclass(GraphError, ConfigError)
    assert issubclass(GraphError, ValueError)


# -- from_edges ------------------------------------------------------------------------------


def test_from_edges_builds_sorted_symmetric_csr() -> None:
    g = triangle_and_path()
    assert g.n_nodes == 6
    assert g.n_edges == 4
    assert g.indptr.tolist() == [0, 2, 4, 6, 7, 8, 8]
    assert g.indices.tolist() == [1, 2, 0, 2, 0, 1, 4, 3]
    assert g.indptr.dtype == np.int64
    assert g.indices.dtype == np.int32
    assert g.degrees.tolist() == [2, 2, 2, 1, 1, 0]
    assert g.max_degree == 2
    assert g.neighbors(2).tolist() == [0, 1]
    assert g.neighbors(np.int64(5)).tolist() == []
    assert g.edges().tolist() == [[0, 1], [0, 2], [1, 2], [3, 4]]
    assert g.is_simple()
    assert g.name == "tp"


def test_from_edges_default_name_and_empty_inputs() -> None:
    g = Graph.from_edges(3, np.empty((0, 2), dtype=np.int64))
    assert g.name == "from_edges(n_nodes=3, n_edges=0)"
    assert g.n_edges == 0
    assert g.edges().shape == (0, 2)
    assert Graph.from_edges(0, []).n_nodes == 0
    assert Graph.from_edges(2, [[1, 0]]).edges().tolist() == [[0, 1]]


def test_from_edges_accepts_any_integer_dtype() -> None:
    for dtype in (np.int8, np.uint16, np.int32, np.uint64):
        g = Graph.from_edges(3, np.array([[0, 1], [2, 1]], dtype=dtype))
        assert g.edges().tolist() == [[0, 1], [1, 2]]


def test_from_edges_drops_duplicates_on_request() -> None:
    edges = [(0, 1), (1, 0), (1, 2), (0, 1)]
    g = Graph.from_edges(3, edges, on_duplicate="drop")
    assert g.edges().tolist() == [[0, 1], [1, 2]]
    assert g.is_simple()


@pytest.mark.parametrize(
    ("edges", "kwargs", "message"),
    [
        ([(0, 1), (1, 0)], {}, r"edges\[1\] = \(1, 0\) repeating edges\[0\] = \(0, 1\)"),
        ([(0, 1), (1, 2), (2, 1), (1, 2)], {}, r"edges\[2\] = \(2, 1\) repeating edges\[1\]"),
        ([(0, 1), (2, 2)], {}, r"self-loops are not allowed; got edges\[1\] = \(2, 2\)"),
        ([(0, 1), (1, 3)], {}, r"in \[0, n_nodes\) with n_nodes=3; got edges\[1\] = \(1, 3\)"),
        ([(0, -1)], {}, r"got edges\[0\] = \(0, -1\)"),
        (np.array([[0, 2**64 - 1]], dtype=np.uint64), {}, r"got edges\[0\] = \(0, 1844"),
        ([(0, 1, 2)], {}, r"edges must have shape \(n_edges, 2\); got \(1, 3\)"),
        ([0, 1], {}, r"edges must have shape \(n_edges, 2\); got \(2,\)"),
        ([(0.0, 1.0)], {}, "edges must hold integers; got dtype float64"),
        ([(True, False)], {}, "edges must hold integers; got dtype bool"),
        ([(0, 1)], {"on_duplicate": "keep"}, "on_duplicate must be 'error' or 'drop'; got 'keep'"),
    ],
)
def test_from_edges_errors(edges: object, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(GraphError, match=r"^Graph\.from_edges: .*" + message):
        Graph.from_edges(3, edges, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("n_nodes", "message"),
    [(-1, "n_nodes must be >= 0; got n_nodes=-1"), (2.0, "n_nodes must be an integer; got 2.0")],
)
def test_from_edges_bad_n_nodes(n_nodes: object, message: str) -> None:
    with pytest.raises(GraphError, match=message):
        Graph.from_edges(n_nodes, [])  # type: ignore[arg-type]


# -- direct construction and immutability ----------------------------------------------------


def test_constructor_copies_writeable_arrays_and_freezes_them() -> None:
    indptr = np.array([0, 1, 2])
    indices = np.array([1, 0])
    g = Graph(indptr, indices)
    indices[0] = 0  # the caller's array is not the graph's
    assert g.indices.tolist() == [1, 0]
    assert g.indices.dtype == np.int32
    assert g.name == "graph"
    for array in (g.indptr, g.indices, g.degrees, g.edges(), g.neighbors(0)):
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("indptr", "indices", "message"),
    [
        ([0, 1, 2], [1.0, 0.0], "indices must hold integers; got dtype float64"),
        ([[0, 1, 2]], [1, 0], r"indptr must be a 1-d array of length n_nodes \+ 1 >= 1"),
        ([], [], r"indptr must be a 1-d array .* got shape \(0,\)"),
        ([0, 1, 2], [[1, 0]], r"indices must be a 1-d array; got shape \(1, 2\)"),
        (
            [1, 1, 2],
            [1, 0],
            r"indptr must start at 0 and end at len\(indices\)=2; got indptr\[0\]=1",
        ),
        ([0, 1, 3], [1, 0], r"got indptr\[0\]=0, indptr\[-1\]=3"),
        ([0, 2, 1, 2], [1, 0], r"indptr must be non-decreasing; got indptr\[1\]=2 > indptr\[2\]=1"),
        ([0, 1, 2], [2, 0], r"indices must be node ids in \[0, n_nodes\) with n_nodes=2; got 2"),
        ([0, 1, 2], [1, -1], "got -1"),
        ([0, 2, 3, 4], [2, 1, 0, 0], "strictly ascending .* got row 0 with 2 followed by 1"),
        ([0, 2, 4], [1, 1, 0, 0], "strictly ascending .* got row 0 with 1 followed by 1"),
    ],
)
def test_constructor_validates_csr(indptr: object, indices: object, message: str) -> None:
    with pytest.raises(GraphError, match=r"^Graph: .*" + message):
        Graph(np.asarray(indptr), np.asarray(indices))


def test_constructor_rejects_non_str_name() -> None:
    with pytest.raises(GraphError, match="name must be a str; got int"):
        Graph(np.array([0]), np.array([], dtype=np.int32), name=3)  # type: ignore[arg-type]


def test_empty_rows_between_rows_do_not_upset_the_order_check() -> None:
    g = Graph(np.array([0, 1, 1, 1, 2]), np.array([3, 0]))
    assert g.degrees.tolist() == [1, 0, 0, 1]
    assert g.is_simple()


def test_pickle_round_trip_keeps_arrays_read_only() -> None:
    g = triangle_and_path()
    h = pickle.loads(pickle.dumps(g))
    assert h == g
    assert not h.indices.flags.writeable
    assert not h.indptr.flags.writeable


def test_equality_hash_and_repr() -> None:
    g = triangle_and_path()
    assert g == Graph.from_edges(6, list(reversed(TRIANGLE_AND_PATH)), name="tp")
    assert g != Graph.from_edges(6, TRIANGLE_AND_PATH, name="other")
    assert g != Graph.from_edges(6, TRIANGLE_AND_PATH[:3], name="tp")
    assert g != "tp"
    with pytest.raises(TypeError):
        hash(g)
    assert repr(g) == "Graph(name='tp', n_nodes=6, n_edges=4)"


# -- checks and summary ----------------------------------------------------------------------


def test_is_simple_detects_self_loops_and_asymmetry() -> None:
    self_loop = Graph(np.array([0, 2, 3]), np.array([0, 1, 0]))
    assert not self_loop.is_simple()
    one_way = Graph(np.array([0, 1, 1]), np.array([1]))
    assert not one_way.is_simple()
    assert Graph(np.array([0, 1, 2]), np.array([1, 0])).is_simple()


def test_is_connected() -> None:
    assert not triangle_and_path().is_connected()
    assert Graph.from_edges(3, [(0, 1), (1, 2)]).is_connected()
    assert Graph.from_edges(1, []).is_connected()
    assert not Graph.from_edges(0, []).is_connected()


def test_summary_is_json_able() -> None:
    summary = triangle_and_path().summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary == {
        "name": "tp",
        "n_nodes": 6,
        "n_edges": 4,
        "min_degree": 0,
        "mean_degree": pytest.approx(8 / 6),
        "max_degree": 2,
        "is_regular": False,
    }
    empty = Graph.from_edges(0, []).summary()
    assert empty["min_degree"] == empty["max_degree"] == 0
    assert empty["is_regular"] is True


@pytest.mark.parametrize(
    ("node", "message"), [(6, r"node must be in \[0, 6\); got node=6"), (-1, "got node=-1")]
)
def test_neighbors_rejects_bad_nodes(node: int, message: str) -> None:
    with pytest.raises(GraphError, match=message):
        triangle_and_path().neighbors(node)


def test_neighbors_rejects_non_integers() -> None:
    with pytest.raises(GraphError, match=r"node must be an integer; got 1\.0"):
        triangle_and_path().neighbors(1.0)  # type: ignore[arg-type]
