"""Conversion between per-round probabilities and continuous-time hazards.

A per-round probability ``p`` and a hazard ``h`` (events per unit time, one unit = one round)
describe the same waiting time for a single, constant-rate channel when

    h = -log(1 - p),        p = 1 - exp(-h).

This is also the scale on which the rule of DESIGN section 2 is additive:
``1 - (1 - alpha)(1 - beta)^m = 1 - exp(-(h_alpha + m h_beta))``. It is exact for one isolated
channel; for the spread as a whole the discrete maps and the ODEs differ at second order in the
rates (the ODE lets a neighbour informed in the middle of a round act in that round).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from spillover.exceptions import ConfigError

__all__ = ["hazard_to_probability", "probability_to_hazard"]


def probability_to_hazard(p: ArrayLike) -> np.ndarray:
    """The hazard ``h = -log(1 - p)`` of a per-round probability.

    Parameters
    ----------
    p : float or array_like
        Per-round probabilities in [0, 1]; ``p = 1`` gives ``h = inf``.

    Returns
    -------
    ndarray of float64, shape of ``p``
        Hazards per round, >= 0 (``log1p`` keeps full precision for small ``p``).

    Raises
    ------
    ConfigError
        If a value is not in [0, 1].
    """
    arr = np.asarray(p, dtype=np.float64)
    bad = ~((arr >= 0.0) & (arr <= 1.0))
    if bad.any():
        raise ConfigError(
            f"probability_to_hazard: p must be a probability in [0, 1]; "
            f"got {arr.ravel()[np.argmax(bad.ravel())]}"
        )
    with np.errstate(divide="ignore"):
        return np.asarray(-np.log1p(-arr), dtype=np.float64)


def hazard_to_probability(h: ArrayLike, dt: float = 1.0) -> np.ndarray:
    """The probability ``p = 1 - exp(-h dt)`` of at least one event in ``dt`` rounds.

    Parameters
    ----------
    h : float or array_like
        Hazards per round, >= 0 (``inf`` allowed, giving 1).
    dt : float
        Length of the interval in rounds (default one round).

    Returns
    -------
    ndarray of float64, shape of ``h``

    Raises
    ------
    ConfigError
        If a hazard is negative or NaN, or ``dt`` is negative or not finite.
    """
    arr = np.asarray(h, dtype=np.float64)
    bad = ~(arr >= 0.0)
    if bad.any():
        raise ConfigError(
            f"hazard_to_probability: h must be a hazard >= 0; "
            f"got {arr.ravel()[np.argmax(bad.ravel())]}"
        )
    if not (np.isfinite(dt) and dt >= 0.0):
        raise ConfigError(f"hazard_to_probability: dt must be finite and >= 0; got {dt!r}")
    with np.errstate(invalid="ignore"):
        out = -np.expm1(-arr * dt)
    # inf * 0 (an infinite hazard over no time) is nan: no time, no event.
    return np.asarray(np.where(np.isnan(out), 0.0, out), dtype=np.float64)
