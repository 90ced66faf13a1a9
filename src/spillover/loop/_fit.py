"""Fitting the coupling rates from a chained run's per-round counts, with intervals.

Every rate of the coupled model is a per-round probability acting on agents whose number is in
the offline table, so each has a binomial likelihood in the counts:

- ``eta`` (and ``kappa``): ``joined[t] ~ Bin(engaged[t-1], 1 - (1 - eta)(1 - kappa)^m)``, by
  participating neighbours m from the joins table; from the offline table alone (no ``m``),
  ``joined[t] ~ Bin(engaged[t-1], eta)``, which is the model when ``kappa = 0``;
- ``gamma``: ``faded_now[t] ~ Bin(engaged[t-1] - joined[t], gamma)``;
- ``delta``: ``left_now[t] ~ Bin(participating[t-1], delta)``;
- ``alpha``, ``beta`` (optional, from the engagement table):
  ``shared ~ Bin(at_risk, 1 - (1 - alpha)(1 - beta)^m)``.

The maxima and profile-likelihood intervals come from :func:`spillover.fit.fit_hazards` and
:func:`spillover.fit.profile_interval` (hazard scale, ``rate = 1 - exp(-h)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spillover.exceptions import FitError
from spillover.fit import fit_hazards, profile_interval

__all__ = [
    "CouplingFit",
    "RateEstimate",
    "coupled_fit_document",
    "coupled_model_names",
    "fit_coupling",
]

_OFFLINE_NEEDED = (
    "replicate",
    "cascade",
    "round",
    "engaged",
    "participating",
    "joined",
    "faded_now",
    "left_now",
)


@dataclass(frozen=True)
class RateEstimate:
    """A fitted per-round probability with its profile-likelihood interval."""

    estimate: float
    low: float
    high: float
    n_trials: int
    n_events: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "n_trials": self.n_trials,
            "n_events": self.n_events,
        }


@dataclass(frozen=True)
class CouplingFit:
    """Fitted rates by name (``eta``, ``gamma``, ``delta``; ``kappa``, ``alpha``, ``beta`` when
    their tables were given) and the interval level."""

    rates: Mapping[str, RateEstimate]
    level: float

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "rates": {k: v.to_dict() for k, v in self.rates.items()}}


def _column(table: Mapping[str, Any], name: str, what: str) -> np.ndarray:
    if name not in table:
        raise FitError(f"{what} table needs a column {name!r}; has {sorted(table)}")
    return np.asarray(table[name], dtype=np.float64)


def _previous(offline: Mapping[str, Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a previous round in the same cascade, and the column's value there."""
    rep = np.asarray(offline["replicate"])
    cas = np.asarray(offline["cascade"])
    rnd = np.asarray(offline["round"])
    order = np.lexsort((rnd, cas, rep))
    col = _column(offline, name, "offline")[order]
    same = (rep[order][1:] == rep[order][:-1]) & (cas[order][1:] == cas[order][:-1])
    same &= rnd[order][1:] == rnd[order][:-1] + 1
    rows = order[1:][same]
    return rows, col[:-1][same]


def _estimate(
    design: np.ndarray, at_risk: np.ndarray, done: np.ndarray, level: float
) -> list[RateEstimate]:
    keep = at_risk > 0
    design, at_risk, done = design[keep], at_risk[keep], done[keep]
    if at_risk.sum() == 0 or np.any(done > at_risk):
        raise FitError("no agents at risk, or more transitions than agents at risk")
    fit = fit_hazards(design, at_risk, done)
    out = []
    for j in range(design.shape[1]):
        lo, hi = profile_interval(design, at_risk, done, fit, j, level)
        h = float(fit.hazards[j])
        out.append(
            RateEstimate(
                estimate=float(-np.expm1(-h)),
                low=float(-np.expm1(-lo)),
                high=float(-np.expm1(-hi)),
                n_trials=int(at_risk.sum()),
                n_events=int(done.sum()),
            )
        )
    return out


def fit_coupling(
    offline: Mapping[str, Any],
    joins: Mapping[str, Any] | None = None,
    engagement: Mapping[str, Any] | None = None,
    *,
    level: float = 0.95,
) -> CouplingFit:
    """Maximum-likelihood coupling rates with profile-likelihood intervals.

    Parameters
    ----------
    offline : mapping of column name to array
        The offline participation table (``offline.parquet`` columns; at least
        ``replicate, cascade, round, engaged, participating, joined, faded_now, left_now``).
    joins : mapping, optional
        The joins table (``n_participating, at_risk, joined``): fits ``eta`` and ``kappa``
        together. Without it ``eta`` is fitted from the offline table with ``kappa = 0``.
    engagement : mapping, optional
        The engagement table (``n_exposed, at_risk, shared``): fits ``alpha`` and ``beta``.
    level : float
        Interval level.

    Returns
    -------
    CouplingFit

    Raises
    ------
    FitError
        For a missing column or a table without agents at risk.
    """
    for name in _OFFLINE_NEEDED:
        _column(offline, name, "offline")
    rates: dict[str, RateEstimate] = {}
    rows, engaged_prev = _previous(offline, "engaged")
    joined = _column(offline, "joined", "offline")[rows]
    if joins is None:
        (rates["eta"],) = _estimate(np.ones((rows.size, 1)), engaged_prev, joined, level)
    else:
        m = _column(joins, "n_participating", "joins")
        design = np.stack([np.ones_like(m), m], axis=1)
        at_risk = _column(joins, "at_risk", "joins")
        rates["eta"], rates["kappa"] = _estimate(
            design, at_risk, _column(joins, "joined", "joins"), level
        )
    faded = _column(offline, "faded_now", "offline")[rows]
    (rates["gamma"],) = _estimate(np.ones((rows.size, 1)), engaged_prev - joined, faded, level)
    rows_p, part_prev = _previous(offline, "participating")
    left = _column(offline, "left_now", "offline")[rows_p]
    (rates["delta"],) = _estimate(np.ones((rows_p.size, 1)), part_prev, left, level)
    if engagement is not None:
        m = _column(engagement, "n_exposed", "engagement")
        design = np.stack([np.ones_like(m), m], axis=1)
        rates["alpha"], rates["beta"] = _estimate(
            design,
            _column(engagement, "at_risk", "engagement"),
            _column(engagement, "shared", "engagement"),
            level,
        )
    return CouplingFit(rates=rates, level=level)


def coupled_model_names(models: Sequence[str] | None, *, what: str = "a loop run") -> list[str]:
    """The coupled models named by ``models`` (all of the registry's when None), in order.

    Raises
    ------
    ConfigError
        For a spread model (one of SI runs) or an unknown name; ``what`` names the input
        (``"a loop run"``, ``"each cell of the loop sweep S"``).
    """
    from spillover.exceptions import ConfigError
    from spillover.fit import COUPLED_MODELS, ESTIMATORS, MODELS

    if models is None:
        return list(COUPLED_MODELS)
    if isinstance(models, str) or not models:
        raise ConfigError("models: give at least one model name, as a list")
    coupled = ", ".join(COUPLED_MODELS)
    for name in models:
        if name in MODELS or name in ESTIMATORS:
            raise ConfigError(
                f"model {name!r} is a spread model of SI runs, and {what} is fitted by the "
                f"coupled models {coupled}"
            )
        if name not in COUPLED_MODELS:
            raise ConfigError(
                f"unknown model {name!r}: {what} is fitted by the coupled models {coupled}"
            )
    return list(dict.fromkeys(models))


def coupled_fit_document(
    tables: Mapping[str, Any], *, level: float = 0.95, models: Sequence[str] | None = None
) -> dict[str, Any]:
    """``spillover fit RUN --json`` of a loop run (and a loop sweep cell's ``fits.json``):
    ``{"kind": "loop", "models": [...], "level", "rates"}``, the rates fitted by the
    registry's coupled entries named by ``models`` (all when None; they share one fit of the
    rates, see :func:`coupled_model_names` for the errors) on the run's tables
    (:func:`spillover.io.read_loop_tables`)."""
    from spillover.fit import get_model
    from spillover.io import json_safe

    names = coupled_model_names(models)
    fit = get_model(names[0]).fit_coupled(tables, level=level)
    document: dict[str, Any] = json_safe({"kind": "loop", "models": names, **fit.to_dict()})
    return document
