"""The pooled analysis of a study: fits per cell and per group, rates, effects, mean-field error.

Groups of cells share one likelihood: the exposure tables (and agent histories) of their cells
are concatenated with replicates renumbered, and every model is fitted to the pool, so a pooled
fit is the maximum-likelihood fit of the model "the same rates in all these cells". The groups:
each cell, each (event type, degree), each event type, each degree, and all cells.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from spillover.exceptions import FitError
from spillover.study._pool import StudyCell, pool_agents, pool_exposures
from spillover.study._spec import StudySpec
from spillover.study._verdict import two_rates_verdict

__all__ = ["analyse_cells", "effects_summary", "mean_field_errors", "rates_by_event_type"]


def _p_two_sided(z: float) -> float | None:
    if not math.isfinite(z):
        return None
    return float(math.erfc(abs(z) / math.sqrt(2.0)))


def _fit(
    spec: StudySpec,
    cells: Sequence[StudyCell],
    verdict: Callable[[Any], dict[str, Any] | None],
) -> tuple[Any, dict[str, Any]]:
    """Fit the study's models to the pool of ``cells``; (Analysis, its JSON document)."""
    from spillover.selection import analyse

    analysis = analyse(
        exposures=pool_exposures(cells),
        agents=pool_agents(cells),
        models=spec.models,
        n_folds=spec.folds,
        criterion=spec.criterion,  # type: ignore[arg-type]
    )
    doc = analysis.to_dict()
    doc["cells"] = [c.cell for c in cells]
    doc["verdict"] = verdict(analysis)
    return analysis, doc


def _group(cells: Sequence[StudyCell], key: Callable[[StudyCell], Any]) -> dict[Any, list[Any]]:
    out: dict[Any, list[StudyCell]] = {}
    for c in cells:
        out.setdefault(key(c), []).append(c)
    return out


def _model(analysis: Any, name: str) -> Any:
    for group in analysis.groups:
        for result in group.results:
            if result.model == name and result.status in ("converged", "bound"):
                return result
    return None


def analyse_cells(
    spec: StudySpec,
    cells: Sequence[StudyCell],
    *,
    verdict: Callable[[Any], dict[str, Any] | None] = two_rates_verdict,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every model fitted per cell and pooled; verdicts, best models, counts.

    Returns
    -------
    dict
        ``cells`` (one document per cell, in cell order), ``pooled`` (``all``,
        ``by_event_type``, ``by_degree``, ``by_type_degree``), ``best_counts`` (cells whose
        best model is each model), ``verdict_counts`` (cells supporting each reading, or None
        when no verdict is available), and the analyses of the groups under ``_analyses``
        (not JSON: for the rates and the mean-field comparison).
    """
    say = progress or (lambda _msg: None)
    per_cell: list[dict[str, Any]] = []
    analyses: dict[Any, Any] = {}
    for c in cells:
        say(f"fitting cell {c.cell}")
        analysis, doc = _fit(spec, [c], verdict)
        analyses[("cell", c.cell)] = analysis
        final = c.curves.fraction()[:, -1]
        per_cell.append(
            {
                "cell": c.cell,
                "event_id": c.event_id,
                "event_type": c.event_type,
                "degree": c.degree,
                "run_dir": str(c.run_dir),
                "final_informed_mean": float(final.mean()),
                **doc,
            }
        )
    pooled: dict[str, Any] = {"by_event_type": {}, "by_degree": {}, "by_type_degree": []}
    if cells:
        say("fitting the pool of all cells")
        analyses["all"], pooled["all"] = _fit(spec, cells, verdict)
    for event_type, members in _group(cells, lambda c: c.event_type).items():
        say(f"fitting the pool of {event_type}")
        analysis, doc = _fit(spec, members, verdict)
        analyses[("type", event_type)] = analysis
        pooled["by_event_type"][event_type] = doc
    for degree, members in sorted(_group(cells, lambda c: c.degree).items()):
        say(f"fitting the pool of degree {degree}")
        analysis, doc = _fit(spec, members, verdict)
        analyses[("degree", degree)] = analysis
        pooled["by_degree"][str(degree)] = doc
    for (event_type, degree), members in _group(cells, lambda c: (c.event_type, c.degree)).items():
        if len(members) == 1:  # the cell's own fit
            doc = dict(per_cell[[d["cell"] for d in per_cell].index(members[0].cell)])
            doc = {k: doc[k] for k in ("models", "best", "criterion", "verdict", "cells")}
        else:
            _, doc = _fit(spec, members, verdict)
        pooled["by_type_degree"].append({"event_type": event_type, "degree": degree, **doc})
    verdicts = [d["verdict"] for d in per_cell]
    verdict_counts = (
        dict(Counter(v["reading"] for v in verdicts if v is not None))
        if any(v is not None for v in verdicts)
        else None
    )
    return {
        "cells": per_cell,
        "pooled": pooled,
        "best_counts": dict(Counter(str(d["best"]) for d in per_cell)),
        "verdict_counts": verdict_counts,
        "_analyses": analyses,
    }


def _truth_rates(spec: StudySpec, event_type: str) -> dict[str, float] | None:
    policy = spec.policy
    if policy["kind"] != "parametric":
        return None
    rates = policy.get("event_types", {}).get(event_type, {})
    return {
        "alpha": float(rates.get("alpha", policy["alpha"])),
        "beta": float(rates.get("beta", policy["beta"])),
    }


def rates_by_event_type(spec: StudySpec, analyses: dict[Any, Any]) -> list[dict[str, Any]]:
    """si2's alpha and beta pooled per event type, with 95 % intervals (and the generating
    values under a parametric policy)."""
    rows = []
    for event_type in spec.event_types:
        analysis = analyses.get(("type", event_type))
        result = _model(analysis, "si2") if analysis is not None else None
        truth = _truth_rates(spec, event_type)
        for param in ("alpha", "beta"):
            row: dict[str, Any] = {"event_type": event_type, "model": "si2", "param": param}
            if result is None:
                row.update(estimate=None, stderr=None, ci_low=None, ci_high=None)
            else:
                row.update(
                    estimate=float(result.params[param]),
                    stderr=float(result.stderr.get(param, math.nan)),
                    ci_low=float(result.ci_low.get(param, math.nan)),
                    ci_high=float(result.ci_high.get(param, math.nan)),
                    ci_method=result.ci_method,
                    status=result.status,
                )
            row["truth"] = None if truth is None else truth[param]
            rows.append(row)
    return rows


def _effect_row(channel: str, term: str, b: float, se: float) -> dict[str, Any]:
    from spillover.fit import log_hazard_effect

    z = b / se if se > 0 and math.isfinite(se) else math.nan
    return {
        "channel": channel,
        "term": term,
        **log_hazard_effect(b, se),
        "z": z,
        "p_value": _p_two_sided(z),
    }


def _lr_test(with_events: Any, without: Any, n_types: int) -> dict[str, Any]:
    from scipy.stats import chi2

    stat = max(2.0 * (with_events.loglik - without.loglik), 0.0)
    df = 2 * (n_types - 1)
    return {
        "statistic": stat,
        "df": df,
        "p_value": float(chi2.sf(stat, df)),
        "what": "likelihood ratio: event-type terms on both channels vs none",
    }


def _trait_truth(spec: StudySpec) -> dict[str, dict[str, float]] | None:
    from spillover.personas import TRAITS

    if spec.policy["kind"] == "persona":
        from spillover.policies import ALPHA_EFFECTS, BETA_EFFECTS

        return {
            "alpha": dict(zip(TRAITS, ALPHA_EFFECTS, strict=True)),
            "beta": dict(zip(TRAITS, BETA_EFFECTS, strict=True)),
        }
    if spec.policy["kind"] == "parametric":
        return {ch: dict.fromkeys(TRAITS, 0.0) for ch in ("alpha", "beta")}
    return None


def _event_truth(spec: StudySpec, reference: str) -> dict[str, dict[str, float]] | None:
    """Generating log hazard ratios of each event type against the reference, where known."""
    kind = spec.policy["kind"]
    out: dict[str, dict[str, float]] = {"alpha": {}, "beta": {}}
    if kind == "persona":
        from spillover.policies import DEFAULT_EVENT_MULTIPLIERS

        def factor(t: str, i: int) -> float:
            return DEFAULT_EVENT_MULTIPLIERS.get(t, (1.0, 1.0))[i]

        for t in spec.event_types:
            for i, ch in enumerate(("alpha", "beta")):
                out[ch][t] = math.log(factor(t, i) / factor(reference, i))
        return out
    if kind == "parametric":
        for t in spec.event_types:
            rt, rr = _truth_rates(spec, t), _truth_rates(spec, reference)
            assert rt is not None and rr is not None
            for ch in ("alpha", "beta"):
                h_t, h_r = -math.log1p(-rt[ch]), -math.log1p(-rr[ch])
                out[ch][t] = math.log(h_t / h_r) if h_t > 0 and h_r > 0 else math.nan
        return out
    return None


def effects_summary(spec: StudySpec, cells: Sequence[StudyCell]) -> dict[str, Any]:
    """Trait effects pooled over events, and event-type effects with their tests.

    One log-linear hazard model per channel on the pooled exposure table of every cell
    (:func:`spillover.fit.fit_trait_effects` with the cells' event types): trait terms are
    adjusted for the event type; each event-type term is a log hazard ratio against the
    reference type, with a Wald test, and a likelihood-ratio test compares the model with and
    without event-type terms.
    """
    from spillover.fit import fit_trait_effects
    from spillover.personas import TRAITS

    doc: dict[str, Any] = {"traits": [], "event_types": [], "reference": None, "lr_test": None}
    if not cells:
        return doc
    pooled = pool_exposures(cells)
    labels = np.concatenate([np.full(len(c.exposures), c.event_type, dtype=object) for c in cells])
    n_types = len(set(labels.tolist()))
    try:
        fitted = fit_trait_effects(pooled, event_types=labels if n_types > 1 else None)
        plain = fit_trait_effects(pooled) if n_types > 1 else fitted
    except FitError as exc:
        doc["message"] = str(exc)
        return doc
    trait_truth = _trait_truth(spec)
    reference = fitted.reference_event if n_types > 1 else None
    event_truth = _event_truth(spec, reference) if reference is not None else None
    robust = fitted.stderr_sandwich
    for i, channel in enumerate(fitted.channels):
        for j, term in enumerate(fitted.terms):
            if term == "baseline":
                continue
            row = _effect_row(channel, term, float(fitted.coef[i, j]), float(fitted.stderr[i, j]))
            row["se_kind"] = fitted.se_kind
            row["stderr_sandwich"] = math.nan if robust is None else float(robust[i, j])
            if term in TRAITS:
                row["truth"] = None if trait_truth is None else trait_truth[channel][term]
                doc["traits"].append(row)
            else:
                event_type = term.removeprefix("event: ")
                row["event_type"] = event_type
                row["truth"] = None if event_truth is None else event_truth[channel][event_type]
                doc["event_types"].append(row)
    doc["reference"] = reference
    doc["fit"] = fitted.summary()  # base, goodness of fit, which standard errors are shown
    doc["converged"] = bool(fitted.converged)
    doc["n_obs"] = int(fitted.n_obs)
    if n_types > 1:
        doc["lr_test"] = _lr_test(fitted, plain, n_types)
    return doc


def mean_field_errors(cells: Sequence[StudyCell], analyses: dict[Any, Any]) -> dict[str, Any]:
    """How far the homogeneous mean field and the pair approximation are from the simulation.

    For each cell, both maps are run with the cell's si2 rates (fitted to its exposure table)
    from the cell's initial informed fraction, and compared with the mean simulated informed
    fraction per round: the largest and the mean absolute difference over rounds. Per degree:
    the mean over cells (and the largest of the maxima).
    """
    from spillover.fit import predict_curve

    rows = []
    for c in cells:
        result = _model(analyses[("cell", c.cell)], "si2")
        if result is None:
            continue
        params = {"alpha": float(result.params["alpha"]), "beta": float(result.params["beta"])}
        simulated = c.curves.fraction().mean(axis=0)
        i0 = float(simulated[0])
        row: dict[str, Any] = {"cell": c.cell, "degree": c.degree, "event_type": c.event_type}
        for name, model in (("mean_field", "si2"), ("pair", "pair")):
            predicted = predict_curve(model, params, c.degree, i0, c.curves.n_rounds)
            err = np.abs(np.asarray(predicted) - simulated)
            row[f"{name}_max"] = float(err.max())
            row[f"{name}_mean"] = float(err.mean())
        rows.append(row)
    by_degree = []
    for degree in sorted({r["degree"] for r in rows}):
        sel = [r for r in rows if r["degree"] == degree]
        by_degree.append(
            {
                "degree": degree,
                "n_cells": len(sel),
                **{
                    f"{name}_{stat}": float(np.mean([r[f"{name}_{stat}"] for r in sel]))
                    for name in ("mean_field", "pair")
                    for stat in ("max", "mean")
                },
                "mean_field_max_worst": max(r["mean_field_max"] for r in sel),
                "pair_max_worst": max(r["pair_max"] for r in sel),
            }
        )
    return {"cells": rows, "by_degree": by_degree}
