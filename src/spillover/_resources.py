"""Memory and work of a run, estimated from its settings before anything is allocated.

The one home of the memory estimate: :func:`estimate_memory` (public as
``spillover.engine.estimate_memory``) follows the arrays the code allocates (see
``graphs._regular``, ``graphs._graph`` and ``engine._simulate``), per node and per directed edge
entry, with every agent informed (the worst case for the adoption table);
``benchmarks/bench_scale.py`` prints it next to the measured peaks, from 10,000 to 100,000,000
agents. :func:`check_run_fits` refuses a configured run whose estimate (the run folder's tables
included) exceeds the memory available, with one line naming the setting that drives the
estimate, the estimate and the memory available; :func:`check_count` refuses loops (requests,
sweep cells) past a fixed bound. The estimates are upper bounds, meant to refuse runs that
cannot fit, not to predict the peak of runs that do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from spillover.exceptions import ConfigError
from spillover.personas import N_PERSONAS

if TYPE_CHECKING:
    from spillover.config import SimulationConfig

__all__ = [
    "MAX_LLM_REQUESTS",
    "MemoryEstimate",
    "available_memory",
    "available_memory_bytes",
    "check_count",
    "check_edge_list_fits",
    "check_llm_work",
    "check_memory",
    "check_run_fits",
    "estimate_memory",
    "estimate_run",
    "estimate_run_bytes",
    "format_bytes",
]

#: The most LLM requests one run (or dry run) may plan.
MAX_LLM_REQUESTS: Final[int] = 10_000_000
_GB: Final[int] = 2**30
#: Peak bytes per edge while an edge list is read and built into a graph (measured: 111 for
#: text and 95 for Parquet, 4 M edges, tracemalloc), rounded up.
EDGE_READ_BYTES: Final[int] = 128
#: The settings a memory refusal may blame (the command line adds their flags).
_SETTINGS: Final[tuple[str, ...]] = ("n_nodes", "degree", "n_rounds", "n_reps")


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024.0 or unit == "PiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024.0
    raise AssertionError("unreachable")


def available_memory() -> int | None:
    """Bytes the system can give without swapping (``MemAvailable``), None where unknown."""
    try:
        with Path("/proc/meminfo").open(encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (OSError, ValueError, AttributeError):
        return None


def available_memory_bytes() -> int:
    """:func:`available_memory`, or a bound no run reaches where it is unknown (no refusal)."""
    free = available_memory()
    return 2**62 if free is None else free


#: The interpreter, numpy, numba and the compiled kernels.
_BASE_BYTES = 300 * 2**20
#: Margin for what the formulas leave out (allocator slack, small tables).
_MARGIN = 1.10


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs: building the graph, holding it, the engine and the run's tables."""

    n_nodes: int
    n_entries: int
    graph_build: int
    graph: int
    engine: int
    tables: int = 0

    @property
    def arrays(self) -> int:
        """The arrays held at once: building the graph, or the graph, engine and tables."""
        return max(self.graph_build, self.graph + self.engine + self.tables)

    @property
    def peak(self) -> int:
        """:attr:`arrays` with a margin, plus the interpreter and the compiled kernels."""
        return int(_MARGIN * self.arrays) + _BASE_BYTES

    def describe(self) -> str:
        """One line: the estimate in GB."""
        return (
            f"memory estimate for {self.n_nodes:,} agents and {self.n_entries // 2:,} edges: "
            f"about {self.peak / _GB:.2f} GB at peak (graph build {self.graph_build / _GB:.2f} "
            f"GB, graph {self.graph / _GB:.2f} GB, engine {self.engine / _GB:.2f} GB, tables "
            f"{self.tables / _GB:.2f} GB)"
        )


def estimate_memory(
    n_nodes: int,
    mean_degree: float,
    *,
    n_reps: int = 1,
    n_rounds: int = 200,
    build_graph: bool = True,
    max_degree: int | None = None,
    reps_at_once: int = 1,
    run_tables: bool = False,
) -> MemoryEstimate:
    """Estimate the memory of simulating ``n_reps`` replicates on a graph of this size.

    Parameters
    ----------
    n_nodes, mean_degree
        Size of the graph (``n_nodes * mean_degree`` directed entries in its CSR arrays).
    n_reps, n_rounds
        Replicates and rounds of the run: each replicate's adoption table holds up to
        ``n_nodes`` rows; the exposure tables grow with ``n_rounds`` and the degree only.
    build_graph
        Count the peak of building a random regular graph (``random_regular``); False for a
        graph read from a file or passed in.
    max_degree
        The largest degree (the exposure count's range); ``mean_degree`` rounded up when
        omitted (a hub of a Barabási–Albert graph exceeds it).
    reps_at_once
        Replicates whose exposure counts are filled at the same time (all of them in feed
        mode, one in the numba engine).
    run_tables
        Count what a run folder holds besides the engine's tables: the curves and the agent
        histories of every replicate (``spillover.pipeline``).
    """
    n = int(n_nodes)
    entries = round(n * float(mean_degree))
    kmax = int(max_degree) if max_degree is not None else max(-(-entries // max(n, 1)), 1)
    reps, rounds = int(n_reps), int(n_rounds)
    index = 4 if n < 2**31 else 8
    # Graph: indptr and the degrees (int64 per node) and the indices.
    graph = 16 * n + index * entries
    # random_regular: stubs and rows (index each per entry), row pointers and cursors.
    build = 2 * index * entries + 16 * n if build_graph else 0
    # simulate: personas, state (int16 below degree 1024; int32 counted), candidates, newly,
    # adoption rounds; then per replicate the adoption rows (agent int64, replicate and round
    # int32, persona int16) and their copy into the frozen table when several replicates are
    # joined.
    work = n * (1 + 4 + 2 * index + 4)
    rows = 18 * n * reps
    # At-risk and shared counts per (round, persona, exposure count), and the exposure table
    # of every replicate (at most one 48-byte row per cell).
    cells = (rounds + 1) * N_PERSONAS * (kmax + 1)
    counts = 2 * 8 * cells * max(int(reps_at_once), 1)
    exposures = reps * 48 * min(cells, n * rounds + 1)
    engine = work + rows * (1 if reps == 1 else 2) + counts + exposures
    tables = 0
    if run_tables:
        # Curves per (replicate, round, persona); the histories of every replicate (one row
        # per agent) and their working array (agent_histories: one int64 per agent).
        tables = 8 * reps * (rounds + 1) * N_PERSONAS + reps * 80 * n + 8 * n
    return MemoryEstimate(n, entries, build, graph, engine, tables)


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


def estimate_run(
    config: SimulationConfig, *, n_nodes: int | None = None, max_degree: int | None = None
) -> MemoryEstimate:
    """:func:`estimate_memory` of a run of ``config``: its graph, replicates and rounds, with
    the run folder's tables.

    ``n_nodes`` and ``max_degree`` of the real graph replace the config's values once known
    (an edge list, a Barabási–Albert graph whose hubs exceed ``degree``).
    """
    feed = config.policy == "llm" and config.llm.mode == "feed"
    return estimate_memory(
        int(n_nodes if n_nodes is not None else config.n_nodes),
        max(int(config.degree), 1),
        n_reps=int(config.n_reps),
        n_rounds=int(config.n_rounds),
        build_graph=config.edge_list is None,
        max_degree=max_degree,
        reps_at_once=int(config.n_reps) if feed else 1,
        run_tables=True,
    )


def estimate_run_bytes(
    config: SimulationConfig, *, n_nodes: int | None = None, max_degree: int | None = None
) -> int:
    """Upper estimate of the peak memory of a run of ``config``, in bytes (:func:`estimate_run`)."""
    return estimate_run(config, n_nodes=n_nodes, max_degree=max_degree).peak


def _driver(config: SimulationConfig, estimate: int) -> str:
    """The setting whose reset to its default lowers the estimate most."""
    from spillover.config import SimulationConfig

    default = SimulationConfig()
    best, best_gain = _SETTINGS[0], -1
    for name in _SETTINGS:
        value = getattr(default, name)
        if getattr(config, name) == value:
            continue
        try:
            lowered = estimate_run_bytes(replace(config, **{name: value}))
        except ConfigError:
            continue
        if estimate - lowered > best_gain:
            best, best_gain = name, estimate - lowered
    return best


def check_run_fits(
    config: SimulationConfig,
    *,
    n_nodes: int | None = None,
    max_degree: int | None = None,
    available: int | None = None,
) -> int:
    """Refuse (ConfigError) a run whose estimate exceeds the memory available; return it."""
    estimate = estimate_run_bytes(config, n_nodes=n_nodes, max_degree=max_degree)
    free = available_memory_bytes() if available is None else available
    if estimate > free:
        name = _driver(config, estimate)
        value = getattr(config, name)
        raise ConfigError(
            f"{name} = {value:,}: the run would need about {format_bytes(estimate)} "
            f"of memory, more than the {format_bytes(free)} available",
            params=(name,),
        )
    return estimate


def check_llm_work(config: SimulationConfig) -> None:
    """Refuse an LLM run whose worst-case request count passes :data:`MAX_LLM_REQUESTS`."""
    if config.policy != "llm":
        return
    buckets = max(len([x for x in str(config.llm.buckets).split(",") if x.strip()]), 1)
    worst = N_PERSONAS * buckets * int(config.llm.samples)
    check_count(
        "requests at most (32 personas x buckets x samples)", "llm.samples", worst, MAX_LLM_REQUESTS
    )


def check_count(what: str, setting: str, count: int, limit: int) -> int:
    """Refuse (ConfigError) a loop of ``count`` items past ``limit``; return ``count``."""
    if count > limit:
        raise ConfigError(
            f"{setting}: {what} would be {count:,}, more than the {limit:,} allowed",
            params=(setting,),
        )
    return count


def check_edge_list_fits(
    what: str, n_edges: int, *, exact: bool, available: int | None = None
) -> int:
    """Refuse (ConfigError) an edge list too large to read into memory; return the estimate.

    ``n_edges`` is the row count of the file (``exact``) or an estimate from its size and the
    length of its first lines.
    """
    estimate = n_edges * EDGE_READ_BYTES
    free = available_memory_bytes() if available is None else available
    if estimate > free:
        about = "" if exact else "about "
        raise ConfigError(
            f"{what}: {about}{n_edges:,} edges would need about {format_bytes(estimate)} of "
            f"memory to read, more than the {format_bytes(free)} available"
        )
    return estimate
