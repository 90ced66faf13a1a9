"""Goodness of fit and sandwich standard errors of the pooled agent-level models.

The pooled models (``si``, ``si2``, ``si-dose2``) give every agent the same rates. When the
agents differ (personas, latent groups, per-agent rates) or the dose-response has another
shape, their estimates are still the best pooled summary (the rates closest to the data in
likelihood), but the model's standard errors, which assume the model, are too small. Each
pooled model therefore gets a goodness-of-fit test against a free share probability per
(persona, m) cell and sandwich standard errors clustered by replicate, or by (replicate,
persona) with fewer than :data:`~spillover.fit._robust.MIN_REPLICATE_CLUSTERS` replicates
(:mod:`spillover.fit._robust`); the sandwich ones are *shown* (``se_kind: "sandwich"``) when
heterogeneity is detected: the model's own test rejects, or the verdict on "two rates" finds
latent heterogeneity (sharing that falls within (persona, m) as the run goes on).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from spillover.fit import (
    CLUSTERINGS,
    GOF_LEVEL,
    MIN_REPLICATE_CLUSTERS,
    FitResult,
    GoodnessOfFit,
    cluster_sandwich,
    dose2_design,
    goodness_of_fit,
    share_dz,
    si2_design,
    totals_by_persona_exposure,
)
from spillover.selection._verdict import TwoRatesVerdict
from spillover.trajectories import ExposureTable

__all__ = [
    "POOLED_DESIGNS",
    "ModelErrors",
    "RobustErrors",
    "heterogeneity_reasons",
    "robust_errors",
]


def _si_design(m: np.ndarray) -> np.ndarray:
    return np.asarray(m, dtype=np.float64)[:, None]


#: The pooled models with sandwich standard errors, and the hazard design of each.
POOLED_DESIGNS: Final[Mapping[str, tuple[tuple[str, ...], Callable[[np.ndarray], np.ndarray]]]] = {
    "si": (("beta",), _si_design),
    "si2": (("alpha", "beta"), si2_design),
    "si-dose2": (("alpha", "beta_first", "beta_further"), dose2_design),
}


@dataclass(frozen=True)
class ModelErrors:
    """One pooled model's goodness of fit, sandwich errors, and which errors are shown."""

    model: str
    gof: GoodnessOfFit
    stderr_sandwich: Mapping[str, float]
    ci_low_sandwich: Mapping[str, float]
    ci_high_sandwich: Mapping[str, float]
    dispersion: float
    se_kind: str
    reasons: tuple[str, ...] = ()
    #: Degrees of freedom of the sandwich, whose t quantile the intervals take.
    sandwich_df: int = 0
    #: Personas seen in one replicate only, whose clusters entered uncentred.
    uncentred: int = 0

    def fields(self) -> dict[str, Any]:
        """Extra fields of the model's document in ``spillover fit --json``."""
        return {
            "se_kind": self.se_kind,
            "se_reasons": list(self.reasons),
            "stderr_sandwich": dict(self.stderr_sandwich),
            "ci_low_sandwich": dict(self.ci_low_sandwich),
            "ci_high_sandwich": dict(self.ci_high_sandwich),
            "sandwich_dispersion": self.dispersion,
            "sandwich_df": self.sandwich_df,
            "gof": self.gof.to_dict(),
        }


@dataclass(frozen=True)
class RobustErrors:
    """Sandwich errors of the pooled models, and the heterogeneity found."""

    models: Mapping[str, ModelErrors]
    heterogeneity: tuple[str, ...]
    n_clusters: int
    stratified: bool
    by: str = "replicate"
    level: float = GOF_LEVEL
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def cluster(self) -> str:
        """The clustering of the sandwich errors, in words."""
        return CLUSTERINGS[self.by]

    def se_kind(self, model: str) -> str:
        """``sandwich`` or ``model`` (every model without sandwich errors)."""
        errors = self.models.get(model)
        return "model" if errors is None else errors.se_kind

    def model_fields(self, model: str) -> dict[str, Any]:
        errors = self.models.get(model)
        return {"se_kind": "model"} if errors is None else errors.fields()

    def to_dict(self) -> dict[str, Any]:
        """The ``standard_errors`` document of ``spillover fit --json``."""
        return {
            "se_kind": {name: e.se_kind for name, e in self.models.items()},
            "rule": (
                "pooled models (si, si2, si-dose2) show sandwich standard errors when their "
                f"goodness-of-fit test rejects at {self.level:g} or the verdict's heterogeneity "
                "test rejects; every other model shows its model standard errors"
            ),
            "heterogeneity": list(self.heterogeneity),
            "cluster": self.cluster,
            "clustering": self.by,
            "n_clusters": self.n_clusters,
            "stratified": self.stratified,
            "notes": list(self.notes),
        }


def heterogeneity_reasons(verdict: TwoRatesVerdict | None) -> tuple[str, ...]:
    """The verdict's evidence of latent heterogeneity, as reasons to show sandwich errors."""
    if verdict is None:
        return ()
    out = []
    for e in verdict.evidence:
        if e.test == "heterogeneity" and e.reject:
            out.append(
                f"latent heterogeneity: sharing falls within (persona, m) as the run goes on "
                f"(z {e.statistic:.2f}, p {e.p_value:.3g})"
            )
    return tuple(out)


def _model_errors(
    result: FitResult,
    table: ExposureTable,
    cells: tuple[np.ndarray, np.ndarray, np.ndarray],
    global_reasons: Sequence[str],
    by: str,
) -> tuple[ModelErrors, int, bool] | None:
    names, design_fn = POOLED_DESIGNS[result.model]
    try:
        rates = np.array([float(result.params[n]) for n in names])  # type: ignore[arg-type]
    except (KeyError, TypeError):
        return None
    if not np.all(np.isfinite(rates)) or not math.isfinite(result.loglik):
        return None
    h = -np.log1p(-np.minimum(rates, 1.0 - 1e-16))
    free = (rates > 0.0) & (rates < 1.0)
    x = design_fn(table.n_exposed)
    dz, d2z = share_dz(x @ h, table.at_risk, table.shared)
    xf = x[:, free]
    info = (xf * -d2z[:, None]).T @ xf
    sandwich = cluster_sandwich(dz[:, None] * xf, table.replicate, table.persona, info, by=by)
    se_h = np.full(len(names), math.nan)
    diag = np.diag(sandwich.covariance)
    se_h[free] = np.sqrt(np.where(diag > 0, diag, np.nan))
    # The variance of the cluster scores has few degrees of freedom (G - 1 replicates, or
    # R_c - 1 per persona stratum): the intervals take Student's t quantile on them
    # (Sandwich.critical, as the trait effects' do), the usual small-sample correction.
    crit = sandwich.critical()
    m_cell, n_cell, s_cell = cells
    p_cell = -np.expm1(-(design_fn(m_cell) @ h))
    gof = goodness_of_fit(n_cell, s_cell, p_cell, result.n_params, model=result.model)
    reasons = list(global_reasons)
    if not gof.fits:
        reasons.insert(0, f"{result.model} does not fit (deviance p {gof.p_value:.3g})")
    show = bool(reasons) and bool(np.isfinite(se_h[free]).all())
    errors = ModelErrors(
        model=result.model,
        gof=gof,
        stderr_sandwich={n: float(v) for n, v in zip(names, se_h * (1.0 - rates), strict=True)},
        ci_low_sandwich={
            n: float(-math.expm1(-max(hv - crit * sv, 0.0)))
            for n, hv, sv in zip(names, h, se_h, strict=True)
        },
        ci_high_sandwich={
            n: float(-math.expm1(-(hv + crit * sv)))
            for n, hv, sv in zip(names, h, se_h, strict=True)
        },
        dispersion=sandwich.dispersion,
        se_kind="sandwich" if show else "model",
        reasons=tuple(reasons) if show else (),
        sandwich_df=sandwich.df,
        uncentred=sandwich.uncentred,
    )
    return errors, sandwich.n_clusters, sandwich.stratified


def robust_errors(
    exposures: ExposureTable,
    results: Sequence[FitResult],
    verdict: TwoRatesVerdict | None = None,
) -> RobustErrors:
    """Goodness of fit and sandwich errors of every pooled model among ``results``."""
    reasons = heterogeneity_reasons(verdict)
    persona, m, at_risk, shared = totals_by_persona_exposure(exposures)
    del persona  # cells are (persona, m); only their m enters a pooled model
    cells = (m.astype(np.float64), at_risk.astype(np.float64), shared.astype(np.float64))
    models: dict[str, ModelErrors] = {}
    n_clusters, stratified = 0, False
    notes = []
    n_reps = int(np.unique(exposures.replicate).size)
    by = "replicate" if n_reps >= MIN_REPLICATE_CLUSTERS else "replicate-persona"
    if by != "replicate":
        notes.append(
            f"{n_reps} replicate(s), fewer than {MIN_REPLICATE_CLUSTERS}: sandwich errors "
            "clustered by replicate x persona, which leaves out correlation across personas "
            "within a run (they may still be too small)"
        )
    for result in results:
        if result.model not in POOLED_DESIGNS:
            continue
        out = _model_errors(result, exposures, cells, reasons, by)
        if out is None:
            if math.isfinite(result.loglik):
                notes.append(f"{result.model}: no sandwich errors (no finite estimate)")
            continue
        models[result.model], n_clusters, stratified = out
    uncentred = max((e.uncentred for e in models.values()), default=0)
    if uncentred:
        notes.append(
            f"{uncentred} persona(s) seen in one replicate only: their (replicate, persona) "
            "clusters have nothing to be centred on and enter the sandwich uncentred, "
            "which leans conservative"
        )
    if n_clusters and by != "replicate" and not stratified:
        notes.append(
            "one replicate: the clusters are not centred within persona, so the sandwich "
            "errors of a pooled model lean conservative"
        )
    return RobustErrors(
        models=models,
        heterogeneity=reasons,
        n_clusters=n_clusters,
        stratified=stratified,
        by=by,
        notes=tuple(notes),
    )
