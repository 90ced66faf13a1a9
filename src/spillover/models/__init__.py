"""Deterministic mean-field models of the spread: discrete maps and their ODE counterparts.

Discrete maps match the engine's synchronous rounds (one application per round) and take the
per-round probabilities of DESIGN section 2; the ODEs take hazards per unit time (one unit = one
round). Every map returns the expected informed fraction after rounds 0..n_rounds from an
initial informed fraction ``i0 = n_seeds / n_nodes`` (seeds placed at random)::

    from spillover.models import pair_map, si2_map

    curve = pair_map(alpha=0.002, beta=0.05, degree=8, i0=0.005, n_rounds=60)  # (61,)

Models as values (the seam of DESIGN section 4): :class:`MapModel` and :class:`OdeModel` declare
state names, parameters with bounds and a pure map or right-hand side; :func:`iterate` and
:func:`integrate` drive them, and :data:`MAP_MODELS` / :data:`ODE_MODELS` list them by name.
Equations, assumptions, derivations and references: docs/models.md.
"""

from __future__ import annotations

from types import MappingProxyType

from spillover.models._base import (
    MapModel,
    OdeModel,
    Parameter,
    Params,
    ParamsLike,
    check_i0,
    check_n_rounds,
)
from spillover.models._coupled import (
    LOOP_MF_MAP,
    LOOP_MF_ODE,
    LOOP_PAIR_MAP,
    LOOP_PAIR_ODE,
    CoupledCurves,
    coupled_map,
)
from spillover.models._curves import (
    PairState,
    PersonaCurves,
    groups2_map,
    iterate,
    map_curve,
    pair_map,
    pair_map_state,
    persona_map,
    seeded_states,
    si2_map,
    si_map,
)
from spillover.models._dose import (
    DOSE2_MAP,
    DOSE2_ODE,
    DOSE_MAP,
    DOSE_ODE,
    DOSE_PERSONA_MAP,
    DOSE_PERSONA_ODE,
    exposure_weights,
)
from spillover.models._integrate import METHODS, Solution, integrate
from spillover.models._maps import GROUPS2_MAP, PAIR_MAP, PERSONA_MAP, SI2_MAP, SI_MAP
from spillover.models._odes import GROUPS2_ODE, PAIR_ODE, PERSONA_ODE, SI2_ODE, SI_ODE
from spillover.models._rates import hazard_to_probability, probability_to_hazard
from spillover.models._states import DEGREE, batch_shape

#: The discrete maps by model name (DESIGN section 2).
MAP_MODELS = MappingProxyType(
    {
        m.name: m
        for m in (
            SI_MAP,
            SI2_MAP,
            GROUPS2_MAP,
            PERSONA_MAP,
            PAIR_MAP,
            DOSE2_MAP,
            DOSE_MAP,
            DOSE_PERSONA_MAP,
        )
    }
)
#: The ODE models by model name.
ODE_MODELS = MappingProxyType(
    {
        m.name: m
        for m in (
            SI_ODE,
            SI2_ODE,
            GROUPS2_ODE,
            PERSONA_ODE,
            PAIR_ODE,
            DOSE2_ODE,
            DOSE_ODE,
            DOSE_PERSONA_ODE,
        )
    }
)

__all__ = [
    "DEGREE",
    "DOSE2_MAP",
    "DOSE2_ODE",
    "DOSE_MAP",
    "DOSE_ODE",
    "DOSE_PERSONA_MAP",
    "DOSE_PERSONA_ODE",
    "GROUPS2_MAP",
    "GROUPS2_ODE",
    "LOOP_MF_MAP",
    "LOOP_MF_ODE",
    "LOOP_PAIR_MAP",
    "LOOP_PAIR_ODE",
    "MAP_MODELS",
    "METHODS",
    "ODE_MODELS",
    "PAIR_MAP",
    "PAIR_ODE",
    "PERSONA_MAP",
    "PERSONA_ODE",
    "SI2_MAP",
    "SI2_ODE",
    "SI_MAP",
    "SI_ODE",
    "CoupledCurves",
    "MapModel",
    "OdeModel",
    "PairState",
    "Parameter",
    "Params",
    "ParamsLike",
    "PersonaCurves",
    "Solution",
    "batch_shape",
    "check_i0",
    "check_n_rounds",
    "coupled_map",
    "exposure_weights",
    "groups2_map",
    "hazard_to_probability",
    "integrate",
    "iterate",
    "map_curve",
    "pair_map",
    "pair_map_state",
    "persona_map",
    "probability_to_hazard",
    "seeded_states",
    "si2_map",
    "si_map",
]
