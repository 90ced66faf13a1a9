"""Dose-response models: how the chance of sharing grows with the number of informed neighbours.

The rule of DESIGN section 2 makes every informed neighbour add the same hazard,
``p(m) = 1 - exp(-(h_alpha + m h_beta))``. An LLM agent need not answer that way: the first
informed neighbour may matter and further ones add little (a saturating response), or nothing
happens until two neighbours are informed (a threshold). Three models relax the rule, all
linear in non-negative hazards, so that they are fitted exactly like ``si2`` (concave
log-likelihood, projected Newton, profile intervals; :mod:`spillover.fit._hazard`):

- ``si-dose``: the offline hazard ``h_0`` plus a free online hazard ``g_j >= 0`` for each
  exposure level j, ``p(m) = 1 - (1 - alpha)(1 - online_j(m))``. Levels are the exposure counts
  m themselves, or the archetype buckets of an LLM run (the LLM was asked once per bucket, so
  its answers are constant within a bucket). With one level per count it nests ``si2``
  (``g_m = m h_beta``), and ``si-dose2``.
- ``si-dose2``: the exposure reading of "two rates": the first informed neighbour and each
  further one, ``p(m) = 1 - (1 - alpha)(1 - beta_first)(1 - beta_further)^(m - 1)`` for
  m >= 1. ``si2`` is ``beta_first = beta_further``.
- ``si-dose-persona``: ``si-dose`` for each persona (the likelihood separates by persona), with
  parameters named from the run's levels: :mod:`spillover.fit._dose_persona`.

``g_j >= 0`` says that an informed neighbour never lowers the chance of sharing; an estimate
on that bound is reported as such (status ``bound``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from spillover.fit._base import AgentData, ExposureEstimator, checked_exposures
from spillover.fit._estimators import _HazardEstimator
from spillover.fit._hazard import HazardFit, fit_hazards
from spillover.fit._persona import totals_by_persona_exposure
from spillover.fit._result import FitStatus, ParamValue
from spillover.fit._spec import ModelSpec
from spillover.models import DOSE2_MAP, DOSE2_ODE, DOSE_MAP, DOSE_ODE
from spillover.policies import ExposureBuckets
from spillover.trajectories import ExposureTable

__all__ = [
    "DOSE2_SPEC",
    "DOSE_SPEC",
    "DesignFn",
    "SIDose2Estimator",
    "SIDoseEstimator",
    "dose2_design",
    "dose_design",
    "fit_per_persona",
    "fit_used_columns",
    "levels_for",
    "offline_design",
    "si2_design",
]

DesignFn = Callable[[np.ndarray], np.ndarray]


def si2_design(m: np.ndarray) -> np.ndarray:
    """``[1, m]``: the rule of DESIGN section 2."""
    m = np.asarray(m, dtype=np.float64)
    return np.column_stack([np.ones_like(m), m])


def offline_design(m: np.ndarray) -> np.ndarray:
    """``[1]``: one rate whatever the exposure (no online channel)."""
    return np.ones((np.asarray(m).shape[0], 1))


def dose2_design(m: np.ndarray) -> np.ndarray:
    """``[1, 1{m >= 1}, max(m - 1, 0)]``: offline, first neighbour, each further neighbour."""
    m = np.asarray(m, dtype=np.float64)
    return np.column_stack([np.ones_like(m), (m >= 1).astype(np.float64), np.maximum(m - 1, 0)])


def dose_design(m: np.ndarray, levels: ExposureBuckets) -> np.ndarray:
    """``[1, 1{level(m) = 1}, ..., 1{level(m) = L - 1}]``: a free online hazard per level."""
    level = levels.index(np.asarray(m, dtype=np.int64))
    return np.column_stack(
        [np.ones(level.shape[0])] + [(level == j).astype(np.float64) for j in range(1, len(levels))]
    )


def levels_for(
    exposures: ExposureTable, buckets: ExposureBuckets | str | Sequence[int] | None = None
) -> ExposureBuckets:
    """The exposure levels of a dose model that the table can inform.

    Without ``buckets``: one level per exposure count with agents at risk, the largest
    open-ended (held-out counts beyond it share its rate; a count never seen in training shares
    the rate of the count below it). With ``buckets``: those of the buckets with agents at risk.
    Level 0 always starts at 0 (the offline rate alpha).
    """
    seen = np.unique(exposures.n_exposed[exposures.at_risk > 0])
    if buckets is None:
        return ExposureBuckets(tuple(sorted({0, *(int(x) for x in seen)})))
    given = ExposureBuckets.parse(buckets)
    used = np.unique(given.index(seen))
    return ExposureBuckets(tuple(sorted({0, *(given.lower[int(b)] for b in used)})))


class _LevelledEstimator(ExposureEstimator):
    """An estimator with one online rate per exposure level: ``buckets`` set the levels."""

    def __init__(
        self,
        *,
        buckets: ExposureBuckets | str | Sequence[int] | None = None,
        intervals: bool = True,
    ) -> None:
        super().__init__(intervals=intervals)
        self.buckets = buckets


class SIDoseEstimator(_HazardEstimator, _LevelledEstimator):
    """``si-dose``: offline rate alpha and a free online rate per exposure level.

    Parameters
    ----------
    buckets : ExposureBuckets, str or sequence of int, optional
        Exposure levels (lower edges, as for archetype mode). By default one level per
        exposure count seen in the data, the largest open-ended.
    intervals : bool
        Profile-likelihood intervals (off for repeated fits).

    ``theta_`` holds ``alpha`` and ``online_m``: the probability that the online channel alone
    makes an agent with m = 1, 2, ..., M informed neighbours share in a round,
    ``p(m) = 1 - (1 - alpha)(1 - online_m[m])``, the last value holding for every larger m
    (the model's map, :data:`spillover.models.DOSE_MAP`, reads it so). Counts within one
    level share its rate; ``levels_`` gives the levels, ``level_rates_`` the rate of each
    (``online_<label>``), and ``n_params`` counts levels, not counts.
    """

    name = "si-dose"
    _rates_attr = "level_rates_"  # held-out scores use one rate per level

    def fit(self, exposures: AgentData) -> SIDoseEstimator:
        table = checked_exposures(self.name, exposures)
        self.levels_ = levels_for(table, self.buckets)
        self.param_names = ("alpha", *(f"online_{lab}" for lab in self.levels_.labels()[1:]))
        super().fit(table)
        self.level_rates_ = dict(self.theta_)
        by_level = self.result_
        level_cov = self.covariance_
        counts = np.arange(1, max(self.levels_.lower[-1], 1) + 1)
        level = self.levels_.index(counts)

        def per_count(values: Mapping[str, ParamValue]) -> tuple[float, ...]:
            rates = [math.nan, *(float(values[n]) for n in self.param_names[1:])]  # type: ignore[arg-type]
            return tuple(0.0 if j == 0 else rates[j] for j in level)

        def expand(values: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
            if not values:
                return {}
            return {"alpha": values["alpha"], "online_m": per_count(values)}

        self._set_result(
            ("alpha", "online_m"),
            (self.level_rates_["alpha"], per_count(self.level_rates_)),
            (by_level.stderr["alpha"], per_count(by_level.stderr)),
            by_level.loglik,
            by_level.n_obs,
            by_level.status,
            by_level.message,
            n_params=by_level.n_params,
            ci=(expand(by_level.ci_low), expand(by_level.ci_high), by_level.ci_method),
            covariance=_per_count_covariance(level_cov, level),
        )
        return self

    def _design(self, m: np.ndarray) -> np.ndarray:
        return dose_design(m, self.levels_)

    def _status(self, fit: HazardFit, impossible: int) -> tuple[FitStatus, str]:
        status, message = super()._status(fit, impossible)
        if self.levels_.lower[1:2] not in ((), (1,)):
            note = f"alpha is the rate of the lowest level (m {self.levels_.label(0)})"
            message = f"{message}; {note}" if message else note
        return status, message


def _per_count_covariance(level_cov: np.ndarray | None, level: np.ndarray) -> np.ndarray | None:
    """The covariance of (alpha, online_m per count) from that of (alpha, a rate per level):
    counts of one level share its rate (perfectly correlated); counts below the first level
    (online rate 0 by construction) have none (NaN)."""
    if level_cov is None:
        return None
    index = np.concatenate([[0], level]).astype(np.int64)
    cov = level_cov[np.ix_(index, index)].copy()
    none = np.concatenate([[False], level == 0])
    cov[none, :] = np.nan
    cov[:, none] = np.nan
    return cov


class SIDose2Estimator(_HazardEstimator):
    """``si-dose2``: offline, first informed neighbour, each further informed neighbour."""

    name = "si-dose2"
    param_names = ("alpha", "beta_first", "beta_further")

    def _design(self, m: np.ndarray) -> np.ndarray:
        return dose2_design(m)


def fit_used_columns(
    design: np.ndarray, at_risk: np.ndarray, shared: np.ndarray
) -> tuple[HazardFit, int, HazardFit]:
    """Fit on the columns the rows can inform.

    Returns the fit expanded to all columns (zeros and NaN where a column has no rows), the
    rank of the design (the number of free parameters) and the fit on the used columns.
    """
    used = design.any(axis=0)
    sub = design[:, used]
    fit = fit_hazards(sub, at_risk, shared)
    full = np.zeros(design.shape[1])
    full[used] = fit.hazards
    cov = np.full((design.shape[1], design.shape[1]), np.nan)
    cov[np.ix_(used, used)] = fit.covariance
    bound = np.zeros(design.shape[1], dtype=bool)
    bound[used] = fit.at_bound
    rank = int(np.linalg.matrix_rank(sub)) if sub.size else 0
    expanded = HazardFit(
        hazards=full,
        covariance=cov,
        loglik=fit.loglik,
        at_bound=bound,
        converged=fit.converged,
        message=fit.message,
        identifiable=fit.identifiable,
    )
    return expanded, rank, fit


def fit_per_persona(
    exposures: ExposureTable, design_fn: DesignFn
) -> tuple[float, int, dict[int, HazardFit]]:
    """Fit a hazard-linear model separately for each persona.

    Returns
    -------
    loglik : float
        Summed over personas (``-inf`` if the model cannot produce some persona's data).
    n_params : int
        Free parameters: the rank of each persona's design over its rows with agents at risk.
    fits : dict of persona index to HazardFit
    """
    persona, m, at_risk, shared = totals_by_persona_exposure(exposures)
    keep = at_risk > 0
    persona, m, at_risk, shared = persona[keep], m[keep], at_risk[keep], shared[keep]
    loglik, n_params, fits = 0.0, 0, {}
    for c in np.unique(persona):
        rows = persona == c
        design = design_fn(m[rows])
        reachable = design.any(axis=1)
        a = at_risk[rows].astype(np.float64)
        s = shared[rows].astype(np.float64)
        if s[~reachable].sum() > 0:
            loglik = -math.inf
        fit, rank, _ = fit_used_columns(design[reachable], a[reachable], s[reachable])
        fits[int(c)] = fit
        loglik += fit.loglik
        n_params += rank
    return loglik, n_params, fits


DOSE2_SPEC = ModelSpec.of(
    DOSE2_MAP,
    DOSE2_ODE,
    "offline rate alpha, first informed neighbour beta_first, each further one beta_further",
    estimator=SIDose2Estimator,
)

DOSE_SPEC = ModelSpec.of(
    DOSE_MAP,
    DOSE_ODE,
    "offline rate alpha and a free online rate per exposure count (or bucket)",
    estimator=SIDoseEstimator,
)
