"""Memory and work of a run, estimated from its settings before anything is allocated.

:func:`check_run_fits` refuses a run whose estimated peak memory exceeds the memory available
on the machine, with one line naming the setting that drives the estimate, the estimate and
the memory available; :func:`check_count` refuses loops (requests, sweep cells) past a fixed
bound. The estimates are upper bounds of the arrays the engine, the histories and the tables
hold at once (plus the graph); they are meant to refuse runs that cannot fit, not to predict
the peak of runs that do.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from spillover.exceptions import ConfigError

if TYPE_CHECKING:
    from spillover.config import SimulationConfig

__all__ = [
    "MAX_LLM_REQUESTS",
    "available_memory_bytes",
    "check_count",
    "check_edge_list_fits",
    "check_llm_work",
    "check_run_fits",
    "estimate_run_bytes",
    "format_bytes",
]

#: The most LLM requests one run (or dry run) may plan.
MAX_LLM_REQUESTS: Final[int] = 10_000_000
_PERSONAS: Final[int] = 32
#: Peak bytes per edge while an edge list is read and built into a graph (measured: 111 for
#: text and 95 for Parquet, 4 M edges, tracemalloc), rounded up.
EDGE_READ_BYTES: Final[int] = 128
_SETTINGS: Final[tuple[tuple[str, str], ...]] = (
    ("n_nodes", "--n-nodes"),
    ("degree", "--degree"),
    ("n_rounds", "--rounds"),
    ("n_reps", "--replicates"),
)


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024.0 or unit == "PiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024.0
    raise AssertionError("unreachable")


def available_memory_bytes() -> int:
    """Memory available to a new allocation now (``MemAvailable``; physical memory otherwise)."""
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
        return 2**62  # unknown: do not refuse


def estimate_run_bytes(
    config: SimulationConfig, *, n_nodes: int | None = None, max_degree: int | None = None
) -> int:
    """Upper estimate of the peak memory of a run of ``config`` (bytes).

    ``n_nodes`` and ``max_degree`` of the real graph replace the config's values once known
    (an edge list, a Barabási–Albert graph whose hubs exceed ``degree``).
    """
    n = int(n_nodes if n_nodes is not None else config.n_nodes)
    k = max(int(config.degree), 1)
    kmax = int(max_degree if max_degree is not None else k)
    rounds, reps = int(config.n_rounds), int(config.n_reps)
    edges = n * k
    graph = 8 * (n + 1) + 4 * edges + 32 * edges  # CSR arrays and generation temporaries
    cells = (rounds + 1) * _PERSONAS * (kmax + 1)  # at-risk/shared counts of one replicate
    per_rep = 2 * 8 * cells + 4 * n
    engine = per_rep * (reps if config.policy == "llm" and config.llm_mode == "feed" else 1)
    curves = 8 * reps * (rounds + 1) * _PERSONAS
    # Tables of all replicates: exposures (<= one row per cell), adoptions and histories
    # (<= one row per agent), plus one replicate's histories temporaries (per edge).
    tables = reps * (48 * min(cells, n * rounds + 1) + 32 * n + 48 * n) + 40 * edges
    return graph + engine + curves + tables


def _driver(config: SimulationConfig, estimate: int) -> tuple[str, str]:
    """The setting whose reset to its default lowers the estimate most (name, flag)."""
    from spillover.config import SimulationConfig

    default = SimulationConfig()
    best, best_gain = _SETTINGS[0], -1
    for name, flag in _SETTINGS:
        value = getattr(default, name)
        if getattr(config, name) == value:
            continue
        try:
            lowered = estimate_run_bytes(replace(config, **{name: value}))
        except ConfigError:
            continue
        if estimate - lowered > best_gain:
            best, best_gain = (name, flag), estimate - lowered
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
        name, flag = _driver(config, estimate)
        value = getattr(config, name)
        raise ConfigError(
            f"{name} = {value:,} ({flag}): the run would need about {format_bytes(estimate)} "
            f"of memory, more than the {format_bytes(free)} available"
        )
    return estimate


def check_llm_work(config: SimulationConfig) -> None:
    """Refuse an LLM run whose worst-case request count passes :data:`MAX_LLM_REQUESTS`."""
    if config.policy != "llm":
        return
    buckets = max(len([x for x in str(config.llm_buckets).split(",") if x.strip()]), 1)
    worst = _PERSONAS * buckets * int(config.llm_samples)
    check_count(
        "requests at most (32 personas x buckets x samples)", "llm_samples", worst, MAX_LLM_REQUESTS
    )


def check_count(what: str, setting: str, count: int, limit: int) -> int:
    """Refuse (ConfigError) a loop of ``count`` items past ``limit``; return ``count``."""
    if count > limit:
        raise ConfigError(f"{setting}: {what} would be {count:,}, more than the {limit:,} allowed")
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
