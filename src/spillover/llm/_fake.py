"""``FakeBackend``: deterministic answers without a network, for tests and examples."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

from spillover.exceptions import LLMError
from spillover.llm._accounting import Accounting
from spillover.llm._backend import ResponseCallback
from spillover.llm._standin import default_probability
from spillover.llm._types import LLMRequest, LLMResponse

__all__ = ["FakeBackend"]

#: ``probability(request) -> p``: the share probability a fake model gives a request.
ProbabilityFn = Callable[[LLMRequest], float]


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _default(request: LLMRequest) -> float:
    return default_probability([{"role": r, "content": c} for r, c in request.messages])


class FakeBackend:
    """Answers every request at once, deterministically, in request order.

    The share probability of a request is ``probability(request)`` (by default the stand-in
    server's rule: persona rates and the exposure the prompt states). The sampled answer is
    "yes" when a hash uniform of the request's cache key is below it.

    Parameters
    ----------
    probability : callable, optional
        ``probability(request) -> p`` in [0, 1].
    logprobs : bool
        Return the probability as if read from log-probabilities (else only sampled answers).
    invalid : callable, optional
        ``invalid(request) -> bool``: answer that request with an invalid (refused) answer.
    fail_after : int, optional
        Raise LLMError after answering this many requests (in all batches together).
    identity : str
        Part of every cache key.
    """

    def __init__(
        self,
        probability: ProbabilityFn | None = None,
        *,
        logprobs: bool = True,
        invalid: Callable[[LLMRequest], bool] | None = None,
        fail_after: int | None = None,
        identity: str = "fake:default",
        accounting: Accounting | None = None,
    ) -> None:
        self.probability = probability if probability is not None else _default
        self.logprobs = logprobs
        self.invalid = invalid
        self.fail_after = fail_after
        self.identity = identity
        self.accounting = accounting if accounting is not None else Accounting()
        self.requests: list[LLMRequest] = []
        self._lock = threading.Lock()
        self.closed = False

    def answer(self, request: LLMRequest) -> LLMResponse:
        """The answer to one request (no accounting)."""
        if self.invalid is not None and self.invalid(request):
            return LLMResponse(
                text="I cannot help with that.", share=None, valid=False, error="refused (fake)"
            )
        p = min(max(float(self.probability(request)), 0.0), 1.0)
        yes = _unit(request.cache_key(self.identity), "answer") < p
        post = None
        if request.answer_format == "feed":
            post = f"fake post {request.cache_key(self.identity)[:8]}" if yes else ""
        text = '{"share": "%s"}' % ("yes" if yes else "no")
        return LLMResponse(
            text=text,
            share=yes,
            post=post,
            probability=p if (self.logprobs and request.logprobs) else None,
            prompt_tokens=sum(len(c.split()) for _, c in request.messages),
            completion_tokens=6,
        )

    def complete(
        self, requests: Sequence[LLMRequest], *, on_response: ResponseCallback | None = None
    ) -> list[LLMResponse]:
        if self.closed:
            raise LLMError("this FakeBackend is closed")
        out = []
        for i, request in enumerate(requests):
            with self._lock:
                if self.fail_after is not None and len(self.requests) >= self.fail_after:
                    self.accounting.add(failures=1)
                    raise LLMError(f"fake server failure after {self.fail_after} answers")
                self.requests.append(request)
            response = self.answer(request)
            self.accounting.add(
                requests=1,
                http_attempts=1,
                invalid=0 if response.valid else 1,
                prompt_tokens=response.prompt_tokens,
                completion_tokens=response.completion_tokens,
            )
            out.append(response)
            if on_response is not None:
                on_response(i, response)
        return out

    def close(self) -> None:
        self.closed = True

    def describe(self) -> dict[str, Any]:
        return {"kind": "fake", "identity": self.identity, "logprobs": self.logprobs}
