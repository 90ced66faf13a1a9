"""The sweep driver: plan the cells, skip finished ones, run the rest, record everything.

The driver is the only process that writes ``sweep.json`` and the dataset; workers write only
their cell's run directory. A cell counts as finished when its run directory's manifest says
``"status": "complete"`` (and belongs to this sweep: same root seed and cell), never because a
folder exists. After each cell the driver writes its dataset partitions, then ``sweep.json``;
a sweep killed at any point is resumed by running it again.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from spillover._redact import redact, redact_tree
from spillover._rng import seed_record
from spillover.exceptions import ConfigError, RunDirError
from spillover.io import (
    record as record_owned,
)
from spillover.sweeps._dataset import (
    param_types,
    remove_cell_partitions,
    write_cell_partitions,
)
from spillover.sweeps._executors import Executor, make_executor
from spillover.sweeps._run import CellOutcome, CellTask, run_cell
from spillover.sweeps._spec import SweepSettings, SweepSpec
from spillover.sweeps._store import (
    FORMAT,
    SWEEP_MANIFEST,
    cell_dir,
    clean_stale,
    clear_sweep_folder,
    is_sweep,
    prepare_sweep_folder,
    read_sweep_manifest,
    sweep_lock,
    write_json_atomic,
)

__all__ = ["SweepProgress", "SweepSummary", "check_models", "run_sweep"]


class SweepProgress(Protocol):
    """Receives the sweep's progress (the CLI draws a progress bar with it)."""

    def start(self, total: int, skipped: int) -> None:
        """``total`` cells, of which ``skipped`` were already complete."""

    def advance(self, outcome: CellOutcome) -> None:
        """One cell finished (complete or failed)."""


@dataclass(frozen=True)
class SweepSummary:
    """What a call to :func:`run_sweep` did.

    Attributes
    ----------
    path : Path
        The sweep folder.
    n_cells : int
    complete, failed : int
        Cells complete and failed at the end (complete includes skipped ones).
    skipped : int
        Cells already complete when the call started (not run again).
    ran : int
        Cells run by this call.
    elapsed_s : float
        Wall time of this call.
    failures : tuple of (cell, error)
    executor : dict
        The executor's description.
    """

    path: Path
    n_cells: int
    complete: int
    failed: int
    skipped: int
    ran: int
    elapsed_s: float
    failures: tuple[tuple[int, str], ...] = ()
    executor: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.complete == self.n_cells


def check_models(models: Sequence[str]) -> tuple[str, ...]:
    """Model names known to ``spillover.fit.ESTIMATORS`` (looked up at call time)."""
    from spillover.fit import COUPLED_MODELS, ESTIMATORS

    if isinstance(models, str) or not models:
        raise ConfigError("models: give at least one model name, as a list")
    coupled = [m for m in models if m in COUPLED_MODELS]
    if coupled:
        raise ConfigError(
            f"model {coupled[0]!r} is a coupled model of loop runs: the cells of an SI sweep "
            f"hold no offline tables; their spread models: {', '.join(ESTIMATORS)}"
        )
    unknown = [m for m in models if m not in ESTIMATORS]
    if unknown:
        raise ConfigError(
            f"unknown model(s) {', '.join(map(repr, unknown))}; known: {', '.join(ESTIMATORS)}"
        )
    return tuple(dict.fromkeys(models))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _inside(paths: Sequence[str], root: Path) -> list[str]:
    """Those of ``paths`` inside ``root``, relative to it."""
    out = []
    for path in paths:
        try:
            out.append(Path(path).absolute().relative_to(root).as_posix())
        except ValueError:
            continue
    return out


def _resolve_seed(spec: SweepSpec, previous: dict[str, Any] | None, root: Path) -> int:
    if previous is not None:
        if previous.get("fingerprint") != spec.fingerprint():
            raise ConfigError(
                f"{root} holds a sweep with a different [base], [grid] or share_graphs; rerun "
                "with the same sweep file to resume it, use another out, or force to start over",
                params=("out", "force"),
            )
        kept = previous.get("settings", {}).get("agent_tables", True)
        if kept != spec.settings.agent_tables:
            raise ConfigError(
                f"{root} holds a sweep whose cells {'keep' if kept else 'skip'} their agent "
                f"tables; resume it with sweep.agent_tables = {str(kept).lower()}, use another "
                "out, or force to start over",
                params=("out", "force"),
            )
        old = int(previous["seed"])
        if spec.seed is not None and spec.seed != old:
            raise ConfigError(
                f"{root} holds a sweep with root seed {old}, not {spec.seed}; use another "
                "out, or force to start over",
                params=("out", "force"),
            )
        return old
    if spec.seed is not None:
        return spec.seed
    return seed_record(None).entropy


def _is_complete(root: Path, cell: int, seed: int) -> bool:
    """Complete means: a readable manifest with status complete, from this sweep and cell."""
    from spillover.io import read_manifest

    try:
        doc = read_manifest(cell_dir(root, cell))
    except RunDirError:
        return False
    seed_doc = doc.get("seed", {})
    sweep_doc = doc.get("sweep", {})
    return (
        sweep_doc.get("cell") == cell
        and seed_doc.get("entropy") == seed
        and list(seed_doc.get("spawn_key", [])) == [cell]
    )


def _record(cell: int, params: dict[str, Any]) -> dict[str, Any]:
    """A cell's record in ``sweep.json``; its swept values label the cell (masked where they
    look like credentials: a server URL with a key), the cell runs its spec's own values."""
    return {
        "cell": cell,
        "id": f"cell-{cell:05d}",
        "run_dir": f"cells/cell-{cell:05d}",
        "params": {k: redact(v) if isinstance(v, str) else v for k, v in params.items()},
        "status": "pending",
        "error": None,
        "traceback": None,
        "elapsed_s": None,
        "timings": {},
        "worker": None,
        "attempts": 0,
        "finished_utc": None,
    }


#: The answer cache an LLM sweep shares when ``[base]`` names none.
SHARED_CACHE = "llm-cache.sqlite"


def with_shared_cache(values: dict[str, Any], root: Path) -> dict[str, Any]:
    """Point an LLM cell without a cache of its own at the sweep's shared cache.

    Cells of policy ``llm`` whose ``cache`` is unset (and ``cache_mode`` is ``read_write``)
    use ``SWEEP/llm-cache.sqlite``, so an answer paid for by one cell serves every other cell
    and every resumed run. A cache named in ``[base]`` or ``[grid]`` is kept as it is.
    """
    from spillover.sweeps._spec import simulation_keys

    if (
        "cache" in simulation_keys()
        and values.get("policy") == "llm"
        and values.get("cache") is None
        and values.get("cache_mode", "read_write") == "read_write"
    ):
        return {**values, "cache": str(root / SHARED_CACHE)}
    return values


def _manifest_timings(root: Path, cell: int) -> dict[str, float]:
    from spillover.io import read_manifest

    try:
        timings = read_manifest(cell_dir(root, cell)).get("timings", {})
    except RunDirError:
        return {}
    return {k: float(v) for k, v in timings.items() if isinstance(v, int | float)}


@dataclass
class _Plan:
    """The cells of one invocation: their records, and those still to run."""

    seed: int
    types: dict[str, Any]
    previous: dict[str, Any] | None
    records: list[dict[str, Any]]
    pending: list[int]

    @property
    def skipped(self) -> int:
        return len(self.records) - len(self.pending)


def _resume(spec: SweepSpec, root: Path, force: bool) -> tuple[dict[str, Any] | None, int]:
    """Under the sweep lock: drop stale leftovers, clear for ``force``, and return the previous
    ``sweep.json`` (None for a new sweep) with the root seed this invocation runs under."""
    clean_stale(root)
    if force:
        clear_sweep_folder(root)
    previous = read_sweep_manifest(root) if is_sweep(root) else None
    return previous, _resolve_seed(spec, previous, root)


def _plan(spec: SweepSpec, root: Path, model_names: tuple[str, ...], force: bool) -> _Plan:
    """One record per cell; complete cells keep their record and get any missing partitions
    written, every other cell is pending (its partitions removed)."""
    previous, seed = _resume(spec, root, force)
    types = param_types(spec.grid)
    old_records = {int(c["cell"]): c for c in previous["cells"]} if previous else {}
    old_models = previous.get("settings", {}).get("models") if previous else None
    refresh = ("fits",) if old_models != list(model_names) else ()
    records: list[dict[str, Any]] = []
    pending: list[int] = []
    for cell, params in spec.iter_cells():
        record = _record(cell, params)
        old = old_records.get(cell)
        if old is not None:
            record["attempts"] = int(old.get("attempts", 0))
        complete = _is_complete(root, cell, seed)
        if complete:
            try:
                write_cell_partitions(
                    root,
                    cell,
                    cell_dir(root, cell),
                    params,
                    types,
                    model_names,
                    only_missing=True,
                    refresh=refresh,
                    loop=spec.is_loop,
                )
            except Exception:  # an unreadable run directory: run the cell again
                complete = False
        if complete:
            if old is not None and old.get("status") == "complete":
                record.update({k: old.get(k) for k in ("elapsed_s", "worker", "finished_utc")})
            record["status"] = "complete"
            record["timings"] = _manifest_timings(root, cell)
        else:
            remove_cell_partitions(root, cell)
            pending.append(cell)
        records.append(record)
    return _Plan(seed=seed, types=types, previous=previous, records=records, pending=pending)


#: Least seconds between two writes of ``sweep.json`` while cells finish (the whole document,
#: every cell's record, is rewritten each time: after every cell, a 200-cell sweep spent about
#: 3 s of its minute there). The cells' own manifests decide what a resume reruns.
SAVE_INTERVAL_S: Final[float] = 1.0


class _Journal:
    """``sweep.json`` as the driver keeps it: the document and this invocation's entry."""

    def __init__(
        self,
        root: Path,
        t_start: float,
        document: dict[str, Any],
        invocation: dict[str, Any],
    ) -> None:
        self.root = root
        self.t_start = t_start
        self.document = document
        self.invocation = invocation
        self._saved_at = -math.inf

    @property
    def records(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.document["cells"]
        return records

    def save(self, status: str | None = None) -> None:
        """Recount the cells and write ``sweep.json`` (``status`` sets the sweep's status)."""
        counts = {"complete": 0, "failed": 0, "pending": 0}
        for r in self.records:
            counts[r["status"]] += 1
        self.document["counts"] = counts
        if status is not None:
            self.document["status"] = status
            self.invocation["status"] = status
        self.document["updated_utc"] = _now()
        self.invocation["elapsed_s"] = round(time.perf_counter() - self.t_start, 3)
        write_json_atomic(self.document, self.root / SWEEP_MANIFEST)
        self._saved_at = time.perf_counter()

    def save_after_cell(self, failed: bool) -> None:
        """:meth:`save` after a finished cell: at once for a failure, else at most every
        :data:`SAVE_INTERVAL_S` (the end of the sweep saves in any case)."""
        if failed or time.perf_counter() - self._saved_at >= SAVE_INTERVAL_S:
            self.save()


def _open_journal(
    spec: SweepSpec,
    root: Path,
    plan: _Plan,
    model_names: tuple[str, ...],
    argv: list[str],
    t_start: float,
) -> _Journal:
    """The ``sweep.json`` document for this invocation, with a new running invocation entry."""
    previous = plan.previous
    started = _now()
    document: dict[str, Any] = {
        "format": FORMAT,
        "kind": "spillover-sweep",
        "status": "running",
        "created_utc": previous.get("created_utc", started) if previous else started,
        "updated_utc": started,
        "command": redact_tree(argv),
        "seed": plan.seed,
        "fingerprint": spec.fingerprint(),
        **{k: v for k, v in spec.to_dict().items() if k != "seed"},
        "n_cells": spec.n_cells,
        "counts": {},
        "invocations": list(previous.get("invocations", [])) if previous else [],
        "cells": plan.records,
    }
    document["settings"]["models"] = list(model_names)
    invocation: dict[str, Any] = {
        "started_utc": started,
        "executor": None,
        "skipped": plan.skipped,
        "ran": 0,
        "failed": 0,
        "elapsed_s": None,
        "status": "running",
    }
    document["invocations"].append(invocation)
    return _Journal(root, t_start, document, invocation)


def _cell_tasks(
    spec: SweepSpec,
    root: Path,
    plan: _Plan,
    journal: _Journal,
    run_executor: Executor,
    model_names: tuple[str, ...],
    argv: list[str],
) -> list[CellTask]:
    """The pending cells' tasks, with the sweep-wide LLM limiter when the settings ask for one;
    the limiter and the answer caches the tasks use are recorded in ``sweep.json``."""
    slots = spec.settings.llm_concurrency
    limiter = (
        run_executor.limiter(slots, name=f"spillover-llm-{plan.seed:x}-{os.getpid()}")
        if slots is not None and plan.pending
        else None
    )
    if limiter is not None:
        journal.document["limiter"] = limiter.describe()
    graph_cells = spec.graph_cells()
    tasks = [
        CellTask(
            cell=cell,
            config=with_shared_cache(spec.cell_values(cell, seed=plan.seed), root),
            out=str(cell_dir(root, cell)),
            params=plan.records[cell]["params"],
            models=model_names,
            sweep=str(root),
            command=tuple(argv),
            limiter=limiter,
            kind="loop" if spec.is_loop else "si",
            agent_tables=spec.settings.agent_tables,
            graph_cell=graph_cells[cell] if spec.settings.share_graphs else None,
        )
        for cell in plan.pending
    ]
    caches = sorted({str(t.config["cache"]) for t in tasks if t.config.get("cache")})
    if caches:
        journal.document["llm_caches"] = caches
        record_owned(root, keep=_inside(caches, root))
    return tasks


def _on_error(task: CellTask, exc: BaseException) -> CellOutcome:
    return CellOutcome.failure(task.cell, exc)


def _finish_cell(
    outcome: CellOutcome,
    root: Path,
    plan: _Plan,
    model_names: tuple[str, ...],
    loop: bool = False,
) -> CellOutcome:
    """Record one finished cell: write its partitions when it completed (a cell whose partitions
    cannot be written counts as failed) and update its record; return the outcome it counts as."""
    record = plan.records[outcome.cell]
    if outcome.status == "complete":
        try:
            write_cell_partitions(
                root,
                outcome.cell,
                cell_dir(root, outcome.cell),
                record["params"],
                plan.types,
                model_names,
                loop=loop,
            )
        except Exception as exc:
            remove_cell_partitions(root, outcome.cell)
            outcome = CellOutcome.failure(
                outcome.cell, exc, elapsed_s=outcome.elapsed_s, worker=outcome.worker
            )
    record.update(
        status=outcome.status,
        error=outcome.error,
        traceback=outcome.traceback,
        elapsed_s=round(outcome.elapsed_s, 6),
        timings=outcome.timings,
        worker=outcome.worker or None,
        attempts=int(record["attempts"]) + 1,
        finished_utc=_now(),
    )
    return outcome


def _run_pending(
    run_executor: Executor,
    tasks: list[CellTask],
    root: Path,
    plan: _Plan,
    journal: _Journal,
    model_names: tuple[str, ...],
    progress: SweepProgress | None,
    loop: bool = False,
) -> tuple[int, list[tuple[int, str]]]:
    """The worker loop: run the tasks, saving ``sweep.json`` as cells finish (at most every
    :data:`SAVE_INTERVAL_S`, and after each failure); return the number of cells run and the
    failures as (cell, error)."""
    failures: list[tuple[int, str]] = []
    ran = 0
    invocation = journal.invocation
    for result in run_executor.map(run_cell, tasks, on_error=_on_error):
        ran += 1
        outcome = _finish_cell(result, root, plan, model_names, loop=loop)
        if outcome.status == "failed":
            failures.append((outcome.cell, outcome.error or "failed"))
            invocation["failed"] += 1
        invocation["ran"] = ran
        journal.save_after_cell(outcome.status == "failed")
        if progress is not None:
            progress.advance(outcome)
    return ran, failures


def run_sweep(
    spec: SweepSpec,
    out: str | os.PathLike[str],
    *,
    executor: Executor | None = None,
    models: Sequence[str] | None = None,
    force: bool = False,
    progress: SweepProgress | None = None,
    command: Sequence[str] | None = None,
    on_start: Callable[[Path], None] | None = None,
) -> SweepSummary:
    """Run (or resume) a sweep into the folder ``out``.

    Parameters
    ----------
    spec : SweepSpec
        The validated sweep (:func:`read_sweep_config`).
    out : path
        Sweep folder. If it holds this sweep already, finished cells are skipped and failed or
        missing ones run again; if it holds another sweep, ConfigError (unless ``force``).
    executor : Executor, optional
        Where cells run; by default the one ``spec.settings`` describes (process pool with all
        cores unless told otherwise). A given executor is not closed.
    models : sequence of str, optional
        Models fitted on each cell (default ``spec.settings.models``).
    force : bool
        Delete what ``out`` holds and start over.
    progress : SweepProgress, optional
    command : sequence of str, optional
        Recorded in ``sweep.json`` and in every cell's manifest (default ``sys.argv``).
    on_start : callable, optional
        ``on_start(folder)`` runs under the sweep's lock once the folder is accepted (checked,
        and emptied with ``force``) and before any cell runs: what a sweep refuses to start
        leaves the folder as it was.

    Returns
    -------
    SweepSummary
        Failed cells do not raise: they are recorded (``sweep.json``, the summary) and the
        other cells go on.
    """
    t_start = time.perf_counter()
    root = Path(out).absolute()
    if spec.is_loop:
        if models:
            raise ConfigError("models do not apply to a loop sweep: its cells fit the coupling")
        for name in ("agent_tables", "share_graphs"):
            if getattr(spec.settings, name) != getattr(SweepSettings(), name):
                raise ConfigError(
                    f"{name} does not apply to a loop sweep: its cells are runs of spillover loop"
                )
        model_names: tuple[str, ...] = ()  # a loop cell fits the coupling rates
    else:
        model_names = check_models(tuple(models) if models is not None else spec.settings.models)
    argv = list(command) if command is not None else [Path(sys.argv[0]).name, *sys.argv[1:]]
    prepare_sweep_folder(root)
    owned = executor is None
    with sweep_lock(root):
        plan = _plan(spec, root, model_names, force)
        if on_start is not None:
            on_start(root)
        run_executor = executor or make_executor(
            spec.settings.executor_kind,
            workers=spec.settings.workers,
            scheduler=spec.settings.scheduler,
        )
        journal = _open_journal(spec, root, plan, model_names, argv, t_start)
        final = "interrupted"
        try:
            journal.invocation["executor"] = run_executor.describe()
            journal.document["executor"] = journal.invocation["executor"]
            journal.save()
            tasks = _cell_tasks(spec, root, plan, journal, run_executor, model_names, argv)
            if progress is not None:
                progress.start(spec.n_cells, plan.skipped)
            ran, failures = _run_pending(
                run_executor, tasks, root, plan, journal, model_names, progress, spec.is_loop
            )
            n_complete = sum(r["status"] == "complete" for r in plan.records)
            final = "complete" if n_complete == len(plan.records) else "incomplete"
        finally:
            try:
                journal.save(final)
            finally:
                if owned:
                    run_executor.close()
        executor_doc = dict(journal.invocation["executor"] or {})
    records = plan.records
    return SweepSummary(
        path=root,
        n_cells=spec.n_cells,
        complete=sum(r["status"] == "complete" for r in records),
        failed=sum(r["status"] == "failed" for r in records),
        skipped=plan.skipped,
        ran=ran,
        elapsed_s=time.perf_counter() - t_start,
        failures=tuple(failures),
        executor=executor_doc,
    )
