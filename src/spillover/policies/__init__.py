"""Policies: the probability that a candidate agent shares in a round (the Policy seam)."""

from spillover.policies._default import (
    ALPHA_EFFECTS,
    ALPHA_HAZARD,
    BETA_EFFECTS,
    BETA_HAZARD,
    DEFAULT_EVENT_MULTIPLIERS,
    default_persona_policy,
)
from spillover.policies._llm import INVALID_RULES, LLM_MODES, PROBABILITY_SOURCES, LLMPolicy
from spillover.policies._llm_archetype import ArchetypeLLMPolicy
from spillover.policies._llm_feed import POST_STATUSES, FeedAnswers, FeedCandidate, FeedLLMPolicy
from spillover.policies._parametric import (
    ConstantPolicy,
    PersonaPolicy,
    scale_hazard,
    share_probability,
)
from spillover.policies._protocol import ExposureBatch, Policy, checked_probabilities
from spillover.policies._tabulated import (
    ANSWER_FROM_LOGPROBS,
    ANSWER_FROM_UNKNOWN,
    ANY_EVENT,
    DEFAULT_BUCKETS,
    ExposureBuckets,
    TabulatedPolicy,
    event_offline_reach,
    salience,
    with_offline_reach,
)

__all__ = [
    "ALPHA_EFFECTS",
    "ALPHA_HAZARD",
    "ANSWER_FROM_LOGPROBS",
    "ANSWER_FROM_UNKNOWN",
    "ANY_EVENT",
    "BETA_EFFECTS",
    "BETA_HAZARD",
    "DEFAULT_BUCKETS",
    "DEFAULT_EVENT_MULTIPLIERS",
    "INVALID_RULES",
    "LLM_MODES",
    "POST_STATUSES",
    "PROBABILITY_SOURCES",
    "ArchetypeLLMPolicy",
    "ConstantPolicy",
    "ExposureBatch",
    "ExposureBuckets",
    "FeedAnswers",
    "FeedCandidate",
    "FeedLLMPolicy",
    "LLMPolicy",
    "PersonaPolicy",
    "Policy",
    "TabulatedPolicy",
    "checked_probabilities",
    "default_persona_policy",
    "event_offline_reach",
    "salience",
    "scale_hazard",
    "share_probability",
    "with_offline_reach",
]
