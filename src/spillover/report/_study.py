"""``study.html``: the answer of a study on one self-contained page (from ``study.json``).

Sections: the design, the verdict on "two rates", the best model per event type and degree,
the rates by event type, the event-type and trait effects, the mean-field and pair error by
degree, and every cell with a link to its own report. Figures are embedded as data URIs (and
kept in ``study-figures/``); every string from data is escaped.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from html import escape
from pathlib import Path
from typing import Any

from spillover.fit import hazard_ratio
from spillover.io import GENERATOR_META
from spillover.report._html import _CSS, PageFigure, _kv_table, _report_link, _table

__all__ = ["build_study_report", "render_study_page"]

_FIGURES = "study-figures"


def _fmt(x: Any, fmt: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return format(x, fmt)


def _verdict_section(doc: dict[str, Any]) -> str:
    v = doc["verdict"]
    criterion = escape(doc["design"]["analysis"]["criterion"].upper())
    per_type = "".join(
        f"<li>{escape(t)}: best model <strong>{escape(str(b))}</strong>"
        + (
            f", reading <strong>{escape(str(v['by_event_type'].get(t)))}</strong>"
            if v["available"]
            else ""
        )
        + "</li>"
        for t, b in v["best_by_event_type"].items()
    )
    note = (
        "<p class='muted'>Each event type's cells are pooled (same rates assumed across "
        "its events and degrees). The pool of all cells mixes event types whose rates may "
        f"differ; its best model is {escape(str(v['best_all_cells']))}"
        + (f" and its reading {escape(str(v['all_cells']))}" if v["available"] else "")
        + ", which can reflect that heterogeneity rather than two rates within a type.</p>"
    )
    if not v["available"]:
        return (
            "<p>No verdict on the two rates is available from the selection layer of this "
            f"version; the best model by {criterion} per event type is "
            f"<strong>{escape(str(v['best_overall']))}</strong>:</p>"
            f"<ul>{per_type}</ul>{note}"
        )
    counts = v["cells_supporting"] or {}
    support = ", ".join(f"{escape(k)}: {n}" for k, n in sorted(counts.items()))
    return (
        f"<p>Reading of the two rates, pooled per event type: "
        f"<strong>{escape(str(v['overall']))}</strong>. Cells supporting each reading: "
        f"{support}.</p><ul>{per_type}</ul>{note}"
    )


def _pooled_rows(doc: dict[str, Any]) -> list[list[str]]:
    rows = []
    pooled = doc["pooled"]
    groups: list[tuple[str, dict[str, Any]]] = []
    if "all" in pooled:
        groups.append(("all cells", pooled["all"]))
    groups += [(f"event type {t}", d) for t, d in pooled["by_event_type"].items()]
    groups += [(f"degree {k}", d) for k, d in pooled["by_degree"].items()]
    for name, d in groups:
        for m in d["models"]:
            params = (
                ", ".join(
                    f"{p} = {_fmt(v)} ± {_fmt(m['stderr'].get(p), '.2g')}"
                    for p, v in m["params"].items()
                    if not isinstance(v, list)
                )
                or f"{len(m['params'])} vectors"
            )
            rows.append(
                [
                    name,
                    m["name"] + (" (best)" if m["name"] == d["best"] else ""),
                    params,
                    _fmt(m.get("delta_bic"), ".1f"),
                    _fmt(m.get("held_out_loglik"), ",.1f"),
                    str((d.get("verdict") or {}).get("reading", "")),
                    m["status"],
                ]
            )
    return rows


def _design_summary(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """The design table's rows: study file, status, events, degrees, cells, policy, analysis."""
    design = doc["design"]
    policy = design["policy"]
    policy_text = ", ".join(f"{k} = {v}" for k, v in policy.items() if k not in ("event_types",))
    summary = [
        ("study file", design["source"]),
        ("status", f"{doc['status']}: {doc['n_complete']} of {doc['n_cells']} cells complete"),
        ("events", ", ".join(f"{e['event_id']} ({e['event_type']})" for e in design["events"])),
        ("degrees", ", ".join(map(str, design["degrees"]))),
        (
            "each cell",
            f"random k-regular graph of {design['n_nodes']:,} agents "
            f"(32 personas, balanced), {design['n_reps']} replicates x {design['n_rounds']} "
            f"rounds, {design['n_seeds']} seed agents",
        ),
        ("policy", policy_text),
        (
            "analysis",
            f"models {', '.join(design['analysis']['models'])}; criterion "
            f"{design['analysis']['criterion']}; {design['analysis']['folds']} held-out folds",
        ),
        ("root seed", doc["root_seed"]),
    ]
    if "event_types" in policy:
        summary.append(
            (
                "rates by event type",
                "; ".join(f"{t}: {json.dumps(r)}" for t, r in policy["event_types"].items()),
            )
        )
    return summary


def study_page_start(
    title: str, doc: dict[str, Any], design_rows: list[tuple[str, Any]]
) -> list[str]:
    """The head of a study's page: its title, the design table, the failed cells if any."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        GENERATOR_META,
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
        f"<h1>{title}: {escape(Path(str(doc['design']['source'])).name)}</h1>",
        "<h2>Design</h2>",
        _kv_table(design_rows),
    ]
    return parts + _failed_cells_parts(doc)


def _failed_cells_parts(doc: dict[str, Any]) -> list[str]:
    """The table of failed cells, when there are any."""
    if not doc["failed_cells"]:
        return []
    return [
        "<h3>Failed cells (left out of the analysis)</h3>",
        _table(
            ["cell", "params", "error"],
            [
                [str(f["cell"]), json.dumps(f["params"]), str(f["error"])]
                for f in doc["failed_cells"]
            ],
        ),
    ]


def _verdict_parts(doc: dict[str, Any], figures: dict[str, PageFigure]) -> list[str]:
    """The verdict on two rates, its figures and the count of best models."""
    parts = ["<h2>Verdict: two transmission rates?</h2>", _verdict_section(doc)]
    parts.append(figures["best"].html())
    if "verdicts" in figures:
        parts.append(figures["verdicts"].html())
    best_counts = ", ".join(f"{escape(k)}: {n}" for k, n in sorted(doc["best_counts"].items()))
    parts.append(f"<p class='muted'>Cells whose best model is each model: {best_counts}.</p>")
    return parts


def _rates_parts(doc: dict[str, Any], figures: dict[str, PageFigure]) -> list[str]:
    """The rates by event type: figure and table of estimates."""
    return [
        "<h2>Rates by event type</h2>",
        figures["rates"].html(),
        _table(
            ["event type", "param", "estimate", "se", "95% interval", "generating value"],
            [
                [
                    r["event_type"],
                    r["param"],
                    _fmt(r["estimate"]),
                    _fmt(r["stderr"], ".2g"),
                    f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]",
                    _fmt(r.get("truth")),
                ]
                for r in doc["rates_by_event_type"]
            ],
        ),
    ]


def _effects_parts(doc: dict[str, Any], figures: dict[str, PageFigure]) -> list[str]:
    """The event-type effects (with their joint test) and the trait effects."""
    parts = []
    effects = doc["effects"]
    if effects.get("fit"):
        parts.append(
            f"<p class='muted'>Effects model: {escape(str(effects['fit']['summary']))}. The "
            "tables show the model standard errors; --json has the sandwich ones "
            "(stderr_sandwich).</p>"
        )
    if effects["event_types"]:
        lr = effects["lr_test"]
        parts.append("<h2>Event-type effects</h2>")
        parts.append(figures["events"].html())
        parts.append(
            f"<p>Log hazard ratios against <strong>{escape(str(effects['reference']))}</strong>, "
            "adjusted for the five traits. Joint test of no event-type effect (likelihood "
            f"ratio): χ² = {_fmt(lr['statistic'], '.2f')} on {lr['df']} df, p = "
            f"{_fmt(lr['p_value'], '.3g')}.</p>"
        )
        parts.append(_effects_table(effects["event_types"], "event_type"))
    if effects["traits"]:
        parts.append("<h2>Trait effects, pooled over events</h2>")
        parts.append(figures["traits"].html())
        parts.append(_effects_table(effects["traits"], "term"))
    elif "message" in effects:
        parts.append(f"<p class='muted'>Effects: {escape(effects['message'])}</p>")
    return parts


def _mean_field_parts(doc: dict[str, Any], figures: dict[str, PageFigure]) -> list[str]:
    """The mean-field and pair approximation error by degree: figure and table."""
    parts = ["<h2>Mean-field and pair approximation error by degree</h2>"]
    if "mean_field" in figures:
        parts.append(figures["mean_field"].html())
    parts.append(
        _table(
            ["degree", "cells", "mean field: max", "mean field: mean", "pair: max", "pair: mean"],
            [
                [
                    str(r["degree"]),
                    str(r["n_cells"]),
                    _fmt(r["mean_field_max"], ".3f"),
                    _fmt(r["mean_field_mean"], ".3f"),
                    _fmt(r["pair_max"], ".3f"),
                    _fmt(r["pair_mean"], ".3f"),
                ]
                for r in doc["mean_field"]["by_degree"]
            ],
        )
    )
    return parts


def render_study_page(doc: dict[str, Any], figures: dict[str, PageFigure], root: Path) -> str:
    """The study page as one HTML string."""
    parts = study_page_start("spillover study", doc, _design_summary(doc))
    parts += _verdict_parts(doc, figures)
    parts += _rates_parts(doc, figures)
    parts += _effects_parts(doc, figures)
    parts += _mean_field_parts(doc, figures)
    parts.append("<h2>Pooled fits</h2>")
    parts.append(
        _table(
            ["pool", "model", "estimates ± se", "ΔBIC", "held-out log-lik", "reading", "status"],
            _pooled_rows(doc),
        )
    )
    parts.append("<h2>Cells</h2>")
    parts.append(_cells_table(doc, root))
    parts.append("<p class='muted'>Generated by spillover.</p></body></html>")
    return "\n".join(parts)


def _effects_table(rows: list[dict[str, Any]], label: str) -> str:
    return _table(
        ["channel", "term", "hazard ratio", "95% interval", "log ratio ± se", "p", "generating"],
        [
            [
                r["channel"],
                r[label],
                _fmt(r["hazard_ratio"], ".3f"),
                f"[{_fmt(hazard_ratio(r['ci_low']), '.3f')}, "
                f"{_fmt(hazard_ratio(r['ci_high']), '.3f')}]",
                f"{_fmt(r['log_hazard_ratio'], '.3f')} ± {_fmt(r['stderr'], '.3f')}",
                _fmt(r["p_value"], ".3g"),
                "n/a" if r.get("truth") is None else _fmt(hazard_ratio(r["truth"]), ".3f"),
            ]
            for r in rows
        ],
    )


def _cells_table(doc: dict[str, Any], root: Path) -> str:
    rows = []
    for c in doc["cells"]:
        rows.append(
            [
                str(c["cell"]),
                escape(c["event_id"]),
                escape(c["event_type"]),
                str(c["degree"]),
                escape(str(c["best"])),
                escape(str((c.get("verdict") or {}).get("reading", ""))),
                _fmt(c["final_informed_mean"], ".3f"),
                _report_link(c["run_dir"], root),
            ]
        )
    return _table(
        ["cell", "event", "event type", "degree", "best", "reading", "final informed", "report"],
        rows,
        raw=frozenset(range(8)),
    )


def _staging(root: Path) -> Path:
    from spillover.io import check_replaceable, new_staging

    existing = root / _FIGURES
    if existing.exists() or existing.is_symlink():
        check_replaceable(existing, "figures", what="study figures folder")
    return new_staging(existing)


def _figures(doc: dict[str, Any], staging: Path) -> dict[str, PageFigure]:
    from spillover.report._study_figures import (
        plot_best_models,
        plot_effects,
        plot_mean_field_error,
        plot_rates_by_type,
    )

    figures = {
        "best": PageFigure.save(
            plot_best_models(doc),
            staging / "best_models.png",
            "Best model of each (event type, degree) pool of cells by the study's criterion.",
            "best model per event type and degree",
        ),
        "rates": PageFigure.save(
            plot_rates_by_type(doc["rates_by_event_type"]),
            staging / "rates_by_type.png",
            "si2's offline (alpha) and online (beta) rates fitted to the pooled exposure tables "
            "of each event type, with 95 % intervals; crosses: generating values.",
            "rates by event type",
        ),
    }
    if doc["verdict"]["cells_supporting"] is not None:
        figures["verdicts"] = PageFigure.save(
            plot_best_models(
                doc, key="reading", title="reading of two rates, per event type and degree"
            ),
            staging / "readings.png",
            "The reading of two rates of each (event type, degree) pool.",
            "reading per event type and degree",
        )
    effects = doc["effects"]
    if effects["event_types"]:
        figures["events"] = PageFigure.save(
            plot_effects(
                effects["event_types"],
                label="event_type",
                title=f"event type vs {effects['reference']}",
            ),
            staging / "event_effects.png",
            "Hazard ratio of each event type against the reference, 95 % intervals; crosses: "
            "generating values.",
            "event-type effects",
        )
    if effects["traits"]:
        figures["traits"] = PageFigure.save(
            plot_effects(effects["traits"], label="term", title="trait"),
            staging / "trait_effects.png",
            "Hazard ratio of each trait's high vs low level, pooled over events (adjusted for "
            "the event type), 95 % intervals; crosses: generating values.",
            "trait effects",
        )
    if doc["mean_field"]["by_degree"]:
        figures["mean_field"] = PageFigure.save(
            plot_mean_field_error(doc["mean_field"]),
            staging / "mean_field_error.png",
            "Error of the homogeneous mean field and of the pair approximation, run with each "
            "cell's si2 rates, against the cell's mean simulated curve: dots per cell, lines "
            "the mean per degree.",
            "mean-field and pair error by degree",
        )
    return figures


def build_study_report(
    root: str | os.PathLike[str],
    *,
    cell_reports: bool = True,
    n_folds: int = 5,
) -> Path:
    """Write ``study.html`` (and ``study-figures/``) from a study folder's ``study.json``.

    With ``cell_reports``, each complete cell without a ``report.html`` gets one first (its
    own run report, or loop report in a loop study), and the study page links to it.
    """
    from spillover.exceptions import RunDirError
    from spillover.io import publish, write_owned_text
    from spillover.report._build import build_run_report

    folder = Path(root)
    path = folder / "study.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path} cannot be read: {exc}") from None
    loop = doc.get("study_kind") == "loop"
    if cell_reports:
        for c in doc["cells"]:
            run_dir = Path(c["run_dir"])
            if not (run_dir / "report.html").is_file():
                if loop:
                    from spillover.report._loop import build_loop_report

                    build_loop_report(run_dir, None)
                else:
                    build_run_report(run_dir, n_folds=n_folds)
    staging = _staging(folder)
    try:
        if loop:
            from spillover.report._loop_study import loop_study_figures, render_loop_study

            html = render_loop_study(doc, loop_study_figures(doc, staging), folder.absolute())
        else:
            html = render_study_page(doc, _figures(doc, staging), folder.absolute())
        publish(staging, folder / _FIGURES, "figures")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    target = folder / "study.html"
    write_owned_text(target, html)
    return target
