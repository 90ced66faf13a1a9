"""How much memory a run of the engine on a graph needs, before anything is allocated.

The figures follow the arrays the code allocates (see ``graphs._regular``, ``graphs._graph``
and ``engine._simulate``), per node and per directed edge entry, with every agent informed
(the worst case for the adoption table). ``benchmarks/bench_scale.py`` prints them next to the
measured peaks, from 10,000 to 100,000,000 agents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from spillover.exceptions import ConfigError

__all__ = ["MemoryEstimate", "available_memory", "check_memory", "estimate_memory"]

_GB = 2**30
#: The interpreter, numpy, numba and the compiled kernels.
_BASE_BYTES = 300 * 2**20
#: Margin for what the formulas leave out (allocator slack, small tables).
_MARGIN = 1.10


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs: building the graph, holding it, and the engine on top of it."""

    n_nodes: int
    n_entries: int
    graph_build: int
    graph: int
    engine: int

    @property
    def peak(self) -> int:
        """The larger of building the graph and running the engine while holding it."""
        return int(_MARGIN * max(self.graph_build, self.graph + self.engine)) + _BASE_BYTES

    def describe(self) -> str:
        """One line: the estimate in GB."""
        return (
            f"memory estimate for {self.n_nodes:,} agents and {self.n_entries // 2:,} edges: "
            f"about {self.peak / _GB:.2f} GB at peak (graph build {self.graph_build / _GB:.2f} "
            f"GB, graph {self.graph / _GB:.2f} GB, engine {self.engine / _GB:.2f} GB)"
        )


def estimate_memory(
    n_nodes: int,
    mean_degree: float,
    *,
    n_reps: int = 1,
    n_rounds: int = 200,
    build_graph: bool = True,
) -> MemoryEstimate:
    """Estimate the memory of simulating ``n_reps`` replicates on a graph of this size.

    Parameters
    ----------
    n_nodes, mean_degree
        Size of the graph (``n_nodes * mean_degree`` directed entries in its CSR arrays).
    n_reps, n_rounds
        Replicates and rounds of the run: each replicate's adoption table holds up to
        ``n_nodes`` rows; the exposure tables grow with ``n_rounds`` only.
    build_graph
        Count the peak of building a random regular graph (``random_regular``); False for a
        graph read from a file or passed in.
    """
    n = int(n_nodes)
    entries = round(n * float(mean_degree))
    index = 4 if n < 2**31 else 8
    # Graph: indptr and the degrees (int64 per node) and the indices.
    graph = 16 * n + index * entries
    # random_regular: stubs and rows (index each per entry), row pointers and cursors.
    build = 2 * index * entries + 16 * n if build_graph else 0
    # simulate: personas, state, candidates, newly, adoption rounds; then per replicate the
    # adoption rows (agent int64, replicate and round int32, persona int16) and their copy
    # into the frozen table when several replicates are joined.
    work = n * (1 + 4 + 2 * index + 4)
    rows = 18 * n * int(n_reps)
    tables = 2 * 8 * 32 * int(n_rounds) * 64 * int(n_reps)  # exposure rows, generously
    engine = work + rows * (1 if n_reps == 1 else 2) + tables
    return MemoryEstimate(n, entries, build, graph, engine)


def available_memory() -> int | None:
    """Bytes the system can give without swapping (``MemAvailable``), None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return None


def check_memory(estimate: MemoryEstimate, available: int | None = None) -> None:
    """Raise :class:`ConfigError` when the estimate exceeds the memory available now.

    ``available`` defaults to :func:`available_memory`; nothing is checked where it is unknown.
    """
    if available is None:
        available = available_memory()
    if available is not None and estimate.peak > available:
        raise ConfigError(
            f"a run of {estimate.n_nodes:,} agents needs about {estimate.peak / _GB:.1f} GB "
            f"of memory, and {available / _GB:.1f} GB is available; use fewer agents or "
            f"replicates"
        )
