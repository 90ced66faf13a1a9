"""The transport seam: send one request to one server API, return its raw completion.

A transport knows one wire format (OpenAI's chat completions, Ollama's ``/api/chat``, ...) and
nothing else: it turns an :class:`~spillover.llm.LLMRequest` into one HTTP call and the reply
into a :class:`Completion`. The layers above it are shared by every transport
(:func:`spillover.llm.transport_backend` stacks them):

- :class:`~spillover.llm.RetryingPool`: bounded concurrency (one connection per worker, an
  optional sweep-wide limiter), the deadline of each call, retries of transient failures with
  backoff and ``Retry-After``;
- :class:`~spillover.llm.AnsweringBackend`: parses each completion into an
  :class:`~spillover.llm.LLMResponse`, reads the share probability off the log-probabilities,
  asks invalid answers again with another seed, and redacts whatever leaves the layer;
- :class:`~spillover.llm.CachedBackend`, in front of any backend.

How a transport reports what went wrong decides what the pool does:

- :class:`TransientFailure` (rate limit, 5xx, connection error, a timeout of its own): retried
  after a wait (the server's ``retry_after`` when it gave one); ``overloaded`` (a rate limit,
  a timeout) also halves the pool's adaptive concurrency for that server;
- :class:`SendAgain`: the server refused an optional feature (structured output,
  log-probabilities), the transport has stopped asking for it: sent again at once, not counted
  as a retry;
- :class:`MalformedReply`: the body is not a readable completion: an invalid answer (asked
  again like a malformed one);
- :class:`~spillover.exceptions.LLMError`: a permanent failure (bad request, authentication,
  unknown model): the batch fails with this message.

Messages are redacted by the layers above (:func:`spillover._redact.redact`); a transport that
holds a credential of its own masks it in what it returns.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from spillover.llm._types import LLMRequest

__all__ = [
    "ChatTransport",
    "Completion",
    "MalformedReply",
    "SendAgain",
    "Token",
    "TransientFailure",
]


@dataclass(frozen=True)
class Token:
    """One token of a completion with its log-probability and the alternatives the server gave
    (``top_logprobs``), as :func:`spillover.llm.share_probability_from_logprobs` reads them."""

    token: str
    logprob: float
    top_logprobs: tuple[Token, ...] = ()


@dataclass(frozen=True)
class Completion:
    """What a server answered to one request, before any parsing of the answer.

    Attributes
    ----------
    text : str
        The completion text ("" when the server sent none).
    refusal : str or None
        A refusal the server gave instead of an answer (OpenAI's ``message.refusal``).
    truncated : bool
        The answer was cut at ``max_tokens`` (OpenAI's ``finish_reason == "length"``).
    logprobs : tuple of Token, or None
        The tokens of ``text`` with their log-probabilities; None when the server sent none.
    prompt_tokens, completion_tokens : int
        Token usage the server reported (0 when it reports none).
    prompt_cached, prompt_evaluated : int or None
        Of the prompt's tokens, those the server took from its prefix cache and those it read
        anew (llama.cpp's ``timings.cache_n`` and ``timings.prompt_n``); None when the server
        does not say.
    """

    text: str
    refusal: str | None = None
    truncated: bool = False
    logprobs: tuple[Token, ...] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_cached: int | None = None
    prompt_evaluated: int | None = None


class TransientFailure(Exception):
    """A failure worth retrying: rate limit, 5xx, timeout, connection error.

    Parameters
    ----------
    reason : str
        What happened, for the error raised when the retries run out.
    retry_after : float, optional
        The wait the server asked for, seconds (``Retry-After``).
    overloaded : bool
        The server is asking for less (a rate limit, a timeout): with adaptive concurrency
        the pool halves the requests it keeps in flight there.
    """

    def __init__(
        self, reason: str, *, retry_after: float | None = None, overloaded: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.overloaded = overloaded


class SendAgain(Exception):
    """The server refused an optional feature that the transport will not ask for again: send
    the same request again at once (not a retry)."""


class MalformedReply(Exception):
    """The reply was not a readable completion (the message says why); an invalid answer."""


@runtime_checkable
class ChatTransport(Protocol):
    """Sends one request to one server API and returns its completion.

    Attributes
    ----------
    base_url : str
        Where requests go, as shown in messages (redacted there).
    identity : str
        Who answers: part of every cache key, never a secret (usually ``base_url``).
    """

    base_url: str
    identity: str

    def connect(self) -> AbstractAsyncContextManager[Any]:
        """A connection for one worker of a batch (``async with``); the pool opens one per
        worker and closes it at the end of the batch (an ``httpx.AsyncClient`` will do)."""
        ...

    async def send(self, connection: Any, request: LLMRequest, *, seed: int) -> Completion:
        """One HTTP call: ``request`` sent with ``seed`` (it changes when an invalid answer is
        asked again); raises the signals of the module docstring."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-able description for manifests (no secrets)."""
        ...
