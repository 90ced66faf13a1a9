"""Fits across a sweep: one fit per cell, and a figure of fitted rates across each parameter."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spillover.exceptions import ConfigError
from spillover.sweeps._dataset import fits_table, param_types, read_exposures, with_params
from spillover.sweeps._store import Sweep, load_sweep

if TYPE_CHECKING:
    import pyarrow as pa
    from matplotlib.figure import Figure

__all__ = ["RATE_NEUTRAL_KEYS", "fit_sweep", "fit_sweep_effects", "plot_rates_across"]

_Z95 = 1.959963984540054

#: Settings that change the network or the run's size but not any agent's share probability
#: given its persona, event and exposure: cells that differ only in these (and the event) share
#: one trait-and-event hazard model, so their exposure tables can be pooled.
RATE_NEUTRAL_KEYS = frozenset(
    {
        "event_id",
        "events",
        "n_nodes",
        "degree",
        "graph",
        "rewire_prob",
        "edge_list",
        "n_seeds",
        "n_reps",
        "n_rounds",
        "by_persona",
    }
)


def fit_sweep_effects(path: str | os.PathLike[str] | Sweep) -> Any:
    """Trait and event-type effects from the pooled exposure tables of a sweep over events.

    Returns a :class:`spillover.fit.TraitEffects` with ``event: TYPE`` terms (log hazard
    ratios against the first event type in sorted order), or None when the complete cells
    cover fewer than two event types.

    Raises
    ------
    ConfigError
        When the sweep varies a setting that changes share probabilities (a rate, the policy):
        then the cells do not share one hazard model and pooling them would mislead.
    """
    import json

    import numpy as np

    from spillover.fit import fit_trait_effects
    from spillover.trajectories import ExposureTable

    sweep = path if isinstance(path, Sweep) else load_sweep(path)
    varying = [k for k in sweep.keys if k not in RATE_NEUTRAL_KEYS]
    if varying:
        raise ConfigError(
            f"event effects pool cells that share one hazard model; this sweep varies "
            f"{', '.join(varying)}"
        )
    tables, labels = [], []
    for cell in sweep.complete_cells():
        manifest = json.loads((cell.run_dir / "manifest.json").read_text(encoding="utf-8"))
        table = read_exposures(cell.run_dir)
        tables.append(table)
        labels.append(np.full(len(table), str(manifest["event"]["event_type"]), dtype=object))
    if not tables or len(set(np.concatenate(labels).tolist())) < 2:
        return None
    columns = {
        name: np.concatenate([t.columns()[name] for t in tables]) for name in tables[0].columns()
    }
    return fit_trait_effects(ExposureTable(**columns), event_types=np.concatenate(labels))


def fit_sweep(
    path: str | os.PathLike[str] | Sweep, models: Sequence[str] | None = None
) -> pa.Table:
    """Fit ``models`` to the exposure table of every complete cell of a sweep.

    Parameters
    ----------
    path : path or Sweep
        A sweep folder (or what :func:`load_sweep` returned for it).
    models : sequence of str, optional
        Names known to ``spillover.fit.ESTIMATORS``; by default the registry's sweep models
        (:func:`spillover.fit.sweep_models`).

    Returns
    -------
    pyarrow.Table
        The schema of the ``fits`` view of ``spillover query``: ``cell``, ``model``, ``param``,
        ``index`` (entry of a list-valued parameter, else null), ``value``, ``stderr``,
        ``status``, ``loglik``, ``n_params``, ``n_obs``, ``aic``, ``aicc``, ``bic``, ``best``
        (lowest BIC in its cell), ``message``, then one column per swept parameter; rows in
        cell order. Cells that are not complete are left out.
    """
    import pyarrow as pa

    from spillover.fit import sweep_models
    from spillover.sweeps._driver import check_models
    from spillover.sweeps._run import fits_document

    sweep = path if isinstance(path, Sweep) else load_sweep(path)
    names = check_models(sweep_models() if models is None else models)
    types = param_types(sweep.grid)
    parts: list[pa.Table] = []
    for cell in sweep.complete_cells():
        doc = fits_document(read_exposures(cell.run_dir), names)
        table = with_params(fits_table(doc), cell.params, types)
        parts.append(
            table.add_column(0, "cell", pa.array([cell.cell] * table.num_rows, pa.int32()))
        )
    if not parts:
        empty = with_params(fits_table({"models": []}), {}, types)
        return empty.add_column(0, "cell", pa.array([], pa.int32()))
    return pa.concat_tables(parts)


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
        Fits in the schema of :func:`fit_sweep`; read from the sweep's dataset when omitted
        (or fitted again when the dataset lacks ``model``).

    Returns
    -------
    matplotlib.figure.Figure
        Save it with :func:`spillover.report.save_figure` (or ``fig.savefig``).
    """
    from matplotlib import colormaps

    from spillover.report._mpl import new_figure

    sweep = path if isinstance(path, Sweep) else load_sweep(path)
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
    estimates: dict[tuple[int, str], tuple[float, float]] = {}
    for r in rows:
        if r["param"] in rates and r["value"] is not None:
            se = r["stderr"] if r["stderr"] is not None else math.nan
            estimates[(int(r["cell"]), str(r["param"]))] = (float(r["value"]), float(se))

    keys = sweep.keys
    fig = new_figure((4.2 * len(keys) + 0.6, 3.2 * len(rates) + 0.6), dpi=120)
    axes = fig.subplots(len(rates), len(keys), squeeze=False)
    cmap = colormaps["tab10"]
    for j, (key, values) in enumerate(sweep.grid):
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
            color = cmap(g % 10)
            for i, rate in enumerate(rates):
                ax = axes[i][j]
                pts = []
                for cell_index, value in members:
                    est = estimates.get((cell_index, rate))
                    if est is None or value not in values:
                        continue
                    pts.append((xs[list(values).index(value)] + offset, *est))
                if not pts:
                    continue
                pts.sort()
                x, y, se = zip(*pts, strict=True)
                truth = [
                    (xs[list(values).index(value)] + offset, _generating(sweep, cell_index, rate))
                    for cell_index, value in members
                    if value in values
                ]
                known = [(tx, ty) for tx, ty in truth if ty is not None]
                if known:
                    ax.scatter(
                        *zip(*known, strict=True),
                        marker="_",
                        s=140,
                        color="0.35",
                        zorder=3,
                        label="generating value" if (g == 0 and i == 0 and j == 0) else None,
                    )
                err = [_Z95 * s if math.isfinite(s) else 0.0 for s in se]
                ax.errorbar(
                    x,
                    y,
                    yerr=err,
                    marker="o",
                    ms=3.5,
                    lw=1.2,
                    capsize=2.5,
                    color=color,
                    alpha=0.85 if n_groups <= 10 else 0.4,
                    label=label if (i == 0 and n_groups <= 8) else None,
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
    fig.suptitle(
        f"{model}: fitted rates across swept parameters (95% intervals), {sweep.path.name}"
    )
    fig.tight_layout()
    return fig
