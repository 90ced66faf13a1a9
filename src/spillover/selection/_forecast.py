"""Forecasts of held-out rounds: fit on rounds 0..R, predict R+1..T, score against the run.

:func:`fit_window` cuts the inputs of a fit at round R; :func:`forecast_models` forecasts the
informed fraction of the later rounds with every fitted model that has a map
(:func:`spillover.fit.forecast_curve`, which documents the band), and :class:`Forecast` holds
them with the observed curve (``spillover fit --fit-rounds R``; docs/fitting.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from spillover._rng import SeedLike
from spillover.exceptions import ConfigError
from spillover.fit import CurveForecast, FitResult, forecast_curve, get_model
from spillover.trajectories import Curves, ExposureTable

__all__ = ["Forecast", "fit_window", "forecast_models"]

#: Fit statuses whose estimates are forecast (as in the report's overlays).
_FORECAST_STATUSES = ("converged", "bound")


@dataclass(frozen=True, eq=False)
class Forecast:
    """The held-out rounds of a run, observed and as each fitted model forecast them.

    Attributes
    ----------
    fit_rounds : int
        R: the models were fitted on rounds 0..R.
    observed, observed_sd : ndarray, shape (T + 1,)
        The observed informed fraction (mean over replicates) and its spread between
        replicates (standard deviation), rounds 0..T.
    n_reps : int
    level : float
        Coverage of the bands.
    n_draws : int
        Parameter draws behind each band.
    models : tuple of CurveForecast
        In the order the models were fitted (agent-level group first).
    data : mapping of str to str
        The data each model was fitted to (``exposures`` or ``curves``), by model name.
    """

    fit_rounds: int
    observed: np.ndarray
    observed_sd: np.ndarray
    n_reps: int
    level: float
    n_draws: int
    models: tuple[CurveForecast, ...]
    data: Mapping[str, str]

    @property
    def last_round(self) -> int:
        return int(self.observed.shape[0]) - 1

    @property
    def rounds(self) -> np.ndarray:
        """The held-out round numbers R + 1..T."""
        return np.arange(self.fit_rounds + 1, self.last_round + 1)

    def get(self, model: str) -> CurveForecast | None:
        """The forecast of one model, if it was made."""
        return next((f for f in self.models if f.model == model), None)

    def to_dict(self) -> dict[str, Any]:
        """The ``forecast`` entry of ``spillover fit --fit-rounds R --json``."""
        held = slice(self.fit_rounds + 1, self.last_round + 1)
        return {
            "fit_rounds": self.fit_rounds,
            "last_round": self.last_round,
            "rounds": self.rounds.tolist(),
            "observed": self.observed[held].tolist(),
            "observed_sd": self.observed_sd[held].tolist(),
            "n_reps": self.n_reps,
            "level": self.level,
            "n_draws": self.n_draws,
            "models": [{**f.to_dict(), "data": self.data[f.model]} for f in self.models],
        }


def fit_window(
    exposures: ExposureTable | None, curves: Curves | None, fit_rounds: int
) -> tuple[ExposureTable | None, Curves | None]:
    """The exposure rows and curve points of rounds 0..``fit_rounds`` only."""
    if exposures is not None:
        keep = exposures.round <= fit_rounds
        exposures = ExposureTable(**{n: v[keep] for n, v in exposures.columns().items()})
    if curves is not None:
        curves = Curves(curves.informed_by_persona[:, : fit_rounds + 1], curves.n_nodes)
    return exposures, curves


def _covariance_of(
    covariances: Mapping[str | tuple[str, str], np.ndarray], data: str, name: str
) -> np.ndarray | None:
    """The covariance of one fit: by (data, name), or by name for a curve fit."""
    found = covariances.get((data, name))
    if found is None and data == "curves":
        found = covariances.get(name)
    return found


def forecast_models(
    fits: Sequence[tuple[str, FitResult]],
    curves: Curves,
    *,
    fit_rounds: int,
    degree: int,
    covariances: Mapping[str | tuple[str, str], np.ndarray] | None = None,
    weights: ArrayLike | None = None,
    level: float = 0.95,
    n_draws: int = 200,
    rng: SeedLike = 0,
    notes: list[str] | None = None,
) -> Forecast:
    """Forecast ``curves``' rounds after ``fit_rounds`` with each fitted model.

    Parameters
    ----------
    fits : sequence of (data, FitResult)
        The fits (on rounds 0..fit_rounds) and the data each was fitted to.
    curves : Curves
        The whole run.
    covariances : mapping, optional
        Covariance of a model's estimates (an estimator's ``covariance_``) by ``(data,
        name)``, such as ``("exposures", "si2")``; a plain name is that of a curve fit. A
        model without one draws each parameter from its standard error.
    weights : array_like, optional
        Persona shares; per-persona models are not forecast without them.
    notes : list of str, optional
        Receives one line per model that is not forecast, saying why.
    """
    covariances = covariances or {}
    out: list[CurveForecast] = []
    data: dict[str, str] = {}
    skipped = notes if notes is not None else []
    for kind, result in fits:
        name = result.model
        if result.status not in _FORECAST_STATUSES:
            skipped.append(f"{name}: no forecast (fit status {result.status})")
            continue
        if get_model(name).per_class and weights is None:
            skipped.append(f"{name}: no forecast (it needs the persona shares of the run)")
            continue
        try:
            forecast = forecast_curve(
                name,
                result.params,
                curves,
                fit_rounds=fit_rounds,
                degree=degree,
                stderr=result.stderr,
                covariance=_covariance_of(covariances, kind, name),
                weights=weights,
                level=level,
                n_draws=n_draws,
                rng=rng,
            )
        except ConfigError as exc:
            skipped.append(f"{name}: no forecast ({exc})")
            continue
        out.append(forecast)
        data[name] = kind
    frac = curves.fraction()
    mean = frac.mean(axis=0)
    sd = frac.std(axis=0, ddof=1) if curves.n_reps > 1 else np.zeros(curves.n_rounds + 1)
    mean.flags.writeable = sd.flags.writeable = False
    return Forecast(
        fit_rounds=fit_rounds,
        observed=mean,
        observed_sd=sd,
        n_reps=curves.n_reps,
        level=level,
        n_draws=n_draws,
        models=tuple(out),
        data=data,
    )
