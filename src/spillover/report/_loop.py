"""The report of a loop run, and the figures of offline outbreak size against the
online-to-offline rate (matplotlib figures, drawn without pyplot)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spillover.loop import OutbreakSweep, critical_eta
from spillover.report._mpl import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "build_loop_report",
    "plot_critical_curve",
    "plot_outbreak_sweeps",
    "plot_participation",
]


def plot_outbreak_sweeps(sweeps: Sequence[OutbreakSweep], *, threshold: float | None) -> Figure:
    """One panel per degree: the engine's 5-95% band and median of the final offline size,
    the mean-field and pair-closure curves, and the critical rates of both closures."""
    fig = new_figure((4.2 * len(sweeps), 3.6), dpi=110)
    axes = fig.subplots(1, len(sweeps), squeeze=False)
    for ax, sw in zip(axes[0], sweeps, strict=True):
        lo, mid, hi = np.percentile(sw.sim_final, [5, 50, 95], axis=1)
        ax.fill_between(sw.etas, lo, hi, color="tab:blue", alpha=0.25, label="engine 5-95%")
        ax.plot(sw.etas, mid, "o", color="tab:blue", ms=3.5, label="engine median")
        ax.plot(sw.grid, sw.pair_final, color="black", lw=1.6, label="pair closure")
        ax.plot(sw.grid, sw.mf_final, color="tab:red", lw=1.2, ls="--", label="mean field")
        for closure, colour in (("loop-pair", "black"), ("loop-mf", "tab:red")):
            eta_c = critical_eta(sw.beta, sw.gamma, sw.degree, closure)
            if 0.0 < eta_c < float(sw.grid[-1]):
                ax.axvline(eta_c, color=colour, lw=0.8, ls=":")
        ax.set_title(f"k = {sw.degree}, beta = {sw.beta:.3g}", fontsize=10)
        ax.set_xlabel("online-to-offline rate eta (per round)")
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel("offline outbreak size (share ever participating)")
    axes[0][0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def plot_participation(offline: dict[str, np.ndarray]) -> Figure:
    """Participating and engaged shares against absolute round, one line per cascade."""
    fig = new_figure((8, 3.4), dpi=110)
    ax = fig.subplots()
    n = offline["n_nodes"][0]
    keys = np.stack([offline["replicate"], offline["cascade"]], axis=1)
    for rep, cas in np.unique(keys, axis=0)[:60]:
        sel = (offline["replicate"] == rep) & (offline["cascade"] == cas)
        t = offline["abs_round"][sel]
        ax.plot(t, offline["participating"][sel] / n, color="tab:orange", lw=0.9, alpha=0.7)
        ax.plot(t, offline["engaged"][sel] / n, color="tab:blue", lw=0.6, alpha=0.5)
    ax.plot([], [], color="tab:orange", label="participating offline")
    ax.plot([], [], color="tab:blue", label="engaged online")
    ax.set_xlabel("round (from the root event)")
    ax.set_ylabel("share of agents")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def build_loop_report(run: Path, out: Path | None) -> Path:
    """``spillover report`` on a loop run: rates fitted with intervals, participation over
    time, the predicted critical range, and the emitted events."""
    from spillover.io import read_loop_tables, read_manifest, write_owned_text
    from spillover.loop import EmissionRule, critical_range, fit_coupling
    from spillover.report._build import _figure_staging, _publish_figures
    from spillover.report._html import PageFigure

    manifest = read_manifest(run)
    tables = read_loop_tables(run)
    target = out if out is not None else run / "report.html"
    staging = _figure_staging(run, target)
    fit = fit_coupling(tables["offline"], tables["joins"], tables["engagement"])
    rates, loop = manifest["rates"], manifest["loop"]
    degree = int(manifest["graph"]["max_degree"])
    n_nodes = int(manifest["graph"]["n_nodes"])
    rule = EmissionRule(**loop["emission"])
    summary: list[tuple[str, Any]] = [
        ("agents, degree", f"{n_nodes:,}, {degree}"),
        ("rates", ", ".join(f"{k} {v:g}" for k, v in rates.items())),
        ("emission", f"{rule.mode} (threshold {rule.threshold:g}, rate {rule.rate:g})"),
        (
            "cascades, events",
            f"{manifest['summary']['n_cascades']}, {manifest['summary']['n_events']}",
        ),
    ]
    for closure in ("loop-mf", "loop-pair"):
        crit = critical_range(
            beta=rates["beta"],
            gamma=rates["gamma"],
            delta=rates["delta"],
            kappa=rates["kappa"],
            degree=degree,
            i0=loop["n_seeds"] / n_nodes,
            n_rounds=loop["n_rounds"],
            rule=rule,
            n_nodes=n_nodes,
            closure=closure,
        )
        text = "none" if crit.low is None else f"[{crit.low:.4g}, {crit.high:.4g}]"
        eta_c = critical_eta(rates["beta"], rates["gamma"], degree, closure)
        summary.append((f"critical range of eta ({closure})", f"{text}; R = 1 at eta {eta_c:.4g}"))
    grid = np.linspace(1e-3, 1.0, 300)
    cas = tables["cascades"]
    figures = [
        PageFigure.save(
            plot_participation(tables["offline"]),
            staging / "participation.png",
            "Offline participation and online engagement of every cascade (first 60).",
            "participation over time",
        ),
        PageFigure.save(
            plot_critical_curve(
                grid,
                rates,
                degree,
                loop["n_seeds"] / n_nodes,
                loop["n_rounds"],
                cas["ever_participated"] / n_nodes,
            ),
            staging / "critical.png",
            "Offline outbreak size predicted by the mean-field and pair-closure maps against "
            "the online-to-offline rate, at this run's other rates; points: this run's cascades.",
            "outbreak size against eta",
        ),
    ]
    fit_rows = [
        [name, f"{r.estimate:.4g}", f"[{r.low:.4g}, {r.high:.4g}]", f"{r.n_trials:,}"]
        for name, r in fit.rates.items()
    ]
    ev = tables["loop_events"]
    event_rows = [
        [
            str(ev[c][i])
            for c in (
                "event_id_cnty",
                "event_date",
                "event_type",
                "location",
                "participating",
                "cascade",
                "child_cascade",
            )
        ]
        for i in range(min(len(ev["event_id_cnty"]), 200))
    ]
    html = _page(
        f"spillover loop report: {run.name}",
        summary,
        figures,
        [
            (
                "Coupling rates (maximum likelihood, 95% profile intervals)",
                ["rate", "estimate", "95% interval", "trials"],
                fit_rows,
            ),
            (
                "Emitted offline events (first 200)",
                ["event", "date", "type", "location", "participants", "cascade", "seeded"],
                event_rows,
            ),
        ],
    )
    _publish_figures(staging)
    write_owned_text(target, html)
    return target


def plot_critical_curve(
    grid: np.ndarray,
    rates: dict[str, float],
    degree: int,
    i0: float,
    n_rounds: int,
    observed: np.ndarray,
) -> Figure:
    """Predicted final offline size against eta (both closures), the run's cascades as points."""
    from spillover.models import coupled_map

    fig = new_figure((6, 3.4), dpi=110)
    ax = fig.subplots()
    others = {k: v for k, v in rates.items() if k not in ("eta", "alpha")}
    for closure, style in (("loop-pair", "k-"), ("loop-mf", "r--")):
        curves = coupled_map(closure, eta=grid, degree=degree, i0=i0, n_rounds=n_rounds, **others)
        ax.plot(grid, curves.ever_participated[..., -1], style, label=closure)
    ax.plot(np.full(observed.size, rates["eta"]), observed, "o", ms=3, label="this run")
    ax.set_xlabel("online-to-offline rate eta (per round)")
    ax.set_ylabel("share ever participating")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _page(
    title: str,
    summary: Sequence[tuple[str, Any]],
    figures: Sequence[Any],
    tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[str]]]],
) -> str:
    from html import escape

    from spillover.io import GENERATOR_META
    from spillover.report._html import _CSS, _kv_table, _wrap

    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        GENERATOR_META,
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        _kv_table(summary),
        "<h2>Participation and the critical range</h2>",
        *(f.html() for f in figures),
    ]
    for heading, header, rows in tables:
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        parts += [f"<h2>{escape(heading)}</h2>", _wrap(f"<table><tr>{head}</tr>{body}</table>")]
    parts.append("<p class='muted'>Generated by spillover.</p></body></html>")
    return "\n".join(parts)
