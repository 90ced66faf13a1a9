"""``si-persona``: alpha_c and beta_c for each of the 32 personas.

The likelihood separates by persona, so the 64-parameter fit is 32 independent two-parameter
fits of the ``si2`` form on each persona's rows: exact, and fast whatever the table's size.
"""

from __future__ import annotations

import math

import numpy as np

from spillover._pool import unique_inverse
from spillover.fit._base import AgentData, ExposureEstimator, checked_exposures
from spillover.fit._hazard import fit_hazards, loglik_at, profile_interval
from spillover.fit._result import FitStatus
from spillover.fit._spec import ModelSpec, Overlay
from spillover.models import PERSONA_MAP, PERSONA_ODE
from spillover.personas import N_PERSONAS
from spillover.trajectories import ExposureTable

__all__ = ["PERSONA_SPEC", "SIPersonaEstimator", "totals_by_persona_exposure"]


def totals_by_persona_exposure(
    exposures: ExposureTable,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pool over replicates and rounds: (persona, n_exposed, at_risk, shared) per distinct key."""
    width = int(exposures.n_exposed.max()) + 1 if len(exposures) else 1
    key = exposures.persona.astype(np.int64) * width + exposures.n_exposed
    keys, inverse = unique_inverse(key)
    at_risk = np.bincount(inverse, weights=exposures.at_risk).astype(np.int64)
    shared = np.bincount(inverse, weights=exposures.shared).astype(np.int64)
    return keys // width, keys % width, at_risk, shared


class SIPersonaEstimator(ExposureEstimator):
    """``si-persona``: ``p = 1 - (1 - alpha_c)(1 - beta_c)^m`` for persona c.

    ``theta_["alpha_c"]`` and ``theta_["beta_c"]`` are tuples of 32 values in catalog order;
    a persona with no agent at risk gets NaN. Intervals are per-persona profile intervals.
    """

    name = "si-persona"

    def fit(self, exposures: AgentData) -> SIPersonaEstimator:
        exposures = checked_exposures(self.name, exposures)
        persona, m, at_risk, shared = totals_by_persona_exposure(exposures)
        est = np.full((2, N_PERSONAS), math.nan)
        hazards = np.full((2, N_PERSONAS), math.nan)
        se = np.full((2, N_PERSONAS), math.nan)
        # Covariance over (alpha_0..alpha_31, beta_0..beta_31): a 2 x 2 block per persona,
        # 0 between personas (fitted on their own rows), NaN for a persona without rows.
        cov = np.zeros((2 * N_PERSONAS, 2 * N_PERSONAS))
        low = np.full((2, N_PERSONAS), math.nan)
        high = np.full((2, N_PERSONAS), math.nan)
        loglik = 0.0
        bound: list[str] = []
        failed: list[int] = []
        empty: list[int] = []
        ridge: list[int] = []
        for c in range(N_PERSONAS):
            rows = persona == c
            if not rows.any():
                empty.append(c)
                cov[[c, N_PERSONAS + c], :] = cov[:, [c, N_PERSONAS + c]] = math.nan
                continue
            design = np.column_stack([np.ones(rows.sum()), m[rows]]).astype(np.float64)
            a, s = at_risk[rows].astype(np.float64), shared[rows].astype(np.float64)
            fit = fit_hazards(design, a, s)
            loglik += fit.loglik
            if not fit.converged:
                failed.append(c)
            if not fit.identifiable:
                ridge.append(c)
            rates = -np.expm1(-fit.hazards)
            hazards[:, c] = fit.hazards
            est[:, c] = rates
            se[:, c] = np.sqrt(np.diag(fit.covariance)) * (1.0 - rates)
            where = np.array([c, N_PERSONAS + c])
            cov[np.ix_(where, where)] = fit.covariance * np.outer(1.0 - rates, 1.0 - rates)
            for j in range(2):
                if fit.at_bound[j]:
                    bound.append(f"{('alpha', 'beta')[j]}_{c}")
                if self.intervals:
                    lo, hi = profile_interval(design, a, s, fit, j)
                    low[j, c], high[j, c] = -math.expm1(-lo), -math.expm1(-hi)
        status: FitStatus = "converged"
        notes = []
        if empty:
            notes.append(f"no agent at risk for persona(s) {empty}")
        if ridge:
            notes.append(f"rates not separately identifiable for persona(s) {ridge}")
        if bound:
            status = "bound"
            notes.append(f"estimates on the bound 0: {', '.join(bound)}")
        if failed:
            status = "failed"
            notes.append(f"no convergence for persona(s) {failed}")

        def pack(values: np.ndarray) -> dict[str, tuple[float, ...]]:
            return {
                "alpha_c": tuple(float(x) for x in values[0]),
                "beta_c": tuple(float(x) for x in values[1]),
            }

        # Held-out scoring uses the hazards: a rate of 1 has no finite -log(1 - rate).
        self.hazards_ = hazards
        names = ("alpha_c", "beta_c")
        ci = (pack(low), pack(high), "profile") if self.intervals else None
        values, errors = pack(est), pack(se)
        n_params = 2 * (N_PERSONAS - len(empty))
        self._set_result(
            names,
            values.values(),
            errors.values(),
            loglik,
            int(at_risk.sum()),
            status,
            "; ".join(notes),
            n_params=n_params,
            ci=ci,
            covariance=cov,
        )
        return self

    def loglik(self, exposures: AgentData) -> float:
        hazards = self._fitted("hazards_")
        table = checked_exposures(self.name, exposures, fitting=False)
        persona, m, at_risk, shared = totals_by_persona_exposure(table)
        h_alpha, h_beta = hazards[0, persona], hazards[1, persona]
        if np.isnan(h_alpha).any():
            return -math.inf  # a persona unseen in training cannot be scored
        return loglik_at(h_alpha + m * h_beta, at_risk, shared)


PERSONA_SPEC = ModelSpec.of(
    PERSONA_MAP,
    PERSONA_ODE,
    "alpha_c and beta_c for each of the 32 personas",
    estimator=SIPersonaEstimator,
    overlays=(Overlay("si-persona rates, mean field per persona", "si-persona"),),
    trait_effects=True,
)
