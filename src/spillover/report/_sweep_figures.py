"""The figure of a sweep: fitted rates, with 95 % intervals, across each swept parameter."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spillover.exceptions import ConfigError
from spillover.report._mpl import new_figure
from spillover.sweeps import Sweep, fit_sweep, load_sweep

if TYPE_CHECKING:
    import pyarrow as pa
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_rates_across"]

_Z95 = 1.959963984540054

#: (cell, rate) -> (estimate, standard error)
_Estimates = dict[tuple[int, str], tuple[float, float]]


def _x_positions(values: Sequence[Any]) -> tuple[list[float], list[str] | None]:
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numeric:
        return [float(v) for v in values], None
    return [float(i) for i in range(len(values))], [str(v) for v in values]


def _generating(sweep: Sweep, cell: int, rate: str) -> float | None:
    """The rate a cell was simulated with, when its policy is the constant one."""
    params = sweep.cells[cell].params
    values = {**sweep.base, **params}
    if values.get("policy") != "constant":
        return None
    value = values.get(rate)
    return float(value) if isinstance(value, int | float) else None


def _estimates(sweep: Sweep, model: str, fits: pa.Table | None) -> tuple[list[str], _Estimates]:
    """The rates ``model`` has (of alpha, beta) and their estimates per cell."""
    if fits is None:
        fits = sweep.read_table("fits")
        if model not in set(fits.column("model").to_pylist()):
            fits = fit_sweep(sweep, (model,))
    rows = [r for r in fits.to_pylist() if r["model"] == model and r["index"] is None]
    if not rows:
        raise ConfigError(
            f"no fit of model {model!r} in {sweep.path} (complete cells: "
            f"{len(sweep.complete_cells())})"
        )
    rates = [p for p in ("alpha", "beta") if any(r["param"] == p for r in rows)]
    if not rates:
        raise ConfigError(f"model {model!r} has no alpha or beta parameter to draw")
    estimates: _Estimates = {}
    for r in rows:
        if r["param"] in rates and r["value"] is not None:
            se = r["stderr"] if r["stderr"] is not None else math.nan
            estimates[(int(r["cell"]), str(r["param"]))] = (float(r["value"]), float(se))
    return rates, estimates


def _draw_group(
    ax: Axes,
    sweep: Sweep,
    rate: str,
    members: Sequence[tuple[int, Any]],
    values: Sequence[Any],
    xs: Sequence[float],
    offset: float,
    estimates: _Estimates,
    style: dict[str, Any],
    truth_label: str | None,
) -> None:
    """One line of cells (sharing the other parameters) on one panel, with generating ticks."""
    pts = []
    for cell_index, value in members:
        est = estimates.get((cell_index, rate))
        if est is None or value not in values:
            continue
        pts.append((xs[list(values).index(value)] + offset, *est))
    if not pts:
        return
    pts.sort()
    x, y, se = zip(*pts, strict=True)
    truth = [
        (xs[list(values).index(value)] + offset, _generating(sweep, cell_index, rate))
        for cell_index, value in members
        if value in values
    ]
    known = [(tx, ty) for tx, ty in truth if ty is not None]
    if known:
        tx, ty = zip(*known, strict=True)
        ax.scatter(tx, ty, marker="_", s=140, color="0.35", zorder=3, label=truth_label)
    err = [_Z95 * s if math.isfinite(s) else 0.0 for s in se]
    ax.errorbar(x, y, yerr=err, marker="o", ms=3.5, lw=1.2, capsize=2.5, **style)


def _draw_parameter(
    axes: Any,
    j: int,
    sweep: Sweep,
    rates: Sequence[str],
    estimates: _Estimates,
) -> None:
    """Column ``j`` of panels: the rates across the ``j``-th swept parameter."""
    from matplotlib import colormaps

    key, values = sweep.grid[j]
    keys = sweep.keys
    xs, labels = _x_positions(values)
    others = [k for k in keys if k != key]
    groups: dict[tuple[Any, ...], list[tuple[int, Any]]] = {}
    for cell in sweep.cells:
        groups.setdefault(tuple(repr(cell.params.get(k)) for k in others), []).append(
            (cell.cell, cell.params.get(key))
        )
    n_groups = len(groups)
    spread = 0.25 if labels is not None else 0.0
    # Groups in cell order (dicts keep insertion order, and cells are visited in order).
    for g, (group, members) in enumerate(groups.items()):
        label = ", ".join(f"{k}={v}" for k, v in zip(others, group, strict=True)) or None
        offset = (g - (n_groups - 1) / 2) * spread / max(n_groups, 1)
        for i, rate in enumerate(rates):
            style = {
                "color": colormaps["tab10"](g % 10),
                "alpha": 0.85 if n_groups <= 10 else 0.4,
                "label": label if (i == 0 and n_groups <= 8) else None,
            }
            first = g == 0 and i == 0 and j == 0
            _draw_group(
                axes[i][j],
                sweep,
                rate,
                members,
                values,
                xs,
                offset,
                estimates,
                style,
                "generating value" if first else None,
            )
    for i, rate in enumerate(rates):
        ax = axes[i][j]
        positive = [v for (c, r), (v, _) in estimates.items() if r == rate and v > 0]
        if positive and max(positive) / min(positive) > 20:
            ax.set_yscale("log")
        if labels is not None:
            ax.set_xticks(xs, labels, rotation=30 if max(map(len, labels)) > 6 else 0)
        ax.set_xlabel(key)
        ax.set_ylabel(f"{rate} (per round)" if j == 0 else rate)
        ax.grid(alpha=0.3)
    if (n_groups > 1 and n_groups <= 8) or j == 0:
        axes[0][j].legend(fontsize=7, frameon=False)


def plot_rates_across(
    path: str | os.PathLike[str] | Sweep,
    *,
    model: str = "si2",
    fits: pa.Table | None = None,
) -> Figure:
    """Draw fitted alpha and beta, with 95% intervals, across each swept parameter.

    One column of panels per swept parameter, one row per rate (``alpha``, ``beta``; only
    those the model has). In the panel of parameter k, each line joins the cells that share
    the values of the other swept parameters (labelled in the legend when there are few),
    and the bars are ``estimate ± 1.96 × standard error``. Grey ticks mark the generating
    value of cells simulated with the constant policy. A rate spanning more than a factor 20
    is drawn on a log scale.

    Parameters
    ----------
    path : path or Sweep
        A sweep folder.
    model : str
        Which fitted model's rates to draw.
    fits : pyarrow.Table, optional
        Fits in the schema of :func:`spillover.sweeps.fit_sweep`; read from the sweep's
        dataset when omitted (or fitted again when the dataset lacks ``model``).

    Returns
    -------
    matplotlib.figure.Figure
        Save it with :func:`spillover.report.save_figure` (or ``fig.savefig``).
    """
    sweep = path if isinstance(path, Sweep) else load_sweep(path)
    rates, estimates = _estimates(sweep, model, fits)
    keys = sweep.keys
    fig = new_figure((4.2 * len(keys) + 0.6, 3.2 * len(rates) + 0.6), dpi=120)
    axes = fig.subplots(len(rates), len(keys), squeeze=False)
    for j in range(len(keys)):
        _draw_parameter(axes, j, sweep, rates, estimates)
    fig.suptitle(
        f"{model}: fitted rates across swept parameters (95% intervals), {sweep.path.name}"
    )
    fig.tight_layout()
    return fig
