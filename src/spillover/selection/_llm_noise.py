"""The noise of an LLM's sampled answers in the fitted intervals.

When a cell of an LLM run's table (persona x exposure bucket) is the share of "yes" among n
sampled answers, the run was simulated with an estimate of the model's probability, not the
probability itself: a rerun of the same prompts would have given another table, another run and
other estimates. The engine's standard errors know nothing of that. This module

- summarises where the cells came from (:func:`llm_noise_of`) and flags sampled cells
  estimated at exactly 0 or 1, and the fits that may rest on them (:func:`flag_untrusted`);
- draws bootstrap tables (:func:`bootstrap_tables`): ``p*_cell ~ Binomial(n, p~) / n`` with
  ``p~`` the cell's empirical Bayes estimate within its bucket (:func:`redraw_probabilities`:
  the personas' rates in a bucket as Beta draws, so that a bucket whose cells differ no more
  than sampling would make them is redrawn from its pooled share, a 0/n cell included), or
  the cell's own Jeffreys ``(k + 1/2) / (n + 1)``; log-probability and unknown cells are kept
  as they are;
- combines the spread of the refits across those tables with the engine's standard errors
  (:func:`with_llm_noise`): ``se = sqrt(se_engine^2 + var_llm)``, and, given the fit of the
  run replayed with the table of ``p~`` (the *denoised* estimate), puts the interval around
  it as an effective-count interval: the Jeffreys interval of a binomial share of as many
  answers as the refits' spread implies (at most the answers to the offline prompt for an
  offline rate, its persona's for a per-persona one, :func:`offline_answers`), the engine's
  half-widths added in quadrature.

The re-simulation itself (same graph, personas and seed as the original run: common random
numbers, so the spread isolates the answers' noise) is :func:`spillover.pipeline.llm_noise_fit`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from spillover.fit import FitResult
from spillover.policies import TabulatedPolicy

if TYPE_CHECKING:
    from spillover.events import Event

__all__ = [
    "DEFAULT_LLM_NOISE_TABLES",
    "OFFLINE_RATES",
    "LLMNoise",
    "OfflineAnswers",
    "effective_answers",
    "flag_untrusted",
    "llm_noise_of",
    "offline_answers",
    "with_llm_noise",
]

#: Bootstrap tables ``spillover fit --llm-noise`` draws by default for a run with sampled cells
#: (the relative error of a bootstrap standard error is about 1 / sqrt(2 B): 11 % at 40).
DEFAULT_LLM_NOISE_TABLES = 40

_Z = 1.959963984540054

#: The parameters that are a run's offline rate (per round, the m = 0 hazard) in the
#: registered models; their intervals' effective number of answers is capped by the answers
#: to the offline prompt (:func:`offline_answers`): all of them for the pooled ``alpha``,
#: persona c's own for ``alpha_c[c]`` (:data:`_PER_PERSONA_RATES`).
OFFLINE_RATES = ("alpha", "alpha_c")
_PER_PERSONA_RATES = ("alpha_c",)


@dataclass(frozen=True)
class LLMNoise:
    """Where an LLM run's table came from and, after a bootstrap, the LLM share of the SEs.

    Attributes
    ----------
    sample_cells, logprob_cells, unknown_cells : int
        Cells of the table (with a value) whose probability came from n sampled answers, from
        log-probabilities, or from an unrecorded source.
    degenerate_cells : tuple of dict
        Sampled cells estimated at exactly 0 or 1 (``event``, ``persona``, ``bucket``,
        ``bucket_label``, ``p``, ``n``).
    untrusted : mapping of str to str
        Model -> why its fit may rest on a degenerate cell (a parameter at a bound of 0 or 1).
    n_tables : int
        Bootstrap tables drawn (0: no bootstrap).
    params : mapping
        Model -> parameter -> ``{"se_engine", "se_llm", "se", "llm_share"}`` (vectors as lists),
        with ``"denoised"`` (the estimate the interval is around) for a denoised bootstrap.
    notes : tuple of str
    redraw : {"shrunk", "jeffreys"}
        How the bootstrap redrew the sampled cells (:func:`redraw_probabilities`).
    denoised : bool
        Whether the intervals are around the denoised estimate (the fit of the run replayed
        with the table the bootstrap drew from) rather than the maximum-likelihood one
        (:func:`with_llm_noise`).
    """

    sample_cells: int
    logprob_cells: int
    unknown_cells: int
    degenerate_cells: tuple[dict[str, Any], ...] = ()
    untrusted: Mapping[str, str] = field(default_factory=dict)
    n_tables: int = 0
    params: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    redraw: str = "shrunk"
    denoised: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_cells": self.sample_cells,
            "logprob_cells": self.logprob_cells,
            "unknown_cells": self.unknown_cells,
            "degenerate_cells": [dict(c) for c in self.degenerate_cells],
            "untrusted": dict(self.untrusted),
            "bootstrap_tables": self.n_tables,
            "method": self._method() if self.n_tables else None,
            "redraw": self.redraw if self.n_tables else None,
            "estimate_shown": (
                None
                if not self.n_tables
                else "params: maximum likelihood; intervals around the denoised estimate"
                if self.denoised
                else "params: maximum likelihood; intervals around it"
            ),
            "params": {m: {p: dict(v) for p, v in d.items()} for m, d in self.params.items()},
            "notes": list(self.notes),
        }

    def _method(self) -> str:
        cells = (
            "p~ the cell's empirical Bayes estimate (shrunk to its bucket's pooled share)"
            if self.redraw == "shrunk"
            else "p~ = (k + 1/2) / (n + 1)"
        )
        text = (
            f"parametric bootstrap of the sampled cells, p* ~ Binomial(n, p~) / n with {cells},"
            " the run re-simulated with its own seed for each table and refitted; "
            "se = sqrt(se_engine^2 + se_llm^2)"
        )
        if self.denoised:
            text += (
                "; the refits are of the runs replayed with each bootstrap table's own p~ "
                "table, and the interval is around the fit of the run replayed with the p~ "
                "table (params.denoised): the Jeffreys interval of a binomial share of "
                "effective_answers answers (m (1 - m) / var of the refits, times (z / t_(B-1))^2; "
                "for an offline rate at most the sampled answers to the offline prompt, a "
                "per-persona rate's its persona's), each "
                "side combined in quadrature with the engine's half-width"
            )
        return text

    def model_fields(self, model: str) -> dict[str, Any]:
        """``se_engine``, ``se_llm``, ``se`` and ``llm_share`` per parameter of one model's
        ``--json`` entry (empty without a bootstrap of that model)."""
        got = self.params.get(model)
        if not got:
            return {}
        keys = ("se_engine", "se_llm", "se", "llm_share", "denoised")
        return {
            k: {p: v[k] for p, v in got.items()} for k in keys if all(k in v for v in got.values())
        }


def llm_noise_of(table: TabulatedPolicy) -> LLMNoise:
    """How many cells of ``table`` came from samples, log-probabilities or an unknown source,
    and the sampled cells estimated at exactly 0 or 1."""
    sample = logprob = unknown = 0
    degenerate = []
    for event_id, values in sorted(table.probabilities.items()):
        counts = table.samples_of(event_id)
        has = ~np.isnan(values)
        sample += int((has & (counts > 0)).sum())
        logprob += int((has & (counts == 0)).sum())
        unknown += int((has & (counts < 0)).sum())
        for c, b in np.argwhere(has & (counts > 0) & ((values == 0.0) | (values == 1.0))):
            degenerate.append(
                {
                    "event": event_id,
                    "persona": int(c),
                    "bucket": int(b),
                    "bucket_label": table.buckets.label(int(b)),
                    "p": float(values[c, b]),
                    "n": int(counts[c, b]),
                }
            )
    return LLMNoise(sample, logprob, unknown, tuple(degenerate))


def flag_untrusted(noise: LLMNoise, results: Sequence[FitResult]) -> LLMNoise:
    """Mark the fits whose feasibility may rest on a degenerate cell: with such cells in the
    table, a fit at a bound (a rate estimated at exactly 0 or 1) is not to be trusted."""
    if not noise.degenerate_cells:
        return noise
    zero_offline = any(c["bucket"] == 0 and c["p"] == 0.0 for c in noise.degenerate_cells)
    flagged: dict[str, str] = {}
    for result in results:
        at = [
            f"{name} = {value:g}"
            for name, value in result.params.items()
            if isinstance(value, float) and value in (0.0, 1.0)
        ]
        if not at and result.status not in ("bound", "infeasible"):
            continue
        why = f"{', '.join(at)} at its bound" if at else f"status {result.status}"
        if zero_offline and any(v.startswith("alpha") for v in at):
            why += " (sampled offline cells answered 'no' n times out of n)"
        flagged[result.model] = why
    return replace(noise, untrusted=flagged)


def _as_array(value: Any) -> np.ndarray:
    return np.atleast_1d(np.asarray(value, dtype=np.float64))


def _plain(x: np.ndarray, vector: bool) -> float | list[float]:
    return [float(v) for v in x] if vector else float(x[0])


def _jeffreys_bounds(x: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Jeffreys 95 % bounds of ``x`` "yes" out of ``n`` answers (both may be fractional):
    the 2.5 % and 97.5 % quantiles of Beta(x + 1/2, n - x + 1/2), 0 at x = 0 and 1 at x = n
    (Brown, Cai and DasGupta 2001)."""
    from scipy.stats import beta

    with np.errstate(invalid="ignore"):
        lo = beta.ppf(0.025, x + 0.5, n - x + 0.5)
        hi = beta.ppf(0.975, x + 0.5, n - x + 0.5)
    lo = np.where(x <= 0.0, 0.0, lo)
    hi = np.where(x >= n, 1.0, hi)
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def effective_answers(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of ``draws`` (B bootstrap refits of a rate, NaN where a refit lacks it),
    the number of answers a plain binomial share at the refits' mean level would need to
    spread as much as the refits do, ``m (1 - m) / var``, and the degrees of freedom of
    that variance (B - 1). ``inf`` where the refits do not vary (the answers add no noise);
    NaN where fewer than 2 refits are finite (no spread to read: the answers' noise is
    unknown, not absent)."""
    finite = np.isfinite(draws)
    enough = finite.sum(axis=0) >= 2
    dof = np.maximum(finite.sum(axis=0) - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # < 2 finite: NaN, handled below
        m = np.nanmean(draws, axis=0)
        var = np.nanvar(draws, axis=0, ddof=1)
        n = np.where(var > 0.0, m * (1.0 - m) / var, np.inf)
    return np.where(enough, np.nan_to_num(n, nan=np.inf), np.nan), dof


def offline_answers(table: TabulatedPolicy, event: Event | None) -> OfflineAnswers | None:
    """The sampled answers behind the offline rate of a run of ``event`` with ``table``.

    The entry of the table the run used (:meth:`TabulatedPolicy.table_for`), when every
    offline cell of it (bucket 0, each persona with a value) came from sampled answers: their
    number, in all and per persona (table row; 0 for a persona without an offline value), and
    the per-round offline reach the answers were scaled by
    (:func:`spillover.policies.event_offline_reach`; 1 for a table of per-round
    probabilities). None when some offline cell came from log-probabilities or an unknown
    source (its answers carry no, or unknown, sampling noise) or no cell has a value.
    """
    from spillover.policies import ANY_EVENT, event_offline_reach

    if event is not None and event.event_id in table.probabilities:
        key = event.event_id
    elif ANY_EVENT in table.probabilities:
        key = ANY_EVENT
    elif len(table.probabilities) == 1:
        key = next(iter(table.probabilities))
    else:
        return None
    has = ~np.isnan(table.probabilities[key][:, 0])
    counts = table.samples_of(key)[:, 0]
    n = counts[has]
    if n.size == 0 or (n <= 0).any():
        return None
    reach = event_offline_reach(table.offline_reach, event, table.offline_reach_scale)
    per_persona = tuple(int(x) for x in np.where(has, counts, 0))
    return OfflineAnswers(int(n.sum()), 1.0 if reach is None else float(reach), per_persona)


@dataclass(frozen=True)
class OfflineAnswers:
    """The sampled answers to the offline prompt a run's offline rate rests on: ``n`` answers
    in all, ``per_persona[c]`` of them persona c's (table rows; 0 where a persona's offline
    cell has no value), the rate being ``reach`` times their share (:func:`offline_answers`)."""

    n: int
    reach: float = 1.0
    per_persona: tuple[int, ...] = ()

    def cap(self, rate: np.ndarray, per_persona: bool = False) -> np.ndarray:
        """The effective number of answers of a binomial share at ``rate`` that is as noisy as
        ``reach`` times the share of ``n`` answers: ``n (1 - rate) / (reach (1 - rate /
        reach))`` (``n`` at reach 1); inf where ``rate`` is at or above the reach.

        ``per_persona``: ``rate`` is one rate per persona (``alpha_c``), each resting on its
        persona's answers only, so ``n`` is :attr:`per_persona` element-wise (inf for a
        persona with none); the total where the lengths differ (or no counts are recorded).
        """
        rate = np.asarray(rate, dtype=np.float64)
        r = self.reach
        n: np.ndarray | int = self.n
        if per_persona and len(self.per_persona) == rate.size:
            n = np.asarray(self.per_persona, dtype=np.float64).reshape(rate.shape)
        n = np.where(np.asarray(n) > 0, n, np.inf)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = n * (1.0 - rate) / (r * (1.0 - rate / r))
        return np.asarray(np.where((rate < r) & (r > 0.0), out, np.inf), dtype=np.float64)


def _denoised_interval(
    est: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    at: np.ndarray,
    draws: np.ndarray,
    cap: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interval around the denoised estimate ``at``: an effective-count interval for
    the answers' noise, with the engine's half-widths added in quadrature.

    The answers' part treats the denoised rate as a binomial share of ``n*`` answers and is
    its Jeffreys interval, that of ``n* at`` "yes" out of ``n*``. A binomial share's variance
    follows its level, ``p (1 - p) / n``, and the Jeffreys interval inverts a test at each
    candidate rate rather than using the variance measured at the estimate, so a rate read
    from a handful of "yes" answers (an offline rate of 0.02 from 320) gets the interval a
    binomial count of that size has: longer upwards when the count came out low, longer
    downwards when it came out high. ``n*`` is the effective number of answers of the
    bootstrap refits (:func:`effective_answers`, ``n = m (1 - m) / var`` at their mean level
    ``m``) times ``(z / t)^2``, ``t`` Student's quantile on B - 1 degrees of freedom (the
    variance is itself estimated from B refits: Korn and Graubard's degrees-of-freedom
    correction of an effective sample size), and at most ``cap`` (:meth:`OfflineAnswers.cap`
    for an offline rate: a rate cannot be known from the answers more precisely than from all
    the answers to its own prompt; the refits, replayed near the observed level, can claim
    more where the model's form lends the rate information from the other buckets). Each
    side is then ``sqrt(answers' half-width^2 + h^2)``, with ``h`` that side of the engine's
    interval of ``est``, rescaled to the level of ``at`` by ``sqrt(p (1 - p))`` (a profile
    interval keeps its asymmetry), and clipped to [0, 1]. Returns the bounds and ``n*``.
    """
    from scipy.stats import t as student

    n, dof = effective_answers(draws)
    at = np.clip(at, 0.0, 1.0)
    n_star = n * (_Z / student.ppf(0.975, dof)) ** 2
    if cap is not None:
        n_star = np.minimum(n_star, cap)
    finite = np.isfinite(n_star) & (n_star > 0.0)
    x = np.where(finite, n_star * at, 0.0)
    j_lo, j_hi = _jeffreys_bounds(x, np.where(finite, n_star, 1.0))
    wide_lo = np.where(finite, at - j_lo, 0.0)
    wide_hi = np.where(finite, j_hi - at, 0.0)
    inside = (est > 0.0) & (est < 1.0) & (at > 0.0) & (at < 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(inside, np.sqrt(at * (1.0 - at) / (est * (1.0 - est))), 1.0)
    half_lo = np.nan_to_num(est - lo) * scale
    half_hi = np.nan_to_num(hi - est) * scale
    new_lo = np.clip(at - np.sqrt(half_lo**2 + wide_lo**2), 0.0, 1.0)
    new_hi = np.clip(at + np.sqrt(half_hi**2 + wide_hi**2), 0.0, 1.0)
    return new_lo, new_hi, n_star


def with_llm_noise(
    results: Sequence[FitResult],
    refits: Mapping[str, Sequence[FitResult]],
    noise: LLMNoise,
    n_tables: int,
    centre: Mapping[str, FitResult] | None = None,
    offline: OfflineAnswers | None = None,
) -> tuple[list[FitResult], LLMNoise]:
    """The fits with total standard errors and intervals, and the noise record.

    ``refits[model]`` are the model's fits to the re-simulated runs (one per bootstrap table
    that could be fitted). For each parameter ``se_llm`` is their standard deviation,
    ``se = sqrt(se_engine^2 + se_llm^2)``, and each side of the engine's interval is widened
    to ``sqrt(half_width^2 + (1.96 se_llm)^2)`` (clipped to [0, 1]), which keeps a profile
    interval's asymmetry and is the Wald interval of ``se`` otherwise.

    ``centre[model]``, the model's fit to the run re-simulated with the denoised table the
    bootstrap drew from (:func:`redraw_centre`), is the **denoised estimate**: the interval is
    built around it as an effective-count (Jeffreys) interval for the answers' noise
    (:func:`_denoised_interval`; ``offline``, the answers behind the offline rate, caps the
    effective count of :data:`OFFLINE_RATES`) instead of around the maximum-likelihood
    estimate, whose sampled cells carry the bias of pooling personas whose sampled rates
    differ (the faster ones leave the risk set first). The estimate itself (``params``) stays
    the maximum-likelihood one; ``denoised`` (per parameter) is the interval's centre and
    ``effective_answers`` the effective count, and the total ``se`` (``stderr``) is that of
    the denoised estimator (``se_llm`` is the spread of the refits of denoised tables), so
    ``params +/- 1.96 stderr`` is not the interval shown: read the interval, or ``denoised``
    with ``se``.
    """
    out: list[FitResult] = []
    params: dict[str, dict[str, dict[str, Any]]] = {}
    notes = list(noise.notes)
    for result in results:
        fits = [r for r in refits.get(result.model, ()) if r.params]
        if not result.params or len(fits) < 2:
            if result.params and result.model in refits:
                notes.append(f"{result.model}: fewer than 2 bootstrap refits; SEs left as they are")
            out.append(result)
            continue
        if len(fits) < n_tables:
            notes.append(
                f"{result.model}: {n_tables - len(fits)} of {n_tables} bootstrap refits failed"
            )
        ref = centre.get(result.model) if centre is not None else None
        if centre is not None and ref is None:
            notes.append(
                f"{result.model}: the refit of the denoised table failed; its intervals are "
                "around the maximum-likelihood estimate"
            )
        stderr: dict[str, Any] = dict(result.stderr)
        low: dict[str, Any] = dict(result.ci_low)
        high: dict[str, Any] = dict(result.ci_high)
        per: dict[str, dict[str, Any]] = {}
        for name, value in result.params.items():
            # A vector whose length depends on the run (a rate per exposure count reached)
            # is compared only with refits of the same length.
            est = _as_array(value)
            same = [_as_array(f.params[name]) for f in fits if name in f.params]
            same = [x for x in same if x.size == est.size]
            if len(same) < 2:
                continue
            at = _as_array(ref.params.get(name, math.nan)) if ref is not None else est[:0]
            got = _noisy_param(
                result,
                name,
                np.array(same),
                at if at.size == est.size and np.isfinite(at).all() else None,
                offline if name in OFFLINE_RATES else None,
                notes,
            )
            vector = isinstance(value, tuple)
            for into, key in ((stderr, "se"), (low, "ci_low"), (high, "ci_high")):
                into[name] = tuple(float(x) for x in got[key]) if vector else float(got[key][0])
            per[name] = {
                k: _plain(got[k], vector)
                for k in ("se_engine", "se_llm", "se", "llm_share", "denoised")
                if k in got
            }
            if "effective_answers" in got:  # inf (the refits do not vary): null in JSON
                n_star = [float(x) if np.isfinite(x) else None for x in got["effective_answers"]]
                per[name]["effective_answers"] = n_star if vector else n_star[0]
        params[result.model] = per
        out.append(replace(result, stderr=stderr, ci_low=low, ci_high=high))
    done = replace(noise, n_tables=n_tables, params=params, notes=tuple(notes))
    return out, replace(done, denoised=centre is not None)


def _noisy_param(
    result: FitResult,
    name: str,
    draws: np.ndarray,
    at: np.ndarray | None,
    offline: OfflineAnswers | None,
    notes: list[str],
) -> dict[str, np.ndarray]:
    """One parameter of :func:`with_llm_noise`: its SEs, LLM share and interval (around the
    denoised estimate ``at`` where there is one), as arrays."""
    est = _as_array(result.params[name])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # < 2 finite: NaN, handled below
        se_llm = np.nanstd(draws, axis=0, ddof=1)
    se_eng = _as_array(result.stderr.get(name, math.nan))
    lo = _as_array(result.ci_low.get(name, math.nan))
    hi = _as_array(result.ci_high.get(name, math.nan))
    # At a bound the curvature gives no SE; the (profile) interval's wider side does.
    from_ci = ~np.isfinite(se_eng) & np.isfinite(lo) & np.isfinite(hi)
    if from_ci.any():
        se_eng = np.where(from_ci, np.maximum(est - lo, hi - est) / _Z, se_eng)
        notes.append(
            f"{result.model} {name}: se_engine read from its interval "
            "(wider side / 1.96; the curvature gives none at a bound)"
        )
    total = np.sqrt(se_eng**2 + se_llm**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, se_llm**2 / total**2, 0.0)
    got = {"se_engine": se_eng, "se_llm": se_llm, "se": total, "llm_share": share}
    if at is not None:
        cap = None
        if offline is not None:
            cap = offline.cap(np.clip(at, 0.0, 1.0), per_persona=name in _PER_PERSONA_RATES)
        got["ci_low"], got["ci_high"], n_star = _denoised_interval(est, lo, hi, at, draws, cap)
        got["denoised"] = at
        got["effective_answers"] = n_star
    else:
        wide = _Z * se_llm
        got["ci_low"] = np.clip(est - np.sqrt((est - lo) ** 2 + wide**2), 0.0, 1.0)
        got["ci_high"] = np.clip(est + np.sqrt((hi - est) ** 2 + wide**2), 0.0, 1.0)
    # With fewer than 2 finite refits of a value there is no spread to read: its noise from
    # the answers is unknown (not 0), so its SE and interval stay the engine's.
    unknown = np.isfinite(draws).sum(axis=0) < 2
    if unknown.any():
        got["se"] = np.where(unknown, se_eng, got["se"])
        got["llm_share"] = np.where(unknown, np.nan, got["llm_share"])
        got["ci_low"] = np.where(unknown, lo, got["ci_low"])
        got["ci_high"] = np.where(unknown, hi, got["ci_high"])
        which = "" if est.size == 1 else f" (elements {np.flatnonzero(unknown).tolist()})"
        notes.append(
            f"{result.model} {name}{which}: fewer than 2 finite bootstrap refits; the "
            "answers' noise could not be estimated and the SE and interval are the engine's"
        )
    return got
