"""``study.html`` of a loop study (from ``study.json``): the design, the offline outbreak size
against the swept rate (or the degree) with the coupled maps' predictions, the coupling rates
fitted per cell and per pool against their generating values, and every cell with a link to
its own loop report. Every string from data is escaped."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spillover.report._html import PageFigure, _report_link, _table
from spillover.report._mpl import new_figure
from spillover.report._study import study_page_start

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["loop_study_figures", "plot_loop_outbreaks", "plot_loop_rates", "render_loop_study"]

#: Swept ``[loop]`` keys drawn on the x axis of the outbreak figure, in order of preference.
_X_RATES = ("eta", "kappa", "gamma", "delta")
_STYLES = {"loop-pair": "--", "loop-mf": ":"}


def _fmt(x: Any, fmt: str = ".4g") -> str:
    return "n/a" if x is None else format(x, fmt)


def _x_key(doc: dict[str, Any]) -> str:
    """The x axis: a swept coupling rate if there is one, else the degree."""
    swept = [k for k, _ in doc["design"]["loop_grid"]]
    return next((k for k in _X_RATES if k in swept), "degree")


def _x_value(cell: dict[str, Any], key: str) -> float:
    return float(cell["degree"] if key == "degree" else cell["params"][key])


def _prediction_curve(
    model: str, rates: dict[str, float], cell: dict[str, Any], design: Any, key: str, xs: np.ndarray
) -> np.ndarray:
    """A coupled map's final offline size at the cell's rates over ``xs`` of the swept rate."""
    from spillover.models import coupled_map

    params: dict[str, Any] = {**rates, key: xs}
    curves = coupled_map(
        model,
        degree=cell["degree"],
        i0=design["n_seeds"] / design["n_nodes"],
        n_rounds=design["n_rounds"],
        **params,
    )
    return np.asarray(curves.ever_participated)[..., -1]


def plot_loop_outbreaks(doc: dict[str, Any]) -> Figure:
    """Offline outbreak size of the root cascade (median and 5-95% band over each cell's
    loops) against the swept rate or the degree, one line per group of the other settings;
    the coupled maps' predictions at the cells' rates (dashed: pair, dotted: mean field)."""
    key = _x_key(doc)
    design = doc["design"]
    others = ["event_type", *(["degree"] if key != "degree" else [])]
    others += [k for k, _ in design["loop_grid"] if k != key]
    fig = new_figure((6.6, 4.2), dpi=110)
    ax = fig.subplots()
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for c in doc["cells"]:
        if c["outbreak"] is None:
            continue
        label = tuple(c.get(k, c["params"].get(k)) for k in others)
        groups.setdefault(label, []).append(c)
    models = design["analysis"]["models"]
    for label, cells in groups.items():
        cells = sorted(cells, key=lambda c: _x_value(c, key))
        xs = np.array([_x_value(c, key) for c in cells])
        o = [c["outbreak"] for c in cells]
        mid = np.array([v["offline_size_median"] for v in o])
        name = ", ".join(
            f"{v}" if k == "event_type" else f"{k} = {v}"
            for k, v in zip(others, label, strict=True)
        )
        (line,) = ax.plot(xs, mid, "o-", ms=3.5, lw=1.2, label=name)
        lo = np.array([v["offline_size_p5"] for v in o])
        hi = np.array([v["offline_size_p95"] for v in o])
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2)
        for model in models:
            style = _STYLES.get(model, "-.")
            if key == "degree" or xs.size < 2:
                pred = [c["predicted"][model]["offline_size"] for c in cells]
                ax.plot(
                    xs,
                    pred,
                    ls="none",
                    marker="x" if model == "loop-pair" else "+",
                    color=line.get_color(),
                )
                continue
            grid = np.linspace(float(xs.min()), float(xs.max()), 120)
            curve = _prediction_curve(model, cells[0]["rates"], cells[0], design, key, grid)
            ax.plot(grid, curve, ls=style, lw=1.0, color=line.get_color())
    for model in models:
        if key == "degree":
            ax.plot(
                [],
                [],
                ls="none",
                marker="x" if model == "loop-pair" else "+",
                color="grey",
                label=model,
            )
        else:
            ax.plot([], [], ls=_STYLES.get(model, "-."), color="grey", label=model)
    ax.set_xlabel(f"{key} (swept)" if key != "degree" else "degree")
    ax.set_ylabel("offline outbreak size (root cascade)")
    ax.set_ylim(bottom=0)
    if groups:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_loop_rates(doc: dict[str, Any]) -> Figure:
    """Each cell's fitted coupling rates with 95% intervals; black crosses: generating values."""
    names = [
        n
        for n in ("eta", "gamma", "delta", "beta")
        if any(n in c["coupling"] for c in doc["cells"])
    ]
    fig = new_figure((2.4 * max(len(names), 1) + 0.6, 3.0), dpi=110)
    axes = fig.subplots(1, max(len(names), 1), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=False):
        cells = [c for c in doc["cells"] if c["coupling"].get(name, {}).get("estimate") is not None]
        xs = np.array([c["cell"] for c in cells], dtype=float)
        est = np.array([c["coupling"][name]["estimate"] for c in cells])
        lo = np.array([c["coupling"][name]["low"] for c in cells])
        hi = np.array([c["coupling"][name]["high"] for c in cells])
        ax.errorbar(xs, est, yerr=[est - lo, hi - est], fmt="o", ms=3, lw=1)
        ax.plot(xs, [c["coupling"][name]["truth"] for c in cells], "kx", ms=5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("cell")
    fig.tight_layout()
    return fig


def loop_study_figures(doc: dict[str, Any], staging: Path) -> dict[str, PageFigure]:
    """The figures of a loop study's page, saved under ``staging``."""
    key = _x_key(doc)
    return {
        "outbreaks": PageFigure.save(
            plot_loop_outbreaks(doc),
            staging / "outbreak_sizes.png",
            f"Offline outbreak size of the root cascade against {key}: median and 5-95% band "
            "over each cell's loops; the coupled maps at the cells' generating rates "
            "(pair closure dashed or x, mean field dotted or +).",
            "offline outbreak size across the study",
        ),
        "rates": PageFigure.save(
            plot_loop_rates(doc),
            staging / "coupling_rates.png",
            "Coupling rates fitted to each cell's offline and engagement tables, with 95% "
            "profile-likelihood intervals; crosses: generating values.",
            "coupling rates per cell",
        ),
    }


def _rate_text(r: dict[str, Any]) -> str:
    if r.get("estimate") is None:
        return "n/a"
    interval = f"[{_fmt(r['low'], '.3g')}, {_fmt(r['high'], '.3g')}]"
    return f"{r['estimate']:.4g} {interval} (true {_fmt(r['truth'], 'g')})"


def _design_rows(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    d = doc["design"]
    policy = ", ".join(f"{k} = {v}" for k, v in d["policy"].items() if k != "event_types")
    rows: list[tuple[str, Any]] = [
        ("study file", d["source"]),
        ("status", f"{doc['status']}: {doc['n_complete']} of {doc['n_cells']} cells complete"),
        ("events", ", ".join(f"{e['event_id']} ({e['event_type']})" for e in d["events"])),
        ("degrees", ", ".join(map(str, d["degrees"]))),
        ("swept [loop] keys", "; ".join(f"{k}: {v}" for k, v in d["loop_grid"]) or "none"),
        (
            "each cell",
            f"chained coupled run on a random k-regular graph of {d['n_nodes']:,} agents, "
            f"{d['n_reps']} loops x {d['n_rounds']} rounds, {d['n_seeds']} seed agents",
        ),
        ("online rates", policy),
        ("loop settings", ", ".join(f"{k} = {v}" for k, v in d["loop"].items()) or "defaults"),
        ("coupled models", ", ".join(d["analysis"]["models"])),
        ("root seed", doc["root_seed"]),
    ]
    if "event_types" in d["policy"]:
        rows.append(
            (
                "rates by event type",
                "; ".join(f"{t}: {json.dumps(r)}" for t, r in d["policy"]["event_types"].items()),
            )
        )
    return rows


def _cells_rows(doc: dict[str, Any], root: Path) -> list[list[str]]:
    models = doc["design"]["analysis"]["models"]
    rows = []
    for c in doc["cells"]:
        o = c["outbreak"] or {}
        size = (
            f"{o['offline_size_median']:.3f} [{o['offline_size_p5']:.3f}, "
            f"{o['offline_size_p95']:.3f}]"
            if o
            else "n/a"
        )
        rows.append(
            [
                str(c["cell"]),
                escape(c["event_id"]),
                escape(c["event_type"]),
                str(c["degree"]),
                escape(", ".join(f"{k} = {v}" for k, v in c["params"].items())),
                escape(_rate_text(c["coupling"].get("eta", {}))),
                size,
                *(_fmt(c["predicted"][m]["offline_size"], ".3f") for m in models),
                *(_fmt(c["predicted"][m]["critical_eta"], ".3f") for m in models),
                str(o.get("n_events", "")),
                _report_link(c["run_dir"], root),
            ]
        )
    return rows


def render_loop_study(doc: dict[str, Any], figures: dict[str, PageFigure], root: Path) -> str:
    """The loop study page as one HTML string."""
    models = doc["design"]["analysis"]["models"]
    parts = study_page_start("spillover loop study", doc, _design_rows(doc))
    parts += ["<h2>Offline outbreak size</h2>", figures["outbreaks"].html()]
    parts += ["<h2>Coupling rates</h2>", figures["rates"].html()]
    coverage = ", ".join(
        f"{escape(k)}: {v['covered']} of {v['cells']}" for k, v in doc["coverage"].items()
    )
    parts.append(f"<p>Cells whose 95% interval covers the generating value: {coverage}.</p>")
    parts.append("<h3>Pooled per event type and swept values</h3>")
    parts.append(
        _table(
            [
                "event type",
                "swept values",
                "cells",
                *(n for n in ("eta", "kappa", "gamma", "delta", "beta")),
            ],
            [
                [
                    p["event_type"],
                    ", ".join(f"{k} = {v}" for k, v in p["params"].items()),
                    ", ".join(map(str, p["cells"])),
                    *(
                        _rate_text(p["rates"].get(n, {}))
                        for n in ("eta", "kappa", "gamma", "delta", "beta")
                    ),
                ]
                for p in doc["pooled"]
            ],
        )
    )
    parts.append("<h2>Cells</h2>")
    header = [
        "cell",
        "event",
        "event type",
        "degree",
        "swept",
        "eta [95%]",
        "offline size [5-95%]",
        *(f"{m} size" for m in models),
        *(f"{m} critical eta" for m in models),
        "events",
        "report",
    ]
    parts.append(_table(header, _cells_rows(doc, root), raw=frozenset(range(len(header)))))
    parts.append("<p class='muted'>Generated by spillover.</p></body></html>")
    return "\n".join(parts)
