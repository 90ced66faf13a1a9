"""The report of a loop sweep: a table of cells (swept values, fitted coupling rates,
offline outbreak size) and a figure of the offline outbreak size against a swept rate."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spillover.report._mpl import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from spillover.sweeps import Sweep

__all__ = ["build_loop_sweep_report", "plot_outbreak_across"]

#: Swept keys drawn on the x axis, in order of preference.
_RATES = ("eta", "kappa", "beta", "gamma", "delta", "alpha")


def _x_key(sweep: Sweep) -> str:
    """The swept key on the x axis: a coupling rate if one is swept, else the first key with
    numbers for values, else ``"cell"`` (the cell index: every swept key holds strings)."""
    for key in _RATES:
        if key in sweep.keys:
            return key
    for key, values in sweep.grid:
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            return key
    return "cell"


def _pair_curve(sweep: Sweep, x_key: str, label: dict[str, Any], xs: np.ndarray) -> Any:
    """The pair closure's final offline size at the group's settings over ``xs`` of the swept
    rate (the registry's ``loop-pair`` entry), or None when the x key is not a rate."""
    from spillover.fit import get_model
    from spillover.loop import LOOP_KEYS

    if x_key not in _RATES:
        return None
    values = {**LOOP_KEYS, **sweep.loop, **label}
    params = {k: values[k] for k in _RATES}
    params[x_key] = xs
    curves = get_model("loop-pair").predict_curves(
        params,
        degree=values["degree"],
        i0=values["n_seeds"] / values["n_nodes"],
        n_rounds=values["n_rounds"],
    )
    return curves.ever_participated[..., -1]


def plot_outbreak_across(sweep: Sweep, outbreaks: dict[str, list[Any]]) -> Figure:
    """Offline outbreak size (share ever participating in the root cascade) against the swept
    rate: median and 5-95% band over the loop replicates of each cell, one line per value of
    the other swept keys, and the pair closure's prediction (dashed) when the swept key is a
    rate."""
    x_key = _x_key(sweep)
    others = [k for k in sweep.keys if k != x_key] if x_key != "cell" else []
    fig = new_figure((6.4, 4.0), dpi=110)
    ax = fig.subplots()
    cells = np.asarray(outbreaks["cell"])
    size = np.asarray(outbreaks["offline_size"], dtype=np.float64)
    groups: dict[tuple[Any, ...], list[tuple[float, float, float, float]]] = {}
    for c in sweep.complete_cells():
        sel = size[cells == c.cell]
        if sel.size == 0:
            continue
        lo, mid, hi = np.percentile(sel, [5, 50, 95])
        label = tuple(c.params[k] for k in others)
        x = float(c.cell if x_key == "cell" else c.params[x_key])
        groups.setdefault(label, []).append((x, lo, mid, hi))
    for label, points in groups.items():
        xs, lo, mid, hi = (np.array(v) for v in zip(*sorted(points), strict=True))
        name = ", ".join(f"{k} = {v}" for k, v in zip(others, label, strict=True)) or "cells"
        (line,) = ax.plot(xs, mid, "o-", ms=3.5, lw=1.2, label=name)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2)
        grid = np.linspace(float(xs.min()), float(xs.max()), 120)
        pair = _pair_curve(sweep, x_key, dict(zip(others, label, strict=True)), grid)
        if pair is not None:
            ax.plot(grid, pair, ls="--", lw=1.0, color=line.get_color())
    ax.set_xlabel(f"{x_key} (swept)" if x_key != "cell" else "cell")
    ax.set_ylabel("offline outbreak size (root cascade)")
    ax.set_ylim(bottom=0)
    if groups:
        if x_key in _RATES:
            ax.plot([], [], ls="--", lw=1.0, color="grey", label="pair closure (loop-pair)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _cell_rows(
    sweep: Sweep, coupling: dict[str, list[Any]], outbreaks: dict[str, list[Any]]
) -> list[list[str]]:
    est: dict[tuple[int, str], tuple[float, float, float]] = {}
    for i, cell in enumerate(coupling["cell"]):
        est[(int(cell), coupling["rate"][i])] = (
            coupling["estimate"][i],
            coupling["low"][i],
            coupling["high"][i],
        )
    cells = np.asarray(outbreaks["cell"])
    size = np.asarray(outbreaks["offline_size"], dtype=np.float64)
    events = np.asarray(outbreaks["n_events"])
    rows = []
    for c in sweep.cells:
        row = [str(c.cell), *(str(c.params.get(k)) for k in sweep.keys), c.status]
        for rate in ("eta", "gamma", "delta"):
            e = est.get((c.cell, rate))
            row.append("" if e is None or e[0] is None else f"{e[0]:.4g} [{e[1]:.3g}, {e[2]:.3g}]")
        sel = cells == c.cell
        row.append(f"{float(np.mean(size[sel])):.3g}" if sel.any() else "")
        row.append(str(int(events[sel].sum())) if sel.any() else "")
        rows.append(row)
    return rows


def build_loop_sweep_report(sweep: Sweep, out: str | os.PathLike[str] | None = None) -> Path:
    """``report.html`` of a loop sweep (``spillover report SWEEP``)."""
    from spillover.report._build import _figure_staging, _publish, sweep_summary
    from spillover.report._html import PageFigure, render_table_page

    root = sweep.path
    target = Path(out) if out is not None else root / "report.html"
    coupling = sweep.read_table("coupling").to_pydict()
    outbreaks = sweep.read_table("outbreaks").to_pydict()
    staging = _figure_staging(root, target)
    try:
        figure = PageFigure.save(
            plot_outbreak_across(sweep, outbreaks),
            staging / "outbreak_across.png",
            f"Offline outbreak size of the root cascade against {_x_key(sweep)}: median and "
            "5-95% band over each cell's loop replicates; dashed: the pair closure's "
            "prediction at the cells' settings (when a rate is swept).",
            "offline outbreak size across the sweep",
        )
        header: Sequence[str] = [
            "cell",
            *sweep.keys,
            "status",
            "eta [95%]",
            "gamma [95%]",
            "delta [95%]",
            "offline size (mean)",
            "events",
        ]
        html = render_table_page(
            title=f"spillover loop sweep report: {root.name}",
            summary=[
                *sweep_summary(sweep, root),
                ("loop settings", ", ".join(f"{k} = {v}" for k, v in sweep.loop.items())),
            ],
            figures=[figure],
            header=header,
            rows=_cell_rows(sweep, coupling, outbreaks),
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _publish(staging, html, target)
