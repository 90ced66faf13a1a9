"""The coupled models' maps and ODEs, defined in :mod:`spillover.models` (below the model
registry, which holds them as entries of kind ``coupled``)."""

from spillover.models import (
    LOOP_MF_MAP,
    LOOP_MF_ODE,
    LOOP_PAIR_MAP,
    LOOP_PAIR_ODE,
    CoupledCurves,
    coupled_map,
)

__all__ = [
    "LOOP_MF_MAP",
    "LOOP_MF_ODE",
    "LOOP_PAIR_MAP",
    "LOOP_PAIR_ODE",
    "CoupledCurves",
    "coupled_map",
]
