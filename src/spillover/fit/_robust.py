"""Goodness of fit on the exposure table, and robust (sandwich) standard errors.

**Goodness of fit.** The exposure table pools agent-rounds into cells, one per (persona, m)
(and event type, where a table pools several). The least restricted model of such a table
gives every cell its own share probability; a model that fits leaves only binomial noise
around it. The deviance, ``2 (l_saturated - l_model)``, is its likelihood-ratio statistic, with
``cells - parameters`` degrees of freedom; Pearson's ``sum (s - n p)^2 / (n p (1 - p))`` is
reported next to it. This is the test that separated the readings of "two rates" in the issue
that introduced it (LR 195 on 224 df for si2 data, 3,307 for a dose-response).

**Sandwich standard errors.** The model's standard errors come from the observed information
``A``, right when the model is. When it is not (agents of one persona and exposure differ,
latent groups, a dose-response fitted by a linear hazard) the estimator's variance is
``A^-1 B A^-1``, with ``B`` the variance of the score (Huber-White), the score summed per
*cluster* of rows that may be correlated in any way. The exposure table holds no agent ids, so
clusters cannot be agents; two choices (``by``):

- ``"replicate"``: whole replicates, the units that are truly independent. Under a model that
  is wrong, agents of one run are correlated through the network (a run whose eager agents
  happened to share early exposes everybody sooner), which only this clustering covers. It
  needs enough replicates: :data:`MIN_REPLICATE_CLUSTERS`.
- ``"replicate-persona"``: (replicate, persona) cells, the finest grouping that keeps each
  agent's rounds together (an agent has one persona and lives in one replicate). It covers
  correlation within an agent over rounds (a latent rate) and among agents of one persona in
  one run, not correlation across personas within a run. With at least two replicates the
  clusters are *stratified by persona*: each cluster's score is centred on its persona's mean
  over replicates, so that a persona whose rate a pooled model misses by design does not
  count as noise (the personas are the same in every replicate; the variance wanted is that
  over repeated runs), with the factor ``R_c / (R_c - 1)`` of the persona's replicates.

With replicate clusters the factor is ``R / (R - 1)``; with one replicate the (replicate,
persona) clusters are not centred (factor ``G / (G - 1)`` of G clusters) and lean conservative.
A persona with rows in one replicate only, among several, has nothing to be centred on (its
centred score is 0, and it would add nothing to ``B``, making its share of the standard errors
too small): its cluster enters uncentred, as with one replicate (conservative), and
:attr:`Sandwich.uncentred` counts such personas.

**Intervals** from a sandwich take Student's t quantile on its degrees of freedom
(:attr:`Sandwich.df`, :meth:`Sandwich.critical`) rather than the normal one: the variance of
G cluster scores has about G - 1 of them (``R - 1`` with replicate clusters, ``G - 1`` with
one replicate); stratified by persona, each persona seen in R_c replicates gives R_c - 1 (one
seen in one replicate, entering uncentred, gives 1).

``dispersion`` is ``trace(A^-1 B) / k``: about 1 when the model is right, above 1 when the
data vary more than it says (the factor by which the variances grow, on average).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import chi2
from scipy.stats import t as t_dist

from spillover._pool import group_sums, unique_inverse
from spillover.exceptions import ConfigError

__all__ = [
    "CLUSTER",
    "CLUSTERINGS",
    "GOF_LEVEL",
    "MIN_REPLICATE_CLUSTERS",
    "GoodnessOfFit",
    "Sandwich",
    "cluster_sandwich",
    "goodness_of_fit",
    "sandwich_quantile",
    "share_dz",
]

#: How rows can be clustered for the sandwich (see the module docstring).
CLUSTERINGS: dict[str, str] = {
    "replicate": "replicate (whole runs)",
    "replicate-persona": "replicate x persona, stratified by persona when >= 2 replicates",
}

#: The clustering of trait effects (contrasts between personas within runs, which a shock
#: common to a run's personas leaves alone).
CLUSTER = CLUSTERINGS["replicate-persona"]

#: Fewest replicates for replicate clusters (with fewer, the variance of a handful of cluster
#: scores is too noisy, and pooled models fall back to (replicate, persona) clusters).
MIN_REPLICATE_CLUSTERS = 10

#: Level of the goodness-of-fit test: below it, the model "does not fit".
GOF_LEVEL = 0.01


@dataclass(frozen=True)
class GoodnessOfFit:
    """Deviance (likelihood-ratio) test of a model against a free rate per cell."""

    model: str
    against: str
    statistic: float
    df: int
    p_value: float
    pearson: float
    pearson_p: float
    n_cells: int
    level: float = GOF_LEVEL

    @property
    def fits(self) -> bool:
        """Whether the deviance test does not reject at ``level``."""
        return not self.p_value < self.level

    def line(self) -> str:
        """One plain sentence: ``fits`` or ``does not fit``, with the test."""
        verdict = "fits" if self.fits else "does not fit"
        return (
            f"{self.model} {verdict} ({self.against}): deviance {self.statistic:,.1f} on "
            f"{self.df} df, p {self.p_value:.3g}; Pearson {self.pearson:,.1f}, "
            f"p {self.pearson_p:.3g} (level {self.level:g})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "against": self.against,
            "test": "deviance (likelihood ratio against a free share probability per cell)",
            "statistic": self.statistic,
            "df": self.df,
            "p_value": self.p_value,
            "pearson": self.pearson,
            "pearson_p_value": self.pearson_p,
            "n_cells": self.n_cells,
            "level": self.level,
            "fits": self.fits,
            "summary": self.line(),
        }


def goodness_of_fit(
    at_risk: np.ndarray,
    shared: np.ndarray,
    p_model: np.ndarray,
    n_params: int,
    *,
    model: str,
    against: str = "a free share probability per (persona, m) cell",
    level: float = GOF_LEVEL,
) -> GoodnessOfFit:
    """The deviance and Pearson tests of fitted cell probabilities ``p_model``.

    ``at_risk``, ``shared`` and ``p_model`` are per cell (cells without agents at risk are
    ignored, and so are cells the model gives probability 0 where nobody shared, such as m = 0
    cells of a model without an offline channel: they can neither add deviance nor count as a
    degree of freedom); ``n_params`` is the model's free parameters.
    """
    n = np.asarray(at_risk, dtype=np.float64)
    s = np.asarray(shared, dtype=np.float64)
    raw = np.asarray(p_model, dtype=np.float64)
    p = np.clip(raw, 1e-300, 1.0)
    keep = (n > 0) & ~((raw <= 0.0) & (s == 0))
    n, s, p = n[keep], s[keep], p[keep]
    f = n - s
    with np.errstate(divide="ignore", invalid="ignore"):
        dev_s = np.where(s > 0, s * np.log(s / (n * p)), 0.0)
        dev_f = np.where(f > 0, f * (np.log(f / n) - np.log1p(-np.minimum(p, 1 - 1e-16))), 0.0)
        var = n * p * (1.0 - p)
        pear = np.where(var > 0, (s - n * p) ** 2 / var, np.where(s == n * p, 0.0, np.inf))
    deviance = float(max(2.0 * (dev_s + dev_f).sum(), 0.0))
    pearson = float(pear.sum())
    df = int(keep.sum()) - int(n_params)
    if df <= 0:
        p_dev = p_pear = math.nan
    else:
        p_dev, p_pear = float(chi2.sf(deviance, df)), float(chi2.sf(pearson, df))
    return GoodnessOfFit(
        model=model,
        against=against,
        statistic=deviance,
        df=max(df, 0),
        p_value=p_dev,
        pearson=pearson,
        pearson_p=p_pear,
        n_cells=int(keep.sum()),
        level=level,
    )


def share_dz(z: np.ndarray, at_risk: np.ndarray, shared: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per row: the first and second derivatives of the log-likelihood in the hazard ``z``.

    ``l = s log(1 - e^-z) - (n - s) z`` gives ``dl/dz = s e^-z / (1 - e^-z) - (n - s)`` and
    ``d2l/dz2 = -s e^-z / (1 - e^-z)^2``.
    """
    z = np.asarray(z, dtype=np.float64)
    s = np.asarray(shared, dtype=np.float64)
    f = np.asarray(at_risk, dtype=np.float64) - s
    active = s > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = np.exp(-z)
        p = -np.expm1(-z)
        dz = np.where(active, s * q / p, 0.0) - f
        d2z = np.where(active, -s * q / p**2, 0.0)
    return dz, d2z


@dataclass(frozen=True)
class Sandwich:
    """A sandwich covariance and how it was formed."""

    covariance: np.ndarray
    n_clusters: int
    stratified: bool
    dispersion: float
    by: str = "replicate-persona"
    #: Degrees of freedom of the cluster scores' variance (module docstring).
    df: int = 0
    #: Personas seen in one replicate only (among several), whose clusters enter uncentred.
    uncentred: int = 0

    @property
    def cluster(self) -> str:
        """The clustering in words (:data:`CLUSTERINGS`)."""
        return CLUSTERINGS[self.by]

    def critical(self, level: float = 0.95) -> float:
        """The two-sided quantile of intervals from this sandwich: Student's t on :attr:`df`
        degrees of freedom (NaN without any)."""
        return sandwich_quantile(self.df, level)


def sandwich_quantile(df: int, level: float = 0.95) -> float:
    """Student's t two-sided ``level`` quantile on ``df`` degrees of freedom, the quantile of
    every sandwich interval (module docstring); NaN for ``df < 1``."""
    if df < 1:
        return math.nan
    return float(t_dist.ppf(0.5 + level / 2.0, df))


def cluster_sandwich(
    scores: np.ndarray,
    replicate: np.ndarray,
    persona: np.ndarray,
    information: np.ndarray,
    *,
    by: str = "replicate-persona",
) -> Sandwich:
    """``A^-1 B A^-1`` with ``B`` from the scores summed per cluster (``by``, module docstring).

    Parameters
    ----------
    scores : ndarray, shape (n_rows, k)
        Each row's contribution to the score at the estimate.
    replicate, persona : ndarray, shape (n_rows,)
        Cluster labels (any integers; ``replicate`` may already fold in an event label).
    information : ndarray, shape (k, k)
        The observed information ``A`` (minus the Hessian) at the estimate.
    by : {"replicate-persona", "replicate"}

    Returns NaN covariance when ``A`` is singular or there are fewer than two clusters.
    """
    if by not in CLUSTERINGS:
        raise ConfigError(f"unknown clustering {by!r}; known: {', '.join(CLUSTERINGS)}")
    k = scores.shape[1]
    if by == "replicate":
        persona = np.zeros(len(replicate), dtype=np.int64)  # one stratum: whole replicates
    _, rep = unique_inverse(replicate)
    _, per = unique_inverse(persona)
    n_reps, n_per = int(rep.max(initial=-1)) + 1, int(per.max(initial=-1)) + 1
    sums = group_sums(rep * n_per + per, scores, n_reps * n_per).reshape((n_reps, n_per, k))
    present = np.zeros((n_reps, n_per), dtype=bool)
    present[rep, per] = True
    n_clusters = int(present.sum())
    nan = Sandwich(np.full((k, k), math.nan), n_clusters, False, math.nan, by)
    if n_clusters < 2:
        return nan
    stratified = n_reps >= 2
    uncentred = 0
    if stratified:
        # Centre within persona over the replicates where it has rows; factor R_c / (R_c - 1).
        # A persona in one replicate only has nothing to centre on: it enters uncentred.
        count = present.sum(axis=0)  # replicates per persona
        alone = count == 1
        mean = np.where(alone[:, None], 0.0, sums.sum(axis=0) / np.maximum(count, 1)[:, None])
        centred = np.where(present[:, :, None], sums - mean[None, :, :], 0.0)
        factor = np.where(count > 1, count / np.maximum(count - 1, 1), 1.0)
        meat = np.einsum("rck,rcl,c->kl", centred, centred, factor)
        uncentred = int(alone.sum()) if by != "replicate" else 0
        df = int(np.maximum(count - 1, 1)[count > 0].sum())
    else:
        flat = sums[present]
        meat = flat.T @ flat * n_clusters / (n_clusters - 1)
        df = n_clusters - 1
    try:
        bread = np.linalg.inv(information)
    except np.linalg.LinAlgError:
        return nan
    if not np.all(np.isfinite(bread)):
        return nan
    cov = bread @ meat @ bread
    dispersion = float(np.trace(bread @ meat) / k) if k else math.nan
    cov.flags.writeable = False
    return Sandwich(
        cov, n_clusters, stratified and by != "replicate", dispersion, by, df, uncentred
    )
