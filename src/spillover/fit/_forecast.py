"""Forecasts: a fitted model's informed fraction for rounds it was not fitted to, with a band.

A model fitted on rounds 0..R (``spillover fit --fit-rounds R``) predicts the informed
fraction of every later round from its map, run from the observed initial fraction at the
fitted parameters (the same prediction the curve fits score). The band around it is a
parametric bootstrap that carries both sources of uncertainty:

- **parameters**: ``n_draws`` parameter vectors from the estimate's normal approximation on
  the logit scale (delta method from the probability scale, so draws stay in (0, 1) and are
  skewed near 0 like profile intervals). With a covariance (an estimator's ``covariance_``:
  for curve fits the dispersion-inflated inverse information, whose off-diagonal terms
  matter, alpha and beta fitted to early rounds being correlated near -0.95; for agent-level
  fits the inverse information of the hazards on the probability scale, over the values of
  every parameter flattened in order) the draws are correlated; with standard errors only
  each parameter is drawn on its own. A value without a finite standard error (an estimate
  on a bound) is held at its estimate, the others drawn from their block of the covariance;
  a singular but semi-definite covariance (counts of one exposure bucket, which share one
  rate) is drawn from through its symmetric square root.
- **replicate noise**: for each draw, ``n_reps`` chain-binomial replicates of ``n_nodes``
  agents (as many as the run had, each started from its observed seeds). Each round a
  replicate's new sharers are ``Binomial(S, p)``, with ``p`` what the map predicts for that
  replicate's own state; the map's state then moves by the realised share of its predicted
  change. A replicate that runs ahead stays ahead, which is how real replicates differ (their
  spread per round matches that of network simulations to within about 40 % on k-regular
  graphs).

The band is the central ``level`` interval, over draws, of the mean of the ``n_reps``
simulated replicates: it is the band of the observed mean curve, which it is compared with.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, logit

from spillover._rng import SeedLike, seed_record
from spillover.exceptions import ConfigError
from spillover.fit._registry import get_model
from spillover.trajectories import Curves

__all__ = ["CurveForecast", "ParameterDraws", "check_fit_rounds", "forecast_curve"]

#: How the parameters of a forecast's band were drawn: from the ``covariance`` of the
#: estimates, from their standard errors independently (``stderr``), or not at all (``none``:
#: no finite standard error; the band is replicate noise only).
ParameterDraws = Literal["covariance", "stderr", "none"]


def check_fit_rounds(fit_rounds: object, last_round: int) -> int:
    """``fit_rounds`` as an int in [1, last_round - 1].

    Raises
    ------
    ConfigError
        Naming ``fit_rounds`` (in ``params`` too), the rule and the value received.
    """
    rule = (
        f"an integer from 1 to {last_round - 1} (the run's last round is {last_round}; "
        "later rounds are held out and forecast)"
    )
    if last_round < 2:
        raise ConfigError(
            f"fit_rounds needs a run of at least 2 rounds to hold one out; the input's last "
            f"round is {last_round}",
            params=("fit_rounds",),
        )
    if isinstance(fit_rounds, bool) or not isinstance(fit_rounds, int | np.integer):
        raise ConfigError(f"fit_rounds must be {rule}; got {fit_rounds!r}", params=("fit_rounds",))
    if not 1 <= int(fit_rounds) < last_round:
        raise ConfigError(f"fit_rounds must be {rule}; got {fit_rounds}", params=("fit_rounds",))
    return int(fit_rounds)


@dataclass(frozen=True, eq=False)
class CurveForecast:
    """One model's forecast of the informed fraction, with its band, against the observed.

    Arrays cover rounds 0..T; the fitted rounds are 0..``fit_rounds``, the held-out ones
    ``fit_rounds + 1``..T (:attr:`held_out`). Errors are over the held-out rounds.

    Attributes
    ----------
    model : str
    fit_rounds : int
    predicted : ndarray, shape (T + 1,)
        The model's map at the estimate, from the observed initial fraction.
    low, high : ndarray, shape (T + 1,)
        The band of the mean of ``n_reps`` replicates (see the module docstring).
    observed : ndarray, shape (T + 1,)
        The observed informed fraction, mean over replicates.
    observed_sd : ndarray, shape (T + 1,)
        Its spread between replicates (standard deviation; 0 with one replicate).
    n_reps : int
    level : float
    n_draws : int
    parameter_draws : {"covariance", "stderr", "none"}
    """

    model: str
    fit_rounds: int
    predicted: np.ndarray
    low: np.ndarray
    high: np.ndarray
    observed: np.ndarray
    observed_sd: np.ndarray
    n_reps: int
    level: float
    n_draws: int
    parameter_draws: ParameterDraws

    def __post_init__(self) -> None:
        for name in ("predicted", "low", "high", "observed", "observed_sd"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def last_round(self) -> int:
        return int(self.predicted.shape[0]) - 1

    @property
    def held_out(self) -> slice:
        """The held-out rounds as a slice of the arrays."""
        return slice(self.fit_rounds + 1, self.last_round + 1)

    @property
    def rounds(self) -> np.ndarray:
        """The held-out round numbers."""
        return np.arange(self.fit_rounds + 1, self.last_round + 1)

    @property
    def rmse(self) -> float:
        """Root mean squared error of the predicted against the observed mean (held out)."""
        h = self.held_out
        return float(np.sqrt(np.mean((self.predicted[h] - self.observed[h]) ** 2)))

    @property
    def max_abs_error(self) -> float:
        h = self.held_out
        return float(np.max(np.abs(self.predicted[h] - self.observed[h])))

    @property
    def coverage(self) -> float:
        """Share of the held-out rounds whose observed mean lies inside the band."""
        h = self.held_out
        inside = (self.observed[h] >= self.low[h]) & (self.observed[h] <= self.high[h])
        return float(inside.mean())

    def to_dict(self) -> dict[str, Any]:
        """The model's entry in ``spillover fit --fit-rounds R --json`` (held-out rounds)."""
        h = self.held_out
        return {
            "name": self.model,
            "predicted": self.predicted[h].tolist(),
            "low": self.low[h].tolist(),
            "high": self.high[h].tolist(),
            "rmse": self.rmse,
            "max_abs_error": self.max_abs_error,
            "coverage": self.coverage,
            "parameter_draws": self.parameter_draws,
        }


def _stream(rng: SeedLike, model: str) -> np.random.Generator:
    """The model's own generator: a model's band does not depend on the others fitted."""
    record = seed_record(rng)
    key = (*record.spawn_key, zlib.crc32(model.encode("utf-8")))
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(record.entropy, spawn_key=key))
    )


def _transform(bounds: tuple[float, float]) -> tuple[Any, Any, Any]:
    """(to unbounded, back, derivative of ``to``) for a parameter with these bounds."""
    lo, hi = bounds
    if lo == 0.0 and hi == 1.0:
        return logit, expit, lambda v: 1.0 / (v * (1.0 - v))
    if lo == 0.0 and math.isinf(hi):
        return np.log, np.exp, lambda v: 1.0 / v
    return (lambda v: v), (lambda z: np.clip(z, lo, hi)), (lambda v: np.ones_like(v))


def _draw(
    spec_params: tuple[str, ...],
    bounds: Mapping[str, tuple[float, float]],
    point: Mapping[str, np.ndarray],
    stderr: Mapping[str, Any] | None,
    covariance: ArrayLike | None,
    n_draws: int,
    gen: np.random.Generator,
) -> tuple[dict[str, np.ndarray], ParameterDraws]:
    """``n_draws`` values of each fitted parameter, shape (n_draws,) + its own shape."""
    values = {n: np.asarray(point[n], dtype=np.float64) for n in spec_params}
    draws = {n: np.broadcast_to(v, (n_draws, *v.shape)).copy() for n, v in values.items()}
    # Only values strictly inside their bounds are drawn; one on a bound stays there.
    inside = {
        n: np.isfinite(v) & (v > bounds[n][0]) & (v < bounds[n][1]) for n, v in values.items()
    }
    if covariance is not None:
        joint = _draw_joint(spec_params, bounds, values, inside, covariance, n_draws, gen)
        if joint is not None:
            for n, drawn_values in joint.items():
                draws[n] = np.where(inside[n], drawn_values, draws[n])
            return draws, "covariance"
    drawn = False
    for n in spec_params:
        given = None if stderr is None else stderr.get(n)
        if given is None:
            continue
        se = np.asarray(given, dtype=np.float64)
        if se.shape != values[n].shape:
            continue  # no standard error of each value (a vector summarised): not drawn
        use = inside[n] & np.isfinite(se) & (se > 0)
        if not use.any():
            continue
        to, back, deriv = _transform(bounds[n])
        v = np.where(use, values[n], 0.5)  # placeholder where not drawn
        z_sd = np.where(use, se * deriv(v), 0.0)
        z = to(v) + gen.standard_normal((n_draws, *v.shape)) * z_sd
        draws[n] = np.where(use, np.asarray(back(z), dtype=np.float64), draws[n])
        drawn = True
    return draws, ("stderr" if drawn else "none")


def _draw_joint(
    spec_params: tuple[str, ...],
    bounds: Mapping[str, tuple[float, float]],
    values: Mapping[str, np.ndarray],
    inside: Mapping[str, np.ndarray],
    covariance: ArrayLike,
    n_draws: int,
    gen: np.random.Generator,
) -> dict[str, np.ndarray] | None:
    """Correlated draws from ``covariance``, over the parameters' values flattened in
    ``spec_params`` order; None when it cannot be used (wrong shape, not finite where drawn,
    not positive semi-definite). Values not inside their bounds stay at the estimate: the
    others are drawn from their own block (the marginal of the normal approximation)."""
    cov = np.asarray(covariance, dtype=np.float64)
    theta = np.concatenate([values[n].ravel() for n in spec_params])
    use = np.concatenate([inside[n].ravel() for n in spec_params])
    if cov.shape != (theta.size, theta.size) or not use.any():
        return None
    sub = cov[np.ix_(use, use)]
    if not bool(np.all(np.isfinite(sub))):
        return None
    owner = np.concatenate([np.full(values[n].size, i) for i, n in enumerate(spec_params)])[use]
    maps = [_transform(bounds[n]) for n in spec_params]
    t = theta[use]
    jac = np.empty(t.size)
    z = np.empty(t.size)
    for i, (to, _, deriv) in enumerate(maps):
        mine = owner == i
        if mine.any():
            jac[mine] = deriv(t[mine])
            z[mine] = to(t[mine])
    z_cov = sub * np.outer(jac, jac)
    try:
        root = np.linalg.cholesky(z_cov)
    except np.linalg.LinAlgError:
        # Singular (values that are one rate, such as the counts of one exposure bucket)
        # but possibly semi-definite: a symmetric square root draws them alike.
        w, vecs = np.linalg.eigh(z_cov)
        if not bool(np.all(np.isfinite(w))) or w.min() < -1e-8 * max(abs(w.max()), 1e-300):
            return None
        root = vecs * np.sqrt(np.maximum(w, 0.0))
    zs = z + gen.standard_normal((n_draws, t.size)) @ root.T
    flat = np.broadcast_to(theta, (n_draws, theta.size)).copy()
    for i, (_, back, _) in enumerate(maps):
        mine = owner == i
        if mine.any():
            cols = np.flatnonzero(use)[mine]
            flat[:, cols] = np.asarray(back(zs[:, mine]), dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    at = 0
    for n in spec_params:
        size = values[n].size
        out[n] = flat[:, at : at + size].reshape(n_draws, *values[n].shape)
        at += size
    return out


def _chain(
    model_name: str,
    batch: Mapping[str, Any],
    seeds: np.ndarray,
    n_nodes: int,
    n_rounds: int,
    gen: np.random.Generator,
) -> np.ndarray:
    """Chain-binomial replicates around the map: informed fraction, (n_draws, n_reps, T + 1)."""
    model = get_model(model_name).map
    p = model.validate(batch)
    state = np.asarray(model.start(seeds / n_nodes, p), dtype=np.float64)
    count = np.broadcast_to(seeds, state.shape[:-1]).astype(np.int64)
    out = np.empty((*count.shape, n_rounds + 1))
    out[..., 0] = count
    for t in range(1, n_rounds + 1):
        informed = np.asarray(model.observe(state, p))
        # A replicate can reach everyone exactly (the map only tends to it): at a rate of 1,
        # log(1 - rate * 1) is -inf there, a chance of staying susceptible of 0, as it is.
        with np.errstate(divide="ignore"):
            nxt = np.asarray(model.step(state, p), dtype=np.float64)
        expected = np.maximum(np.asarray(model.observe(nxt, p)) - informed, 0.0)
        left = 1.0 - informed
        prob = np.divide(expected, left, out=np.zeros_like(expected), where=left > 0)
        new = gen.binomial(n_nodes - count, np.clip(prob, 0.0, 1.0))
        # The state moves by the realised share of its predicted change: exact for the
        # one-component maps, proportional for the pair and per-class states.
        ratio = np.divide(new / n_nodes, expected, out=np.zeros_like(expected), where=expected > 0)
        state = np.maximum(state + ratio[..., None] * (nxt - state), 0.0)
        count = count + new
        out[..., t] = count
    return out / n_nodes


def forecast_curve(
    model: str,
    params: Mapping[str, Any],
    curves: Curves,
    *,
    fit_rounds: int,
    degree: int,
    stderr: Mapping[str, Any] | None = None,
    covariance: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    level: float = 0.95,
    n_draws: int = 200,
    rng: SeedLike = 0,
) -> CurveForecast:
    """Forecast the informed fraction of ``curves``' rounds after ``fit_rounds``, with a band.

    Parameters
    ----------
    model : str
        A registered model (its map predicts the curve).
    params : mapping
        Its fitted parameters (a ``FitResult.params``, fitted on rounds 0..fit_rounds);
        names of another model with the same rates may be included, the model's own are used.
    curves : Curves
        The whole run: its initial fraction starts the prediction, its later rounds are
        what the forecast is compared with.
    fit_rounds : int
        The last fitted round R, 1 <= R < T.
    degree : int
        k of the k-regular graph.
    stderr, covariance : optional
        Standard errors of ``params`` (a ``FitResult.stderr``), or their covariance matrix
        (an estimator's ``covariance_``) over the values of the model's parameters
        flattened in their order (preferred when finite where drawn). Neither: the band
        carries replicate noise only.
    weights : array_like, optional
        Persona shares, for per-class models.
    level : float
        Coverage of the band, in (0, 1).
    n_draws : int
        Parameter draws (each with ``n_reps`` simulated replicates).
    rng : int, SeedSequence, Generator or None
        Seed of the band's draws (each model draws from its own stream of it); fixed by
        default, so that a forecast repeats exactly.

    Raises
    ------
    ConfigError
        For a bad ``fit_rounds``, ``level`` or ``n_draws``, or parameters the model's map
        refuses.
    """
    spec = get_model(model)
    if spec.kind != "spread":
        raise ConfigError(
            f"model {model!r} is a coupled model; forecast_curve forecasts SI runs' curves"
        )
    if not isinstance(curves, Curves):
        raise ConfigError(f"forecast_curve expects Curves; got {type(curves).__name__}")
    last = curves.n_rounds
    fit_rounds = check_fit_rounds(fit_rounds, last)
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0.0 < level < 1.0:
        raise ConfigError(f"level must be a number in (0, 1); got {level!r}")
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 2:
        raise ConfigError(f"n_draws must be an integer >= 2; got {n_draws!r}")
    own = spec.own_params(params)
    point = spec.map_params(own, degree=degree, weights=weights)
    informed = curves.informed
    n_nodes = curves.n_nodes
    i0 = float(informed[:, 0].mean()) / n_nodes
    predicted = np.asarray(spec.predict(own, degree=degree, i0=i0, n_rounds=last, weights=weights))
    gen = _stream(rng, model)
    errors = stderr
    if stderr is not None and spec.data_params is not None:
        # Standard errors of fitted names that are not the map's: arranged as the rates are.
        given = {p: stderr[p] for p in own if p in stderr}
        errors = spec.map_rates(given, weights) if set(given) == set(own) else None
    draws, how = _draw(spec.params, spec.bounds, point, errors, covariance, n_draws, gen)
    batch: dict[str, Any] = dict(point)
    for name, values in draws.items():
        # Draws on the first axis, replicates on the second (the classes stay last).
        batch[name] = values.reshape(n_draws, 1, *values.shape[1:])
    seeds = informed[:, 0].astype(np.int64)
    sims = _chain(model, batch, seeds, n_nodes, last, gen)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(sims.mean(axis=1), [tail, 1.0 - tail], axis=0)
    frac = curves.fraction()
    sd = frac.std(axis=0, ddof=1) if curves.n_reps > 1 else np.zeros(last + 1)
    return CurveForecast(
        model=model,
        fit_rounds=fit_rounds,
        predicted=predicted,
        low=low,
        high=high,
        observed=frac.mean(axis=0),
        observed_sd=sd,
        n_reps=curves.n_reps,
        level=float(level),
        n_draws=n_draws,
        parameter_draws=how,
    )
