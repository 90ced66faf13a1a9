"""``AnsweringBackend``: completions parsed into answers, invalid ones asked again.

The layer above :class:`~spillover.llm.RetryingPool`, and the :class:`~spillover.llm.LLMBackend`
that the cache and the policies see. Each completion becomes an
:class:`~spillover.llm.LLMResponse`:

- the answer is parsed (:func:`~spillover.llm.parse_answer`: the JSON object, or yes/no in
  prose), and its share probability read off the answer token's log-probabilities when the
  request asked for them and the server sent them;
- a **malformed, refused or truncated answer**, or an unreadable reply, is asked again, up to
  ``invalid_retries`` times, with the next seed (``request.seed + 1``, ``+ 2``, ...), in a
  second wave once the first has arrived; an answer still invalid is returned as invalid, and
  the caller applies its rule;
- except in **feed mode**, where the post is the part a token limit cuts: a feed answer whose
  decision can be read but whose post cannot (cut at ``max_tokens``, or broken JSON after the
  ``"share"`` value) is valid, with ``post`` None and ``post_error`` saying why, and a feed
  answer cut at ``max_tokens`` is never asked again at the same limit (``truncated`` is set);
  :class:`~spillover.policies.FeedLLMPolicy` asks both again once with twice the limit;
- every answer leaves sanitised (:meth:`~spillover.llm.LLMResponse.sanitised`: credentials
  masked, texts bounded), whatever the server sent.

:func:`transport_backend` stacks the layers over any transport.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from spillover._redact import redact
from spillover.exceptions import ConfigError, LLMError
from spillover.llm._accounting import Accounting
from spillover.llm._backend import ResponseCallback
from spillover.llm._parse import (
    MAX_POST_CHARS,
    parse_answer,
    read_decision,
    share_probability_from_logprobs,
)
from spillover.llm._pool import Limiter, Outcome, RetryingPool
from spillover.llm._retry import RetryPolicy
from spillover.llm._transport import ChatTransport
from spillover.llm._types import LLMRequest, LLMResponse

__all__ = ["AnsweringBackend", "transport_backend"]


class AnsweringBackend:
    """An :class:`~spillover.llm.LLMBackend` over a :class:`RetryingPool` (see the module doc).

    Parameters
    ----------
    pool : RetryingPool
        Sends the requests (its accounting is this backend's).
    invalid_retries : int
        How many times a malformed or refused answer is asked again before it is returned as
        invalid.
    max_post_chars : int
        Feed-mode posts are cut to this length.
    """

    def __init__(
        self, pool: RetryingPool, *, invalid_retries: int = 2, max_post_chars: int = MAX_POST_CHARS
    ) -> None:
        if (
            isinstance(invalid_retries, bool)
            or not isinstance(invalid_retries, int)
            or invalid_retries < 0
        ):
            raise ConfigError(f"invalid_retries must be an integer >= 0; got {invalid_retries!r}")
        self.pool = pool
        self.invalid_retries = invalid_retries
        self.max_post_chars = max_post_chars
        self.identity: str = pool.identity
        self.accounting: Accounting = pool.accounting
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.pool!r}, invalid_retries={self.invalid_retries})"

    def complete(
        self, requests: Sequence[LLMRequest], *, on_response: ResponseCallback | None = None
    ) -> list[LLMResponse]:
        """Answer ``requests`` (in their order), ``concurrency`` at a time.

        Raises
        ------
        TransientLLMError
            A request still failed after all retries (server down, persistent 429/5xx, timeouts).
        LLMError
            A non-transient error (bad request, authentication, unknown model...).
        """
        if self._closed:
            raise LLMError(f"this {type(self).__name__} is closed")
        reqs = list(requests)
        results: list[LLMResponse | None] = [None] * len(reqs)
        attempts = [0] * len(reqs)
        todo = list(range(len(reqs)))
        for round_ in range(self.invalid_retries + 1):
            if not todo:
                break
            todo = self._ask(reqs, todo, round_, results, attempts, on_response)
        done = [r for r in results if r is not None]
        assert len(done) == len(reqs)
        return done

    def _ask(
        self,
        reqs: list[LLMRequest],
        todo: list[int],
        round_: int,
        results: list[LLMResponse | None],
        attempts: list[int],
        on_response: ResponseCallback | None,
    ) -> list[int]:
        """One wave: requests ``todo`` sent with seed + ``round_``; the answers kept in
        ``results``, and the indices of those to ask again returned."""
        last = round_ == self.invalid_retries
        again: list[int] = []

        def arrived(j: int, outcome: Outcome) -> None:
            i = todo[j]
            attempts[i] += outcome.attempts
            response = self._response(reqs[i], outcome, attempts[i])
            # A feed answer cut at max_tokens would be cut again at the same limit: the policy
            # asks it again with more room instead.
            cut_post = response.truncated and reqs[i].answer_format == "feed"
            if not response.valid and not last and not cut_post:
                self.accounting.add(invalid_retries=1)
                again.append(i)
                return
            if not response.valid:
                self.accounting.add(invalid=1)
            self.accounting.add(requests=1)
            # Nothing leaves the backend (to the cache, posts, tables) unredacted or unbounded.
            results[i] = response = response.sanitised()
            if on_response is not None:
                on_response(i, response)

        calls = [(reqs[i], (reqs[i].seed + round_) & 0x7FFFFFFF) for i in todo]
        self.pool.send_all(calls, on_outcome=arrived)
        return sorted(again)

    def _response(self, req: LLMRequest, outcome: Outcome, attempts: int) -> LLMResponse:
        completion = outcome.completion
        if completion is None:
            return LLMResponse(
                text="", share=None, valid=False, error=outcome.error, attempts=attempts
            )
        prompt_tokens, completion_tokens = completion.prompt_tokens, completion.completion_tokens
        self.accounting.add(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        cached, evaluated = completion.prompt_cached, completion.prompt_evaluated
        if cached is not None and evaluated is not None:
            self.accounting.add(
                prompt_tokens_timed=cached + evaluated, prompt_tokens_from_cache=cached
            )
        text = completion.text
        truncated = completion.truncated

        def invalid(error: str | None) -> LLMResponse:
            return LLMResponse(
                text=text,
                share=None,
                valid=False,
                error=error,
                truncated=truncated,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                attempts=attempts,
            )

        if completion.refusal:
            return invalid(f"refused: {redact(completion.refusal[:2000])[:80]!r}")
        parsed = parse_answer(text, req.answer_format, max_post_chars=self.max_post_chars)
        share, span, post, post_error = parsed.share, parsed.span, parsed.post, None
        if share is None:
            error = parsed.error
            if truncated:
                error = f"truncated at max_tokens={req.max_tokens}: {error}"
            decision = read_decision(text) if req.answer_format == "feed" else None
            if decision is None:
                return invalid(error)
            # Feed mode: the decision stands, the post is lost (cut or malformed).
            (share, span), post, post_error = decision, None, error
        probability = None
        if req.logprobs and completion.logprobs is not None:
            probability = share_probability_from_logprobs(completion.logprobs, text, span)
        return LLMResponse(
            text=text,
            share=share,
            post=post,
            probability=probability,
            truncated=truncated,
            post_error=post_error,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            attempts=attempts,
        )

    def close(self) -> None:
        """Nothing stays open between batches; this only marks the backend as closed."""
        self._closed = True

    def describe(self) -> dict[str, Any]:
        return {**self.pool.describe(), "invalid_retries": self.invalid_retries}


def transport_backend(
    transport: ChatTransport | Sequence[ChatTransport],
    *,
    concurrency: int = 8,
    timeout_s: float = 60.0,
    retry: RetryPolicy | None = None,
    invalid_retries: int = 2,
    limiter: Limiter | None = None,
    accounting: Accounting | None = None,
    jitter_seed: int | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    notice: Callable[[str], None] | None = None,
    max_post_chars: int = MAX_POST_CHARS,
) -> AnsweringBackend:
    """The backend stack over ``transport``: answers parsed and asked again
    (:class:`AnsweringBackend`) over retries and bounded concurrency (:class:`RetryingPool`).

    The parameters are those of the two layers (several transports: replicas of one model,
    balanced by :class:`RetryingPool`); wrap the result in a
    :class:`~spillover.llm.CachedBackend` to keep the answers.
    """
    pool = RetryingPool(
        transport,
        concurrency=concurrency,
        timeout_s=timeout_s,
        retry=retry,
        limiter=limiter,
        accounting=accounting,
        jitter_seed=jitter_seed,
        sleep=sleep,
        notice=notice,
    )
    return AnsweringBackend(pool, invalid_retries=invalid_retries, max_post_chars=max_post_chars)
