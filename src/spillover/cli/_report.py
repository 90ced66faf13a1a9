"""``spillover report RUN``: a self-contained HTML report of a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spillover.cli._app import app
from spillover.cli._console import err_console, out_console
from spillover.cli._fit_options import (
    FoldsOption,
    check_fit_options,
    llm_noise_option,
    llm_noise_tables,
)
from spillover.cli._simulate_options import FIT_FLAG_OF, flags_on_errors

__all__ = ["report_command"]


@app.command("report")
@flags_on_errors(FIT_FLAG_OF)
def report_command(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory or a sweep folder.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HTML file to write. \\[default: RUN/report.html]"),
    ] = None,
    folds: FoldsOption = 5,
    fit_rounds: Annotated[
        int | None,
        typer.Option(
            "--fit-rounds",
            metavar="R",
            help="Fit on rounds 0..R only and show each model's forecast of the later rounds "
            "with bands.",
        ),
    ] = None,
    llm_noise: Annotated[
        int | None, llm_noise_option("the agent-level intervals, as in spillover fit")
    ] = None,
) -> None:
    """Fit every model the run supports and write an HTML report with figures.

    For a sweep folder: si and si2 fitted per cell, a figure of the fitted rates across each
    swept parameter, and the table of fits. For a loop sweep: the table of cells (coupling
    rates, offline outbreak size) and a figure of outbreak size against the swept rate.

    The page has no external resources (figures are embedded); the figures are also written
    as PNG files next to it, in figures/.
    """
    from spillover.exceptions import ConfigError
    from spillover.report import build_run_report, build_sweep_report
    from spillover.sweeps import is_sweep

    check_fit_options(folds, llm_noise)
    from spillover.io import is_loop_run

    if fit_rounds is not None:
        if is_loop_run(run) or is_sweep(run):
            raise ConfigError(
                "--fit-rounds forecasts one run: give a run directory, not a sweep or loop folder"
            )
        _check_fit_rounds(run, fit_rounds)
    err_console.print(f"fitting and plotting {run} ...")
    if is_loop_run(run):
        from spillover.report import build_loop_report

        path = build_loop_report(run, out)
    elif is_sweep(run):
        path = build_sweep_report(run, out)
    else:
        n_tables, tick = llm_noise_tables(llm_noise)
        path = build_run_report(
            run,
            out,
            n_folds=folds,
            fit_rounds=fit_rounds,
            llm_noise=n_tables,
            llm_noise_progress=tick,
        )
    out_console.print(f"wrote {path} (figures in {path.parent / 'figures'})")


def _check_fit_rounds(run: Path, fit_rounds: int) -> None:
    """Refuse a bad --fit-rounds before any work, from the run's recorded number of rounds
    (the analysis checks it again against the curves)."""
    from spillover.fit import check_fit_rounds
    from spillover.io import read_manifest

    n_rounds = read_manifest(run).get("config", {}).get("n_rounds")
    if isinstance(n_rounds, int):
        check_fit_rounds(fit_rounds, n_rounds)
