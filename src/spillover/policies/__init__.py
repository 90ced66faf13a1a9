"""Policies: the probability that a candidate agent shares in a round (the Policy seam)."""

from spillover.policies._default import (
    ALPHA_EFFECTS,
    ALPHA_HAZARD,
    BETA_EFFECTS,
    BETA_HAZARD,
    DEFAULT_EVENT_MULTIPLIERS,
    default_persona_policy,
)
from spillover.policies._parametric import (
    ConstantPolicy,
    PersonaPolicy,
    scale_hazard,
    share_probability,
)
from spillover.policies._protocol import ExposureBatch, Policy, checked_probabilities

__all__ = [
    "ALPHA_EFFECTS",
    "ALPHA_HAZARD",
    "BETA_EFFECTS",
    "BETA_HAZARD",
    "DEFAULT_EVENT_MULTIPLIERS",
    "ConstantPolicy",
    "ExposureBatch",
    "PersonaPolicy",
    "Policy",
    "checked_probabilities",
    "default_persona_policy",
    "scale_hazard",
    "share_probability",
]
