"""Equation discovery (SINDy) on the mean informed-fraction curve.

Sparse regression of ``di/dt`` on a small polynomial library in ``i`` (pysindy: sequentially
thresholded least squares, derivatives by finite differences over rounds, one round = one time
unit). It assumes nothing about the mechanism, so it is a check on the fitted models rather than
one of them: for the continuous two-channel (Bass) model ``di/dt = (1 - i)(a + k b i)`` it should
find ``a + (k b - a) i - k b i^2``, whose coefficients give the offline hazard ``a`` and the
aggregate online hazard ``k b`` (per round). It has no likelihood, so it is not ranked with the
other models.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from spillover._extras import require_extra
from spillover.exceptions import ConfigError, FitError
from spillover.trajectories import Curves

__all__ = ["DiscoveredEquation", "discover_equation"]


@dataclass(frozen=True)
class DiscoveredEquation:
    """A sparse polynomial ODE for the informed fraction.

    Attributes
    ----------
    terms : tuple of str
        Library terms (``"1"``, ``"i"``, ``"i^2"``, ...).
    coefficients : tuple of float
        One per term; 0 where the term was pruned.
    r2 : float
        Coefficient of determination of the fitted derivative.
    threshold : float
        Pruning threshold of the sparse regression.
    """

    terms: tuple[str, ...]
    coefficients: tuple[float, ...]
    r2: float
    threshold: float

    def text(self) -> str:
        parts = []
        for term, c in zip(self.terms, self.coefficients, strict=True):
            if c == 0.0:
                continue
            body = f"{abs(c):.4g}" if term == "1" else f"{abs(c):.4g} {term}"
            parts.append(("- " if c < 0 else "+ ") + body)
        rhs = " ".join(parts).removeprefix("+ ") if parts else "0"
        return f"di/dt = {rhs}"

    def bass_hazards(self) -> dict[str, float] | None:
        """``a`` (offline) and ``kb`` (online, aggregate) if the equation has the Bass form."""
        coef = dict(zip(self.terms, self.coefficients, strict=True))
        if set(t for t, c in coef.items() if c != 0.0) - {"1", "i", "i^2"}:
            return None
        a, kb = coef.get("1", 0.0), -coef.get("i^2", 0.0)
        return {"a": a, "kb": kb} if kb > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": "sindy",
            "equation": self.text(),
            "terms": list(self.terms),
            "coefficients": list(self.coefficients),
            "r2": self.r2,
            "threshold": self.threshold,
            "bass_hazards": self.bass_hazards(),
        }


def discover_equation(
    curves: Curves, *, degree: int = 2, threshold: float = 1e-3
) -> DiscoveredEquation:
    """SINDy on the replicates' mean informed fraction.

    Parameters
    ----------
    curves : Curves
    degree : int
        Highest power of ``i`` in the library (1 to 4).
    threshold : float
        Coefficients below this (in fraction per round) are pruned.

    Raises
    ------
    ConfigError
        Bad ``degree`` or ``threshold``.
    FitError
        Fewer than 5 rounds, or a curve that never moves.
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or not 1 <= degree <= 4:
        raise ConfigError(f"sindy: degree must be an integer in 1..4; got {degree!r}")
    if not (threshold >= 0.0 and math.isfinite(threshold)):
        raise ConfigError(f"sindy: threshold must be finite and >= 0; got {threshold}")
    frac = curves.fraction().mean(axis=0)
    if frac.size < 5:
        raise FitError("sindy needs at least 5 rounds")
    if np.ptp(frac) == 0.0:
        raise FitError("sindy: the informed fraction never changes; nothing to discover")
    require_extra("sindy")
    import pysindy as ps

    model = ps.SINDy(
        feature_library=ps.PolynomialLibrary(degree=degree),
        optimizer=ps.STLSQ(threshold=threshold),
    )
    x = frac.reshape(-1, 1)
    with warnings.catch_warnings():
        # STLSQ warns when it prunes every term; the result (all zeros) says so itself.
        warnings.simplefilter("ignore", UserWarning)
        model.fit(x, t=1.0, feature_names=["i"])
        r2 = float(model.score(x, t=1.0))
    names = tuple(str(n).replace(" ", "") for n in model.get_feature_names())
    coefficients = tuple(float(c) for c in np.asarray(model.coefficients())[0])
    return DiscoveredEquation(terms=names, coefficients=coefficients, r2=r2, threshold=threshold)
