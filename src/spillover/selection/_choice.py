"""Which models :func:`spillover.selection.analyse` fits: those the inputs support (agent-level
models on an exposure table, curve models on curves with a degree, the pair approximation on a
k-regular graph only), or those asked for by name, checked against the inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spillover.exceptions import ConfigError
from spillover.fit import CURVE_ESTIMATORS, ESTIMATORS, default_models
from spillover.trajectories import Curves, ExposureTable

__all__ = ["available_models", "chosen_models"]


def available_models(
    exposures: ExposureTable | None,
    curves: Curves | None,
    degree: int | None,
    graph: Mapping[str, Any] | None = None,
) -> tuple[list[str], list[str]]:
    """(agent-level models, curve models) that the inputs support, in report order: the
    models fitted when none are named (``spillover.fit.default_models``).

    ``graph`` is the run's graph summary (``manifest.json``'s ``graph``); when it says the graph
    is not regular, the models whose map needs a k-regular graph (``pair``) are left out.
    """
    defaults = default_models()
    agent = [n for n in ESTIMATORS if n in defaults] if exposures is not None else []
    curve: list[str] = []
    if degree is not None:
        curve = [n for n in _curve_candidates(exposures, curves) if n not in _irregular(graph)]
    return agent, curve


def _curve_candidates(exposures: ExposureTable | None, curves: Curves | None) -> list[str]:
    """The curve models the inputs could support given a degree and a regular graph."""
    if curves is None:
        return []
    # With an exposure table, the models fitted there are not fitted again to the curves:
    # only the curve-only models (pair) are.
    fitted_there = set(ESTIMATORS) if exposures is not None else set()
    return [n for n in CURVE_ESTIMATORS if n in default_models() and n not in fitted_there]


def _irregular(graph: Mapping[str, Any] | None) -> dict[str, str]:
    """``{model: why it cannot be fitted}`` for the models that need a k-regular graph, when
    ``graph`` (a graph summary) says the graph is not regular; empty otherwise."""
    if graph is None or graph.get("is_regular", True) is not False:
        return {}
    name = graph.get("name")
    lo, hi = graph.get("min_degree"), graph.get("max_degree")
    which = f", {name}," if name else ""
    degrees = f" (degrees {lo}-{hi})" if lo is not None and hi is not None else ""
    return {
        model: (
            f"model {model!r} needs a k-regular graph (its map assumes every agent has k "
            f"neighbours); this run's graph{which} is not regular{degrees}"
        )
        for model, spec in CURVE_ESTIMATORS.items()
        if spec.needs_regular
    }


def chosen_models(
    exposures: ExposureTable | None,
    curves: Curves | None,
    degree: int | None,
    models: Sequence[str] | None,
    graph: Mapping[str, Any] | None,
    notes: list[str],
) -> tuple[list[str], list[str]]:
    """(agent-level, curve) models to fit, after checking the names against the inputs.

    A model left out because the graph is not regular is named in ``notes``.
    """
    agent_ok, curve_ok = available_models(exposures, curves, degree, graph)
    irregular = _irregular(graph)
    if models is None:
        if curves is not None and degree is None and exposures is None:
            raise ConfigError(
                "curve models need the graph's degree: give degree", params=("degree",)
            )
        for name in _curve_candidates(exposures, curves):
            if name in irregular:
                notes.append(f"{name} skipped: {irregular[name]}")
        return agent_ok, curve_ok
    known = set(ESTIMATORS) | set(CURVE_ESTIMATORS) | {"sindy"}
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ConfigError(
            f"unknown model(s) {', '.join(map(repr, unknown))}; known: "
            f"{', '.join(dict.fromkeys([*ESTIMATORS, *CURVE_ESTIMATORS, 'sindy']))}"
        )
    names = [m for m in dict.fromkeys(models) if m != "sindy"]
    agent_models = [m for m in names if m in ESTIMATORS and exposures is not None]
    curve_models = [m for m in names if m not in agent_models]
    if curve_models and curves is None:
        only_curves = [m for m in curve_models if m not in ESTIMATORS]
        if exposures is not None and only_curves:
            raise ConfigError(
                f"model(s) {', '.join(only_curves)} are fitted to the informed curves, "
                "which an exposure table does not hold: fit the run folder or its "
                "curves.parquet (with the graph's degree)",
                params=("models", "degree"),
            )
        raise ConfigError(
            f"model(s) {', '.join(curve_models)} need an exposure table or curves; "
            "the input has neither"
        )
    refused = [m for m in curve_models if m in irregular]
    if refused:
        raise ConfigError(
            f"{irregular[refused[0]]}: fit the exposure-table models instead (leave "
            f"{refused[0]} out of models), or simulate the run on a random-regular graph",
            params=("models",),
        )
    if curve_models and degree is None:
        raise ConfigError(
            f"model(s) {', '.join(curve_models)} are fitted to curves and need the "
            "graph's degree: give degree",
            params=("degree",),
        )
    return agent_models, curve_models
