"""How each Big Five trait changes the offline and online rates, with confidence intervals.

The rates of persona c are log-linear in its traits on the hazard scale, one model per
channel::

    h_alpha(c) = exp(a_0 + sum_j a_j x_cj / 2),   h_beta(c) = exp(b_0 + sum_j b_j x_cj / 2)

with ``x_cj = +1`` (high) or ``-1`` (low), so ``a_j`` and ``b_j`` are log hazard ratios between
the high and the low level of trait j (``exp`` of them: hazard ratios). They are estimated by
maximum likelihood directly on the exposure table, ``p = 1 - exp(-(h_alpha(c) + m h_beta(c)))``.

Why not a binomial GLM with a complementary log-log link: ``cloglog(p) = log(h_alpha + m
h_beta)`` is not linear in the coefficients when both channels are present (the hazards add),
so no single-link GLM represents the model. A two-stage weighted regression of the 64
per-persona estimates would work too, but breaks down where a persona's rate is estimated at
0 (log undefined) and ignores the covariance of alpha_c and beta_c; the one-stage likelihood
has neither problem. Standard errors come from the observed information (numerical Hessian).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from spillover.exceptions import ConfigError, FitError
from spillover.fit._base import checked_exposures
from spillover.fit._numdiff import numerical_hessian
from spillover.personas import TRAITS, trait_matrix
from spillover.trajectories import ExposureTable

__all__ = ["TraitEffects", "fit_trait_effects"]

_Z95 = 1.959963984540054


@dataclass(frozen=True)
class TraitEffects:
    """Log hazard ratios (high vs low) of each trait on each channel.

    Attributes
    ----------
    channels : tuple of str
        ``("alpha", "beta")``.
    terms : tuple of str
        ``("baseline", *TRAITS)``, then ``"event: TYPE"`` terms when fitted with event types;
        ``baseline`` is the log hazard at the midpoint of all traits (for the reference event).
    coef, stderr : ndarray, shape (2, n_terms)
        Estimates and standard errors, rows by channel, columns by term.
    loglik : float
    n_obs : int
    converged : bool
    reference_event : str or None
        The event type the ``event:`` terms are relative to (None without event types).
    """

    channels: tuple[str, ...]
    terms: tuple[str, ...]
    coef: np.ndarray
    stderr: np.ndarray
    loglik: float
    n_obs: int
    converged: bool
    reference_event: str | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One record per (channel, trait): effect, stderr, 95 % interval, hazard ratio."""
        out = []
        for i, channel in enumerate(self.channels):
            for j, term in enumerate(self.terms):
                if term == "baseline":
                    continue
                b, se = float(self.coef[i, j]), float(self.stderr[i, j])
                out.append(
                    {
                        "channel": channel,
                        "trait": term,
                        "term": term,
                        "log_hazard_ratio": b,
                        "stderr": se,
                        "ci_low": b - _Z95 * se,
                        "ci_high": b + _Z95 * se,
                        "hazard_ratio": math.exp(b),
                    }
                )
        return out


def fit_trait_effects(
    exposures: ExposureTable, *, event_types: Sequence[str] | np.ndarray | None = None
) -> TraitEffects:
    """Fit the log-linear trait model of each channel on an exposure table.

    Parameters
    ----------
    exposures : ExposureTable
    event_types : sequence of str, shape (len(exposures),), optional
        The event type of each row, when the table pools runs of several events (a sweep over
        events). Each event type other than the first in sorted order (the reference) then gets
        a term ``event: TYPE``, the log hazard ratio against the reference, per channel.

    Raises
    ------
    FitError
        When the table has no agent at risk, or fewer than 6 personas (the model has 6
        coefficients per channel).
    """
    exposures = checked_exposures("trait effects", exposures)
    if event_types is None:
        labels = np.array(["-"])
        event_idx = np.zeros(len(exposures), dtype=np.int64)
    else:
        values = np.asarray(event_types).astype(str)
        if values.shape != (len(exposures),):
            raise ConfigError(
                f"event_types must hold one label per exposure row ({len(exposures)}); "
                f"got shape {values.shape}"
            )
        labels, event_idx = np.unique(values, return_inverse=True)
    width = int(exposures.n_exposed.max()) + 1
    key = (event_idx * 32 + exposures.persona.astype(np.int64)) * width + exposures.n_exposed
    keys, inverse = np.unique(key, return_inverse=True)
    at_risk = np.bincount(inverse, weights=exposures.at_risk)
    shared = np.bincount(inverse, weights=exposures.shared)
    m = keys % width
    persona = (keys // width) % 32
    event = keys // width // 32
    if np.unique(persona).size < 6:
        raise FitError(
            f"trait effects need rows for at least 6 personas; got {np.unique(persona).size}"
        )
    dummies = (event[:, None] == np.arange(1, labels.size)[None, :]).astype(np.float64)
    design = np.column_stack([np.ones(32), trait_matrix() - 0.5])[persona]
    design = np.column_stack([design, dummies])  # (rows, 6 + n_event_types - 1)
    n_terms = design.shape[1]
    m = m.astype(np.float64)
    a = at_risk.astype(np.float64)
    s = shared.astype(np.float64)
    f = a - s
    scale = float(a.sum())

    def loglik_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        ga, gb = theta[:n_terms], theta[n_terms:]
        ha = np.exp(design @ ga)
        hb = np.exp(design @ gb)
        z = ha + m * hb
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ll = float((np.where(s > 0, s * np.log(-np.expm1(-z)), 0.0) - f * z).sum())
            dz = np.where(s > 0, s * np.exp(-z) / -np.expm1(-z), 0.0) - f
        grad = np.concatenate([design.T @ (dz * ha), design.T @ (dz * m * hb)])
        return ll, grad

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad = loglik_grad(theta)
        if not math.isfinite(ll):
            return 1e10, np.zeros_like(theta)
        return -ll / scale, -grad / scale

    mean_p = max(float(s.sum()) / scale, 1e-6)
    start = np.zeros(2 * n_terms)
    start[0] = math.log(mean_p / 4)
    start[n_terms] = math.log(mean_p / max(float((m * a).sum()) / scale, 1.0))
    res = minimize(objective, start, jac=True, method="BFGS", options={"gtol": 1e-10})
    theta = res.x
    ll = loglik_grad(theta)[0]
    info = -numerical_hessian(lambda t: loglik_grad(t)[0], theta)
    try:
        cov = np.linalg.inv(info)
        se = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    except np.linalg.LinAlgError:
        se = np.full(2 * n_terms, np.nan)
    coef = theta.reshape(2, n_terms)
    stderr = se.reshape(2, n_terms)
    coef.flags.writeable = False
    stderr.flags.writeable = False
    return TraitEffects(
        channels=("alpha", "beta"),
        terms=("baseline", *TRAITS, *(f"event: {label}" for label in labels[1:])),
        reference_event=None if event_types is None else str(labels[0]),
        coef=coef,
        stderr=stderr,
        loglik=ll,
        n_obs=int(a.sum()),
        converged=bool(res.success) or bool(np.abs(res.jac).max() < 1e-7),
    )
