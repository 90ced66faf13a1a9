"""``si-dose-persona``: a free online rate per (persona, exposure level), named from the run.

``si-dose`` for each persona c: ``p(c, m) = 1 - (1 - alpha_c)(1 - online_j_c)`` for an agent of
persona c with m informed neighbours, m in exposure level j. The likelihood separates by
persona, so the fit is one ``si-dose`` fit per persona. Its parameters are named from the data:
the levels are the exposure counts seen in the run (or the buckets given to the estimator), so
a fit reports ``alpha_c`` and ``online_<label>_c`` for each level (``online_1_c``,
``online_2_c``, ..., ``online_8+_c``), each a tuple of 32 values in catalog order. The model's
registry entry (:data:`DOSE_PERSONA_SPEC`) names them from an exposure table
(``params_for``), finds them in a fitted mapping and turns them into its per-class dose map's
``alpha_c`` and ``online_m_c`` (one row per class, one column per exposure count), which is
how ``predict`` works.

The log-likelihood is the exact maximum: where the constraint ``g >= 0`` is slack for a persona
(no level shares less often than its level 0), the maximum is the saturated binomial one of its
(persona, level) cells, in closed form; the other personas are fitted by projected Newton.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from spillover._pool import unique_inverse
from spillover.exceptions import ConfigError
from spillover.fit._base import AgentData, checked_exposures
from spillover.fit._dose import _LevelledEstimator, dose_design, fit_used_columns, levels_for
from spillover.fit._hazard import HazardFit, loglik_at
from spillover.fit._persona import totals_by_persona_exposure
from spillover.fit._result import FitStatus
from spillover.fit._spec import DataParams, ModelSpec
from spillover.models import DOSE_PERSONA_MAP, DOSE_PERSONA_ODE
from spillover.personas import N_PERSONAS
from spillover.policies import ExposureBuckets

__all__ = [
    "DOSE_PERSONA_SPEC",
    "SIDosePersonaEstimator",
    "binomial_loglik",
    "dose_persona_levels",
    "dose_persona_names",
]

_NAME = "si-dose-persona"
_ONLINE = re.compile(r"online_(\d+)(?:-\d+|\+)?_c")
#: A level's share frequency may fall short of level 0's by this much and still count as
#: not below it (rounding of equal frequencies).
_SLACK_TOL = 1e-12


def binomial_loglik(n: np.ndarray, s: np.ndarray) -> float:
    """Maximised log-likelihood of independent binomial cells, each with its own p = s / n."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = s / n
        terms = np.where(s > 0, s * np.log(p), 0.0) + np.where(n > s, (n - s) * np.log1p(-p), 0.0)
    return float(terms.sum())


def dose_persona_names(levels: ExposureBuckets) -> tuple[str, ...]:
    """The fitted parameter names for exposure ``levels``: ``alpha_c``, ``online_<label>_c``."""
    return ("alpha_c", *(f"online_{label}_c" for label in levels.labels()[1:]))


def dose_persona_levels(params: Mapping[str, Any]) -> ExposureBuckets:
    """The exposure levels that the ``si-dose-persona`` names among ``params``' keys describe.

    Raises
    ------
    ConfigError
        Without ``alpha_c``, or when the ``online_<label>_c`` names are not consecutive levels
        ending in an open one (as a fit names them).
    """
    if "alpha_c" not in params:
        raise ConfigError(f"{_NAME}: params lack 'alpha_c' (the offline rate of each persona)")
    found: dict[int, str] = {}
    for key in params:
        match = _ONLINE.fullmatch(str(key))
        if match is not None:
            found[int(match.group(1))] = str(key)
    lowers = sorted(found)
    if lowers and lowers[0] == 0:
        raise ConfigError(f"{_NAME}: level 0 is the offline rate alpha_c; got {found[0]!r}")
    levels = ExposureBuckets((0, *lowers))
    expected = list(dose_persona_names(levels)[1:])
    got = [found[low] for low in lowers]
    if got != expected:
        raise ConfigError(
            f"{_NAME}: the online rates {got} are not consecutive exposure levels ending in an "
            f"open one; a fit on these levels names them {expected}"
        )
    return levels


def _own_names(params: Mapping[str, Any]) -> tuple[str, ...]:
    return dose_persona_names(dose_persona_levels(params))


def _names_for(data: Any, *, buckets: Any = None, **_: Any) -> tuple[str, ...]:
    """The names a fit on ``data`` reports (``buckets`` as the estimator takes them)."""
    table = checked_exposures(_NAME, data)
    return dose_persona_names(levels_for(table, buckets))


def _to_map(params: Mapping[str, Any], weights: np.ndarray | None) -> dict[str, Any]:
    """``alpha_c`` and ``online_m_c`` (classes x exposure counts 1..M) of the per-class map.

    Counts within a level share its rate; a level with no estimate for a persona (none of its
    agents was at risk there) takes the rate of the level below it (0 above level 0), as an
    unseen count does in ``si-dose``; a persona without estimates whose weight is 0 is left out
    (rates 0). A persona with agents but no estimate stays NaN, which the map refuses.
    """
    levels = dose_persona_levels(params)
    alpha = np.array(params["alpha_c"], dtype=np.float64)
    online_names = dose_persona_names(levels)[1:]
    if online_names:
        rates = np.stack([np.asarray(params[n], dtype=np.float64) for n in online_names], -1)
    else:
        rates = np.zeros((*alpha.shape, 0))
    filled = np.empty((*rates.shape[:-1], rates.shape[-1] + 1))
    filled[..., 0] = 0.0  # level 0: the offline rate only
    for j in range(rates.shape[-1]):
        below = filled[..., j]
        filled[..., j + 1] = np.where(np.isnan(rates[..., j]), below, rates[..., j])
    counts = np.arange(1, max(levels.lower[-1], 1) + 1)
    online = filled[..., levels.index(counts)]
    if weights is not None and weights.shape == alpha.shape[-1:]:
        absent = (weights == 0) & np.isnan(alpha)
        alpha = np.where(absent, 0.0, alpha)
        online = np.where(absent[..., None], 0.0, online)
    return {"alpha_c": alpha, "online_m_c": online}


def _cells(
    persona: np.ndarray, level: np.ndarray, n: np.ndarray, s: np.ndarray, n_levels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(persona, level, at_risk, shared) pooled per (persona, level) cell, in that order."""
    keys, inverse = unique_inverse(persona * n_levels + level)
    return keys // n_levels, keys % n_levels, np.bincount(inverse, n), np.bincount(inverse, s)


def _slack(persona: np.ndarray, level: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per persona (catalog order): no cell shares less often than the persona's level 0."""
    p0 = np.full(N_PERSONAS, -1.0)
    zero = level == 0
    p0[persona[zero]] = p[zero]
    slack = np.ones(N_PERSONAS, dtype=bool)
    np.logical_and.at(slack, persona, p >= p0[persona] - _SLACK_TOL)
    return slack


def _closed_form(
    level: np.ndarray, n: np.ndarray, s: np.ndarray, n_levels: int
) -> HazardFit | None:
    """The fit of one slack persona from its cells, when every estimate is inside its bounds:
    ``h_0 = -log(1 - p_0)``, ``g_j = -log(1 - p_j) - h_0``, with the inverse observed
    information ``p / (n (1 - p))`` of each cell's hazard. None otherwise (Newton fits it)."""
    p = s / n
    if level[0] != 0 or not np.all((p > 0) & (p < 1)) or not np.all(p[1:] > p[0]):
        return None
    h_cell = -np.log1p(-p)
    var_cell = p / (n * (1.0 - p))
    hazards = np.zeros(n_levels)
    hazards[level] = h_cell - np.where(level > 0, h_cell[0], 0.0)
    var = np.full(n_levels, np.nan)
    var[level] = var_cell + np.where(level > 0, var_cell[0], 0.0)
    return HazardFit(
        hazards=hazards,
        covariance=np.diag(var),
        loglik=binomial_loglik(n, s),
        at_bound=np.zeros(n_levels, dtype=bool),
        converged=True,
        message="closed form",
    )


class SIDosePersonaEstimator(_LevelledEstimator):
    """``si-dose-persona``: ``si-dose`` separately for each of the 32 personas.

    Parameters
    ----------
    buckets : ExposureBuckets, str or sequence of int, optional
        Exposure levels (lower edges); by default one level per exposure count seen.
    intervals : bool
        Accepted for the common signature; intervals are Wald intervals from the observed
        information (profiling 32 x levels rates would cost more than every other fit).

    ``theta_["alpha_c"]`` and ``theta_["online_<label>_c"]`` are tuples of 32 values in catalog
    order (NaN for a persona without agents at risk at that level); the names are
    ``get_model("si-dose-persona").params_for(table)``. ``levels_`` are the levels,
    ``hazards_`` the fitted hazards (levels x personas).
    """

    name: ClassVar[str] = _NAME

    def fit(self, exposures: AgentData) -> SIDosePersonaEstimator:
        table = checked_exposures(self.name, exposures)
        levels = self.levels_ = levels_for(table, self.buckets)
        n_levels = len(levels)
        persona, m, at_risk, shared = totals_by_persona_exposure(table)
        keep = at_risk > 0
        persona, m = persona[keep], m[keep]
        n, s = at_risk[keep].astype(np.float64), shared[keep].astype(np.float64)
        cell_persona, cell_level, cell_n, cell_s = _cells(persona, levels.index(m), n, s, n_levels)
        slack = _slack(cell_persona, cell_level, cell_s / cell_n)
        easy = slack[cell_persona]
        # The exact maximum: closed form over every slack persona's cells, then the others.
        loglik = binomial_loglik(cell_n[easy], cell_s[easy])
        n_params = int(easy.sum())
        hazards = np.full((n_levels, N_PERSONAS), math.nan)
        se = np.full((n_levels, N_PERSONAS), math.nan)
        names = dose_persona_names(levels)
        bound: list[str] = []
        failed: list[int] = []
        ridge: list[int] = []
        for c in np.unique(persona).tolist():
            fit, used = self._fit_persona(c, persona, m, n, s, levels, bool(slack[c]))
            if not slack[c]:
                loglik += fit.loglik
                n_params += int(np.linalg.matrix_rank(dose_design(m[persona == c], levels)))
            if not fit.converged:
                failed.append(c)
            if not fit.identifiable:
                ridge.append(c)
            rates = -np.expm1(-fit.hazards)
            sd = np.sqrt(np.diag(fit.covariance)) * (1.0 - rates)
            for j in np.flatnonzero(used):
                hazards[j, c] = fit.hazards[j]
                se[j, c] = sd[j]
                if fit.at_bound[j]:
                    bound.append(f"{names[j].removesuffix('_c')}_{c}")
        status, message = _status(ridge, bound, failed)

        def pack(values: np.ndarray) -> dict[str, tuple[float, ...]]:
            return {name: tuple(float(x) for x in values[j]) for j, name in enumerate(names)}

        self.hazards_ = hazards
        theta = pack(-np.expm1(-hazards))
        self._set_result(
            names,
            theta.values(),
            pack(se).values(),
            loglik,
            int(at_risk.sum()),
            status,
            message,
            n_params=n_params,
        )
        return self

    def _fit_persona(
        self,
        c: int,
        persona: np.ndarray,
        m: np.ndarray,
        n: np.ndarray,
        s: np.ndarray,
        levels: ExposureBuckets,
        slack: bool,
    ) -> tuple[HazardFit, np.ndarray]:
        """One persona's fit (closed form where it applies) and the levels it informs."""
        rows = persona == c
        design = dose_design(m[rows], levels)
        used = np.asarray(design.any(axis=0))
        if slack:
            level = levels.index(m[rows])
            keys, inverse = np.unique(level, return_inverse=True)
            closed = _closed_form(
                keys, np.bincount(inverse, n[rows]), np.bincount(inverse, s[rows]), len(levels)
            )
            if closed is not None:
                return closed, used
        fit, _, _ = fit_used_columns(design, n[rows], s[rows])
        return fit, used

    def loglik(self, exposures: AgentData) -> float:
        """Held-out log-likelihood; a level unseen for a persona in training scores -inf."""
        hazards = self._fitted("hazards_")
        exposures = checked_exposures(self.name, exposures)
        persona, m, at_risk, shared = totals_by_persona_exposure(exposures)
        level = self.levels_.index(m)
        if level.max(initial=0) >= hazards.shape[0]:
            raise ConfigError("held-out exposures beyond the fitted levels")
        h0 = hazards[0, persona]
        g = np.where(level > 0, hazards[level, persona], 0.0)
        z = h0 + g
        if np.isnan(z).any():
            return -math.inf
        return loglik_at(z, at_risk, shared)


def _status(ridge: list[int], bound: list[str], failed: list[int]) -> tuple[FitStatus, str]:
    status: FitStatus = "converged"
    notes: list[str] = []
    if ridge:
        status = "not-identified"
        notes.append(f"rates not separately identifiable for persona(s) {ridge}")
    if bound:
        if status == "converged":
            status = "bound"
        shown = ", ".join(bound[:8]) + (f" and {len(bound) - 8} more" if len(bound) > 8 else "")
        notes.append(f"estimates on the bound 0: {shown}")
    if failed:
        status = "failed"
        notes.append(f"no convergence for persona(s) {failed}")
    return status, "; ".join(notes)


#: ``si-dose-persona`` in the registry: its parameters are named from the run
#: (:class:`DataParams`), and it is fitted when named (``spillover fit --model
#: si-dose-persona``), not by default: the two-rates verdict reads its fit, and 32 x levels
#: rates would crowd every default listing.
DOSE_PERSONA_SPEC = ModelSpec.of(
    DOSE_PERSONA_MAP,
    DOSE_PERSONA_ODE,
    "offline rate and a free online rate per exposure level, for each persona",
    estimator=SIDosePersonaEstimator,
    data_params=DataParams(names=_names_for, own=_own_names, to_map=_to_map),
    fit_default=False,
)
