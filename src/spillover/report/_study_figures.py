"""Figures of a study report, drawn from the numbers of ``study.json`` alone."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from spillover.fit import hazard_ratio
from spillover.report._mpl import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_best_models", "plot_effects", "plot_mean_field_error", "plot_rates_by_type"]

_MODEL_COLORS = {
    "si": "#9ecae1",
    "si2": "#3182bd",
    "si-groups2": "#fd8d3c",
    "si-persona": "#74c476",
    "None": "#dddddd",
}


def _done(fig: Figure) -> Figure:
    fig.tight_layout()
    return fig


def plot_best_models(
    document: dict[str, Any], *, key: str = "best", title: str | None = None
) -> Figure:
    """Heat map: the best model (or reading) of each (event type, degree) pool of cells."""
    types = list(document["design"]["event_types"])
    degrees = list(document["design"]["degrees"])
    fig = new_figure((1.6 + 1.3 * len(degrees), 1.2 + 0.55 * len(types)), dpi=110)
    from matplotlib import colormaps  # after new_figure, which checks the report extra
    from matplotlib.colors import ListedColormap

    cells: dict[tuple[str, int], str] = {}
    for entry in document["pooled"]["by_type_degree"]:
        value = entry.get(key) if key == "best" else (entry.get("verdict") or {}).get("reading")
        cells[(entry["event_type"], int(entry["degree"]))] = str(value)
    labels = sorted(set(cells.values()))
    palette = [_MODEL_COLORS.get(v, colormaps["tab10"](i % 10)) for i, v in enumerate(labels)]
    grid = np.full((len(types), len(degrees)), np.nan)
    for (t, d), v in cells.items():
        grid[types.index(t), degrees.index(d)] = labels.index(v)
    ax = fig.subplots()
    ax.imshow(
        grid,
        cmap=ListedColormap(palette),
        vmin=-0.5,
        vmax=len(labels) - 0.5,
        aspect="auto",
    )
    for (t, d), v in cells.items():
        ax.text(degrees.index(d), types.index(t), v, ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(degrees)), [str(d) for d in degrees])
    ax.set_yticks(range(len(types)), types)
    ax.set_xlabel("degree k")
    criterion = document["design"]["analysis"]["criterion"].upper()
    ax.set_title(title or f"best model by {criterion}, per event type and degree", fontsize=10)
    return _done(fig)


def plot_rates_by_type(rows: Sequence[dict[str, Any]]) -> Figure:
    """si2's alpha and beta pooled per event type, 95 % intervals, generating values."""
    types = list(dict.fromkeys(r["event_type"] for r in rows))
    fig = new_figure((10, 1.2 + 0.5 * len(types)), dpi=110)
    axes = fig.subplots(1, 2, squeeze=False)
    for ax, param in zip(axes[0], ("alpha", "beta"), strict=True):
        labelled = False
        for i, t in enumerate(types):
            (row,) = [r for r in rows if r["event_type"] == t and r["param"] == param]
            if row["estimate"] is None:
                continue
            lo, hi = row["ci_low"], row["ci_high"]
            est = row["estimate"]
            if lo is not None and hi is not None and math.isfinite(lo + hi):
                ax.plot([lo, hi], [i, i], color="tab:blue", lw=2)
            ax.plot([est], [i], "o", color="tab:blue")
            if row.get("truth") is not None:
                ax.plot(
                    [row["truth"]],
                    [i],
                    "x",
                    color="black",
                    ms=8,
                    label=None if labelled else "generating value",
                )
                labelled = True
        ax.set_yticks(range(len(types)), types if param == "alpha" else [""] * len(types))
        ax.invert_yaxis()
        ax.set_xlabel(f"{param} (per round)")
        ax.set_title(f"si2 {param}, pooled per event type (95 % interval)", fontsize=10)
        ax.grid(alpha=0.3)
        if labelled:
            ax.legend(fontsize=8, loc="best")
    return _done(fig)


def plot_effects(rows: Sequence[dict[str, Any]], *, label: str, title: str) -> Figure:
    """Hazard ratios (log scale) with 95 % intervals per channel; crosses: generating values."""
    terms = list(dict.fromkeys(r[label] for r in rows))
    fig = new_figure((10, 1.3 + 0.45 * len(terms)), dpi=110)
    axes = fig.subplots(1, 2, squeeze=False)
    for ax, channel in zip(axes[0], ("alpha", "beta"), strict=True):
        for i, term in enumerate(terms):
            sel = [r for r in rows if r[label] == term and r["channel"] == channel]
            if not sel:
                continue
            r = sel[0]
            lo, hi = hazard_ratio(r["ci_low"]), hazard_ratio(r["ci_high"])
            if math.isfinite(lo + hi):
                ax.plot([lo, hi], [i, i], color="tab:purple", lw=2)
            ax.plot([r["hazard_ratio"]], [i], "o", color="tab:purple")
            if r.get("truth") is not None and math.isfinite(r["truth"]):
                ax.plot([hazard_ratio(r["truth"])], [i], "x", color="black", ms=8)
        ax.axvline(1.0, color="0.5", lw=1)
        ax.set_xscale("log")
        ax.set_yticks(range(len(terms)), terms if channel == "alpha" else [""] * len(terms))
        ax.invert_yaxis()
        ax.set_xlabel("hazard ratio")
        ax.set_title(f"{title}: {channel}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    return _done(fig)


def plot_mean_field_error(mean_field: dict[str, Any]) -> Figure:
    """Largest and mean |model - simulation| of the informed fraction, against the degree."""
    rows = mean_field["by_degree"]
    cells = mean_field["cells"]
    fig = new_figure((10, 3.8), dpi=110)
    axes = fig.subplots(1, 2, squeeze=False)
    for ax, stat in zip(axes[0], ("max", "mean"), strict=True):
        for name, color, text in (
            ("mean_field", "tab:red", "homogeneous mean field"),
            ("pair", "tab:green", "pair approximation"),
        ):
            ax.scatter(
                [c["degree"] for c in cells],
                [c[f"{name}_{stat}"] for c in cells],
                color=color,
                alpha=0.35,
                s=14,
            )
            ax.plot(
                [r["degree"] for r in rows],
                [r[f"{name}_{stat}"] for r in rows],
                "o-",
                color=color,
                label=f"{text} (mean over cells)",
            )
        ax.set_xlabel("degree k")
        ax.set_ylabel(f"{stat} |predicted - simulated| informed fraction")
        ax.set_xticks([r["degree"] for r in rows])
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_title("largest error over rounds", fontsize=10)
    axes[0][1].set_title("mean error over rounds", fontsize=10)
    return _done(fig)
