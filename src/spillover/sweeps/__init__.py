"""Parameter sweeps: grids of simulate configs, per-cell seeding, executors, one result store.

A sweep runs every cell of a grid of :class:`~spillover.config.SimulationConfig` values
(times ``n_reps`` replicates each) on a serial, process-pool or Dask executor, writes one run
directory per cell and a partitioned Parquet dataset of curves, exposures and fits, and can be
queried with SQL (DuckDB). See ``docs/sweeps.md``.

Heavy dependencies (pyarrow, duckdb, distributed) are imported inside functions. The figure
of a sweep is :func:`spillover.report.plot_rates_across`.
"""

from spillover.sweeps._dataset import TABLES, partition_path
from spillover.sweeps._driver import (
    SweepProgress,
    SweepSummary,
    check_models,
    run_sweep,
    with_shared_cache,
)
from spillover.sweeps._executors import (
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)
from spillover.sweeps._fits import RATE_NEUTRAL_KEYS, fit_sweep, fit_sweep_effects
from spillover.sweeps._limiter import Limiter, SlotLimiter, local_limiter
from spillover.sweeps._query import connect_sweep, query_sweep
from spillover.sweeps._run import CellOutcome, CellTask, fits_document, run_cell, simulate_config
from spillover.sweeps._spec import (
    EXECUTOR_KINDS,
    SweepSettings,
    SweepSpec,
    read_sweep_config,
    simulation_keys,
)
from spillover.sweeps._store import (
    SWEEP_MANIFEST,
    Sweep,
    SweepCell,
    is_sweep,
    load_sweep,
    sweep_lock,
)

__all__ = [
    "EXECUTOR_KINDS",
    "RATE_NEUTRAL_KEYS",
    "SWEEP_MANIFEST",
    "TABLES",
    "CellOutcome",
    "CellTask",
    "DaskExecutor",
    "Executor",
    "Limiter",
    "ProcessExecutor",
    "SerialExecutor",
    "SlotLimiter",
    "Sweep",
    "SweepCell",
    "SweepProgress",
    "SweepSettings",
    "SweepSpec",
    "SweepSummary",
    "check_models",
    "connect_sweep",
    "fit_sweep",
    "fit_sweep_effects",
    "fits_document",
    "is_sweep",
    "load_sweep",
    "local_limiter",
    "make_executor",
    "partition_path",
    "query_sweep",
    "read_sweep_config",
    "run_cell",
    "run_sweep",
    "simulate_config",
    "simulation_keys",
    "sweep_lock",
    "with_shared_cache",
]
