"""The catalog of the 32 Big Five personas, in a fixed order.

Every persona is one high/low combination of the five traits in :data:`TRAITS` (OCEAN order).
Persona ``i`` is high on trait ``j`` exactly when bit ``4 - j`` of ``i`` is set, so openness is
the most significant bit::

    index  code          meaning
    0      O-C-E-A-N-    low on all five
    1      O-C-E-A-N+    high neuroticism only
    16     O+C-E-A-N-    high openness only
    31     O+C+E+A+N+    high on all five

This order is a file contract: the ``persona`` column (0-31) of every output table uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from spillover.exceptions import PersonaError

__all__ = [
    "ADJECTIVES",
    "N_PERSONAS",
    "N_TRAITS",
    "PERSONAS",
    "PROMPT_VERSION",
    "TRAITS",
    "Levels",
    "Persona",
    "persona",
    "persona_from_code",
    "trait_matrix",
]

#: The Big Five traits in OCEAN order; position ``j`` is bit ``4 - j`` of a persona index.
TRAITS: Final[tuple[str, str, str, str, str]] = (
    "openness",
    "conscientiousness",
    "extraversion",
    "agreeableness",
    "neuroticism",
)
N_TRAITS: Final[int] = len(TRAITS)
N_PERSONAS: Final[int] = 2**N_TRAITS

#: Version of the system-prompt text; cached LLM answers key on it, so bump it whenever
#: :attr:`Persona.system_prompt` changes in any way.
PROMPT_VERSION: Final[str] = "persona-v1"

Levels: TypeAlias = tuple[bool, bool, bool, bool, bool]

#: One adjective per trait and level, as ``(low, high)`` so that ``ADJECTIVES[t][level]``
#: indexes by the boolean level directly.
ADJECTIVES: Final[MappingProxyType[str, tuple[str, str]]] = MappingProxyType(
    {
        "openness": ("traditional", "open"),
        "conscientiousness": ("spontaneous", "organised"),
        "extraversion": ("reserved", "extraverted"),
        "agreeableness": ("critical", "cooperative"),
        "neuroticism": ("calm", "anxious"),
    }
)

# The letters of the compact code; the first letters of TRAITS, upper case.
_LETTERS: Final[str] = "OCEAN"

# Everyday second-person descriptions, (low, high) per trait. They describe temperament only:
# how an agent answers (format, probabilities) belongs to the prompt templates in ``llm``.
_PROMPT_SENTENCES: Final[dict[str, tuple[str, str]]] = {
    "openness": (
        "You are practical and traditional: you prefer the familiar to the new, stick to the "
        "views and routines you know, and have little patience for abstract or unusual ideas.",
        "You are curious and open-minded: you enjoy new ideas, art and unfamiliar points of "
        "view, and you like to think things through in your own way.",
    ),
    "conscientiousness": (
        "You are spontaneous and easy-going: you act on impulse, rarely plan ahead and do not "
        "worry much about details.",
        "You are organised and careful: you plan ahead, pay attention to detail and think "
        "about the consequences before you act.",
    ),
    "extraversion": (
        "You are reserved and quiet: you prefer small circles or time alone, keep most of your "
        "thoughts to yourself and rarely seek attention.",
        "You are outgoing and sociable: you enjoy being around people, like to talk and be "
        "noticed, and get energy from company.",
    ),
    "agreeableness": (
        "You are critical and sceptical of others: you question people's motives, speak your "
        "mind bluntly and do not mind an argument.",
        "You are warm and cooperative: you trust people, care about how others feel and try to "
        "avoid conflict.",
    ),
    "neuroticism": (
        "You are calm and emotionally steady: you rarely worry, take bad news in your stride "
        "and stay composed under stress.",
        "You are anxious and easily upset: you worry a lot, react strongly to bad news and your "
        "mood changes quickly.",
    ),
}

_PROMPT_OPENING: Final[str] = (
    "You are a user of a social media platform. In your feed you see the posts of the people "
    "you follow."
)
_PROMPT_CLOSING: Final[str] = "On the platform you act as the person described here would."


def _levels_of(index: int) -> Levels:
    o, c, e, a, n = (bool((index >> (N_TRAITS - 1 - j)) & 1) for j in range(N_TRAITS))
    return (o, c, e, a, n)


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _check_index(index: object, name: str = "index") -> int:
    # bool is an int subclass, but persona True would be a silent bug, not a persona.
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise PersonaError(
            f"{name} must be an integer persona index in 0..{N_PERSONAS - 1}; "
            f"got {index!r} of type {type(index).__name__}"
        )
    if not 0 <= index < N_PERSONAS:
        raise PersonaError(f"{name} must be in 0..{N_PERSONAS - 1}; got {int(index)}")
    return int(index)


@dataclass(frozen=True, slots=True)
class Persona:
    """One of the 32 Big Five personality profiles.

    Build personas with :func:`persona` or take them from :data:`PERSONAS`; the constructor
    checks that ``levels`` agrees with the bit convention of ``index``.

    Parameters
    ----------
    index
        Position in the catalog, 0-31. Bit ``4 - j`` is the level of ``TRAITS[j]``.
    levels
        Shape (5,): the level of each trait in :data:`TRAITS` order, ``True`` meaning high.

    Raises
    ------
    PersonaError
        If ``index`` is out of range or ``levels`` does not match it.
    """

    index: int
    levels: Levels

    def __post_init__(self) -> None:
        index = _check_index(self.index)
        expected = _levels_of(index)
        if not isinstance(self.levels, tuple) or self.levels != expected:
            raise PersonaError(
                f"levels must match the bits of index {index} (openness first), i.e. "
                f"{expected}; got {self.levels!r}"
            )

    def is_high(self, trait: str) -> bool:
        """Whether the persona is high on ``trait`` (one of :data:`TRAITS`)."""
        if trait not in TRAITS:
            raise PersonaError(f"trait must be one of {list(TRAITS)}; got {trait!r}")
        return self.levels[TRAITS.index(trait)]

    @property
    def code(self) -> str:
        """Compact label, e.g. ``"O+C-E+A-N+"`` (letter per trait, ``+`` high, ``-`` low)."""
        return "".join(
            f"{letter}{'+' if hi else '-'}"
            for letter, hi in zip(_LETTERS, self.levels, strict=True)
        )

    @property
    def adjectives(self) -> tuple[str, str, str, str, str]:
        """Shape (5,): the adjective of each trait's level, in :data:`TRAITS` order."""
        o, c, e, a, n = (ADJECTIVES[t][hi] for t, hi in zip(TRAITS, self.levels, strict=True))
        return (o, c, e, a, n)

    @property
    def label(self) -> str:
        """Readable label, e.g. ``"open, spontaneous, extraverted, critical, anxious"``."""
        return ", ".join(self.adjectives)

    @property
    def description(self) -> str:
        """One sentence naming the adjectives and which traits are high and which low."""
        words = list(self.adjectives)
        article = "An" if words[0][0] in "aeiou" else "A"
        high = [t for t, hi in zip(TRAITS, self.levels, strict=True) if hi]
        low = [t for t, hi in zip(TRAITS, self.levels, strict=True) if not hi]
        if not low:
            levels = "high in all five traits"
        elif not high:
            levels = "low in all five traits"
        else:
            levels = f"high in {_join(high)}; low in {_join(low)}"
        return f"{article} {_join(words)} person: {levels}."

    @property
    def system_prompt(self) -> str:
        """The system prompt of an LLM agent with this persona (see :data:`PROMPT_VERSION`).

        Second person, one everyday sentence per trait, and the setting (a user of a social
        media platform who sees posts from the people it follows). It says nothing about the
        form of the answer.
        """
        traits = "\n".join(
            f"- {_PROMPT_SENTENCES[t][hi]}" for t, hi in zip(TRAITS, self.levels, strict=True)
        )
        return f"{_PROMPT_OPENING}\n\nYour personality:\n{traits}\n\n{_PROMPT_CLOSING}"


#: All 32 personas in catalog order; ``PERSONAS[i].index == i``.
PERSONAS: Final[tuple[Persona, ...]] = tuple(Persona(i, _levels_of(i)) for i in range(N_PERSONAS))

_BY_CODE: Final[MappingProxyType[str, Persona]] = MappingProxyType({p.code: p for p in PERSONAS})


def persona(index: int) -> Persona:
    """The persona at position ``index`` of the catalog.

    Parameters
    ----------
    index
        Integer in 0..31.

    Returns
    -------
    Persona

    Raises
    ------
    PersonaError
        If ``index`` is not an integer or is out of range.
    """
    return PERSONAS[_check_index(index)]


def persona_from_code(code: str) -> Persona:
    """The persona with compact code ``code``, e.g. ``"O+C-E+A-N+"``.

    Letters must come in OCEAN order, each followed by ``+`` (high) or ``-`` (low). Surrounding
    whitespace and lower-case letters are accepted.

    Raises
    ------
    PersonaError
        If ``code`` is not a string of that form.
    """
    if not isinstance(code, str):
        raise PersonaError(
            f"code must be a string such as 'O+C-E+A-N+'; got {code!r} of type "
            f"{type(code).__name__}"
        )
    found = _BY_CODE.get(code.strip().upper())
    if found is None:
        raise PersonaError(
            "code must be the letters O, C, E, A, N in that order, each followed by '+' or '-' "
            f"(e.g. 'O+C-E+A-N+'); got {code!r}"
        )
    return found


def trait_matrix() -> npt.NDArray[np.int8]:
    """The trait levels of every persona.

    Returns
    -------
    numpy.ndarray
        Shape (32, 5), int8, read-only: entry ``[i, j]`` is 1 when persona ``i`` is high on
        ``TRAITS[j]`` and 0 when low.
    """
    out = np.array([p.levels for p in PERSONAS], dtype=np.int8)
    out.flags.writeable = False
    return out
