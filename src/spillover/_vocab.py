"""The option vocabularies, each declared once: a ``Literal`` type and the tuple of its values.

Every reader of an option takes its allowed values from here: :class:`spillover.config.
SimulationConfig` and :class:`spillover.config.LLMConfig` (which validate them), the config
file reader (:mod:`spillover.io`), the command line (``spillover simulate`` choices), the LLM
policy (:class:`spillover.policies.LLMPolicy`), the backend (``structured``) and the cache
(``CachedBackend``). The tuple is derived from the ``Literal`` (``get_args``), so the two cannot
drift apart. This module imports nothing of spillover, so every layer may read it.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "CACHE_MODES",
    "GRAPH_KINDS",
    "INVALID_RULES",
    "LLM_MODES",
    "POLICY_KINDS",
    "PROBABILITY_SOURCES",
    "REACH_SCALES",
    "STRUCTURED_MODES",
    "VOCABULARIES",
    "CacheMode",
    "GraphKind",
    "InvalidRule",
    "LLMMode",
    "PolicyKind",
    "ProbabilitySource",
    "ReachScale",
    "StructuredMode",
]

#: Graph generators (``graph``).
GraphKind = Literal["random-regular", "erdos-renyi", "watts-strogatz", "barabasi-albert"]
#: Share policies (``policy``).
PolicyKind = Literal["persona", "constant", "llm", "tabulated"]
#: Fidelity modes of LLM agents (``llm.mode``), also the answer formats of a request.
LLMMode = Literal["archetype", "feed"]
#: Where share probabilities come from (``llm.probability``).
ProbabilitySource = Literal["auto", "logprobs", "samples"]
#: JSON-schema structured output (``llm.structured``).
StructuredMode = Literal["auto", "json_schema", "off"]
#: What an answer still malformed or refused after retries counts as (``llm.invalid``).
InvalidRule = Literal["fail", "not_shared"]
#: How the answer cache is used (``llm.cache_mode``).
CacheMode = Literal["read_write", "read_only", "refresh", "off"]
#: How the offline reach depends on the event (``offline_reach_scale``).
ReachScale = Literal["none", "fatalities"]

GRAPH_KINDS: Final[tuple[str, ...]] = get_args(GraphKind)
POLICY_KINDS: Final[tuple[str, ...]] = get_args(PolicyKind)
LLM_MODES: Final[tuple[str, ...]] = get_args(LLMMode)
PROBABILITY_SOURCES: Final[tuple[str, ...]] = get_args(ProbabilitySource)
STRUCTURED_MODES: Final[tuple[str, ...]] = get_args(StructuredMode)
INVALID_RULES: Final[tuple[str, ...]] = get_args(InvalidRule)
CACHE_MODES: Final[tuple[str, ...]] = get_args(CacheMode)
REACH_SCALES: Final[tuple[str, ...]] = get_args(ReachScale)

#: Parameter (its nested name, as in library errors) -> the values it takes.
VOCABULARIES: Final[dict[str, tuple[str, ...]]] = {
    "graph": GRAPH_KINDS,
    "policy": POLICY_KINDS,
    "llm.mode": LLM_MODES,
    "llm.probability": PROBABILITY_SOURCES,
    "llm.structured": STRUCTURED_MODES,
    "llm.invalid": INVALID_RULES,
    "llm.cache_mode": CACHE_MODES,
    "offline_reach_scale": REACH_SCALES,
}
