"""``ArchetypeLLMPolicy``: one answer per (persona, event, exposure bucket), for the table engine.

The engine asks a policy once per run for every (persona, n_exposed) key; this policy sends one
request per distinct (persona, event, bucket) key, whatever the number of agents (see
:mod:`spillover.policies._llm` for how answers become probabilities).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from spillover.personas import N_PERSONAS, PERSONAS
from spillover.policies._llm import LLMPolicy
from spillover.policies._protocol import ExposureBatch
from spillover.policies._tabulated import TabulatedPolicy

if TYPE_CHECKING:
    from spillover.events import Event

__all__ = ["ArchetypeLLMPolicy"]


class ArchetypeLLMPolicy(LLMPolicy):
    """An :class:`LLMPolicy` in archetype mode: the prompt states the exposure bucket (how many
    of the people an agent follows shared the news), never an actual feed.

    Parameters are those of :class:`LLMPolicy`.
    """

    mode: ClassVar[Literal["archetype"]] = "archetype"
    default_max_tokens: ClassVar[int] = 32

    def _key_messages(self, persona: int, bucket: int, event: Event) -> tuple[tuple[str, str], ...]:
        from spillover.llm import archetype_messages

        low, high = self.buckets.bounds(bucket)
        return archetype_messages(PERSONAS[persona], event, low, high)

    def ask_ahead(self, event: Event, max_degree: int, personas: Iterable[int]) -> bool:
        """Ask every (persona, n_exposed) key of the personas present, as the engine will."""
        present = np.unique(np.asarray(list(personas), dtype=np.int64))
        persona, n_exposed = np.meshgrid(
            present, np.arange(max_degree + 1, dtype=np.int64), indexing="ij"
        )
        self.share_probability(
            ExposureBatch(persona=persona.ravel(), n_exposed=n_exposed.ravel()), event
        )
        return True

    def tabulate(
        self, events: Iterable[Event], personas: Iterable[int] | None = None
    ) -> TabulatedPolicy:
        """Ask every (persona, bucket) for ``events`` and return the full table."""
        chosen = sorted(set(range(N_PERSONAS) if personas is None else personas))
        events = list(events)
        for event in events:
            self._resolve_keys([(c, b) for c in chosen for b in range(len(self.buckets))], event)
        parts = [self.table(e) for e in events]
        return TabulatedPolicy(
            {k: v for t in parts for k, v in t.probabilities.items()},
            self.buckets,
            self.provenance(built_from="LLM answers"),
            self.offline_reach,
            self.offline_reach_scale,
            {k: v for t in parts for k, v in (t.answer_samples or {}).items()},
        )
