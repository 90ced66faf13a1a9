"""How each Big Five trait (and event type) changes each channel's rate, with intervals.

The rates of persona c are log-linear in its traits on the hazard scale, one model per
channel of a *base* hazard::

    si2:       z(c, m) = h_alpha(c) + m h_beta(c)
    si-dose2:  z(c, m) = h_alpha(c) + 1{m >= 1} h_first(c) + max(m - 1, 0) h_further(c)

with ``h_k(c) = exp(b_k0 + sum_j b_kj x_cj / 2)``, ``x_cj = +1`` (high) or ``-1`` (low), so
``b_kj`` is the log hazard ratio between the high and the low level of trait j on channel k
(``exp`` of it: a hazard ratio), and ``p = 1 - exp(-z)``. The ``si-dose2`` base is the dose-aware
one: when the first informed neighbour acts differently from further ones (the exposure
reading of "two rates"), trait effects on an si2 base would average two different channels.
:func:`spillover.selection.analyse` picks the base from the verdict on "two rates".

They are estimated by maximum likelihood directly on the exposure table. Why not a binomial
GLM with a complementary log-log link: ``cloglog(p) = log(z)`` is not linear in the
coefficients when two channels are present (the hazards add), so no single-link GLM represents
the model. A two-stage weighted regression of the per-persona estimates would work too, but
breaks down where a persona's rate is estimated at 0 (log undefined) and ignores the covariance
of a persona's rates; the one-stage likelihood has neither problem. Model standard errors come
from the observed information (analytic Hessian).

Next to the effects: a goodness-of-fit test against a free share probability per
(event type, persona, m) cell, and sandwich standard errors clustered by (replicate, persona)
(:mod:`spillover.fit._robust`). When the model does not fit, or the caller reports
heterogeneity, the sandwich ones are the ones shown (``se_kind``); the effects are then flagged
as resting on a model that does not fit, not hidden.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from scipy.optimize import minimize

from spillover.exceptions import ConfigError, FitError
from spillover.fit._base import checked_exposures
from spillover.fit._dose import dose2_design, si2_design
from spillover.fit._hazard import fit_hazards
from spillover.fit._robust import (
    CLUSTER,
    GoodnessOfFit,
    Sandwich,
    cluster_sandwich,
    goodness_of_fit,
    sandwich_quantile,
    share_dz,
)
from spillover.personas import TRAITS, trait_matrix
from spillover.trajectories import ExposureTable

__all__ = ["TRAIT_BASES", "TraitEffects", "fit_trait_effects", "hazard_ratio", "log_hazard_effect"]

_Z95 = 1.959963984540054
#: A log hazard coefficient beyond this (a hazard ratio of e^20) has run off to infinity.
_RUNAWAY = 20.0

#: Base hazards of the trait model: channel names and design columns per exposure count m.
TRAIT_BASES: Final[dict[str, tuple[tuple[str, ...], Callable[[np.ndarray], np.ndarray]]]] = {
    "si2": (("alpha", "beta"), si2_design),
    "si-dose2": (("alpha", "beta_first", "beta_further"), dose2_design),
}


@dataclass(frozen=True)
class TraitEffects:
    """Log hazard ratios (high vs low) of each trait on each channel.

    Attributes
    ----------
    channels : tuple of str
        The base's channels with data: ``("alpha", "beta")`` on si2, ``("alpha",
        "beta_first", "beta_further")`` on si-dose2 (a channel no row informs is left out).
    terms : tuple of str
        ``("baseline", *TRAITS)``, then ``"event: TYPE"`` terms when fitted with event types;
        ``baseline`` is the log hazard at the midpoint of all traits (for the reference event).
    coef, stderr : ndarray, shape (n_channels, n_terms)
        Estimates and model standard errors (observed information), rows by channel.
    loglik : float
    n_obs : int
    converged : bool
    reference_event : str or None
        The event type the ``event:`` terms are relative to (None without event types).
    base : str
        The base hazard the effects were computed on (:data:`TRAIT_BASES`).
    gof : GoodnessOfFit or None
        The model against a free share probability per (event, persona, m) cell.
    stderr_sandwich : ndarray or None, shape (n_channels, n_terms)
        Sandwich standard errors clustered by (replicate, persona).
    se_kind : {"model", "sandwich"}
        Which standard errors the table, the report and the ``ci_*`` of :meth:`shown` use.
    heterogeneity : tuple of str
        Why the sandwich ones are shown (empty when they are not).
    n_clusters : int
    sandwich_df : int
        Degrees of freedom of the sandwich (:attr:`Sandwich.df`): its intervals take
        Student's t quantile on them, as every sandwich interval does.
    uncentred_personas : int
        Personas seen in one replicate only, whose clusters enter the sandwich uncentred
        (:func:`spillover.fit.cluster_sandwich`).
    dispersion : float
        ``trace(A^-1 B) / k``: about 1 when the model is right.
    dropped : tuple of str
        Channels of the base left out: their pooled hazard is 0, or they are 0 for some
        personas (no log-linear form: the coefficients would run off to infinity).
    """

    channels: tuple[str, ...]
    terms: tuple[str, ...]
    coef: np.ndarray
    stderr: np.ndarray
    loglik: float
    n_obs: int
    converged: bool
    reference_event: str | None = None
    base: str = "si2"
    gof: GoodnessOfFit | None = None
    stderr_sandwich: np.ndarray | None = None
    se_kind: str = "model"
    heterogeneity: tuple[str, ...] = field(default_factory=tuple)
    n_clusters: int = 0
    dispersion: float = math.nan
    dropped: tuple[str, ...] = field(default_factory=tuple)
    sandwich_df: int = 0
    uncentred_personas: int = 0

    @property
    def fits(self) -> bool | None:
        """Whether the goodness-of-fit test does not reject (None without one)."""
        return None if self.gof is None else self.gof.fits

    def shown_stderr(self) -> np.ndarray:
        """The standard errors of kind :attr:`se_kind`."""
        if self.se_kind == "sandwich" and self.stderr_sandwich is not None:
            return self.stderr_sandwich
        return self.stderr

    def sandwich_critical(self) -> float:
        """The quantile of the 95 % sandwich intervals: Student's t on :attr:`sandwich_df`
        (NaN without degrees of freedom)."""
        return sandwich_quantile(self.sandwich_df)

    def shown_critical(self) -> float:
        """The quantile of the 95 % intervals of kind :attr:`se_kind` (the normal one for the
        model errors, :meth:`sandwich_critical` for the sandwich ones)."""
        return self.sandwich_critical() if self.se_kind == "sandwich" else _Z95

    def flag(self) -> str:
        """A plain line: which base, whether it fits, which standard errors are shown."""
        parts = [f"computed on the {self.base} hazard"]
        if self.dropped:
            parts.append(f"{', '.join(self.dropped)} left out (a rate at 0: no log-linear form)")
        if self.gof is not None:
            parts.append(self.gof.line())
            if not self.gof.fits:
                parts.append("the effects rest on a model that does not fit: read them with care")
        if self.se_kind == "sandwich":
            parts.append(
                f"standard errors: sandwich, clustered by {CLUSTER} "
                f"({'; '.join(self.heterogeneity)})"
            )
        else:
            why = (
                " (no finite sandwich errors)" if self.gof is not None and not self.gof.fits else ""
            )
            parts.append(f"standard errors: model (observed information){why}")
        return "; ".join(parts)

    def summary(self) -> dict[str, Any]:
        """The ``trait_effects_fit`` document of ``spillover fit --json``."""
        return {
            "base": self.base,
            "channels": list(self.channels),
            "gof": None if self.gof is None else self.gof.to_dict(),
            "fits": self.fits,
            "se_kind": self.se_kind,
            "heterogeneity": list(self.heterogeneity),
            "cluster": CLUSTER,
            "n_clusters": self.n_clusters,
            "sandwich_df": self.sandwich_df,
            "uncentred_personas": self.uncentred_personas,
            "dispersion": self.dispersion,
            "dropped_channels": list(self.dropped),
            "summary": self.flag(),
        }

    def rows(self) -> list[dict[str, Any]]:
        """One record per (channel, term): effect, stderr, 95 % interval, hazard ratio.

        ``stderr``, ``ci_low`` and ``ci_high`` are always the model ones; ``*_sandwich`` the
        robust ones; ``se_kind`` says which the table and report show.
        """
        out = []
        robust = self.stderr_sandwich
        crit = self.sandwich_critical()
        for i, channel in enumerate(self.channels):
            for j, term in enumerate(self.terms):
                if term == "baseline":
                    continue
                b, se = float(self.coef[i, j]), float(self.stderr[i, j])
                rse = math.nan if robust is None else float(robust[i, j])
                out.append(
                    {
                        "channel": channel,
                        "trait": term,
                        "term": term,
                        **log_hazard_effect(b, se),
                        "base": self.base,
                        "se_kind": self.se_kind,
                        "stderr_sandwich": rse,
                        "ci_low_sandwich": b - crit * rse,
                        "ci_high_sandwich": b + crit * rse,
                        "fits": self.fits,
                    }
                )
        return out


def hazard_ratio(log_ratio: float) -> float:
    """``exp(log_ratio)``, infinite where it overflows (the end of a very wide interval)."""
    return math.inf if log_ratio > 709.0 else math.exp(log_ratio)


def log_hazard_effect(b: float, se: float) -> dict[str, float]:
    """A log hazard ratio ``b`` and its standard error ``se`` as an effect's record:
    ``log_hazard_ratio``, ``stderr``, the 95 % Wald interval ``ci_low``, ``ci_high`` and the
    ``hazard_ratio`` exp(b)."""
    return {
        "log_hazard_ratio": b,
        "stderr": se,
        "ci_low": b - _Z95 * se,
        "ci_high": b + _Z95 * se,
        "hazard_ratio": hazard_ratio(b),
    }


def _event_index(
    exposures: ExposureTable, event_types: Sequence[str] | np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if event_types is None:
        return np.array(["-"]), np.zeros(len(exposures), dtype=np.int64)
    values = np.asarray(event_types).astype(str)
    if values.shape != (len(exposures),):
        raise ConfigError(
            f"event_types must hold one label per exposure row ({len(exposures)}); "
            f"got shape {values.shape}"
        )
    labels, idx = np.unique(values, return_inverse=True)
    return labels, idx.astype(np.int64)


def _live_channels(
    base: str, m: np.ndarray, a: np.ndarray, s: np.ndarray
) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """The channels of ``base`` the cells can estimate, those dropped, and the kept channels'
    design columns. A channel never at risk is left out; so is one whose pooled hazard is 0
    (say, no effect of further neighbours once the first is informed): it has no log-linear
    form, its coefficients would run off to -inf."""
    names, design_fn = TRAIT_BASES[base]
    channel_cols = design_fn(m)
    used = (channel_cols[a > 0] > 0).any(axis=0)
    pooled = fit_hazards(channel_cols[:, used], a, s)
    zero = np.zeros(len(names), dtype=bool)
    zero[np.flatnonzero(used)[pooled.at_bound & (pooled.hazards <= 0.0)]] = True
    used &= ~zero
    if not used.any():
        raise FitError(f"trait effects: every channel of the {base} hazard is estimated at 0")
    channels = tuple(n for n, u in zip(names, used, strict=True) if u)
    dropped = tuple(n for n, z in zip(names, zero, strict=True) if z)
    return channels, dropped, channel_cols[:, used]


def fit_trait_effects(
    exposures: ExposureTable,
    *,
    event_types: Sequence[str] | np.ndarray | None = None,
    base: str = "si2",
    heterogeneity: Sequence[str] = (),
) -> TraitEffects:
    """Fit the log-linear trait model of each channel of ``base`` on an exposure table.

    Parameters
    ----------
    exposures : ExposureTable
    event_types : sequence of str, shape (len(exposures),), optional
        The event type of each row, when the table pools runs of several events (a sweep over
        events). Each event type other than the first in sorted order (the reference) then gets
        a term ``event: TYPE``, the log hazard ratio against the reference, per channel.
    base : {"si2", "si-dose2"}
        The base hazard (:data:`TRAIT_BASES`).
    heterogeneity : sequence of str
        Reasons, found by the caller, to show sandwich standard errors (such as the verdict's
        heterogeneity test); they are shown anyway when the model does not fit.

    Raises
    ------
    ConfigError
        An unknown base or badly shaped event types.
    FitError
        When the table has no agent at risk, or fewer than 6 personas (the model has 6
        coefficients per channel).
    """
    if base not in TRAIT_BASES:
        raise ConfigError(f"unknown trait-model base {base!r}; known: {', '.join(TRAIT_BASES)}")
    exposures = checked_exposures("trait effects", exposures)
    labels, event_idx = _event_index(exposures, event_types)
    inverse, a, s, m, persona, event = _cells(exposures, event_idx)
    if np.unique(persona).size < 6:
        raise FitError(
            f"trait effects need rows for at least 6 personas; got {np.unique(persona).size}"
        )
    channels, dropped, channel_cols = _live_channels(base, m, a, s)
    dummies = (event[:, None] == np.arange(1, labels.size)[None, :]).astype(np.float64)
    design = np.column_stack([np.ones(32), trait_matrix() - 0.5])[persona]
    design = np.column_stack([design, dummies])  # (keys, 6 + n_event_types - 1)
    n_terms = design.shape[1]
    while True:
        theta, converged = _maximise(design, channel_cols, a, s)
        n_ch = channel_cols.shape[1]
        # A channel that is 0 for some personas has no finite log-linear maximum: its
        # coefficients run off (a hazard ratio beyond e^20). Leave it out and refit.
        runaway = np.abs(theta.reshape(n_ch, n_terms)).max(axis=1) > _RUNAWAY
        runaway[0] = False  # the offline channel stays: without it nothing is left to compare
        if not runaway.any():
            break
        dropped = (*dropped, *(c for c, r in zip(channels, runaway, strict=True) if r))
        channels = tuple(c for c, r in zip(channels, runaway, strict=True) if not r)
        channel_cols = channel_cols[:, ~runaway]
    ll, _, hess, jac, z = _loglik(theta, design, channel_cols, a, s)
    info = -hess
    se = _model_stderr(info)
    gof = goodness_of_fit(
        a,
        s,
        -np.expm1(-z),
        theta.size,
        model=f"trait model on the {base} hazard",
        against=(
            "a free share probability per (persona, m) cell"
            if event_types is None
            else "a free share probability per (event type, persona, m) cell"
        ),
    )
    sandwich = _sandwich(exposures, event_idx, inverse, z, jac, info)
    robust = np.sqrt(
        np.where(np.diag(sandwich.covariance) > 0, np.diag(sandwich.covariance), np.nan)
    )
    reasons = [*heterogeneity]
    if not gof.fits:
        reasons.insert(0, f"the trait model does not fit (deviance p {gof.p_value:.3g})")
    show = bool(reasons) and bool(np.isfinite(robust).all())

    def frozen(values: np.ndarray) -> np.ndarray:
        out = values.reshape(n_ch, n_terms).copy()
        out.flags.writeable = False
        return out

    return TraitEffects(
        channels=channels,
        terms=("baseline", *TRAITS, *(f"event: {label}" for label in labels[1:])),
        reference_event=None if event_types is None else str(labels[0]),
        coef=frozen(theta),
        stderr=frozen(se),
        loglik=ll,
        n_obs=int(a.sum()),
        converged=converged,
        base=base,
        gof=gof,
        stderr_sandwich=frozen(robust),
        se_kind="sandwich" if show else "model",
        heterogeneity=tuple(reasons) if show else (),
        n_clusters=sandwich.n_clusters,
        dispersion=sandwich.dispersion,
        dropped=dropped,
        sandwich_df=sandwich.df,
        uncentred_personas=sandwich.uncentred,
    )


def _cells(
    exposures: ExposureTable, event_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The table pooled into (event, persona, m) cells: each row's cell, and per cell the
    agent-rounds at risk, the shares, m, the persona and the event index."""
    width = int(exposures.n_exposed.max()) + 1
    key = (event_idx * 32 + exposures.persona.astype(np.int64)) * width + exposures.n_exposed
    keys, inverse = np.unique(key, return_inverse=True)
    a = np.bincount(inverse, weights=exposures.at_risk).astype(np.float64)
    s = np.bincount(inverse, weights=exposures.shared).astype(np.float64)
    m = (keys % width).astype(np.float64)
    return inverse, a, s, m, (keys // width) % 32, keys // width // 32


def _model_stderr(info: np.ndarray) -> np.ndarray:
    """Standard errors from the observed information (NaN where it is singular)."""
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.full(info.shape[0], np.nan)
    return np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))


def _sandwich(
    exposures: ExposureTable,
    event_idx: np.ndarray,
    inverse: np.ndarray,
    z: np.ndarray,
    jac: np.ndarray,
    info: np.ndarray,
) -> Sandwich:
    """The trait model's sandwich covariance (:func:`cluster_sandwich` of the rows' scores,
    clusters from the (event, replicate) pair and the persona)."""
    dz_rows, _ = share_dz(z[inverse], exposures.at_risk, exposures.shared)
    cluster_rep = event_idx * (int(exposures.replicate.max()) + 1) + exposures.replicate
    return cluster_sandwich(dz_rows[:, None] * jac[inverse], cluster_rep, exposures.persona, info)


def _loglik(
    theta: np.ndarray, design: np.ndarray, cols: np.ndarray, a: np.ndarray, s: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Log-likelihood, gradient, Hessian, Jacobian dz/dtheta per cell and z per cell."""
    n_terms, n_ch = design.shape[1], cols.shape[1]
    coef = theta.reshape(n_ch, n_terms)
    with np.errstate(over="ignore"):
        rates = np.exp(design @ coef.T)  # (cells, channels)
    parts = cols * rates
    z = parts.sum(axis=1)
    f = a - s
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = float((np.where(s > 0, s * np.log(-np.expm1(-z)), 0.0) - f * z).sum())
    dz, d2z = share_dz(z, a, s)
    jac = np.concatenate([parts[:, [k]] * design for k in range(n_ch)], axis=1)
    grad = jac.T @ dz
    hess = (jac * d2z[:, None]).T @ jac
    for k in range(n_ch):
        block = slice(k * n_terms, (k + 1) * n_terms)
        hess[block, block] += (design * (dz * parts[:, k])[:, None]).T @ design
    return ll, grad, hess, jac, z


def _maximise(
    design: np.ndarray, cols: np.ndarray, a: np.ndarray, s: np.ndarray
) -> tuple[np.ndarray, bool]:
    n_terms, n_ch = design.shape[1], cols.shape[1]
    scale = float(a.sum())

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad, *_ = _loglik(theta, design, cols, a, s)
        if not math.isfinite(ll):
            return 1e10, np.zeros_like(theta)
        return -ll / scale, -grad / scale

    mean_p = max(float(s.sum()) / scale, 1e-6)
    start = np.zeros(n_ch * n_terms)
    start[0] = math.log(mean_p / 4)
    for k in range(1, n_ch):
        exposure = max(float((cols[:, k] * a).sum()) / scale, 1e-3)
        start[k * n_terms] = math.log(mean_p / max(exposure, 1.0) / n_ch)
    res = minimize(objective, start, jac=True, method="BFGS", options={"gtol": 1e-10})
    converged = bool(res.success) or bool(np.abs(res.jac).max() < 1e-7)
    return np.asarray(res.x, dtype=np.float64), converged
