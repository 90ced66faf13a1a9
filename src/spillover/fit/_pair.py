"""``pair``: the pair approximation on a k-regular graph, fitted to curves only.

Its rates are those of ``si2`` (``alpha``, ``beta``), so the report also draws it at the rates of
an agent-level ``si2`` fit. Its map follows pairs of neighbours of a k-regular graph; a curve
fit of it is refused for a run whose graph is not regular.
"""

from __future__ import annotations

from spillover.fit._spec import ModelSpec, spread_starts
from spillover.models import PAIR_MAP, PAIR_ODE

__all__ = ["PAIR_SPEC"]

PAIR_SPEC = ModelSpec.of(
    PAIR_MAP,
    PAIR_ODE,
    "pair approximation on a k-regular graph (rates alpha, beta)",
    curve_fit=True,
    needs_regular=True,
    starts=spread_starts({"alpha": 0.005, "beta": 0.05}),
)
