"""The 32 Big Five personas: the catalog in its fixed order, their prompt text, and assignment.

Persona ``i`` (0-31) is high on ``TRAITS[j]`` when bit ``4 - j`` of ``i`` is set (openness is the
most significant bit). See ``docs/personas.md`` for the full table.
"""

from __future__ import annotations

from spillover.personas._assign import (
    WeightsLike,
    assign_balanced,
    assign_weighted,
    validate_assignment,
)
from spillover.personas._catalog import (
    ADJECTIVES,
    N_PERSONAS,
    N_TRAITS,
    PERSONAS,
    PROMPT_VERSION,
    TRAITS,
    Levels,
    Persona,
    persona,
    persona_from_code,
    trait_matrix,
)

__all__ = [
    "ADJECTIVES",
    "N_PERSONAS",
    "N_TRAITS",
    "PERSONAS",
    "PROMPT_VERSION",
    "TRAITS",
    "Levels",
    "Persona",
    "WeightsLike",
    "assign_balanced",
    "assign_weighted",
    "persona",
    "persona_from_code",
    "trait_matrix",
    "validate_assignment",
]
