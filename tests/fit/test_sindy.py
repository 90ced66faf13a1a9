"""Equation discovery: SINDy recovers the Bass equation from an exact ODE solution."""

from __future__ import annotations

import numpy as np
import pytest

from spillover.exceptions import ConfigError, FitError
from spillover.fit import discover_equation
from spillover.models import SI2_ODE, integrate
from spillover.trajectories import Curves


def _curves(frac: np.ndarray, n_nodes: int = 1_000_000) -> Curves:
    informed = np.round(frac * n_nodes).astype(np.int64)
    return Curves(informed[None, :, None], n_nodes=n_nodes)


def test_recovers_the_bass_coefficients_of_the_si2_ode() -> None:
    a, b, k = 0.004, 0.05, 8
    sol = integrate(SI2_ODE, {"a": a, "b": b, "degree": k}, np.array([0.002]), np.arange(61.0))
    eq = discover_equation(_curves(np.asarray(sol.informed)))
    assert eq.terms == ("1", "i", "i^2")
    bass = eq.bass_hazards()
    assert bass is not None
    # finite differences over whole rounds cost a few per cent
    assert bass["kb"] == pytest.approx(k * b, rel=0.03)
    assert bass["a"] == pytest.approx(a, rel=0.15)
    assert eq.r2 > 0.999
    assert eq.text().startswith("di/dt = ")


def test_errors() -> None:
    flat = _curves(np.full(20, 0.5))
    with pytest.raises(FitError, match="never changes"):
        discover_equation(flat)
    with pytest.raises(FitError, match="at least 5 rounds"):
        discover_equation(_curves(np.array([0.1, 0.2, 0.3])))
    with pytest.raises(ConfigError, match="degree"):
        discover_equation(_curves(np.linspace(0.1, 0.9, 10)), degree=0)
