"""Argument checks shared by the graph builders; each raises :class:`GraphError` naming the caller,
the parameter, the rule and the value received."""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from spillover.exceptions import GraphError

__all__ = ["MAX_NODES", "check_count", "check_probability", "check_real"]

#: Largest number of nodes a :class:`Graph` may have: edge keys ``u * n_nodes + v`` must fit in
#: an int64.
MAX_NODES: Final = math.isqrt(2**63 - 1)


def check_count(func: str, name: str, value: object, *, minimum: int = 0) -> int:
    """``value`` as an ``int`` if it is an integer >= ``minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise GraphError(
            f"{func}: {name} must be an integer; got {value!r} of type {type(value).__name__}"
        )
    if value < minimum:
        raise GraphError(f"{func}: {name} must be >= {minimum}; got {name}={int(value)}")
    return int(value)


def check_real(func: str, name: str, value: object, *, low: float, high: float) -> float:
    """``value`` as a ``float`` if it is a finite real number in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise GraphError(
            f"{func}: {name} must be a real number; got {value!r} of type {type(value).__name__}"
        )
    number = float(value)
    if not (low <= number <= high):  # also refuses nan
        raise GraphError(f"{func}: {name} must be in [{low:g}, {high:g}]; got {name}={number!r}")
    return number


def check_probability(func: str, name: str, value: object) -> float:
    """``value`` as a ``float`` if it is a probability in ``[0, 1]``."""
    return check_real(func, name, value, low=0.0, high=1.0)
