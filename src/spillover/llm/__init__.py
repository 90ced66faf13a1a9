"""LLM agents: the backend seam, an OpenAI-compatible backend, the answer cache, prompts.

This is the only package that talks to the network. ``openai`` and ``httpx`` are imported
inside :class:`OpenAITransport`'s methods, so importing this package stays light.

- :class:`LLMBackend` (the seam), :class:`OpenAIBackend`, :class:`FakeBackend`;
- the layers of a backend, thinnest first: a :class:`ChatTransport` sends one request to one
  server API and returns its :class:`Completion` (:class:`OpenAITransport`);
  :class:`RetryingPool` sends batches through it (or through replicas of one model, balanced by
  load) with bounded concurrency (at most a llama.cpp server's slots, else adaptive) and retries;
  :class:`AnsweringBackend` parses the answers and asks invalid ones again;
  :func:`transport_backend` stacks them over any transport (:class:`OpenAIBackend` is that
  stack over :class:`OpenAITransport`);
- :class:`CachedBackend` over a :class:`SQLiteStore` (modes read_write, read_only, refresh,
  off): answers committed as they arrive, so a killed run resumes;
- :class:`LLMRequest`, :class:`LLMResponse`, :class:`Accounting`;
- prompt templates (:func:`archetype_messages`, :func:`feed_messages`, versioned) and parsing;
- :class:`StandinServer`: a deterministic OpenAI-compatible server on 127.0.0.1 for tests and
  benchmarks;
- :class:`LocalServer`: the embedded llama.cpp server (``xllamacpp``) on 127.0.0.1 with the
  bundled SmolLM2-135M-Instruct or any GGUF file (:func:`model_file` reads and fingerprints one);
- :func:`build_backend`: the backend a run configuration describes.
"""

from spillover.llm._accounting import Accounting
from spillover.llm._answers import AnsweringBackend, transport_backend
from spillover.llm._backend import LLMBackend, ResponseCallback
from spillover.llm._build import build_backend
from spillover.llm._cache import CACHE_MODES, CachedBackend, CacheMode, SQLiteStore
from spillover.llm._fake import FakeBackend
from spillover.llm._gguf import ModelFile, bundled_gguf, model_file, read_gguf_metadata
from spillover.llm._local import LOCAL_HOST, LocalServer
from spillover.llm._openai import (
    NO_KEY,
    OpenAIBackend,
    OpenAITransport,
    normalise_base_url,
    props_url,
    shown_urls,
)
from spillover.llm._parse import (
    ParsedAnswer,
    clean_post,
    parse_answer,
    read_decision,
    share_probability_from_logprobs,
)
from spillover.llm._pool import (
    TIMEOUT_LATENCY_FACTOR,
    TIMEOUT_MIN_ANSWERS,
    Outcome,
    RetryingPool,
    prefix_order,
)
from spillover.llm._prompts import (
    ARCHETYPE_VERSION,
    FEED_VERSION,
    PERSONA_PROMPT_VERSION,
    archetype_messages,
    escape_data,
    feed_messages,
    prompt_version,
    response_schema,
)
from spillover.llm._retry import RetryPolicy, retry_after_seconds
from spillover.llm._standin import Faults, StandinServer, default_probability
from spillover.llm._transport import (
    ChatTransport,
    Completion,
    MalformedReply,
    SendAgain,
    Token,
    TransientFailure,
)
from spillover.llm._types import LLMRequest, LLMResponse

__all__ = [
    "ARCHETYPE_VERSION",
    "CACHE_MODES",
    "FEED_VERSION",
    "LOCAL_HOST",
    "NO_KEY",
    "PERSONA_PROMPT_VERSION",
    "TIMEOUT_LATENCY_FACTOR",
    "TIMEOUT_MIN_ANSWERS",
    "Accounting",
    "AnsweringBackend",
    "CacheMode",
    "CachedBackend",
    "ChatTransport",
    "Completion",
    "FakeBackend",
    "Faults",
    "LLMBackend",
    "LLMRequest",
    "LLMResponse",
    "LocalServer",
    "MalformedReply",
    "ModelFile",
    "OpenAIBackend",
    "OpenAITransport",
    "Outcome",
    "ParsedAnswer",
    "ResponseCallback",
    "RetryPolicy",
    "RetryingPool",
    "SQLiteStore",
    "SendAgain",
    "StandinServer",
    "Token",
    "TransientFailure",
    "archetype_messages",
    "build_backend",
    "bundled_gguf",
    "clean_post",
    "default_probability",
    "escape_data",
    "feed_messages",
    "model_file",
    "normalise_base_url",
    "parse_answer",
    "prefix_order",
    "prompt_version",
    "props_url",
    "read_decision",
    "read_gguf_metadata",
    "response_schema",
    "retry_after_seconds",
    "share_probability_from_logprobs",
    "shown_urls",
    "transport_backend",
]
