"""Everything ``spillover fit`` and ``spillover report`` show: fits, comparisons, trait effects.

Agent-level models are fitted to the exposure table (``si-groups2`` to agent histories when
there are any); curve models to the informed counts. The two groups score different data, so
they are compared within their group only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from spillover.exceptions import ConfigError, FitError, MissingExtraError
from spillover.fit import (
    CURVE_ESTIMATORS,
    ESTIMATORS,
    CurveEstimator,
    DiscoveredEquation,
    FitResult,
    TraitEffects,
    discover_equation,
    fit_trait_effects,
    get_model,
)
from spillover.selection._criteria import ComparisonRow, Criterion, compare
from spillover.selection._holdout import held_out_loglik
from spillover.selection._verdict import TwoRatesVerdict, two_rates_verdict
from spillover.trajectories import AgentHistories, Curves, ExposureTable

__all__ = ["Analysis", "ModelGroup", "analyse", "available_models"]


@dataclass(frozen=True)
class ModelGroup:
    """Models fitted to one kind of data, and their comparison."""

    data: str  # "exposures" or "curves"
    description: str
    results: tuple[FitResult, ...]
    comparison: tuple[ComparisonRow, ...]

    @property
    def best(self) -> str | None:
        """The first model of the comparison (ordered by the analysis' criterion)."""
        finite = [row for row in self.comparison if math.isfinite(row.aic)]
        return finite[0].model if finite else None


@dataclass(frozen=True)
class Analysis:
    groups: tuple[ModelGroup, ...]
    trait_effects: TraitEffects | None = None
    equation: DiscoveredEquation | None = None
    degree: int | None = None
    criterion: str = "bic"
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Which reading of "two rates" the exposure table supports (None without one).
    two_rates: TwoRatesVerdict | None = None

    @property
    def best(self) -> str | None:
        """The best model (by ``criterion``) of the first group (agent level when present)."""
        for group in self.groups:
            if group.best is not None:
                return group.best
        return None

    def to_dict(self) -> dict[str, Any]:
        """The ``spillover fit --json`` document (DESIGN section 6, with extra fields)."""
        models = []
        for group in self.groups:
            rows = {row.model: row for row in group.comparison}
            for result in group.results:
                doc = result.to_dict()
                row = rows[result.model]
                doc.update(
                    data=group.data,
                    delta_aic=row.delta_aic,
                    delta_bic=row.delta_bic,
                    akaike_weight=row.akaike_weight,
                    held_out_loglik=row.held_out_loglik,
                )
                models.append(doc)
        out: dict[str, Any] = {"models": models, "best": self.best, "criterion": self.criterion}
        if self.trait_effects is not None:
            out["trait_effects"] = self.trait_effects.rows()
        if self.equation is not None:
            out["equation"] = self.equation.to_dict()
        if self.two_rates is not None:
            out["two_rates"] = self.two_rates.to_dict()
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def available_models(
    exposures: ExposureTable | None, curves: Curves | None, degree: int | None
) -> tuple[list[str], list[str]]:
    """(agent-level models, curve models) that the inputs support, in report order."""
    agent = list(ESTIMATORS) if exposures is not None else []
    curve: list[str] = []
    if curves is not None and degree is not None:
        # With an exposure table, the models fitted there are not fitted again to the curves:
        # only the curve-only models (pair) are.
        curve = [n for n in CURVE_ESTIMATORS if not (agent and n in ESTIMATORS)]
    return agent, curve


def analyse(
    *,
    exposures: ExposureTable | None = None,
    curves: Curves | None = None,
    agents: AgentHistories | None = None,
    degree: int | None = None,
    models: Sequence[str] | None = None,
    n_folds: int = 5,
    criterion: Criterion = "bic",
) -> Analysis:
    """Fit, compare and summarise. ``models=None`` means every model the inputs support.

    Raises
    ------
    ConfigError
        Unknown model names, a curve model without a degree, or no data.
    """
    if exposures is None and curves is None:
        raise ConfigError("nothing to fit: the input has neither exposures nor curves")
    agent_ok, curve_ok = available_models(exposures, curves, degree)
    notes: list[str] = []
    if models is None:
        agent_models, curve_models = agent_ok, curve_ok
        if curves is not None and degree is None and exposures is None:
            raise ConfigError("curve models need the graph's degree: pass --degree K")
    else:
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
                    "curves.parquet (with --degree K)"
                )
            raise ConfigError(
                f"model(s) {', '.join(curve_models)} need an exposure table or curves; "
                "the input has neither"
            )
        if curve_models and degree is None:
            raise ConfigError(
                f"model(s) {', '.join(curve_models)} are fitted to curves and need the "
                "graph's degree: pass --degree K"
            )
    # Equation discovery runs whenever curves are there, unless a model list leaves it out.
    want_sindy = curves is not None and (models is None or "sindy" in models)
    if models is not None and "sindy" in models and curves is None:
        raise ConfigError("sindy is fitted to curves; the input has none")
    groups: list[ModelGroup] = []
    traits = None
    verdict = None
    if exposures is not None:
        try:
            verdict = two_rates_verdict(exposures)
        except FitError as exc:
            notes.append(f"two-rates verdict: {exc}")
    if agent_models:
        assert exposures is not None
        results = []
        for name in list(agent_models):
            spec = get_model(name)
            try:
                fitted = spec.make_estimator().fit(spec.agent_data(exposures, agents))
            except FitError as exc:
                if models is not None:  # asked for by name: the failure is the answer
                    raise
                notes.append(f"{name} skipped: {exc}")
                agent_models.remove(name)
                continue
            results.append(fitted.result_)
    if agent_models:
        assert exposures is not None
        held = None
        n_reps = len(set(exposures.replicate.tolist()))
        if n_folds >= 2 and n_reps >= 2:
            held = held_out_loglik(exposures, agent_models, n_folds=n_folds, agents=agents)
        elif n_folds >= 2:
            notes.append("held-out scores need at least 2 replicates; skipped")
        groups.append(
            ModelGroup(
                data="exposures",
                description=(
                    f"agent level: exposure table, {int(exposures.at_risk.sum()):,} agent-rounds "
                    f"at risk, {n_reps} replicate(s)"
                ),
                results=tuple(results),
                comparison=tuple(compare(results, held, criterion)),
            )
        )
        if any(get_model(name).trait_effects for name in agent_models):
            try:
                traits = fit_trait_effects(exposures)
            except FitError as exc:
                if models is not None:
                    raise
                notes.append(f"trait effects skipped: {exc}")
        if verdict is not None and held is not None:
            verdict = replace(verdict, held_out=dict(held))
    if curve_models:
        assert curves is not None and degree is not None
        results = [CurveEstimator(name, degree).fit(curves).result_ for name in curve_models]
        groups.append(
            ModelGroup(
                data="curves",
                description=(
                    f"aggregate: informed counts of {curves.n_reps} replicate(s), "
                    f"{curves.n_nodes:,} agents, degree {degree}"
                ),
                results=tuple(results),
                comparison=tuple(compare(results, criterion=criterion)),
            )
        )
    equation = None
    if want_sindy:
        assert curves is not None
        try:
            equation = discover_equation(curves)
        except FitError as exc:
            notes.append(f"sindy: {exc}")
        except MissingExtraError as exc:
            if models is not None:
                raise
            notes.append(f"sindy skipped: {exc}")
    return Analysis(
        groups=tuple(groups),
        trait_effects=traits,
        equation=equation,
        degree=degree,
        criterion=criterion,
        notes=tuple(notes),
        two_rates=verdict,
    )
