"""Figures of runs (matplotlib figures, drawn without pyplot; saved by the report and the CLI)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from spillover.personas import PERSONAS
from spillover.report._mpl import fraction_axes, new_figure
from spillover.trajectories import Adoptions, Curves

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["mean_adoption_round", "plot_run"]


def mean_adoption_round(adoptions: Adoptions, n_personas: int) -> np.ndarray:
    """Mean round of sharing per persona among agents that shared (NaN for none), shape (32,)."""
    totals = np.bincount(adoptions.persona, weights=adoptions.round, minlength=n_personas)
    counts = np.bincount(adoptions.persona, minlength=n_personas)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)


def plot_run(
    curves: Curves,
    adoptions: Adoptions,
    *,
    title: str,
    overlays: Sequence[tuple[str, np.ndarray]] = (),
) -> Figure:
    """Two panels: informed fraction over rounds, and mean sharing round by persona.

    Parameters
    ----------
    curves, adoptions
        From one run.
    title
        Figure title (plain text).
    overlays
        ``(label, fraction)`` curves of shape (n_rounds + 1,) drawn over the replicates.

    Returns
    -------
    matplotlib.figure.Figure
        Save it with :func:`spillover.report.save_figure` (or ``fig.savefig``).
    """
    frac = curves.fraction()
    rounds = np.arange(curves.n_rounds + 1)
    fig = new_figure((12, 4.6), dpi=130)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=(1, 1.25))
    for rep in range(curves.n_reps):
        ax1.plot(
            rounds,
            frac[rep],
            color="tab:blue",
            alpha=0.25,
            lw=0.8,
            label="replicates" if rep == 0 else None,
        )
    ax1.plot(rounds, frac.mean(axis=0), color="tab:blue", lw=2.2, label="mean of replicates")
    for (label, values), color in zip(
        overlays, ("tab:orange", "tab:green", "tab:red"), strict=False
    ):
        ax1.plot(rounds, values, color=color, lw=1.6, ls="--", label=label)
    fraction_axes(ax1, curves.n_rounds, "Spread over rounds", ylabel="fraction informed (shared)")

    mean_round = mean_adoption_round(adoptions, len(PERSONAS))
    order = np.argsort(np.nan_to_num(mean_round, nan=np.inf))
    codes = [PERSONAS[i].code for i in order]
    extraverted = np.array([PERSONAS[i].levels[2] for i in order])
    colors = np.where(extraverted, "tab:purple", "tab:gray")
    ax2.bar(np.arange(len(order)), mean_round[order], color=colors)
    ax2.set_xticks(np.arange(len(order)), codes, rotation=90, fontsize=6.5, family="monospace")
    ax2.set(ylabel="mean round of sharing", title="Sharing round by persona (purple: E+)")
    ax2.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
