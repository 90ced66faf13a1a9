"""Figures of fitted models: curves against the simulated band, per-persona rates, traits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from spillover.fit import FitResult, TraitEffects
from spillover.personas import PERSONAS
from spillover.report._mpl import fraction_axes, new_figure
from spillover.trajectories import Curves

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from spillover.selection import Forecast

__all__ = ["plot_curve_fits", "plot_forecasts", "plot_persona_rates", "plot_trait_effects"]

_COLORS = ("tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")


def plot_curve_fits(
    curves: Curves,
    overlays: Sequence[tuple[str, np.ndarray]],
    *,
    title: str = "Simulated spread and model predictions",
) -> Figure:
    """The replicates' 5-95 % band, their mean, and each model's predicted fraction.

    ``overlays`` are ``(label, fraction)`` curves of shape (n_rounds + 1,), such as
    ``spec.predict(...)`` of a fitted model (:func:`spillover.fit.get_model`).
    """
    frac = curves.fraction()
    rounds = np.arange(curves.n_rounds + 1)
    fig = new_figure((8, 4.8), dpi=120)
    ax = fig.subplots()
    lo, hi = np.percentile(frac, [5, 95], axis=0)
    ax.fill_between(
        rounds,
        lo,
        hi,
        color="tab:blue",
        alpha=0.2,
        label=f"simulation, 5-95 % of {curves.n_reps} replicates",
    )
    ax.plot(rounds, frac.mean(axis=0), color="tab:blue", lw=2.2, label="simulation, mean")
    for (label, values), color in zip(overlays, _COLORS, strict=False):
        ax.plot(rounds, values, color=color, lw=1.6, ls="--", label=label)
    fraction_axes(ax, curves.n_rounds, title)
    fig.tight_layout()
    return fig


def plot_forecasts(
    forecast: Forecast,
    models: Sequence[str] | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Observed mean curve, the last fitted round, and each model's forecast with its band.

    Parameters
    ----------
    forecast : Forecast
        ``Analysis.forecast`` of a fit with ``fit_rounds``.
    models : sequence of str, optional
        The models to draw, in order (a few keep the figure readable); by default the first
        four forecast.
    """
    if models is None:
        drawn = list(forecast.models[:4])
    else:
        drawn = [f for m in models if (f := forecast.get(m)) is not None]
    rounds = np.arange(forecast.last_round + 1)
    held = rounds[forecast.fit_rounds :]  # the band starts at R so that it joins the line
    fig = new_figure((8, 4.8), dpi=120)
    ax = fig.subplots()
    ax.plot(
        rounds,
        forecast.observed,
        color="black",
        lw=2.0,
        label=f"observed, mean of {forecast.n_reps} replicate(s)",
    )
    for f, color in zip(drawn, _COLORS, strict=False):
        ax.plot(rounds, f.predicted, color=color, lw=1.5, ls="--", label=f"{f.model}")
        low, high = f.low[forecast.fit_rounds :], f.high[forecast.fit_rounds :]
        ax.fill_between(held, low, high, color=color, alpha=0.18, lw=0)
    ax.axvline(forecast.fit_rounds, color="gray", lw=1.2, ls=":")
    ax.annotate(
        f"fitted ← R = {forecast.fit_rounds} → held out",
        xy=(forecast.fit_rounds, 0.02),
        xytext=(4, 0),
        textcoords="offset points",
        fontsize=8,
        color="gray",
    )
    fraction_axes(
        ax,
        forecast.last_round,
        title
        or f"Forecast of the held-out rounds, {forecast.level:.0%} bands (mean of replicates)",
        legend="upper left",
    )
    fig.tight_layout()
    return fig


def plot_persona_rates(
    persona_fit: FitResult,
    truth: tuple[np.ndarray, np.ndarray] | None = None,
) -> Figure:
    """alpha_c and beta_c with 95 % intervals for each persona (catalog order)."""
    fig = new_figure((11, 6.5), dpi=120)
    axes = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(PERSONAS))
    for ax, key, label, i in (
        (axes[0], "alpha_c", "alpha (offline)", 0),
        (axes[1], "beta_c", "beta (online)", 1),
    ):
        est = np.asarray(persona_fit.params[key], dtype=float)
        low = np.asarray(persona_fit.ci_low.get(key, est), dtype=float)
        high = np.asarray(persona_fit.ci_high.get(key, est), dtype=float)
        err = np.vstack([np.maximum(est - low, 0), np.maximum(high - est, 0)])
        ax.errorbar(
            x,
            est,
            yerr=err,
            fmt="o",
            ms=4,
            color="tab:blue",
            capsize=2,
            label="estimate, 95 % interval",
        )
        if truth is not None:
            ax.plot(x, truth[i], "x", color="tab:red", ms=6, label="generating rate")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    axes[1].set_xticks(x, [p.code for p in PERSONAS], rotation=90, fontsize=7, family="monospace")
    axes[0].set_title("Per-persona rates (si-persona), catalog order")
    fig.tight_layout()
    return fig


#: Half-widths of drawn trait intervals, on the log scale, are cut here.
_MAX_LOG_HALF_WIDTH = 5.0


def plot_trait_effects(
    traits: TraitEffects,
    truth: dict[str, Sequence[float]] | None = None,
) -> Figure:
    """Hazard ratios (high vs low) of each trait on each channel, with 95 % intervals (of the
    standard errors the effects show, ``traits.se_kind``)."""
    n_ch = len(traits.channels)
    fig = new_figure((5 * n_ch, 3.8), dpi=120)
    axes = np.atleast_1d(fig.subplots(1, n_ch, sharey=True))
    names = traits.terms[1:]
    y = np.arange(len(names))[::-1]
    shown = traits.shown_stderr()
    crit = traits.shown_critical()
    for i, (ax, channel) in enumerate(zip(axes, traits.channels, strict=True)):
        coef = traits.coef[i, 1:]
        se = shown[i, 1:]
        # On a log axis; an interval wider than a factor e^5 (about 150) each way, an effect
        # the data barely identify, is cut there rather than drawn to exp(700).
        half = np.minimum(crit * se, _MAX_LOG_HALF_WIDTH)
        ax.errorbar(
            np.exp(coef),
            y,
            xerr=[np.exp(coef) - np.exp(coef - half), np.exp(coef + half) - np.exp(coef)],
            fmt="o",
            color="tab:blue",
            capsize=3,
            label=f"estimate, 95 % CI ({traits.se_kind} se)",
        )
        if truth is not None and channel in truth:
            ax.plot(
                np.exp(np.asarray(truth[channel])),
                y,
                "x",
                color="tab:red",
                ms=7,
                label="generating",
            )
        ax.axvline(1.0, color="gray", lw=1)
        ax.set_xscale("log")
        ax.set_title(
            f"{channel} ({'offline' if channel == 'alpha' else 'online'}), {traits.base} base"
        )
        ax.set_xlabel("hazard ratio, high vs low")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_yticks(y, names)
    fig.tight_layout()
    return fig
