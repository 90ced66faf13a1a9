"""One cell of a sweep: a picklable task, the function a worker runs, and its outcome.

Seeding: the run of cell ``c`` is seeded with ``SeedRecord(root_seed, spawn_key=(c,))``. Inside
it the pipeline draws its streams as usual, so the graph of cell c comes from
``SeedSequence(root, spawn_key=(c, 0))``, its persona placement from ``(c, 1)``, and replicate r
from ``(c, 2, r)`` (seed agents) and ``(c, 3, r)`` (decisions). Every (cell, replicate) therefore
has its own :class:`numpy.random.SeedSequence`, fixed by the root seed and the two indices only:
the number of workers and the order in which cells complete cannot change a result.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from spillover._redact import redact
from spillover._rng import SeedRecord
from spillover.config import SimulationConfig
from spillover.exceptions import ConfigError, SpilloverError
from spillover.graphs import GraphCache
from spillover.sweeps._limiter import Limiter, SlotLimiter
from spillover.sweeps._spec import default_models
from spillover.sweeps._store import writer_lock

if TYPE_CHECKING:
    from spillover.selection import Criterion

__all__ = [
    "GRAPHS",
    "CellOutcome",
    "CellTask",
    "fits_document",
    "loop_fits_document",
    "run_cell",
    "simulate_config",
]


#: The graphs this process built for cells that share them (``sweep.share_graphs``).
GRAPHS = GraphCache()


@dataclass(frozen=True)
class CellTask:
    """Everything a worker needs to run one cell: plain, picklable data.

    Attributes
    ----------
    cell : int
        Cell index in the sweep's grid order.
    config : dict
        The cell's SimulationConfig values; ``seed`` is the sweep's root seed.
    out : str
        Absolute path of the cell's run directory.
    params : dict
        The cell's swept values (recorded in its manifest).
    models : tuple of str
        Models fitted on the cell's exposure table.
    sweep : str
        Absolute path of the sweep folder (recorded in the manifest).
    command : list of str
        The driver's command line (recorded in the manifest instead of the worker's).
    limiter : Limiter or None
        The sweep-wide LLM limiter, when the sweep has one.
    kind : {"si", "loop"}
        ``loop``: ``config`` holds ``[loop]`` values and the cell is a chained coupled run.
    agent_tables : bool
        Whether the cell keeps its per-agent tables (``sweep.agent_tables``). Without them
        no agent histories are made, and ``si-groups2`` takes its exposure-table
        approximation, as ``spillover fit`` does on the folder (so a refit agrees).
    graph_cell : int or None
        With ``sweep.share_graphs``: the cell whose graph this cell runs on (drawn from
        ``SeedRecord(root, (graph_cell,))``'s graph stream, kept for the next cells in this
        process's :data:`GRAPHS`); None: the cell's own graph.
    """

    cell: int
    config: dict[str, Any]
    out: str
    params: dict[str, Any] = field(default_factory=dict)
    models: tuple[str, ...] = field(default_factory=default_models)
    sweep: str = ""
    command: tuple[str, ...] = ()
    limiter: Limiter | None = None
    kind: Literal["si", "loop"] = "si"
    agent_tables: bool = True
    graph_cell: int | None = None

    @property
    def seed(self) -> SeedRecord:
        """``SeedRecord(root_seed, spawn_key=(cell,))``."""
        root = self.config.get("seed")
        if not isinstance(root, int):
            raise ConfigError(f"cell {self.cell}: the task has no root seed")
        return SeedRecord(root, (self.cell,))


@dataclass(frozen=True)
class CellOutcome:
    """What a worker reports back: the cell, its status, and the error when it failed."""

    cell: int
    status: Literal["complete", "failed"]
    elapsed_s: float
    error: str | None = None
    traceback: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    worker: str = ""

    @classmethod
    def failure(
        cls, cell: int, exc: BaseException, *, elapsed_s: float = 0.0, worker: str = ""
    ) -> CellOutcome:
        """A failed outcome; the traceback is kept only for unexpected (non-spillover) errors.
        Both are redacted (:func:`spillover._redact.redact`): they go to ``sweep.json``."""
        detail = None
        if not isinstance(exc, SpilloverError):
            detail = redact("".join(traceback.format_exception(exc)).strip()[-4000:])
        message = redact(str(exc).strip()) or type(exc).__name__
        if not isinstance(exc, SpilloverError):
            message = f"{type(exc).__name__}: {message}"
        return cls(
            cell=cell,
            status="failed",
            elapsed_s=elapsed_s,
            error=message.splitlines()[0] if message else type(exc).__name__,
            traceback=detail,
            worker=worker,
        )


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def simulate_config(
    config: SimulationConfig,
    record: SeedRecord,
    *,
    limiter: Limiter | None = None,
    progress: Callable[[int, int], None] | None = None,
    histories: bool = True,
    graph_seed: SeedRecord | None = None,
) -> Any:
    """:func:`spillover.run`, seeded by an explicit :class:`SeedRecord`.

    With ``record = SeedRecord(config.seed)`` the result is exactly ``spillover.run(config)``
    (a test holds the two together); a sweep passes ``SeedRecord(root, (cell,))``.
    ``histories=False`` skips the agent histories (``agents`` is then None); ``graph_seed``
    draws the graph on another record's graph stream, looked up first in this process's
    :data:`GRAPHS`.

    Returns
    -------
    spillover.pipeline.RunOutput
        Its ``config`` is ``config`` and its ``seed`` is ``record``.
    """
    from spillover.pipeline import run

    return run(
        config,
        rng=record,
        progress=progress,
        limiter=limiter,
        histories=histories,
        graph_seed=graph_seed,
        graph_cache=GRAPHS if graph_seed is not None else None,
    )


def fits_document(
    exposures: Any,
    models: Sequence[str],
    *,
    agents: Any = None,
    criterion: Criterion = "bic",
) -> dict[str, Any]:
    """A cell's ``fits.json``: the ``spillover fit --json`` document of its agent-level fits.

    Built by the same function as ``spillover fit`` (:meth:`spillover.selection.Analysis.
    to_dict`): what ``spillover fit CELL_DIR --model M ... --folds 0 --json`` prints for the
    cell's run directory. Without held-out folds (a sweep compares cells, and folds would
    refit every model K times). A model that cannot be fitted (an empty exposure table, say)
    is listed with status ``failed`` and its message instead of failing the cell. Floats that
    JSON cannot hold (NaN, infinities) are None, as in the file.
    """
    from spillover.io import json_safe
    from spillover.selection import analyse

    analysis = analyse(
        exposures=exposures,
        agents=agents,
        models=tuple(models),
        n_folds=0,
        criterion=criterion,
        on_fit_error="record",
    )
    document: dict[str, Any] = json_safe(analysis.to_dict())
    return document


def run_cell(task: CellTask) -> CellOutcome:
    """Run one cell: simulate, fit, write its run directory. Never raises for a bad cell.

    The sweep's writers lock is held (shared) for the whole cell, so that no new driver starts
    on the folder while this process may still write into it.
    """
    with writer_lock(task.sweep) if task.sweep else contextlib.nullcontext():
        return _recorded(task, _write_loop_cell if task.kind == "loop" else _write_cell)


def loop_fits_document(tables: dict[str, Any]) -> dict[str, Any]:
    """A loop cell's ``fits.json``: what ``spillover fit CELL_DIR --json`` prints for it."""
    from spillover.loop import coupled_fit_document

    return coupled_fit_document(tables)


def _cell_entries(task: CellTask, worker: str) -> dict[str, Any]:
    """The manifest entries of a sweep cell: ``sweep`` (folder, cell, swept values, spawn key,
    worker) and, when the sweep recorded it, ``command``."""
    extra: dict[str, Any] = {
        "sweep": {
            "path": task.sweep,
            "cell": task.cell,
            "params": task.params,
            "spawn_key": list(task.seed.spawn_key),
            "worker": worker,
        },
    }
    if task.graph_cell is not None:
        extra["sweep"]["graph_cell"] = task.graph_cell
    if task.command:
        extra["command"] = list(task.command)
    return extra


def _recorded(task: CellTask, write: Callable[[CellTask, str], dict[str, float]]) -> CellOutcome:
    """The outcome of a cell written by ``write(task, worker)``, which returns the cell's
    timings: complete, with the timings, or failed, with the error."""
    t0 = time.perf_counter()
    worker = _worker_name()
    try:
        timings = write(task, worker)
    except Exception as exc:
        return CellOutcome.failure(
            task.cell, exc, elapsed_s=time.perf_counter() - t0, worker=worker
        )
    return CellOutcome(
        cell=task.cell,
        status="complete",
        elapsed_s=time.perf_counter() - t0,
        timings={k: round(v, 6) for k, v in timings.items()},
        worker=worker,
    )


def _write_loop_cell(task: CellTask, worker: str) -> dict[str, float]:
    """A loop cell: the chained run of ``spillover loop`` seeded ``SeedRecord(root, (cell,))``,
    written as ``spillover loop`` writes it, with the coupling fit in ``fits.json``."""
    from spillover.io import read_loop_tables, write_json, write_loop_dir
    from spillover.loop import run_loop_values

    result, graph, timings = run_loop_values(task.config, task.seed)

    def attach(folder: Path) -> None:
        t_fit = time.perf_counter()
        write_json(loop_fits_document(read_loop_tables(folder)), folder / "fits.json")
        timings["fit_s"] = time.perf_counter() - t_fit

    write_loop_dir(
        result,
        graph,
        task.out,
        config=dict(task.config),
        timings=timings,
        force=True,
        extra=_cell_entries(task, worker),
        attach=attach,
    )
    return timings


def _write_cell(task: CellTask, worker: str) -> dict[str, float]:
    """An SI cell, written atomically by :func:`spillover.io.write_run_dir` (replacing a stale
    run directory), with the fits in ``fits.json`` and, in the manifest, ``fits`` and a
    ``sweep`` entry (sweep folder, cell index, swept values, spawn key)."""
    from spillover.io import write_json, write_run_dir

    config = SimulationConfig().replace(**task.config)
    limiter = task.limiter
    if isinstance(limiter, SlotLimiter):
        limiter = limiter.bind()  # in this task's thread, before any backend uses it
    graph_seed = None
    if task.graph_cell is not None:
        graph_seed = SeedRecord(task.seed.entropy, (task.graph_cell,))
    run = simulate_config(
        config,
        task.seed,
        limiter=limiter,
        histories=task.agent_tables,
        graph_seed=graph_seed,
    )
    t_fit = time.perf_counter()
    fits = fits_document(run.result.exposures, task.models, agents=run.agents)
    fit_s = time.perf_counter() - t_fit

    def attach(folder: Path) -> None:
        write_json(fits, folder / "fits.json")

    extra: dict[str, Any] = {"fits": fits, **_cell_entries(task, worker)}
    run_timings = dict(run.timings, fit_s=fit_s)
    # A previous run of the cell is replaced by its marker: what spillover wrote goes,
    # anything else in the folder fails the cell instead.
    write_run_dir(
        replace(run, timings=run_timings),
        task.out,
        force=True,
        extra=extra,
        attach=attach,
        agent_tables=task.agent_tables,
    )
    return run_timings
