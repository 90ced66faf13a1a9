"""``spillover sweep``: a grid of simulate configs, times replicates, on one executor."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from spillover._redact import redact
from spillover.cli._app import app
from spillover.cli._console import bar_progress, err_console, out_console
from spillover.cli._simulate_options import SWEEP_FLAG_OF, QuietOption, flags_on_errors
from spillover.exceptions import ConfigError

if TYPE_CHECKING:
    from spillover.sweeps import CellOutcome, SweepSpec, SweepSummary

__all__ = ["sweep_command"]

_MAX_LISTED = 10


class _Bar:
    """A rich progress bar of cells done and failed, on stderr."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.task: Any = None
        self.failed = 0

    def start(self, total: int, skipped: int) -> None:
        self.task = self.progress.add_task(
            "cells", total=total, completed=skipped, failed=0, skipped=skipped
        )

    def advance(self, outcome: CellOutcome) -> None:
        if outcome.status == "failed":
            self.failed += 1
        self.progress.update(self.task, advance=1, failed=self.failed)


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[_Bar | None]:
    if not enabled:
        yield None
        return
    from rich.progress import TextColumn, TimeRemainingColumn

    with bar_progress(
        TextColumn("[red]{task.fields[failed]} failed[/red]"),
        TextColumn("({task.fields[skipped]} already done)"),
        after=(TextColumn("eta"), TimeRemainingColumn()),
    ) as progress:
        yield _Bar(progress)


def folder_option(help: str) -> Any:
    """``--out``/``-o`` of a command that writes a folder (sweep, study)."""
    return typer.Option("--out", "-o", help=help)


def executor_option(help: str) -> Any:
    return typer.Option("--executor", help=help)


def workers_option(help: str) -> Any:
    return typer.Option("--workers", "-j", min=1, help=help)


def force_option(what: str) -> Any:
    return typer.Option("--force", help=f"Delete the {what} folder's content and start over.")


def check_executor(executor: str | None) -> None:
    """ConfigError unless ``executor`` is None or one of the executor kinds."""
    from spillover.sweeps import EXECUTOR_KINDS

    if executor is not None and executor not in EXECUTOR_KINDS:
        raise ConfigError(
            f"--executor must be one of {', '.join(EXECUTOR_KINDS)}; got {executor!r}"
        )


def default_out(config: Path, out: str | os.PathLike[str] | None) -> Path:
    """The folder of a sweep or a study: ``out`` of its file, else ``runs/CONFIG-STEM``."""
    if out is not None:
        return Path(out)
    return Path("runs") / config.stem


def _settings(
    spec: SweepSpec,
    executor: str | None,
    workers: int | None,
    scheduler: str | None,
    models: list[str] | None,
) -> SweepSpec:
    """Flags over the file's [sweep] settings."""
    check_executor(executor)
    settings = spec.settings
    changes: dict[str, Any] = {}
    if scheduler is not None:
        if executor not in (None, "dask"):
            raise typer.BadParameter(
                f"--scheduler runs the sweep on Dask; got --executor {executor}",
                param_hint="--executor",
            )
        changes.update(scheduler=scheduler, executor="dask")
    elif executor is not None:
        changes["executor"] = executor
        if executor != "dask":
            changes["scheduler"] = None
    if workers is not None:
        changes["workers"] = workers
    if models:
        if spec.is_loop:
            raise ConfigError("--model does not apply to a loop sweep: its cells fit the coupling")
        changes["models"] = tuple(models)
    if changes:
        settings = dataclasses.replace(settings, **changes)
    if settings.executor_kind == "dask" and settings.scheduler is None:
        raise typer.BadParameter(
            "the dask executor needs a scheduler address", param_hint="--scheduler"
        )
    return dataclasses.replace(spec, settings=settings)


def _print_plan(spec: SweepSpec, out: Path) -> None:
    from rich.table import Table

    s = spec.settings
    values = spec.loop if spec.loop is not None else spec.base
    table = Table(title=f"{spec.n_cells} cells x {values.get('n_reps', 10)} replicates")
    table.add_column("cell", justify="right")
    for key in spec.keys:
        table.add_column(key)
    for cell, params in spec.iter_cells():
        table.add_row(str(cell), *(str(params[k]) for k in spec.keys))
    out_console.print(table)
    if spec.is_loop and s.executor_kind == "dask":
        from spillover._resources import available_memory_bytes, format_bytes
        from spillover.loop import estimate_loop_bytes

        peak = max(estimate_loop_bytes(spec.cell_values(c, seed=0)) for c in range(spec.n_cells))
        out_console.print(
            f"largest cell: about {format_bytes(peak)} of memory on its worker "
            f"({format_bytes(available_memory_bytes())} available here)"
        )
    where = (
        redact(s.scheduler or "") if s.executor_kind == "dask" else f"{s.workers or 'all'} workers"
    )
    out_console.print(
        f"executor {s.executor_kind} ({where}); "
        f"{'loop cells (coupling fit)' if spec.is_loop else 'models ' + ', '.join(s.models)}; "
        f"root seed {spec.seed if spec.seed is not None else 'fresh entropy'}; out {out}"
    )


def _print_summary(spec: SweepSpec, summary: SweepSummary) -> None:
    executor = summary.executor
    where = executor.get("scheduler") or f"{executor.get('workers')} workers"
    out_console.print(
        f"[bold]{summary.path}[/bold]: {summary.n_cells} cells, {summary.complete} complete "
        f"({summary.skipped} already done, {summary.ran} run now), {summary.failed} failed; "
        f"{summary.elapsed_s:.1f} s on the {executor.get('kind')} executor ({where})"
    )
    for cell, error in summary.failures[:_MAX_LISTED]:
        out_console.print(f"  cell {cell} ({spec.describe_cell(cell)}): {error}", markup=False)
    if len(summary.failures) > _MAX_LISTED:
        out_console.print(f"  ... and {len(summary.failures) - _MAX_LISTED} more (sweep.json)")
    if summary.failed:
        out_console.print(
            "failed cells are recorded in sweep.json; rerun the same command to retry them"
        )
    if summary.complete:
        out_console.print(
            f"query it: spillover query {summary.path} "
            f'"SELECT * FROM {"coupling" if spec.is_loop else "fits"} LIMIT 10"',
            markup=False,
        )


@app.command("sweep")
@flags_on_errors(SWEEP_FLAG_OF)
def sweep_command(
    config: Annotated[
        Path,
        typer.Argument(
            help="Sweep file (TOML or YAML): seed, \\[base], \\[grid], optional \\[sweep]."
        ),
    ],
    out: Annotated[
        Path | None,
        folder_option("Sweep folder. \\[default: out in \\[sweep], else runs/CONFIG-STEM]"),
    ] = None,
    executor: Annotated[
        str | None,
        executor_option("serial, process or dask. \\[default: process; dask with --scheduler]"),
    ] = None,
    workers: Annotated[
        int | None, workers_option("Processes of the process executor. \\[default: all cores]")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address tcp://HOST:PORT (runs on Dask)."),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model", "-m", help="Model fitted on each cell (repeat). \\[default: si si2]"
        ),
    ] = None,
    force: Annotated[bool, force_option("sweep")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and list the cells; run nothing.")
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Run every cell of a parameter grid (each with n_reps replicates).

    Each cell writes a run directory under OUT/cells/. The sweep writes
    OUT/sweep.json and a Parquet dataset OUT/dataset/{curves,exposures,fits}/
    with the swept parameters as columns: `spillover query OUT "SQL"`. A file with a
    \\[loop] section (the keys of `spillover loop --config`) sweeps chained coupled runs:
    dataset OUT/dataset/{coupling,outbreaks,cascades}/ (docs/loop.md).

    Rerunning the same command skips complete cells and retries failed ones.
    Exit code 1 when some cells failed, 2 on bad input.
    """
    from spillover.sweeps import check_models, read_sweep_config, run_sweep

    # A dry run on Dask plans cells for workers elsewhere: it prints a loop cell's memory
    # estimate instead of refusing it for this machine's memory.
    spec = _settings(
        read_sweep_config(config, check_memory=not dry_run), executor, workers, scheduler, model
    )
    if dry_run and spec.is_loop and spec.settings.executor_kind != "dask":
        read_sweep_config(config)  # runs here: refused as a run would be
    check_models(spec.settings.models)
    target = out if out is not None else default_out(config, spec.settings.out)
    if dry_run:
        _print_plan(spec, target)
        return
    if not quiet:
        s = spec.settings
        where = (
            redact(s.scheduler or "")
            if s.executor_kind == "dask"
            else f"{s.workers or 'all'} workers"
        )
        err_console.print(
            f"sweep: {spec.n_cells} cells ({', '.join(spec.keys)}) on the {s.executor_kind} "
            f"executor ({where}) into {target}"
        )
    with _progress(not quiet) as bar:
        summary = run_sweep(
            spec, target, force=force, progress=bar, command=["spillover", *sys.argv[1:]]
        )
    _print_summary(spec, summary)
    if summary.failed:
        raise typer.Exit(1)
