"""The default persona policy: a documented heuristic prior for runs without an LLM.

It is NOT derived from any language model or fitted to any data. It encodes a plausible ordering
of the 32 Big Five profiles so that runs without a server show persona differences of a
realistic size, and so that estimators have heterogeneity to find. Replace it with an LLM
policy, or with rates of your own (:class:`~spillover.policies.PersonaPolicy`), for research.

The rates are built on the hazard scale. For persona c with trait levels ``x_cj`` (+1 high,
-1 low, traits in catalog order O, C, E, A, N)::

    beta_c  = 1 - exp(-BETA_HAZARD  * exp(sum_j BETA_EFFECTS[j]  * x_cj / 2))
    alpha_c = 1 - exp(-ALPHA_HAZARD * exp(sum_j ALPHA_EFFECTS[j] * x_cj / 2))

so each effect is the log hazard ratio between the high and the low level of a trait.

Online channel (``beta``, resharing what neighbours posted): extraversion raises it most
(sociable, posts often), then neuroticism (emotionally charged news is passed on), openness
(curious about news); conscientiousness lowers it (checks before posting); agreeableness has a
small positive effect (shares to keep in touch). Offline channel (``alpha``, posting the news
after meeting it outside the network): openness and extraversion raise it (follow news, talk to
people), conscientiousness a little (keeps informed), neuroticism a little; agreeableness none.

Event types scale both hazards: violence against civilians and explosions draw most attention,
strategic developments least.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from spillover.personas import trait_matrix
from spillover.policies._parametric import PersonaPolicy

__all__ = [
    "ALPHA_EFFECTS",
    "ALPHA_HAZARD",
    "BETA_EFFECTS",
    "BETA_HAZARD",
    "DEFAULT_EVENT_MULTIPLIERS",
    "default_persona_policy",
]

#: Baseline per-round hazards (at the midpoint of all traits).
ALPHA_HAZARD: Final[float] = 0.004
BETA_HAZARD: Final[float] = 0.07

#: Log hazard ratios, high vs low level, traits in catalog order (O, C, E, A, N).
BETA_EFFECTS: Final[tuple[float, ...]] = (0.3, -0.4, 0.7, 0.1, 0.4)
ALPHA_EFFECTS: Final[tuple[float, ...]] = (0.4, 0.2, 0.3, 0.0, 0.2)

#: (alpha factor, beta factor) on the hazards, by ACLED event type.
DEFAULT_EVENT_MULTIPLIERS: Final[dict[str, tuple[float, float]]] = {
    "Battles": (1.1, 1.1),
    "Violence against civilians": (1.3, 1.3),
    "Explosions/Remote violence": (1.3, 1.2),
    "Riots": (1.0, 1.1),
    "Protests": (0.9, 1.0),
    "Strategic developments": (0.6, 0.7),
}


def _rates(hazard: float, effects: tuple[float, ...]) -> np.ndarray:
    signs = 2.0 * trait_matrix().astype(np.float64) - 1.0  # +1 high, -1 low
    log_ratio = signs @ np.asarray(effects) / 2.0
    return np.asarray(-np.expm1(-hazard * np.exp(log_ratio)), dtype=np.float64)


def default_persona_policy() -> PersonaPolicy:
    """The heuristic persona prior described in this module's docstring."""
    return PersonaPolicy(
        alpha_by_persona=_rates(ALPHA_HAZARD, ALPHA_EFFECTS),
        beta_by_persona=_rates(BETA_HAZARD, BETA_EFFECTS),
        event_multipliers=DEFAULT_EVENT_MULTIPLIERS,
        name="default-persona",
    )
