"""The graph value: an undirected simple graph stored as a read-only CSR adjacency structure.

Internally, builders describe an edge set by its sorted *directed keys* ``u * n_nodes + v``, one
per direction of each edge; sorted keys are exactly the CSR layout (rows in order, neighbours
ascending within a row), so one sort of int64 values builds the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from spillover.exceptions import GraphError
from spillover.graphs._checks import MAX_NODES, check_count

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "Graph",
    "OnDuplicate",
    "complement_keys",
    "csr_from_sorted_keys",
    "first_duplicate",
    "graph_from_sorted_keys",
    "index_dtype",
    "pairs_to_sorted_keys",
]

IntArray: TypeAlias = npt.NDArray[np.int64]

#: What to do with an edge listed more than once (in either direction).
OnDuplicate: TypeAlias = Literal["error", "drop"]


def index_dtype(n_nodes: int) -> np.dtype[np.int32] | np.dtype[np.int64]:
    """The dtype of ``Graph.indices`` for a graph of ``n_nodes`` nodes."""
    return np.dtype(np.int32) if n_nodes < 2**31 else np.dtype(np.int64)


def _readonly(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.flags.writeable = False
    return array


def _owned_readonly(value: object, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """``value`` as an array of ``dtype`` that nobody else can write to.

    An array is reused only if it is already read-only and owns its memory (builders in this
    package hand over such arrays); anything else is copied, so that the caller keeping a
    reference cannot change a frozen graph behind its back.
    """
    if isinstance(value, np.ndarray) and value.dtype == dtype:
        if not value.flags.writeable and value.base is None:
            return value
        return _readonly(value.copy())
    return _readonly(np.array(value, dtype=dtype))


def _as_integer_array(func: str, name: str, value: object) -> npt.NDArray[Any]:
    array = np.asarray(value)
    if array.size == 0 and array.dtype.kind in "biuf":
        # An empty list comes out as float64; there is nothing to be non-integer.
        return array.astype(np.int64)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise GraphError(f"{func}: {name} must hold integers; got dtype {array.dtype}")
    return array


def csr_from_sorted_keys(n_nodes: int, keys: IntArray) -> tuple[IntArray, npt.NDArray[Any]]:
    """CSR arrays ``(indptr, indices)`` of the directed keys ``keys`` (sorted, distinct)."""
    rows = keys // n_nodes if n_nodes else keys
    indices = (keys - rows * n_nodes).astype(index_dtype(n_nodes))
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_nodes), out=indptr[1:])
    return indptr, indices


def graph_from_sorted_keys(n_nodes: int, keys: IntArray, name: str) -> Graph:
    """A :class:`Graph` from sorted, distinct, symmetric directed keys without self-loops."""
    indptr, indices = csr_from_sorted_keys(n_nodes, keys)
    return Graph(_readonly(indptr), _readonly(indices), name)


def pairs_to_sorted_keys(n_nodes: int, u: IntArray, v: IntArray) -> IntArray:
    """Sorted directed keys of both directions of the edges ``(u[i], v[i])``, duplicates kept."""
    keys = np.empty(2 * u.size, dtype=np.int64)
    np.multiply(u, n_nodes, out=keys[: u.size])
    keys[: u.size] += v
    np.multiply(v, n_nodes, out=keys[u.size :])
    keys[u.size :] += u
    keys.sort()
    return keys


def complement_keys(n_nodes: int, keys: IntArray) -> IntArray:
    """Sorted directed keys of the complement of the graph with sorted directed keys ``keys``.

    Uses an ``n_nodes**2`` boolean mask: meant for dense results, which are that large anyway.
    """
    mask = np.ones(n_nodes * n_nodes, dtype=np.bool_)
    mask[keys] = False
    mask[:: n_nodes + 1] = False
    return np.flatnonzero(mask).astype(np.int64, copy=False)


def first_duplicate(u: IntArray, v: IntArray) -> tuple[int, int] | None:
    """The first row that repeats an earlier edge (in either direction), and that earlier row.

    Returns ``(row, earlier_row)`` with ``row`` as small as possible, or None when every edge is
    listed once.
    """
    if u.size < 2:
        return None
    lo = np.minimum(u, v)
    hi = np.maximum(u, v)
    n = int(hi.max()) + 1
    ukeys = lo * n + hi
    order = np.argsort(ukeys, kind="stable")
    ordered = ukeys[order]
    repeats = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
    if repeats.size == 0:
        return None
    # Within a run of equal keys the stable order lists rows ascending, so the smallest row
    # among the non-first members is the first repeat in input order.
    at = repeats[np.argmin(order[repeats])]
    start = int(np.searchsorted(ordered, ordered[at], side="left"))
    return int(order[at]), int(order[start])


@dataclass(frozen=True, eq=False, repr=False)
class Graph:
    """An undirected simple graph in compressed sparse row (CSR) form.

    Nodes are ``0 .. n_nodes - 1``. The neighbours of node ``i`` are
    ``indices[indptr[i]:indptr[i + 1]]``, sorted ascending; each undirected edge ``{u, v}``
    appears twice, once in the row of each end.

    Building a graph checks what is cheap (dtypes, shapes, ``indptr`` monotone and consistent,
    node ids in range, neighbour lists strictly ascending, hence no multi-edges); the full check
    for self-loops and symmetry is :meth:`is_simple`. The builders of this package
    (:meth:`from_edges`, the generators, the readers) always produce simple graphs.

    Parameters
    ----------
    indptr
        Row pointers, shape (n_nodes + 1,), stored as int64.
    indices
        Concatenated neighbour lists, shape (2 * n_edges,), stored as int32 when
        ``n_nodes < 2**31``, else int64.
    name
        A human-readable description, e.g. ``"random_regular(n_nodes=1000, degree=8)"``.

    Raises
    ------
    GraphError
        If the arrays do not form a valid CSR structure.

    Notes
    -----
    Arrays are stored read-only. Arrays passed in are copied unless they already have the
    storage dtype, are read-only and own their memory.
    """

    indptr: IntArray
    indices: npt.NDArray[Any]
    name: str = "graph"
    _degrees: IntArray = field(init=False, compare=False)

    def __post_init__(self) -> None:
        func = "Graph"
        indptr = _as_integer_array(func, "indptr", self.indptr)
        indices = _as_integer_array(func, "indices", self.indices)
        if indptr.ndim != 1 or indptr.size == 0:
            raise GraphError(
                f"{func}: indptr must be a 1-d array of length n_nodes + 1 >= 1; "
                f"got shape {indptr.shape}"
            )
        if indices.ndim != 1:
            raise GraphError(f"{func}: indices must be a 1-d array; got shape {indices.shape}")
        n_nodes = indptr.size - 1
        if n_nodes > MAX_NODES:
            raise GraphError(f"{func}: n_nodes must be <= {MAX_NODES}; got n_nodes={n_nodes}")
        if not isinstance(self.name, str):
            raise GraphError(f"{func}: name must be a str; got {type(self.name).__name__}")
        if indptr[0] != 0 or indptr[-1] != indices.size:
            raise GraphError(
                f"{func}: indptr must start at 0 and end at len(indices)={indices.size}; "
                f"got indptr[0]={int(indptr[0])}, indptr[-1]={int(indptr[-1])}"
            )
        degrees = np.diff(indptr)
        if degrees.size and degrees.min() < 0:
            at = int(np.argmax(degrees < 0))
            raise GraphError(
                f"{func}: indptr must be non-decreasing; got indptr[{at}]={int(indptr[at])} > "
                f"indptr[{at + 1}]={int(indptr[at + 1])}"
            )
        if indices.size:
            low, high = int(indices.min()), int(indices.max())
            if low < 0 or high >= n_nodes:
                bad = low if low < 0 else high
                raise GraphError(
                    f"{func}: indices must be node ids in [0, n_nodes) with n_nodes={n_nodes}; "
                    f"got {bad}"
                )
            ascending = indices[1:] > indices[:-1]
            # Comparisons across a row boundary say nothing about a row's order.
            starts = indptr[1:-1]
            ascending[starts[(starts > 0) & (starts < indices.size)] - 1] = True
            if not ascending.all():
                at = int(np.argmin(ascending)) + 1
                row = int(np.searchsorted(indptr, at, side="right")) - 1
                raise GraphError(
                    f"{func}: each neighbour list must be strictly ascending (sorted, no "
                    f"multi-edges); got row {row} with {int(indices[at - 1])} followed by "
                    f"{int(indices[at])}"
                )
        object.__setattr__(self, "indptr", _owned_readonly(indptr, np.dtype(np.int64)))
        object.__setattr__(self, "indices", _owned_readonly(indices, index_dtype(n_nodes)))
        object.__setattr__(self, "_degrees", _readonly(degrees.astype(np.int64, copy=False)))

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_edges(
        cls,
        n_nodes: int,
        edges: npt.ArrayLike,
        *,
        name: str | None = None,
        on_duplicate: OnDuplicate = "error",
    ) -> Graph:
        """Build a graph from an edge list.

        Parameters
        ----------
        n_nodes
            Number of nodes; node ids are ``0 .. n_nodes - 1``.
        edges
            Integer array-like of shape (n_edges, 2); each row is an undirected edge, in either
            orientation.
        name
            The graph's name; defaults to ``"from_edges(n_nodes=..., n_edges=...)"``.
        on_duplicate
            ``"error"`` (default) refuses an edge listed twice (in either direction);
            ``"drop"`` keeps one copy.

        Returns
        -------
        Graph

        Raises
        ------
        GraphError
            If ``edges`` is not an (n_edges, 2) integer array, holds a node id outside
            ``[0, n_nodes)``, a self-loop, or (with ``on_duplicate="error"``) a repeated edge.

        Examples
        --------
        >>> g = Graph.from_edges(3, [(0, 1), (2, 1)])
        >>> g.neighbors(1).tolist()
        [0, 2]
        """
        func = "Graph.from_edges"
        n = check_count(func, "n_nodes", n_nodes)
        if n > MAX_NODES:
            raise GraphError(f"{func}: n_nodes must be <= {MAX_NODES}; got n_nodes={n}")
        if on_duplicate not in ("error", "drop"):
            raise GraphError(
                f"{func}: on_duplicate must be 'error' or 'drop'; got {on_duplicate!r}"
            )
        array = np.asarray(edges)
        if array.size == 0:
            array = array.reshape(0, 2)
        if array.ndim != 2 or array.shape[1] != 2:
            raise GraphError(f"{func}: edges must have shape (n_edges, 2); got {array.shape}")
        array = _as_integer_array(func, "edges", array)
        # Checked before the cast to int64, which would wrap huge unsigned ids into range.
        out_of_range = (array < 0) | (array >= n)
        if out_of_range.any():
            row = int(np.argmax(out_of_range.any(axis=1)))
            raise GraphError(
                f"{func}: node ids must be in [0, n_nodes) with n_nodes={n}; "
                f"got edges[{row}] = ({int(array[row, 0])}, {int(array[row, 1])})"
            )
        pairs = array.astype(np.int64, copy=False)
        u, v = pairs[:, 0], pairs[:, 1]
        loops = u == v
        if loops.any():
            row = int(np.argmax(loops))
            raise GraphError(
                f"{func}: self-loops are not allowed; got edges[{row}] = "
                f"({int(u[row])}, {int(v[row])})"
            )
        keys = pairs_to_sorted_keys(n, u, v)
        repeated = keys[1:] == keys[:-1]
        if repeated.any():
            if on_duplicate == "error":
                found = first_duplicate(u, v)
                assert found is not None
                row, earlier = found
                raise GraphError(
                    f"{func}: each edge must be listed once (pass on_duplicate='drop' to keep "
                    f"one copy); got edges[{row}] = ({int(u[row])}, {int(v[row])}) repeating "
                    f"edges[{earlier}] = ({int(u[earlier])}, {int(v[earlier])})"
                )
            keys = keys[np.concatenate(([True], ~repeated))]
        if name is None:
            name = f"from_edges(n_nodes={n}, n_edges={keys.size // 2})"
        return graph_from_sorted_keys(n, keys, name)

    def __reduce__(self) -> tuple[type[Graph], tuple[IntArray, npt.NDArray[Any], str]]:
        # Rebuild through __init__ so that unpickled arrays are validated and read-only again.
        return (type(self), (self.indptr, self.indices, self.name))

    # -- size and degrees ------------------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.indptr.size - 1)

    @property
    def n_edges(self) -> int:
        """Number of undirected edges."""
        return int(self.indices.size // 2)

    @property
    def degrees(self) -> IntArray:
        """Degree of each node, shape (n_nodes,), int64, read-only."""
        return self._degrees

    @property
    def max_degree(self) -> int:
        """Largest degree (0 for a graph without nodes)."""
        return int(self._degrees.max()) if self._degrees.size else 0

    def neighbors(self, node: int | np.integer[Any]) -> npt.NDArray[Any]:
        """Neighbours of ``node``, ascending: a read-only view of shape (degree,)."""
        n = self.n_nodes
        if isinstance(node, bool) or not isinstance(node, int | np.integer):
            raise GraphError(
                f"neighbors: node must be an integer; got {node!r} of type {type(node).__name__}"
            )
        if not 0 <= node < n:
            raise GraphError(f"neighbors: node must be in [0, {n}); got node={int(node)}")
        return self.indices[self.indptr[node] : self.indptr[node + 1]]

    @cached_property
    def _rows(self) -> npt.NDArray[Any]:
        # The row (source node) of every entry of ``indices``; several checks need it.
        return _readonly(
            np.repeat(np.arange(self.n_nodes, dtype=self.indices.dtype), self._degrees)
        )

    def edges(self) -> npt.NDArray[Any]:
        """Every undirected edge once, as rows ``(u, v)`` with ``u < v``, sorted.

        Returns
        -------
        numpy.ndarray
            Shape (n_edges, 2), dtype of :attr:`indices`, read-only.
        """
        rows = self._rows
        upper = rows < self.indices
        return _readonly(np.column_stack((rows[upper], self.indices[upper])))

    # -- checks ----------------------------------------------------------------------------

    def is_simple(self) -> bool:
        """True if the graph has no self-loops, no multi-edges and symmetric adjacency."""
        rows = self._rows
        if np.any(rows == self.indices):
            return False
        n = self.n_nodes
        # Rows ascending, neighbours ascending within rows: the forward keys are sorted already.
        forward = rows.astype(np.int64) * n + self.indices
        if np.any(forward[1:] <= forward[:-1]):
            return False
        backward = self.indices.astype(np.int64) * n + rows
        backward.sort()
        return bool(np.array_equal(forward, backward))

    def is_connected(self) -> bool:
        """True if every node can reach every other; a graph without nodes is not connected."""
        if self.n_nodes == 0:
            return False
        from scipy.sparse import csr_array
        from scipy.sparse.csgraph import connected_components

        n = self.n_nodes
        data = np.ones(self.indices.size, dtype=np.int8)
        adjacency = csr_array((data, self.indices, self.indptr), shape=(n, n))
        n_components, _ = connected_components(adjacency, directed=False)
        return bool(n_components == 1)

    def is_regular(self) -> bool:
        """True if every node has the same degree."""
        d = self._degrees
        return bool(d.size == 0 or d.min() == d.max())

    def summary(self) -> dict[str, Any]:
        """A JSON-able description: name, size and degree statistics.

        Returns
        -------
        dict
            Keys ``name``, ``n_nodes``, ``n_edges``, ``min_degree``, ``mean_degree``,
            ``max_degree``, ``is_regular``; values are plain Python str, int, float and bool.
        """
        d = self._degrees
        return {
            "name": self.name,
            "n_nodes": self.n_nodes,
            "n_edges": self.n_edges,
            "min_degree": int(d.min()) if d.size else 0,
            "mean_degree": float(d.mean()) if d.size else 0.0,
            "max_degree": self.max_degree,
            "is_regular": self.is_regular(),
        }

    # -- conversion and comparison ---------------------------------------------------------

    def to_networkx(self) -> nx.Graph:
        """This graph as a :class:`networkx.Graph` on nodes ``0 .. n_nodes - 1``.

        The name goes to ``graph.graph["name"]``. Imports networkx on first use.
        """
        from spillover.graphs._convert import to_networkx

        return to_networkx(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return (
            self.name == other.name
            and np.array_equal(self.indptr, other.indptr)
            and np.array_equal(self.indices, other.indices)
        )

    # Equal graphs must hash equal, and hashing megabytes of arrays is no use: unhashable.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Graph(name={self.name!r}, n_nodes={self.n_nodes}, n_edges={self.n_edges})"
