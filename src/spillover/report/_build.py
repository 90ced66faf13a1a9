"""``spillover report RUN``: fits, figures and the HTML page of a run directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spillover.events import Event, render_post
from spillover.fit import FitResult, Overlay, get_model
from spillover.io import owns_file, write_owned_text
from spillover.report._figures import plot_run
from spillover.report._fit_figures import (
    plot_curve_fits,
    plot_forecasts,
    plot_persona_rates,
    plot_trait_effects,
)
from spillover.report._html import PageFigure, render_report
from spillover.report._posts import read_feed_posts
from spillover.selection import Analysis, analyse
from spillover.trajectories import Adoptions, Curves

__all__ = [
    "build_run_report",
    "build_sweep_report",
    "forecast_models_to_draw",
    "generating_rates",
    "model_overlays",
]


def generating_rates(manifest: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-persona (alpha_c, beta_c) that generated a run, from its manifest, if parametric."""
    from spillover.policies import PersonaPolicy

    policy = manifest.get("policy", {})
    if policy.get("kind") == "constant":
        return np.full(32, policy["alpha"]), np.full(32, policy["beta"])
    if "alpha_by_persona" in policy:
        rebuilt = PersonaPolicy(
            np.asarray(policy["alpha_by_persona"]),
            np.asarray(policy["beta_by_persona"]),
            {k: (float(v[0]), float(v[1])) for k, v in policy.get("event_multipliers", {}).items()},
        )
        event = Event.from_dict(manifest["event"]) if "event" in manifest else None
        return rebuilt.rates_for(event)
    return None


def model_overlays(
    analysis: Analysis, curves: Curves, degree: int | None, weights: np.ndarray | None = None
) -> list[tuple[str, np.ndarray]]:
    """Predicted informed fractions of the fitted models, for the curve figure.

    Agent-level fits draw the overlays their model's spec declares; curve fits draw their own
    map. ``weights`` are the persona shares of the population (for per-persona models, which
    are left out without them).
    """
    if degree is None:
        return []
    i0 = float(curves.informed[:, 0].mean()) / curves.n_nodes
    n_rounds = curves.n_rounds
    overlays: list[tuple[str, np.ndarray]] = []
    for group in analysis.groups:
        for result in group.results:
            if result.status not in ("converged", "bound"):
                continue
            spec = get_model(result.model)
            if group.data == "curves":
                drawn = [Overlay(f"{result.model} fitted to the curves", result.model)]
            else:
                drawn = list(spec.overlays)
            for overlay in drawn:
                target = get_model(overlay.model)
                if target.per_class and weights is None:
                    continue
                params = target.own_params(result.params)
                curve = target.predict(
                    params, degree=degree, i0=i0, n_rounds=n_rounds, weights=weights
                )
                overlays.append((overlay.label, curve))
    return overlays


def forecast_models_to_draw(analysis: Analysis, n: int = 4) -> list[str]:
    """The models whose forecasts the report draws: the best of each group by the analysis'
    criterion, then the second best of each, ..., ``n`` at most (all are in the table)."""
    if analysis.forecast is None:
        return []
    ranked = [[row.model for row in group.comparison] for group in analysis.groups]
    chosen: list[str] = []
    for rank in range(max((len(r) for r in ranked), default=0)):
        for names in ranked:
            if rank < len(names) and analysis.forecast.get(names[rank]) is not None:
                chosen.append(names[rank])
    return chosen[:n]


def _persona_fit(analysis: Analysis) -> FitResult | None:
    """The first per-persona fit (its rates are drawn per persona)."""
    for group in analysis.groups:
        for result in group.results:
            if get_model(result.model).per_class:
                return result
    return None


def _figure_staging(root: Path, target: Path) -> Path:
    """A staging folder for ``root/figures``, after checking where things will go.

    Figures live in ``root/figures`` (the run's or sweep's folder) whatever ``--out`` says. An
    existing ``figures`` folder is replaced only if it is empty or spillover wrote it (its
    marker names every file in it); anything else there stops the report before any work.
    """
    from spillover.exceptions import RunDirError
    from spillover.io import check_replaceable, new_staging

    if not target.parent.is_dir():
        raise RunDirError(f"cannot write {target}: {target.parent} is not a directory")
    if target.exists() and not owns_file(target):
        raise RunDirError(
            f"{target} exists and was not written by spillover; it is not replaced: move it "
            "away or choose another out",
            params=("out",),
        )
    check_replaceable(root / "figures", "figures", what="figures folder")
    return new_staging(root / "figures")


def _publish_figures(staging: Path) -> None:
    from spillover.io import publish

    publish(staging, staging.parent / "figures", "figures")


def _publish(staging: Path, html: str, target: Path) -> Path:
    """Put the figures in place, then the page (written aside and renamed): never half done."""
    try:
        _publish_figures(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_owned_text(target, html)
    return target


def _read_adoptions(run: Path) -> Adoptions | None:
    """The run's adoptions table; None for a sweep cell that keeps no agent tables."""
    from spillover.io import read_table

    if not (run / "adoptions.parquet").is_file():
        return None
    table = read_table(run / "adoptions.parquet")
    return Adoptions(
        **{
            name: column.to_numpy()
            for name, column in zip(table.column_names, table.columns, strict=True)
        }
    )


def _spread_figures(
    curves: Curves,
    adoptions: Adoptions | None,
    analysis: Analysis,
    degree: int | None,
    weights: np.ndarray | None,
    event: dict[str, Any],
    staging: Path,
) -> list[PageFigure]:
    """The curves with the fitted models' predictions, and the spread by persona (which
    needs the adoptions: not drawn for a run that keeps no agent tables)."""
    figures = [
        PageFigure.save(
            plot_curve_fits(curves, model_overlays(analysis, curves, degree, weights)),
            staging / "curves_fit.png",
            "Fraction informed per round: simulated band and mean, with the "
            "predictions of the fitted models.",
            "curves and model predictions",
        ),
    ]
    if adoptions is not None:
        figures.append(
            PageFigure.save(
                plot_run(
                    curves,
                    adoptions,
                    title=f"{event.get('event_type', '')} ({event.get('event_id', '')})",
                ),
                staging / "spread.png",
                "Left: every replicate. Right: mean round of sharing by persona.",
                "spread and sharing round by persona",
            )
        )
    return figures


def _forecast_figures(analysis: Analysis, staging: Path) -> list[PageFigure]:
    """The forecast bands of the top models against the held-out rounds, if forecast."""
    forecast_figures = []
    if analysis.forecast is not None:
        forecast_figures.append(
            PageFigure.save(
                plot_forecasts(analysis.forecast, forecast_models_to_draw(analysis)),
                staging / "forecast.png",
                f"Models fitted on rounds 0-{analysis.forecast.fit_rounds} (dotted line) "
                "forecast the later rounds: each model's prediction (dashed) and its "
                f"{analysis.forecast.level:.0%} band for the mean of the replicates "
                "(parameter uncertainty and replicate noise), against the observed mean "
                "(black). Drawn: the best models of each group; every model is in the "
                "table below.",
                "forecasts of the held-out rounds",
            )
        )
    return forecast_figures


def _persona_figures(
    analysis: Analysis,
    manifest: dict[str, Any],
    truth: tuple[np.ndarray, np.ndarray] | None,
    staging: Path,
) -> list[PageFigure]:
    """The per-persona rates (of the first per-persona fit) and the trait effects, if fitted."""
    persona_figures = []
    persona = _persona_fit(analysis)
    if persona is not None:
        persona_figures.append(
            PageFigure.save(
                plot_persona_rates(persona, truth),
                staging / "persona_rates.png",
                "Per-persona offline (alpha) and online (beta) rates with 95 % profile "
                "intervals; crosses: the rates that generated the run.",
                "per-persona rates",
            )
        )
    if analysis.trait_effects is not None:
        trait_truth: dict[str, Sequence[float]] | None = None
        if manifest.get("policy", {}).get("kind") == "default-persona":
            from spillover.policies import ALPHA_EFFECTS, BETA_EFFECTS

            trait_truth = {"alpha": ALPHA_EFFECTS, "beta": BETA_EFFECTS}
        persona_figures.append(
            PageFigure.save(
                plot_trait_effects(analysis.trait_effects, trait_truth),
                staging / "trait_effects.png",
                "Hazard ratio of each trait's high vs low level, with 95 % intervals.",
                "trait effects",
            )
        )
    return persona_figures


def _run_summary(run: Path, manifest: dict[str, Any], analysis: Analysis) -> list[tuple[str, Any]]:
    """The report's summary table: graph, design, policy, seed, best model, fitted rounds
    (when forecast), version."""
    config = manifest.get("config", {})
    graph = manifest.get("graph", {})
    return [
        ("run", str(run)),
        (
            "graph",
            f"{graph.get('name', '')}: {graph.get('n_nodes', '')} agents, "
            f"{graph.get('n_edges', '')} edges",
        ),
        ("replicates x rounds", f"{config.get('n_reps')} x {config.get('n_rounds')}"),
        ("seed agents per replicate", config.get("n_seeds")),
        ("policy", manifest.get("policy", {}).get("kind")),
        ("root seed (entropy)", manifest.get("seed", {}).get("entropy")),
        ("best model (agent level)", analysis.best),
        *(
            [
                (
                    "fitted rounds",
                    f"0-{analysis.forecast.fit_rounds} of {analysis.forecast.last_round} "
                    "(later rounds held out and forecast)",
                )
            ]
            if analysis.forecast is not None
            else []
        ),
        *(
            [("per-agent tables", "not kept (sweep.agent_tables = false)")]
            if manifest.get("agent_tables") is False
            else []
        ),
        ("spillover version", manifest.get("versions", {}).get("spillover")),
    ]


def build_run_report(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    n_folds: int = 5,
    analysis: Analysis | None = None,
    fit_rounds: int | None = None,
    llm_noise: int = 0,
    llm_noise_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Fit every model the run supports and write ``report.html`` (and ``figures/*.png``).

    ``analysis`` skips the fitting when the caller has already fitted this run's data.
    A feed-mode run (one with ``posts.parquet``) shows its first posts by round, with each
    agent's persona and the posts' flags, and how many posts copy the news or a post.
    ``fit_rounds`` fits on rounds 0..R only and adds the forecast of the later rounds
    (a figure of the bands of the top models, and a table of every model's errors).

    For an LLM run (one with ``llm_table.json``) the page says where the table's
    probabilities came from and flags sampled cells at exactly 0 or 1; ``llm_noise`` > 0
    draws that many bootstrap tables of the sampled answers and puts their noise into the
    agent-level intervals, as ``spillover fit --llm-noise`` does
    (:func:`spillover.pipeline.llm_noise_fit`), with the engine's and the answers' shares of
    each parameter's variance in a table. An ``analysis`` that already carries this
    (``analysis.llm_noise``) is shown as it is.

    The page is written to a temporary file and renamed into place, and the figures folder
    is replaced as a whole, so an interrupted report never looks complete.
    """
    from spillover.io import read_fit_input

    data = read_fit_input(run_dir)
    if data.manifest is None:
        raise FileNotFoundError(run_dir)
    run = Path(run_dir)
    target = Path(out) if out is not None else run / "report.html"
    manifest = data.manifest
    if analysis is None:
        analysis = analyse(
            exposures=data.exposures,
            curves=data.curves,
            agents=data.agents,
            degree=data.degree,
            n_folds=n_folds,
            graph=data.graph,
            fit_rounds=fit_rounds,
            weights=data.persona_shares,
            rng=data.forecast_seed,
        )
    if analysis.llm_noise is None and (run / "llm_table.json").is_file():
        from spillover.pipeline import llm_noise_fit

        analysis = llm_noise_fit(
            run, analysis, n_tables=llm_noise, fit_rounds=fit_rounds, progress=llm_noise_progress
        )
    adoptions = _read_adoptions(run)
    assert data.curves is not None
    truth = generating_rates(manifest)
    weights = data.persona_shares
    staging = _figure_staging(run, target)
    try:
        event = manifest.get("event", {})
        figures = _spread_figures(
            data.curves, adoptions, analysis, data.degree, weights, event, staging
        )
        forecast_figures = _forecast_figures(analysis, staging)
        persona_figures = _persona_figures(analysis, manifest, truth, staging)
        summary = _run_summary(run, manifest, analysis)
        post = render_post(Event.from_dict(event)) if event else None
        html = render_report(
            title=f"spillover report: {event.get('event_id', run.name)}",
            summary=summary,
            event_post=post,
            analysis=analysis,
            figures=figures,
            persona_figures=persona_figures,
            forecast_figures=forecast_figures,
            feed_posts=read_feed_posts(run),
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _publish(staging, html, target)


def sweep_summary(sweep: Any, root: Path) -> list[tuple[str, Any]]:
    """The summary rows of a sweep's report page: folder, cells, complete cells, root seed
    and grid."""
    return [
        ("sweep", str(root)),
        ("cells", len(sweep.cells)),
        ("complete", len(sweep.complete_cells())),
        ("root seed", sweep.seed),
        ("grid", ", ".join(f"{k} = {list(v)}" for k, v in sweep.grid)),
    ]


def build_sweep_report(
    sweep_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> Path:
    """``report.html`` of a sweep: fitted rates across each swept parameter, and the fits."""
    from spillover.report._html import render_table_page
    from spillover.report._sweep_figures import plot_rates_across
    from spillover.sweeps import fit_sweep, load_sweep

    sweep = load_sweep(sweep_dir)
    if sweep.is_loop:
        from spillover.report._loop_sweep import build_loop_sweep_report

        return build_loop_sweep_report(sweep, out)
    root = Path(sweep_dir)
    target = Path(out) if out is not None else root / "report.html"
    fits = fit_sweep(sweep)
    staging = _figure_staging(root, target)
    try:
        figure = PageFigure.save(
            plot_rates_across(sweep, model="si2", fits=fits),
            staging / "rates_across.png",
            "si2 estimates (alpha, beta) with 95 % intervals across each swept parameter; "
            "grey ticks: generating values where the policy is constant.",
            "fitted rates across swept parameters",
        )
        keys = list(sweep.keys)
        rows = [
            [
                str(r["cell"]),
                *(str(r[k]) for k in keys),
                r["model"],
                r["param"],
                f"{r['value']:.4g}" if r["value"] is not None else "",
                f"{r['stderr']:.2g}" if r["stderr"] is not None else "",
                "yes" if r["best"] else "",
                r["status"],
            ]
            for r in fits.to_pylist()
            if r["param"] is not None and r["index"] is None
        ]
        html = render_table_page(
            title=f"spillover sweep report: {root.name}",
            summary=sweep_summary(sweep, root),
            figures=[figure],
            header=["cell", *keys, "model", "param", "estimate", "se", "best (BIC)", "status"],
            rows=rows,
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _publish(staging, html, target)
