"""Everything ``spillover fit`` and ``spillover report`` show: fits, comparisons, trait effects.

Agent-level models are fitted to the exposure table (``si-groups2`` to agent histories when
there are any); curve models to the informed counts. The two groups score different data, so
they are compared within their group only: each :class:`ModelGroup` has its own comparison,
Akaike weights and best model, and no criterion of one group is ever set against the other's.
Agent-level groups rank by the likelihood criteria (AIC, AICc, BIC), curve groups by their
quasi-likelihood forms (QAIC, QAICc, QBIC) with the dispersion of the group's most general fit.
With ``fit_rounds`` everything is fitted to rounds 0..R only and each model forecasts the
later rounds (:mod:`spillover.selection._forecast`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from spillover._rng import SeedLike
from spillover.exceptions import ConfigError, FitError, MissingExtraError
from spillover.fit import (
    CurveEstimator,
    DiscoveredEquation,
    FitResult,
    TraitEffects,
    check_fit_rounds,
    discover_equation,
    fit_trait_effects,
    get_model,
)
from spillover.selection._choice import chosen_models
from spillover.selection._criteria import (
    ComparisonRow,
    Criterion,
    common_dispersion,
    compare,
    criterion_name,
)
from spillover.selection._forecast import Forecast, fit_window, forecast_models
from spillover.selection._holdout import held_out_loglik
from spillover.selection._llm_noise import LLMNoise
from spillover.selection._robust import RobustErrors, heterogeneity_reasons, robust_errors
from spillover.selection._verdict import TwoRatesVerdict, two_rates_verdict
from spillover.trajectories import AgentHistories, Curves, ExposureTable

__all__ = ["N_OBS", "Analysis", "ModelGroup", "OnFitError", "analyse"]

#: What :func:`analyse` does with an agent-level model that cannot be fitted at all
#: (:class:`FitError`, such as a table with nobody at risk): ``raise`` it, ``skip`` it with a
#: note, or ``record`` it with status ``failed``, no parameters and its message (a sweep's
#: cells, whose documents list every model asked for). The trait effects follow the same rule
#: (``record`` makes a failure a note).
OnFitError = Literal["raise", "skip", "record"]


#: What ``n_obs`` (the n of BIC and QBIC, and of AICc's correction) counts, per kind of data.
N_OBS: Mapping[str, str] = {
    "exposures": (
        "agent-rounds at risk: the sum of at_risk over the exposure table, one Bernoulli trial "
        "each (also for si-groups2 fitted to agent histories)"
    ),
    "curves": (
        "susceptible agent-rounds of the curves: the sum over replicates and rounds t >= 1 of "
        "n_nodes - informed[t-1], the trials of the binomial cells (the dispersion's degrees of "
        "freedom count the cells, replicate x round, less the parameters)"
    ),
}


#: The criteria of ``spillover fit --json``: k is ``n_params`` (the model's free parameters;
#: phi is not counted, being common to the models compared), n is ``n_obs`` (what it counts:
#: :data:`N_OBS`), phi the curve group's dispersion.
CRITERION_FORMULAS: Mapping[str, str] = {
    "aic": "-2 loglik + 2 k",
    "aicc": "AIC + 2 k (k + 1) / (n - k - 1), inf when n <= k + 1",
    "bic": "-2 loglik + k log n",
    "qaic": "-2 loglik / phi + 2 k",
    "qaicc": "QAIC + 2 k (k + 1) / (n - k - 1)",
    "qbic": "-2 loglik / phi + k log n",
    "k": "n_params, the model's free parameters (phi is not counted: it is common to the group)",
    "n": "n_obs, the model's observations; what they count: groups[].n_obs",
    "phi": (
        "groups[].dispersion, the Pearson chi2 / (cells - k) of the group's most general curve "
        "fit (groups[].dispersion_model); quasi criteria only when phi > 1"
    ),
}

#: The fields of a model's comparison row that ``fit --json`` adds to its fit, in order.
_FROM_COMPARISON = (
    "qaic",
    "qaicc",
    "qbic",
    "delta_aic",
    "delta_bic",
    "akaike_weight",
    "held_out_loglik",
)


@dataclass(frozen=True)
class ModelGroup:
    """Models fitted to one kind of data, and their comparison.

    ``dispersion`` is the common quasi-likelihood phi of a curve group, estimated from
    ``dispersion_model``'s fit (:func:`spillover.selection.common_dispersion`); when it is above
    1 (:attr:`quasi`) the comparison ranks by QAIC, QAICc and QBIC, otherwise by the plain
    criteria. None for a likelihood comparison (agent-level models).
    """

    data: str  # "exposures" or "curves"
    description: str
    results: tuple[FitResult, ...]
    comparison: tuple[ComparisonRow, ...]
    dispersion: float | None = None
    dispersion_model: str | None = None

    @property
    def best(self) -> str | None:
        """The first model of the comparison (ordered by the analysis' criterion)."""
        finite = [row for row in self.comparison if math.isfinite(row.aic)]
        return finite[0].model if finite else None

    @property
    def quasi(self) -> bool:
        """Whether the group ranks by quasi-likelihood criteria (a dispersion above 1)."""
        return self.dispersion is not None and self.dispersion > 1.0

    def criterion_name(self, criterion: str) -> str:
        """``"BIC"``, or ``"QBIC"`` when the group ranks by quasi-likelihood criteria."""
        return criterion_name(criterion, self.dispersion)

    def criterion_label(self, criterion: str) -> str:
        """The criterion with its dispersion: ``"BIC"``, ``"QBIC (phi = 3.21, from pair)"``."""
        name = self.criterion_name(criterion)
        if self.dispersion is None:
            return name
        phi = f"phi = {self.dispersion:.2f}, from {self.dispersion_model}"
        return f"{name} ({phi})" if self.quasi else f"{name} ({phi}: <= 1, no correction)"

    def effective_params(self, model: str) -> tuple[str, ...]:
        """Parameters of ``model`` that this group estimates as effective rates (curve fits
        of a homogeneous mean field), not per-contact ones."""
        if self.data != "curves":
            return ()
        return get_model(model).effective_curve_rates

    def to_dict(self, criterion: str) -> dict[str, Any]:
        """The group's entry in ``groups`` of ``spillover fit --json``."""
        return {
            "data": self.data,
            "description": self.description,
            "models": [r.model for r in self.results],
            "best": self.best,
            "ranked_by": self.criterion_name(criterion),
            "criteria": "quasi-likelihood" if self.quasi else "likelihood",
            "dispersion": self.dispersion,
            "dispersion_model": self.dispersion_model,
            "n_obs": N_OBS.get(self.data, ""),
        }


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
    #: LLM runs: where the table's cells came from, degenerate sampled cells and, after
    #: ``--llm-noise``, the LLM answers' share of each standard error.
    llm_noise: LLMNoise | None = None
    #: With ``fit_rounds``: the held-out rounds as observed and as each model forecast them.
    forecast: Forecast | None = None
    #: Goodness of fit and sandwich standard errors of the pooled agent-level models.
    robust: RobustErrors | None = None

    @property
    def best(self) -> str | None:
        """The best model (by ``criterion``) of the first group (agent level when present).

        Groups are never ranked against each other; each group's own best is
        ``ModelGroup.best`` (``groups[i].best`` in the JSON document).
        """
        for group in self.groups:
            if group.best is not None:
                return group.best
        return None

    def to_dict(self) -> dict[str, Any]:
        """The ``spillover fit --json`` document (DESIGN section 6, with extra fields).

        The one builder of that document: ``spillover fit --json``, the demo's and every sweep
        cell's ``fits.json`` are this method's output (written as strict JSON, NaN and
        infinities as null).
        """
        models = []
        for group in self.groups:
            rows = {row.model: row for row in group.comparison}
            for result in group.results:
                doc = result.to_dict()
                row = rows[result.model]
                doc.update(
                    data=group.data,
                    ranked_by=group.criterion_name(self.criterion),
                    **{name: getattr(row, name) for name in _FROM_COMPARISON},
                    effective_params=list(group.effective_params(result.model)),
                )
                if self.robust is not None and group.data == "exposures":
                    doc.update(self.robust.model_fields(result.model))
                if self.llm_noise is not None:
                    doc.update(self.llm_noise.model_fields(result.model))
                models.append(doc)
        out: dict[str, Any] = {
            "models": models,
            "best": self.best,
            "criterion": self.criterion,
            "groups": [group.to_dict(self.criterion) for group in self.groups],
            "criterion_formulas": dict(CRITERION_FORMULAS),
        }
        if self.trait_effects is not None:
            out["trait_effects"] = self.trait_effects.rows()
            out["trait_effects_fit"] = self.trait_effects.summary()
        if self.robust is not None:
            out["standard_errors"] = self.robust.to_dict()
        if self.equation is not None:
            out["equation"] = self.equation.to_dict()
        if self.two_rates is not None:
            out["two_rates"] = self.two_rates.to_dict()
        if self.llm_noise is not None:
            out["llm_noise"] = self.llm_noise.to_dict()
        if self.forecast is not None:
            out["forecast"] = self.forecast.to_dict()
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def analyse(
    *,
    exposures: ExposureTable | None = None,
    curves: Curves | None = None,
    agents: AgentHistories | None = None,
    degree: int | None = None,
    models: Sequence[str] | None = None,
    n_folds: int = 5,
    criterion: Criterion = "bic",
    on_fit_error: OnFitError | None = None,
    graph: Mapping[str, Any] | None = None,
    fit_rounds: int | None = None,
    weights: ArrayLike | None = None,
    rng: SeedLike = 0,
) -> Analysis:
    """Fit, compare and summarise. ``models=None`` means every model the inputs support.

    ``on_fit_error`` (:data:`OnFitError`) says what happens to a model that cannot be fitted;
    by default a model asked for by name raises (the failure is the answer), and one chosen
    because the inputs support it is skipped with a note. ``graph`` is the run's graph summary
    (``manifest.json``'s ``graph``, ``FitInput.graph``): on a graph that is not regular the
    pair approximation is skipped with a note, or refused when asked for by name.

    ``fit_rounds`` (R) fits every model, the comparison, the verdict, the trait effects and
    the equation on rounds 0..R only (exposure rows and curve points of later rounds are not
    used; agent histories, which cover every round, are set aside, so ``si-groups2`` takes its
    exposure-table approximation) and forecasts rounds R+1..T of the curves with every fitted
    model (:attr:`Analysis.forecast`). ``weights`` are the persona shares of the run (for
    per-persona forecasts); ``rng`` seeds the forecast bands (fixed by default, so that the
    analysis repeats exactly).

    Raises
    ------
    ConfigError
        Unknown model names, a curve model without a degree, the pair model asked for on a
        graph that is not regular, no data, or a ``fit_rounds`` without curves and a degree or
        outside 1..T-1.
    FitError
        A model that cannot be fitted, when ``on_fit_error`` is (or defaults to) ``raise``.
    """
    if exposures is None and curves is None:
        raise ConfigError("nothing to fit: the input has neither exposures nor curves")
    full_curves = curves
    if fit_rounds is not None:
        fit_rounds = _checked_fit_rounds(fit_rounds, curves, degree)
        exposures, curves = fit_window(exposures, curves, fit_rounds)
    if on_fit_error is None:
        on_fit_error = "skip" if models is None else "raise"
    if on_fit_error not in ("raise", "skip", "record"):
        raise ConfigError(f"on_fit_error must be 'raise', 'skip' or 'record'; got {on_fit_error!r}")
    notes: list[str] = []
    agent_models, curve_models = chosen_models(exposures, curves, degree, models, graph, notes)
    if fit_rounds is not None and agents is not None:
        agents = None
        if any("agents" in get_model(name).data for name in agent_models):
            notes.append(
                "agent histories cover every round and cannot be cut at fit_rounds: "
                "models that prefer them are fitted to the exposure table"
            )
    # Equation discovery runs whenever curves are there, unless a model list leaves it out.
    want_sindy = curves is not None and (models is None or "sindy" in models)
    if models is not None and "sindy" in models and curves is None:
        raise ConfigError("sindy is fitted to curves; the input has none")
    groups: list[ModelGroup] = []
    covariances: dict[str | tuple[str, str], np.ndarray] = {}
    group, verdict, robust, traits = None, None, None, None
    if exposures is not None:
        group, verdict, robust, traits = _agent_level(
            exposures, agents, agent_models, n_folds, criterion, on_fit_error, notes, covariances
        )
    if group is not None:
        groups.append(group)
    if curve_models:
        assert curves is not None and degree is not None
        curve_group, curve_covariances = _curve_group(curves, degree, curve_models, criterion)
        groups.append(curve_group)
        covariances.update({("curves", name): cov for name, cov in curve_covariances.items()})
    equation = None
    if want_sindy:
        assert curves is not None
        equation = _equation(curves, asked=models is not None, notes=notes)
    forecast = None
    if fit_rounds is not None:
        assert full_curves is not None and degree is not None
        forecast = forecast_models(
            [(group.data, result) for group in groups for result in group.results],
            full_curves,
            fit_rounds=fit_rounds,
            degree=degree,
            covariances=covariances,
            weights=weights,
            rng=rng,
            notes=notes,
        )
    return Analysis(
        groups=tuple(groups),
        trait_effects=traits,
        equation=equation,
        degree=degree,
        criterion=criterion,
        notes=tuple(notes),
        two_rates=verdict,
        forecast=forecast,
        robust=robust,
    )


def _agent_level(
    exposures: ExposureTable,
    agents: AgentHistories | None,
    names: Sequence[str],
    n_folds: int,
    criterion: Criterion,
    on_fit_error: OnFitError,
    notes: list[str],
    covariances: dict[str | tuple[str, str], np.ndarray],
) -> tuple[ModelGroup | None, TwoRatesVerdict | None, RobustErrors | None, TraitEffects | None]:
    """What the exposure table gives: the agent-level group, the two-rates verdict (with the
    held-out scores), the robust errors and the trait effects (None where not made). The
    fits' covariances go to ``covariances`` (for forecasts)."""
    verdict = traits = robust = None
    try:
        verdict = two_rates_verdict(exposures)
    except FitError as exc:
        notes.append(f"two-rates verdict: {exc}")
    if not names:
        return None, verdict, None, None
    fits = [
        _fit_agent_model(name, exposures, agents, on_fit_error, notes, covariances)
        for name in names
    ]
    results = [r for r in fits if r is not None]
    group, held = _agent_group(exposures, agents, results, n_folds, criterion, notes)
    if group is not None:
        robust = robust_errors(exposures, group.results, verdict)
        if any(get_model(r.model).trait_effects for r in group.results):
            traits = _traits(exposures, verdict, on_fit_error, notes)
    if verdict is not None and held is not None:
        verdict = replace(verdict, held_out=dict(held))
    return group, verdict, robust, traits


def _traits(
    exposures: ExposureTable,
    verdict: TwoRatesVerdict | None,
    on_fit_error: OnFitError,
    notes: list[str],
) -> TraitEffects | None:
    """Trait effects on the hazard the verdict supports: si-dose2 under the exposure
    reading, si2 otherwise; sandwich errors shown when the verdict finds heterogeneity."""
    base = "si-dose2" if verdict is not None and verdict.reading == "exposure" else "si2"
    try:
        return fit_trait_effects(exposures, base=base, heterogeneity=heterogeneity_reasons(verdict))
    except FitError as exc:
        if on_fit_error == "raise":
            raise
        notes.append(f"trait effects skipped: {exc}")
    return None


def _checked_fit_rounds(fit_rounds: int, curves: Curves | None, degree: int | None) -> int:
    if curves is None:
        raise ConfigError(
            "fit_rounds forecasts the informed curves, which the input does not hold: "
            "fit the run folder or its curves.parquet",
            params=("fit_rounds",),
        )
    if degree is None:
        raise ConfigError(
            "fit_rounds forecasts with the models' maps on a k-regular graph and needs "
            "the graph's degree: give degree",
            params=("fit_rounds", "degree"),
        )
    return check_fit_rounds(fit_rounds, curves.n_rounds)


def _curve_group(
    curves: Curves, degree: int, names: Sequence[str], criterion: Criterion
) -> tuple[ModelGroup, dict[str, np.ndarray]]:
    """The curve models fitted and ranked by their criterion (quasi-likelihood when the
    group's dispersion is above 1), with each fit's covariance (for forecasts)."""
    estimators = [CurveEstimator(name, degree).fit(curves) for name in names]
    results = [estimator.result_ for estimator in estimators]
    covariances = {e.model: np.asarray(e.covariance_) for e in estimators}
    phi, phi_model = common_dispersion(results) or (None, None)
    group = ModelGroup(
        data="curves",
        description=(
            f"aggregate: informed counts of {curves.n_reps} replicate(s), "
            f"{curves.n_nodes:,} agents, degree {degree}"
        ),
        results=tuple(results),
        comparison=tuple(compare(results, criterion=criterion, dispersion=phi)),
        dispersion=phi,
        dispersion_model=phi_model,
    )
    return group, covariances


def _equation(curves: Curves, *, asked: bool, notes: list[str]) -> DiscoveredEquation | None:
    """The SINDy equation of the curves; a failure is a note (a missing extra raises when
    the equation was asked for by name)."""
    try:
        return discover_equation(curves)
    except FitError as exc:
        notes.append(f"sindy: {exc}")
    except MissingExtraError as exc:
        if asked:
            raise
        notes.append(f"sindy skipped: {exc}")
    return None


def _fit_agent_model(
    name: str,
    exposures: ExposureTable,
    agents: AgentHistories | None,
    on_fit_error: OnFitError,
    notes: list[str],
    covariances: dict[str | tuple[str, str], np.ndarray],
) -> FitResult | None:
    """The model's fit; None when it is skipped (with a note). The covariance of its
    estimates, where the estimator keeps one, goes to ``covariances`` (for forecasts)."""
    spec = get_model(name)
    try:
        estimator = spec.make_estimator().fit(spec.agent_data(exposures, agents))
        if estimator.covariance_ is not None:
            covariances["exposures", name] = estimator.covariance_
        return estimator.result_
    except FitError as exc:
        if on_fit_error == "raise":
            raise
        if on_fit_error == "skip":
            notes.append(f"{name} skipped: {exc}")
            return None
        return FitResult(
            model=name,
            params={},
            stderr={},
            loglik=math.nan,
            n_params=0,
            n_obs=int(exposures.at_risk.sum()),
            status="failed",
            message=str(exc),
        )


def _agent_group(
    exposures: ExposureTable,
    agents: AgentHistories | None,
    results: Sequence[FitResult],
    n_folds: int,
    criterion: Criterion,
    notes: list[str],
) -> tuple[ModelGroup | None, dict[str, float] | None]:
    """The agent-level group of ``results`` (fits on the exposure table or histories) and
    held-out scores; no group when every model was skipped (no results)."""
    if not results:
        return None, None
    held = None
    n_reps = len(set(exposures.replicate.tolist()))
    fitted = [r.model for r in results if r.params]  # a recorded failure has no parameters
    if n_folds >= 2 and n_reps >= 2 and fitted:
        held = held_out_loglik(exposures, fitted, n_folds=n_folds, agents=agents)
        if n_folds > n_reps:
            notes.append(
                f"held-out scores: {n_folds} folds asked for, but the data hold {n_reps} "
                f"replicates; scored on {n_reps} folds of one replicate each"
            )
    elif n_folds >= 2 and n_reps < 2:
        notes.append("held-out scores need at least 2 replicates; skipped")
    group = ModelGroup(
        data="exposures",
        description=(
            f"agent level: exposure table, {int(exposures.at_risk.sum()):,} agent-rounds "
            f"at risk, {n_reps} replicate(s)"
        ),
        results=tuple(results),
        comparison=tuple(compare(results, held, criterion)),
    )
    return group, held
