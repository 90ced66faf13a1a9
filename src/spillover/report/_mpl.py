"""Figures without pyplot: plot functions build a :class:`matplotlib.figure.Figure` and never
select or switch the global backend, so they draw inline in a notebook as anywhere else.

The report and the CLI save what the plot functions return with :func:`save_figure`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["fraction_axes", "new_figure", "save_figure"]


def new_figure(figsize: tuple[float, float], *, dpi: float = 100) -> Figure:
    """A figure that no pyplot figure manager holds (nothing to close, no backend chosen).

    ``dpi`` is the resolution :func:`save_figure` writes it at unless told otherwise.

    Raises
    ------
    MissingExtraError
        When matplotlib (the ``report`` extra) is not installed.
    """
    from spillover._extras import require_extra

    require_extra("report")
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=dpi)


def fraction_axes(
    ax: Axes,
    last_round: int,
    title: str | None,
    *,
    ylabel: str = "fraction informed",
    legend: Literal["lower right", "upper left"] = "lower right",
) -> None:
    """Axes of a fraction over rounds ``0..last_round``: labels, limits, grid and legend."""
    ax.set(xlabel="round", ylabel=ylabel, ylim=(0, 1.02), xlim=(0, last_round), title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend, fontsize=8)


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: float | None = None) -> Path:
    """Write ``fig`` to ``path`` (the format from its suffix, PNG for the report); return it.

    The figure is rendered by its own canvas: the global backend is left as it is. ``dpi``
    defaults to the figure's own.
    """
    out = Path(path)
    fig.savefig(out, dpi="figure" if dpi is None else dpi)
    return out
