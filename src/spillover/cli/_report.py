"""``spillover report RUN``: a self-contained HTML report of a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spillover.cli._app import app
from spillover.cli._console import err_console, out_console

__all__ = ["report_command"]


@app.command("report")
def report_command(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory or a sweep folder.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HTML file to write. \\[default: RUN/report.html]"),
    ] = None,
    folds: Annotated[
        int, typer.Option("--folds", help="Folds of replicates for held-out scores (0: skip).")
    ] = 5,
) -> None:
    """Fit every model the run supports and write an HTML report with figures.

    For a sweep folder: si and si2 fitted per cell, a figure of the fitted rates across each
    swept parameter, and the table of fits.

    The page has no external resources (figures are embedded); the figures are also written
    as PNG files next to it, in figures/.
    """
    from spillover.exceptions import ConfigError
    from spillover.report import build_run_report, build_sweep_report
    from spillover.sweeps import is_sweep

    if folds < 0:
        raise ConfigError(f"--folds must be >= 0; got {folds}")
    err_console.print(f"fitting and plotting {run} ...")
    from spillover.io import is_loop_run

    if is_loop_run(run):
        from spillover.report import build_loop_report

        path = build_loop_report(run, out)
    elif is_sweep(run):
        path = build_sweep_report(run, out)
    else:
        path = build_run_report(run, out, n_folds=folds)
    out_console.print(f"wrote {path} (figures in {path.parent / 'figures'})")
