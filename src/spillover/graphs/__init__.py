"""Graphs: the frozen CSR :class:`Graph` value, random generators and networkx adapters.

networkx is imported only by the adapters and the generators built on it, so importing this
package stays light. Files are read and written by :mod:`spillover.io`.
"""

from __future__ import annotations

from spillover.graphs._cache import GraphCache
from spillover.graphs._checks import MAX_NODES, check_count
from spillover.graphs._convert import from_networkx
from spillover.graphs._generators import barabasi_albert, erdos_renyi, watts_strogatz
from spillover.graphs._graph import Graph, OnDuplicate, first_duplicate
from spillover.graphs._regular import check_regular_size, random_regular

__all__ = [
    "MAX_NODES",
    "Graph",
    "GraphCache",
    "OnDuplicate",
    "barabasi_albert",
    "check_count",
    "check_regular_size",
    "erdos_renyi",
    "first_duplicate",
    "from_networkx",
    "random_regular",
    "watts_strogatz",
]
