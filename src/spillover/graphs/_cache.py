"""A small least-recently-used store of built graphs, bounded by their bytes.

A sweep whose cells share their graphs (``sweep.share_graphs``) builds each graph once per
worker process and looks it up for the next cell with the same graph settings.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

from spillover.graphs._graph import Graph

__all__ = ["GraphCache"]


class GraphCache:
    """Graphs by key, the least recently used dropped first once the total passes ``max_bytes``
    (the latest graph is always kept, however large)."""

    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        self.max_bytes = int(max_bytes)
        self._graphs: OrderedDict[Hashable, Graph] = OrderedDict()

    @staticmethod
    def size_of(graph: Graph) -> int:
        return int(graph.indptr.nbytes + graph.indices.nbytes)

    def __len__(self) -> int:
        return len(self._graphs)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._graphs

    def get(self, key: Hashable, build: Callable[[], Graph]) -> Graph:
        """The graph stored under ``key``, or ``build()`` stored there."""
        graph = self._graphs.get(key)
        if graph is not None:
            self._graphs.move_to_end(key)
            return graph
        graph = build()
        self._graphs[key] = graph
        total = sum(self.size_of(g) for g in self._graphs.values())
        while len(self._graphs) > 1 and total > self.max_bytes:
            _, dropped = self._graphs.popitem(last=False)
            total -= self.size_of(dropped)
        return graph
