"""The verdict on "two rates": which reading of a two-rate model the data support.

"Two rates" can mean three different things, and each has its own model:

- ``offline-online`` (``si2``): an offline rate and one online rate per informed neighbour,
  ``p = 1 - (1 - alpha)(1 - beta)^m``;
- ``two-groups`` (``si-groups2``): two kinds of agents with different online rates;
- ``exposure`` (``si-dose2``): a rate for the first informed neighbour and another for each
  further one (more generally, any dose-response the si2 form does not capture, ``si-dose``);
- ``none``: none of them (the verdict says what fits instead).

On the pooled exposure table these readings are easily confused: a saturating dose-response
makes the pool of agents at risk look like a mix of eager and reluctant sharers, and persona
differences look like latent groups. The verdict therefore asks questions that separate them,
each by a test within persona (every persona gets its own rates, so persona differences never
count as evidence of groups):

1. **Heterogeneity** (separates ``two-groups``): given persona and exposure m, does the chance
   of sharing fall as the run goes on? Under any model in which the probability depends only
   on (persona, m) it cannot; with latent groups it must, because the eager agents leave the
   pool at risk first. Stratified score (Cochran-Armitage) test within (persona, m) cells
   against a predictable covariate, the replicate's cumulative mean exposure of the agents at
   risk over the previous rounds; one-sided (selection can only lower the hazard). Under the
   null its z leans slightly positive in small tables (agents who share leave the later,
   high-exposure rows of their cell), so the test errs on the side of not naming groups.
2. **Online channel**: one rate per persona against a free rate per (persona, m)
   (likelihood-ratio test).
3. **Shape** (separates ``offline-online`` from ``exposure``): ``si-persona`` against
   ``si-dose-persona`` with one free online hazard per (persona, m) (likelihood-ratio test).
   Then ``si-persona`` against ``si-dose2`` per persona, and ``si-dose2`` per persona against
   ``si-dose-persona``, to name the dose model that fits. ``si-dose-persona`` is fitted
   through its registry entry (``get_model("si-dose-persona")``), like any named model.
4. **Offline channel**: whether anybody shared with no informed neighbour (which is
   impossible without an offline channel, under every reading).

Tests are run at ``level`` each (0.01 by default; the heterogeneity test at 0.001) so that
data of one reading are rarely pushed to another by chance; benchmarks/bench_verdict.py
measures how often the verdict is right (docs/fitting.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np
from scipy.stats import chi2, norm

from spillover._pool import group_sums, unique_inverse
from spillover.exceptions import ConfigError
from spillover.fit import (
    binomial_loglik,
    checked_exposures,
    dose2_design,
    fit_per_persona,
    get_model,
    si2_design,
    totals_by_persona_exposure,
)
from spillover.personas import N_PERSONAS
from spillover.trajectories import ExposureTable

__all__ = [
    "READINGS",
    "Evidence",
    "TwoRatesVerdict",
    "heterogeneity_test",
    "two_rates_verdict",
]

#: The readings of "two rates" the verdict can name.
READINGS: Final[tuple[str, ...]] = ("offline-online", "two-groups", "exposure", "none")


@dataclass(frozen=True)
class Evidence:
    """One test behind the verdict.

    ``statistic`` is the likelihood-ratio statistic (``z`` for the heterogeneity test, the
    number of shares for the offline check); ``p_value`` is None where no test applies.
    """

    test: str
    null: str
    alternative: str
    statistic: float
    df: int | None
    p_value: float | None
    reject: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Every field by name."""
        return asdict(self)


@dataclass(frozen=True)
class TwoRatesVerdict:
    """Which reading of "two rates" the data support, and why.

    Attributes
    ----------
    reading : {"offline-online", "two-groups", "exposure", "none"}
    model : str
        The model that describes the data (``si2``, ``si-groups2``, ``si-dose2``, ``si-dose``,
        ``si``, or ``offline only``).
    summary : str
        One sentence for people.
    evidence : tuple of Evidence
    level : float
        Significance level of each test.
    held_out : mapping of str to float
        Held-out log-likelihoods of the models, when the caller had them (information only).
    """

    reading: str
    model: str
    summary: str
    evidence: tuple[Evidence, ...]
    level: float
    held_out: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``two_rates`` document of ``spillover fit --json``."""
        doc: dict[str, Any] = {
            "reading": self.reading,
            "model": self.model,
            "summary": self.summary,
            "level": self.level,
            "evidence": [e.to_dict() for e in self.evidence],
        }
        if self.held_out:
            doc["held_out_loglik"] = dict(self.held_out)
            finite = {k: v for k, v in self.held_out.items() if math.isfinite(v)}
            doc["best_held_out"] = max(finite, key=lambda k: finite[k]) if finite else None
        return doc


def _exposure_so_far(exposures: ExposureTable) -> np.ndarray:
    """Per row: the sum over the replicate's previous rounds of the at-risk pool's mean m.

    A predictable covariate (fixed before the round's decisions) that tracks how much online
    exposure the agents still at risk have survived, which is what depletes eager agents.
    """
    reps, rep_idx = unique_inverse(exposures.replicate)
    rounds, round_idx = unique_inverse(exposures.round)
    shape = (reps.size, rounds.size)
    flat = rep_idx * rounds.size + round_idx
    trials = group_sums(flat, exposures.at_risk, reps.size * rounds.size).reshape(shape)
    weights = exposures.at_risk * exposures.n_exposed
    exposure = group_sums(flat, weights, reps.size * rounds.size).reshape(shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_m = np.where(trials > 0, exposure / np.maximum(trials, 1e-300), 0.0)
    before = np.cumsum(mean_m, axis=1) - mean_m
    out: np.ndarray = before[rep_idx, round_idx]
    return out


def heterogeneity_test(exposures: ExposureTable) -> tuple[float, float]:
    """Stratified score test of a falling share probability within (persona, m) cells.

    Returns
    -------
    (z, p_value) : the standardised statistic (negative: sharing falls with the exposure the
        agents at risk have survived) and the one-sided p-value ``Phi(z)``; ``(nan, 1.0)`` when
        no cell varies.
    """
    table = checked_exposures("heterogeneity test", exposures)
    x = _exposure_so_far(table)
    width = int(table.n_exposed.max()) + 1
    cell = table.persona.astype(np.int64) * width + table.n_exposed
    _, inv = unique_inverse(cell)
    n = table.at_risk.astype(np.float64)
    s = table.shared.astype(np.float64)
    big_n = np.bincount(inv, weights=n)
    big_s = np.bincount(inv, weights=s)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(big_n > 0, big_s / big_n, 0.0)
        x_bar = np.where(big_n > 0, np.bincount(inv, weights=n * x) / big_n, 0.0)
    dx = x - x_bar[inv]
    stat = float((dx * (s - n * p[inv])).sum())
    # Permutation (hypergeometric) variance within each cell.
    spread = np.bincount(inv, weights=n * dx**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(big_n > 1, big_n / np.maximum(big_n - 1, 1), 0.0)
    var = float((p * (1 - p) * factor * spread).sum())
    if not var > 0:
        return math.nan, 1.0
    z = stat / math.sqrt(var)
    return z, float(norm.cdf(z))


def _offline_loglik(table: ExposureTable) -> tuple[float, int]:
    """(log-likelihood, parameters) of one rate per persona, whatever the exposure."""
    persona, _, at_risk, shared = totals_by_persona_exposure(table)
    keep = at_risk > 0
    persona = persona[keep]
    n, s = at_risk[keep].astype(np.float64), shared[keep].astype(np.float64)
    n_c = np.bincount(persona, weights=n, minlength=N_PERSONAS)
    s_c = np.bincount(persona, weights=s, minlength=N_PERSONAS)
    used = n_c > 0
    return binomial_loglik(n_c[used], s_c[used]), int(used.sum())


def _dose_persona_fit(table: ExposureTable) -> tuple[float, int]:
    """(log-likelihood, parameters) of ``si-dose-persona``, a free rate per (persona, m),
    fitted through its registry entry (its log-likelihood is the exact maximum)."""
    result = get_model("si-dose-persona").make_estimator(intervals=False).fit(table).result_
    return result.loglik, result.n_params


def _lr(
    test: str, null: str, alt: str, fit0: tuple[float, int], fit1: tuple[float, int], level: float
) -> Evidence:
    (ll0, k0), (ll1, k1) = fit0, fit1
    df = k1 - k0
    if df <= 0 or not math.isfinite(ll1):
        return Evidence(test, null, alt, math.nan, max(df, 0), None, False, "no test possible")
    if not math.isfinite(ll0):
        return Evidence(
            test, null, alt, math.inf, df, 0.0, True, "the null model gives the data probability 0"
        )
    stat = max(2.0 * (ll1 - ll0), 0.0)
    p = float(chi2.sf(stat, df))
    return Evidence(test, null, alt, stat, df, p, p < level)


def two_rates_verdict(
    exposures: ExposureTable,
    *,
    level: float = 0.01,
    heterogeneity_level: float = 0.001,
    held_out: Mapping[str, float] | None = None,
) -> TwoRatesVerdict:
    """Say which reading of "two rates" an exposure table supports (module docstring).

    Parameters
    ----------
    exposures : ExposureTable
    level : float
        Significance level of each test, in (0, 0.5).
    heterogeneity_level : float
        Level of the heterogeneity test: naming latent groups where there are none is the
        error that misleads most (a dose-response read as "super-sharers"), so it needs
        stronger evidence; with real groups the test's z is far beyond any such level.
    held_out : mapping of str to float, optional
        Held-out log-likelihoods to report next to the tests.

    Raises
    ------
    ConfigError
        A bad level. FitError: a table without anybody at risk.
    """
    for name, value in (("level", level), ("heterogeneity_level", heterogeneity_level)):
        if isinstance(value, bool) or not (
            isinstance(value, float | int) and 0.0 < float(value) < 0.5
        ):
            raise ConfigError(f"{name} must be in (0, 0.5); got {value!r}")
    level = float(level)
    table = checked_exposures("two-rates verdict", exposures)
    fits = {
        "offline": _offline_loglik(table),
        "si2": fit_per_persona(table, si2_design)[:2],
        "dose2": fit_per_persona(table, dose2_design)[:2],
        "dose": _dose_persona_fit(table),
    }
    z, p_het = heterogeneity_test(table)
    het = Evidence(
        "heterogeneity",
        "the share probability depends on persona and exposure only",
        "it falls as the agents at risk survive more exposure (latent groups)",
        z,
        None,
        p_het,
        p_het < heterogeneity_level,
        f"stratified score test within (persona, m), one-sided, level {heterogeneity_level:g}",
    )
    online = _lr(
        "online",
        "one rate per persona, whatever the exposure",
        "a free rate per (persona, m)",
        fits["offline"],
        fits["dose"],
        level,
    )
    shape = _lr(
        "si2-shape",
        "si-persona: each informed neighbour adds the same hazard",
        "si-dose-persona: a free online hazard per (persona, m)",
        fits["si2"],
        fits["dose"],
        level,
    )
    first = _lr(
        "first-neighbour",
        "si-persona",
        "si-dose2 per persona: the first informed neighbour has its own rate",
        fits["si2"],
        fits["dose2"],
        level,
    )
    dose2_fit = _lr(
        "si-dose2-shape",
        "si-dose2 per persona",
        "si-dose-persona",
        fits["dose2"],
        fits["dose"],
        level,
    )
    m0 = table.n_exposed == 0
    offline_shares = int(table.shared[m0].sum())
    offline_trials = int(table.at_risk[m0].sum())
    offline = Evidence(
        "offline",
        "no offline channel",
        "an offline channel",
        float(offline_shares),
        None,
        None,
        offline_shares > 0,
        f"{offline_shares} shares in {offline_trials:,} agent-rounds with no informed "
        "neighbour (any share there proves an offline channel)",
    )
    evidence = (het, online, shape, first, dose2_fit, offline)
    reading, model, summary = _decide(het, online, shape, first, dose2_fit, offline)
    return TwoRatesVerdict(
        reading=reading,
        model=model,
        summary=summary,
        evidence=evidence,
        level=level,
        held_out=dict(held_out or {}),
    )


def _decide(
    het: Evidence,
    online: Evidence,
    shape: Evidence,
    first: Evidence,
    dose2_fit: Evidence,
    offline: Evidence,
) -> tuple[str, str, str]:
    if het.reject:
        return (
            "two-groups",
            "si-groups2",
            "agents of the same persona and exposure that stay uninformed become less likely "
            "to share as the run goes on: latent groups of eager and reluctant sharers "
            "(two-groups reading; si-groups2 is its simplest model)",
        )
    if not online.reject:
        return (
            "none",
            "offline only",
            "no effect of informed neighbours detected: one offline rate per persona fits "
            "(none of the two-rate readings)",
        )
    if shape.reject:
        if first.reject and not dose2_fit.reject:
            return (
                "exposure",
                "si-dose2",
                "the first informed neighbour acts differently from further ones, and si2 "
                "does not fit: exposure reading (si-dose2 fits)",
            )
        return (
            "exposure",
            "si-dose",
            "the chance of sharing depends on the number of informed neighbours in a way "
            "neither si2 nor si-dose2 captures: exposure reading, with a free rate per "
            "exposure level (si-dose)",
        )
    if not offline.reject:
        return (
            "none",
            "si",
            "nobody shared without an informed neighbour: one online rate per informed "
            "neighbour and no offline channel (si) fits, not two rates",
        )
    return (
        "offline-online",
        "si2",
        "an offline rate plus one online rate per informed neighbour fits within persona, "
        "with no sign of latent groups: offline-online reading (si2)",
    )
