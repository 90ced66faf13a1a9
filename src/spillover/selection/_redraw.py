"""Redrawing an LLM run's sampled answers: the bootstrap tables of its answer noise.

A sampled cell (k "yes" among n answers) is redrawn ``Binomial(n, p~) / n`` with ``p~`` its
empirical Bayes estimate within its exposure bucket (:func:`redraw_probabilities`), or its own
Jeffreys estimate; :mod:`spillover.selection._llm_noise` turns the refits of those tables into
intervals.
"""

from __future__ import annotations

import numpy as np

from spillover.policies import TabulatedPolicy

__all__ = [
    "HOMOGENEITY_LEVEL",
    "REDRAWS",
    "bootstrap_tables",
    "redraw_centre",
    "redraw_probabilities",
]

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
