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
  it on the arcsine-square-root scale.

The re-simulation itself (same graph, personas and seed as the original run: common random
numbers, so the spread isolates the answers' noise) is :func:`spillover.pipeline.llm_noise_fit`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from spillover.fit import FitResult
from spillover.policies import TabulatedPolicy

__all__ = [
    "DEFAULT_LLM_NOISE_TABLES",
    "REDRAWS",
    "LLMNoise",
    "bootstrap_tables",
    "flag_untrusted",
    "llm_noise_of",
    "redraw_centre",
    "redraw_probabilities",
    "with_llm_noise",
]

#: Bootstrap tables ``spillover fit --llm-noise`` draws by default for a run with sampled cells
#: (the relative error of a bootstrap standard error is about 1 / sqrt(2 B): 11 % at 40).
DEFAULT_LLM_NOISE_TABLES = 40

_Z = 1.959963984540054


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
                "table (params.denoised), on the arcsine-square-root scale"
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


#: How :func:`bootstrap_tables` redraws a sampled cell: ``"shrunk"`` from the cell's empirical
#: Bayes estimate (the default), ``"jeffreys"`` from its own Jeffreys posterior mean.
REDRAWS = ("shrunk", "jeffreys")


#: Level of the test of a bucket's cells against one shared rate (:func:`_shrunk_column`), and
#: the columns drawn under that rate to calibrate it (a fixed stream: the result repeats).
HOMOGENEITY_LEVEL = 0.05
_NULL_DRAWS = 400


def _shrunk_column(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Empirical Bayes estimates of one bucket's sampled cells (k "yes" out of n each).

    The personas' probabilities in the bucket are taken as draws from a Beta distribution
    whose mean ``mu = (sum k + 1/2) / (sum n + 1)`` and variance ``tau^2`` (method of
    moments: the spread of ``k / n`` across cells less its binomial part) are estimated from
    the cells; each cell's estimate is its posterior mean ``(k + mu s) / (n + s)`` with
    ``s = mu (1 - mu) / tau^2 - 1``. Every cell gets ``mu`` when the spread is no larger than
    the binomial one, for a single cell, and when the spread is not significant at
    :data:`HOMOGENEITY_LEVEL` against columns drawn at one rate ``mu`` (a parametric test: with
    a few "yes" among many answers the moment estimate of ``tau^2`` is positive half the time
    under one rate, and shrinking by it would make the denoised estimate a jumpy function of
    the answers).
    """
    mu = float((k.sum() + 0.5) / (n.sum() + 1.0))
    inverse = float(np.mean(1.0 / n))
    if k.size < 2 or inverse >= 1.0:  # one cell, or single answers: no spread to read
        return np.full(k.shape, mu)
    # E var(k / n) = tau^2 (1 - E 1/n) + mu (1 - mu) E 1/n for Beta-distributed rates.
    tau2 = (float(np.var(k / n, ddof=1)) - mu * (1.0 - mu) * inverse) / (1.0 - inverse)
    if not tau2 > 0.0:
        return np.full(k.shape, mu)
    null = np.random.default_rng(0).binomial(n.astype(np.int64), mu, size=(_NULL_DRAWS, k.size))
    spread = float(np.var(k / n, ddof=1))
    if float(np.mean(np.var(null / n, axis=1, ddof=1) >= spread)) > HOMOGENEITY_LEVEL:
        return np.full(k.shape, mu)
    s = max(mu * (1.0 - mu) / tau2 - 1.0, 0.0)
    return np.asarray((k + mu * s) / (n + s), dtype=np.float64)


def redraw_probabilities(table: TabulatedPolicy, redraw: str = "shrunk") -> dict[str, np.ndarray]:
    """Per event, the probabilities the bootstrap draws each sampled cell's answers from.

    ``"shrunk"``: per exposure bucket, the empirical Bayes estimate of each persona's cell
    (:func:`_shrunk_column`): where the personas' answers differ no more than n samples of one
    probability would, every cell of the bucket gets the bucket's pooled share, so a cell
    answered "no" n times out of n is redrawn from its bucket's rate rather than from a
    per-cell guess. ``"jeffreys"``: each cell's own ``(k + 1/2) / (n + 1)``. Cells not from
    samples keep their value (NaN where the table has none).

    Raises
    ------
    ValueError
        For an unknown ``redraw``.
    """
    if redraw not in REDRAWS:
        raise ValueError(f"redraw must be one of {REDRAWS}; got {redraw!r}")
    out = {}
    for event_id, values in table.probabilities.items():
        n = table.samples_of(event_id)
        sampled = (n > 0) & ~np.isnan(values)
        new = np.array(values, dtype=np.float64)
        k = np.rint(np.where(sampled, values, 0.0) * np.maximum(n, 0))
        if redraw == "jeffreys":
            new[sampled] = (k[sampled] + 0.5) / (n[sampled] + 1.0)
        else:
            for b in range(values.shape[1]):
                rows = sampled[:, b]
                if rows.any():
                    new[rows, b] = _shrunk_column(k[rows, b], n[rows, b].astype(np.float64))
        out[event_id] = new
    return out


def redraw_centre(table: TabulatedPolicy, redraw: str = "shrunk") -> TabulatedPolicy:
    """The table of :func:`redraw_probabilities`: the bootstrap world's true table, whose
    re-simulated fit is the centre the bootstrap's bias is measured from."""
    return table.with_probabilities(redraw_probabilities(table, redraw))


def bootstrap_tables(
    table: TabulatedPolicy, n_tables: int, rng: np.random.Generator, redraw: str = "shrunk"
) -> list[TabulatedPolicy]:
    """``n_tables`` tables whose sampled cells are redrawn, ``Binomial(n, p~) / n`` with
    ``p~`` from :func:`redraw_probabilities` (``redraw`` ``"shrunk"``: the cell's empirical
    Bayes estimate; ``"jeffreys"``: ``(k + 1/2) / (n + 1)``); other cells are kept."""
    out = []
    cells = {k: table.samples_of(k) for k in table.probabilities}
    centre = redraw_probabilities(table, redraw)
    for _ in range(n_tables):
        drawn = {}
        for event_id, values in table.probabilities.items():
            n = cells[event_id]
            sampled = (n > 0) & ~np.isnan(values)
            new = np.array(values, dtype=np.float64)
            if sampled.any():
                nn = n[sampled]
                new[sampled] = rng.binomial(nn, centre[event_id][sampled]) / nn
            drawn[event_id] = new
        out.append(table.with_probabilities(drawn))
    return out


def _as_array(value: Any) -> np.ndarray:
    return np.atleast_1d(np.asarray(value, dtype=np.float64))


def _plain(x: np.ndarray, vector: bool) -> float | list[float]:
    return [float(v) for v in x] if vector else float(x[0])


def _arcsine(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.arcsin(np.sqrt(np.clip(x, 0.0, 1.0))), dtype=np.float64)


def _denoised_interval(
    est: np.ndarray, lo: np.ndarray, hi: np.ndarray, at: np.ndarray, draws: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The interval around the denoised estimate ``at`` on the arcsine-square-root scale.

    On ``t = arcsin(sqrt(p))`` a rate's sampling spread hardly depends on its level (the
    variance-stabilising transform of a binomial share), so the spread of the bootstrap
    refits, measured at the estimated rate, holds at the true one too; on the probability
    scale a rate estimated from a handful of "yes" answers (an offline rate of 0.02 from 320
    answers) would get too short an interval whenever it comes out low. Each side combines
    the engine's half-width (the engine interval of ``est`` on that scale) with the refits'
    standard deviation there times Student's t quantile on B - 1 degrees of freedom (the
    deviation is itself estimated from the B refits: 2.06 for B = 25).
    """
    from scipy.stats import t as student

    with np.errstate(invalid="ignore"):
        se_t = np.nanstd(_arcsine(draws), axis=0, ddof=1)
    dof = np.maximum(np.isfinite(draws).sum(axis=0) - 1, 1)
    t_est, t_at = _arcsine(est), _arcsine(at)
    half_lo = np.nan_to_num(t_est - _arcsine(lo))
    half_hi = np.nan_to_num(_arcsine(hi) - t_est)
    wide = student.ppf(0.975, dof) * np.nan_to_num(se_t)
    t_lo = np.clip(t_at - np.sqrt(half_lo**2 + wide**2), 0.0, np.pi / 2)
    t_hi = np.clip(t_at + np.sqrt(half_hi**2 + wide**2), 0.0, np.pi / 2)
    return np.sin(t_lo) ** 2, np.sin(t_hi) ** 2


def with_llm_noise(
    results: Sequence[FitResult],
    refits: Mapping[str, Sequence[FitResult]],
    noise: LLMNoise,
    n_tables: int,
    centre: Mapping[str, FitResult] | None = None,
) -> tuple[list[FitResult], LLMNoise]:
    """The fits with total standard errors and intervals, and the noise record.

    ``refits[model]`` are the model's fits to the re-simulated runs (one per bootstrap table
    that could be fitted). For each parameter ``se_llm`` is their standard deviation,
    ``se = sqrt(se_engine^2 + se_llm^2)``, and each side of the engine's interval is widened
    to ``sqrt(half_width^2 + (1.96 se_llm)^2)`` (clipped to [0, 1]), which keeps a profile
    interval's asymmetry and is the Wald interval of ``se`` otherwise.

    ``centre[model]``, the model's fit to the run re-simulated with the denoised table the
    bootstrap drew from (:func:`redraw_centre`), is the **denoised estimate**: the interval is
    built around it on the arcsine-square-root scale (:func:`_denoised_interval`) instead of
    around the maximum-likelihood estimate, whose sampled cells carry the bias of pooling
    personas whose sampled rates differ (the faster ones leave the risk set first). The
    estimate itself (``params``) stays the maximum-likelihood one; ``denoised`` (per
    parameter) is the interval's centre, and the total ``se`` (``stderr``) is that of the
    denoised estimator (``se_llm`` is the spread of the refits of denoised tables), so
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
            vector = isinstance(value, tuple)
            est = _as_array(value)
            # A vector whose length depends on the run (a rate per exposure count reached)
            # is compared only with refits of the same length.
            same = [_as_array(f.params[name]) for f in fits if name in f.params]
            same = [x for x in same if x.size == est.size]
            if len(same) < 2:
                continue
            draws = np.array(same)
            with np.errstate(invalid="ignore"):
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
            at = _as_array(ref.params.get(name, math.nan)) if ref is not None else est[:0]
            if at.size == est.size and np.isfinite(at).all():
                new_lo, new_hi = _denoised_interval(est, lo, hi, at, draws)
            else:
                wide = _Z * se_llm
                new_lo = np.clip(est - np.sqrt((est - lo) ** 2 + wide**2), 0.0, 1.0)
                new_hi = np.clip(est + np.sqrt((hi - est) ** 2 + wide**2), 0.0, 1.0)
            stderr[name] = tuple(float(x) for x in total) if vector else float(total[0])
            low[name] = tuple(float(x) for x in new_lo) if vector else float(new_lo[0])
            high[name] = tuple(float(x) for x in new_hi) if vector else float(new_hi[0])
            per[name] = {
                "se_engine": _plain(se_eng, vector),
                "se_llm": _plain(se_llm, vector),
                "se": _plain(total, vector),
                "llm_share": _plain(share, vector),
            }
            if at.size == est.size and np.isfinite(at).all():
                per[name]["denoised"] = _plain(at, vector)
        params[result.model] = per
        out.append(replace(result, stderr=stderr, ci_low=low, ci_high=high))
    done = replace(noise, n_tables=n_tables, params=params, notes=tuple(notes))
    return out, replace(done, denoised=centre is not None)
