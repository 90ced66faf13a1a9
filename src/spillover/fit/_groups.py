"""``si-groups2``: two latent susceptibility groups with their own online rates.

A share ``share_1`` of agents has online rate ``beta_1``, the rest ``beta_2`` (group 1 is the
faster one, ``beta_1 >= beta_2``); both share the offline rate ``alpha``. Groups persist: the
agents that share early are mostly from group 1, so the group mix of those still at risk drifts
towards group 2 round after round.

Exact likelihood from agent histories (``agents.parquet``, :class:`AgentHistories`): given its
group g, agent i's history has probability
``exp(-(D_i h_a + E_i h_g)) * (1 - exp(-(h_a + M_i h_g)))^{shared_i}`` (D rounds at risk without
sharing, E exposure-rounds over them, M informed neighbours when it shared; ``h = -log(1 - p)``),
and the likelihood is the product over agents of the two-component mixture of these. This is
the method used whenever agent histories are available.

Approximate likelihood on the exposure table alone (per replicate r, round t, exposure m),
for data that come without agent histories. Let ``pi_rt`` be the
share of group 1 among the agents at risk at the start of round t (``pi_r1 = share_1``). Then

    shared_rtm ~ Binomial(at_risk_rtm, pi_rt p_1(m) + (1 - pi_rt) p_2(m))

and ``pi`` is updated by Bayes' rule over those who did not share:

    pi_r,t+1 = sum_m (at_risk - shared)_rtm * pi_rt (1 - p_1(m)) / (1 - pbar_rtm)
               / sum_m (at_risk - shared)_rtm

It assumes that, within a round, the group mix does not depend on the current exposure m; in a
network it does (agents long exposed are more depleted of group 1), which biases beta_1
downwards (about 7 % in docs/fitting.md's example). Prefer agent histories.
The maximum is found from several starts (mixture likelihoods can have local maxima);
standard errors come from a numerical Hessian.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit

from spillover.exceptions import FitError
from spillover.fit._base import AgentData, ExposureEstimator, checked_exposures
from spillover.fit._estimators import SI2Estimator
from spillover.fit._numdiff import numerical_hessian
from spillover.fit._result import FitStatus
from spillover.fit._spec import ModelSpec, spread_starts
from spillover.models import GROUPS2_MAP, GROUPS2_ODE
from spillover.trajectories import AgentHistories, ExposureTable

__all__ = ["GROUPS2_SPEC", "SIGroups2Estimator", "groups2_agents_loglik", "groups2_loglik"]

PARAMS = ("alpha", "beta_1", "beta_2", "share_1")


def _dense(exposures: ExposureTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """at_risk and shared as (n_reps, n_rounds, n_m) arrays, pooled over personas."""
    reps, rep_idx = np.unique(exposures.replicate, return_inverse=True)
    rounds, round_idx = np.unique(exposures.round, return_inverse=True)
    width = int(exposures.n_exposed.max()) + 1
    shape = (reps.size, rounds.size, width)
    at_risk = np.zeros(shape)
    shared = np.zeros(shape)
    np.add.at(at_risk, (rep_idx, round_idx, exposures.n_exposed), exposures.at_risk)
    np.add.at(shared, (rep_idx, round_idx, exposures.n_exposed), exposures.shared)
    return at_risk, shared, np.arange(width, dtype=np.float64)


def _compress(histories: AgentHistories) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (D, E, M, shared) rows of the histories and how often each occurs.

    Millions of agents collapse to far fewer distinct histories; the columns are packed into
    one integer key so that the de-duplication is a fast 1-d ``np.unique``.
    """
    cols = [
        histories.rounds_at_risk.astype(np.int64),
        histories.exposure_rounds.astype(np.int64),
        histories.exposed_at_share.astype(np.int64),
        histories.shared.astype(np.int64),
    ]
    sizes = [int(c.max()) + 1 if c.size else 1 for c in cols]
    if math.prod(sizes) < 2**62:
        key = cols[0]
        for col, size in zip(cols[1:], sizes[1:], strict=True):
            key = key * size + col
        keys, counts = np.unique(key, return_counts=True)
        distinct = np.empty((keys.size, 4), dtype=np.int64)
        for j in range(3, -1, -1):
            distinct[:, j] = keys % sizes[j]
            keys = keys // sizes[j]
    else:
        distinct, counts = np.unique(np.column_stack(cols), axis=0, return_counts=True)
    return distinct.astype(np.float64), counts.astype(np.float64)


def _agents_loglik_grad(
    hazards: np.ndarray, share_1: float, rows: np.ndarray, counts: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mixture log-likelihood and its gradient in (h_a, h_1, h_2, share_1)."""
    h_a, h_1, h_2 = hazards
    if not 0.0 < share_1 < 1.0:
        return -math.inf, np.zeros(4)
    d, e, m, shared = rows.T
    comps = []
    grads = []
    for h_g, w in ((h_1, share_1), (h_2, 1.0 - share_1)):
        z = h_a + m * h_g
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p = np.where(shared > 0, np.log(-np.expm1(-z)), 0.0)
            # 1 / (e^z - 1), written so that a large z gives 0 instead of overflowing
            hazard_term = np.where(shared > 0, np.exp(-z) / -np.expm1(-z), 0.0)
        comps.append(math.log(w) - (d * h_a + e * h_g) + log_p)
        grads.append((-d + hazard_term, -e + m * hazard_term))
    total = np.logaddexp(comps[0], comps[1])
    ll = float(counts @ total)
    if not math.isfinite(ll):
        return -math.inf, np.zeros(4)
    r1 = np.exp(comps[0] - total)  # responsibility of group 1
    r2 = 1.0 - r1
    g = np.array(
        [
            counts @ (r1 * grads[0][0] + r2 * grads[1][0]),
            counts @ (r1 * grads[0][1]),
            counts @ (r2 * grads[1][1]),
            counts @ (r1 / share_1 - r2 / (1.0 - share_1)),
        ]
    )
    return ll, g


def groups2_agents_loglik(rates: np.ndarray, histories: AgentHistories) -> float:
    """Exact mixture log-likelihood at ``(alpha, beta_1, beta_2, share_1)`` of agent histories."""
    alpha, beta_1, beta_2, share_1 = (float(x) for x in rates)
    if not (0 <= alpha < 1 and 0 <= beta_1 < 1 and 0 <= beta_2 < 1 and 0 < share_1 < 1):
        return -math.inf
    rows, counts = _compress(histories)
    hazards = -np.log1p(-np.array([alpha, beta_1, beta_2]))
    return _agents_loglik_grad(hazards, share_1, rows, counts)[0]


def groups2_loglik(
    rates: np.ndarray, at_risk: np.ndarray, shared: np.ndarray, m: np.ndarray
) -> float:
    """Log-likelihood at ``(alpha, beta_1, beta_2, share_1)`` of dense (rep, round, m) tables."""
    alpha, beta_1, beta_2, share_1 = (float(x) for x in rates)
    with np.errstate(divide="ignore"):
        log_q0 = math.log1p(-alpha) if alpha < 1 else -math.inf
        q1 = np.exp(log_q0 + m * math.log1p(-beta_1)) if beta_1 < 1 else (m == 0) * (1 - alpha)
        q2 = np.exp(log_q0 + m * math.log1p(-beta_2)) if beta_2 < 1 else (m == 0) * (1 - alpha)
    pi = np.full(at_risk.shape[0], share_1)
    failed = at_risk - shared
    total = 0.0
    for t in range(at_risk.shape[1]):
        q = pi[:, None] * q1 + (1.0 - pi[:, None]) * q2  # P(not sharing), (n_reps, n_m)
        s, f = shared[:, t], failed[:, t]
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(s > 0, s * np.log1p(-q), 0.0) + np.where(f > 0, f * np.log(q), 0.0)
        total += float(term.sum())
        if not math.isfinite(total):
            return -math.inf
        stay = f.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            w1 = np.where(q > 0, pi[:, None] * q1 / q, 0.0)
            pi = np.where(stay > 0, (f * w1).sum(axis=1) / np.maximum(stay, 1e-300), pi)
    return total


class SIGroups2Estimator(ExposureEstimator):
    """``si-groups2``: offline rate alpha, online rates beta_1 >= beta_2, share of group 1."""

    name = "si-groups2"

    def fit(self, data: AgentData) -> SIGroups2Estimator:
        """Fit on agent histories (exact) or, without them, on an exposure table (approximate).

        Parameters
        ----------
        data : AgentHistories or ExposureTable
        """
        loglik_of = self._loglik_function(data)
        exposures = _as_exposures(data)
        n_obs = int(exposures.at_risk.sum())

        def unpack(x: np.ndarray) -> np.ndarray:
            # alpha, beta_1 and beta_2 - beta_1 ordering via hazards; share via logit
            h_a, h_2, h_gap = np.exp(x[:3])
            return np.array(
                [-math.expm1(-h_a), -math.expm1(-(h_2 + h_gap)), -math.expm1(-h_2), expit(x[3])]
            )

        scale = float(max(n_obs, 1))
        if isinstance(data, AgentHistories):
            rows, counts = _compress(data)

            def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
                h_a, h_2, h_gap = np.exp(x[:3])
                share = float(expit(x[3]))
                ll, g = _agents_loglik_grad(np.array([h_a, h_2 + h_gap, h_2]), share, rows, counts)
                if not math.isfinite(ll):
                    return 1e10, np.zeros(4)
                # chain rule to (log h_a, log h_2, log h_gap, logit share_1)
                gx = np.array(
                    [g[0] * h_a, (g[1] + g[2]) * h_2, g[1] * h_gap, g[3] * share * (1 - share)]
                )
                return -ll / scale, -gx / scale

            def solve(x0: np.ndarray) -> Any:
                return minimize(objective, x0, jac=True, method="BFGS", options={"gtol": 1e-9})
        else:

            def value(x: np.ndarray) -> float:
                ll = loglik_of(unpack(x))
                return -ll / scale if math.isfinite(ll) else 1e10

            def solve(x0: np.ndarray) -> Any:
                res = minimize(
                    value,
                    x0,
                    method="Nelder-Mead",
                    options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 4000},
                )
                return minimize(value, res.x, method="BFGS", options={"gtol": 1e-10})

        si2 = SI2Estimator().fit(exposures).theta_  # starting values
        h_a = -math.log1p(-max(np.asarray(si2["alpha"], dtype=float).item(), 1e-6))
        h_b = -math.log1p(-max(np.asarray(si2["beta"], dtype=float).item(), 1e-6))
        best = None
        for ratio, share in ((3.0, 0.5), (1.5, 0.7), (8.0, 0.2)):
            h2 = h_b / math.sqrt(ratio)
            x0 = np.array([math.log(h_a), math.log(h2), math.log(h2 * (ratio - 1)), logit(share)])
            res = solve(x0)
            if best is None or res.fun < best.fun:
                best = res
        assert best is not None
        rates = unpack(best.x)
        loglik = loglik_of(rates)

        def natural(theta: np.ndarray) -> float:
            return loglik_of(theta)

        stderr = np.full(4, math.nan)
        covariance = np.full((4, 4), math.nan)
        interior = np.all((rates > 1e-8) & (rates < 1 - 1e-8))
        if interior:
            info = -numerical_hessian(natural, rates)
            try:
                cov = np.linalg.inv(info)
                if np.all(np.diag(cov) > 0):
                    stderr = np.sqrt(np.diag(cov))
                    covariance = cov
            except np.linalg.LinAlgError:
                pass
        status: FitStatus = "converged"
        message = ""
        if not math.isfinite(loglik):
            status, message = "infeasible", "the data have probability 0 under every start"
        elif not interior:
            status, message = "bound", "an estimate is on a bound (0 or 1)"
        elif np.isnan(stderr).any():
            message = "information matrix not invertible: groups not identifiable from these data"
        if isinstance(data, ExposureTable):
            note = "approximate likelihood from the exposure table (no agent histories)"
            message = f"{message}; {note}" if message else note
        self._set_result(
            PARAMS, rates, stderr, loglik, n_obs, status, message, covariance=covariance
        )
        return self

    def loglik(self, data: AgentData) -> float:
        theta = self._fitted("theta_")
        return self._loglik_function(data)(np.array([theta[n] for n in PARAMS]))

    def _loglik_function(
        self, data: ExposureTable | AgentHistories
    ) -> Callable[[np.ndarray], float]:
        if isinstance(data, AgentHistories):
            if len(data) == 0:
                raise FitError(f"{self.name}: no agent histories to fit")
            rows, counts = _compress(data)

            def agents_loglik(rates: np.ndarray) -> float:
                alpha, beta_1, beta_2, share_1 = (float(x) for x in rates)
                if not (min(alpha, beta_1, beta_2) >= 0 and max(alpha, beta_1, beta_2) < 1):
                    return -math.inf
                if not 0 < share_1 < 1:
                    return -math.inf
                hazards = -np.log1p(-np.array([alpha, beta_1, beta_2]))
                return _agents_loglik_grad(hazards, share_1, rows, counts)[0]

            return agents_loglik
        exposures = checked_exposures(self.name, data)
        at_risk, shared, m = _dense(exposures)
        return lambda rates: groups2_loglik(rates, at_risk, shared, m)


def _as_exposures(data: ExposureTable | AgentHistories) -> ExposureTable:
    """The pooled exposure table behind either input (for starting values and n_obs)."""
    if isinstance(data, ExposureTable):
        return data
    n = len(data)
    zeros = np.zeros(n, dtype=np.int64)
    # Each agent contributes D trials with mean exposure E / D and, if it shared, one more.
    d = data.rounds_at_risk.astype(np.int64)
    mean_m = np.divide(data.exposure_rounds, np.maximum(d, 1)).round().astype(np.int64)
    return ExposureTable(
        replicate=np.concatenate([zeros, zeros]),
        round=np.ones(2 * n, dtype=np.int64),
        persona=np.concatenate([zeros, zeros]),
        n_exposed=np.concatenate([mean_m, data.exposed_at_share]),
        at_risk=np.concatenate([d, data.shared.astype(np.int64)]),
        shared=np.concatenate([zeros, data.shared.astype(np.int64)]),
    )


GROUPS2_SPEC = ModelSpec.of(
    GROUPS2_MAP,
    GROUPS2_ODE,
    "two susceptibility groups: offline alpha, online beta_1 >= beta_2, share_1",
    estimator=SIGroups2Estimator,
    data=("agents", "exposures"),
    curve_fit=True,
    effective_curve_rates=("beta_1", "beta_2"),
    starts=spread_starts(
        {"alpha": 0.005, "beta_1": 0.12, "beta_2": 0.03, "share_1": 0.5}, shares=("share_1",)
    ),
)
