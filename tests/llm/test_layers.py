"""The layers of a backend over a transport of our own: retries, deadlines, re-asks, signals."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from spillover.exceptions import LLMError, TransientLLMError
from spillover.llm import (
    AnsweringBackend,
    CachedBackend,
    ChatTransport,
    Completion,
    LLMBackend,
    LLMRequest,
    MalformedReply,
    RetryingPool,
    RetryPolicy,
    SendAgain,
    SQLiteStore,
    Token,
    TransientFailure,
    transport_backend,
)


class Scripted:
    """A transport whose n-th call (1-based, all requests together) does ``script(n, seed)``."""

    base_url = "http://scripted.test"
    identity = "scripted:1"

    def __init__(self, script: Callable[[int, int], Any]) -> None:
        self.script = script
        self.calls: list[tuple[str, int]] = []
        self.connections = 0

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[str]:
        self.connections += 1
        yield "connection"

    async def send(self, connection: Any, request: LLMRequest, *, seed: int) -> Completion:
        assert connection == "connection"
        self.calls.append((request.messages[-1][1], seed))
        out = self.script(len(self.calls), seed)
        if isinstance(out, BaseException):
            raise out
        if asyncio.iscoroutine(out):
            return await out  # type: ignore[no-any-return]
        assert isinstance(out, Completion)
        return out

    def describe(self) -> dict[str, Any]:
        return {"kind": "scripted"}


def yes(_: int, __: int) -> Completion:
    return Completion('{"share": "yes"}', prompt_tokens=3, completion_tokens=2)


def request(i: int = 0) -> LLMRequest:
    return LLMRequest(model="m", messages=(("user", f"question {i}"),), logprobs=False)


def stack(transport: Scripted, **kw: Any) -> tuple[AnsweringBackend, list[float]]:
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    kw.setdefault("retry", RetryPolicy(max_retries=2, backoff_base_s=0.5))
    return transport_backend(transport, sleep=sleep, jitter_seed=0, **kw), waits


def test_a_transport_of_our_own_gets_the_whole_stack(tmp_path: Any) -> None:
    transport = Scripted(yes)
    assert isinstance(transport, ChatTransport)
    backend, _ = stack(transport, concurrency=3)
    assert isinstance(backend, LLMBackend) and isinstance(backend.pool, RetryingPool)
    cached = CachedBackend(backend, SQLiteStore(tmp_path / "a.sqlite"))
    out = cached.complete([request(i) for i in range(7)])
    assert all(r.valid and r.share is True for r in out)
    assert transport.connections == 3  # one connection per worker
    assert backend.accounting.requests == 7 and backend.accounting.prompt_tokens == 21
    again = cached.complete([request(i) for i in range(7)])
    assert all(r.cached for r in again) and [r.share for r in again] == [r.share for r in out]
    assert len(transport.calls) == 7  # the second time from the cache
    doc = cached.describe()
    assert doc["kind"] == "scripted" and doc["concurrency"] == 3 and doc["invalid_retries"] == 2
    assert doc["max_retries"] == 2 and doc["cache_mode"] == "read_write"
    cached.close()


def test_transient_failures_wait_as_asked_then_give_up() -> None:
    def flaky(n: int, _: int) -> Any:
        return TransientFailure("HTTP 503: busy", retry_after=2.0) if n == 1 else yes(n, 0)

    backend, waits = stack(Scripted(flaky))
    (answer,) = backend.complete([request()])
    assert answer.valid and answer.attempts == 2 and 2.0 <= waits[0] <= 2.2
    assert backend.accounting.retries == 1 and backend.accounting.http_attempts == 2

    down, _ = stack(Scripted(lambda n, s: TransientFailure("cannot connect")))
    with pytest.raises(TransientLLMError, match=r"scripted.test failed after 3 attempt\(s\)"):
        down.complete([request()])
    assert down.accounting.failures == 1


def test_the_deadline_bounds_a_call_that_never_ends() -> None:
    async def hang() -> Completion:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    backend, _ = stack(Scripted(lambda n, s: hang()), timeout_s=0.05, retry=RetryPolicy(0))
    with pytest.raises(TransientLLMError, match=r"within 0.05 s"):
        backend.complete([request()])


def test_unreadable_and_invalid_answers_are_asked_again_with_the_next_seed() -> None:
    def script(n: int, _: int) -> Any:
        if n == 1:
            return MalformedReply("unreadable response: '<html>'")
        if n == 2:
            return Completion("", refusal="I can't help with that.")
        return Completion('{"share": "no"}')

    transport = Scripted(script)
    backend, _ = stack(transport, invalid_retries=2)
    (answer,) = backend.complete([request()])
    assert answer.valid and answer.share is False and answer.attempts == 3
    seeds = [seed for _, seed in transport.calls]
    assert seeds == [request().seed + k for k in range(3)]
    assert backend.accounting.invalid_retries == 2 and backend.accounting.invalid == 0

    refused, _ = stack(Scripted(lambda n, s: Completion("", refusal="no way")), invalid_retries=1)
    (answer,) = refused.complete([request()])
    assert not answer.valid and "refused" in (answer.error or "") and answer.attempts == 2
    assert refused.accounting.invalid == 1


def test_only_the_invalid_answers_of_a_batch_are_asked_again() -> None:
    transport = Scripted(yes)

    def script(n: int, seed: int) -> Completion:
        # question 1 answers badly to its first seed only
        bad = transport.calls[-1][0] == "question 1" and seed == request(1).seed
        return Completion('{"share": "ye' if bad else '{"share": "yes"}')

    transport.script = script
    backend, _ = stack(transport)
    seen: list[int] = []
    out = backend.complete([request(i) for i in range(4)], on_response=lambda i, r: seen.append(i))
    assert all(r.valid for r in out) and sorted(seen) == [0, 1, 2, 3]
    assert [q for q, _ in transport.calls].count("question 1") == 2 and len(transport.calls) == 5


def test_logprobs_and_truncation_are_read_from_the_completion() -> None:
    tokens = (
        Token('{"share": "', 0.0),
        Token("yes", -0.2, (Token("yes", -0.2), Token("no", -1.7))),
        Token('"}', 0.0),
    )
    backend, _ = stack(Scripted(lambda n, s: Completion('{"share": "yes"}', logprobs=tokens)))
    asked = LLMRequest(model="m", messages=(("user", "q"),))
    (answer,) = backend.complete([asked])
    assert answer.probability == pytest.approx(1 / (1 + 2.718281828**-1.5), rel=1e-6)
    cut, _ = stack(Scripted(lambda n, s: Completion('{"sh', truncated=True)), invalid_retries=0)
    (answer,) = cut.complete([request()])
    assert not answer.valid and "truncated at max_tokens=16" in (answer.error or "")


def test_a_feed_answer_cut_in_its_post_keeps_its_decision_and_is_not_asked_again() -> None:
    feed = LLMRequest(model="m", messages=(("user", "q"),), answer_format="feed", logprobs=False)
    cut = Scripted(lambda n, s: Completion('{"share": "yes", "post": "Just saw th', truncated=True))
    backend, _ = stack(cut, invalid_retries=2)
    (answer,) = backend.complete([feed])
    assert answer.valid and answer.share is True and answer.post is None and answer.truncated
    assert "truncated at max_tokens=16" in (answer.post_error or "")
    assert len(cut.calls) == 1  # the same limit would cut it again: the policy asks with more
    early = Scripted(lambda n, s: Completion('{"sha', truncated=True))
    backend, _ = stack(early, invalid_retries=2)
    (answer,) = backend.complete([feed])
    assert not answer.valid and answer.truncated and len(early.calls) == 1
    # Broken JSON after the decision, not cut: valid, the post lost; archetype answers as before.
    broken = Scripted(lambda n, s: Completion('{"share": "no", "post": oops}'))
    backend, _ = stack(broken, invalid_retries=2)
    (answer,) = backend.complete([feed])
    assert answer.valid and answer.share is False and "malformed" in (answer.post_error or "")
    archetype = Scripted(lambda n, s: Completion('{"share": "ye', truncated=True))
    backend, _ = stack(archetype, invalid_retries=2)
    (answer,) = backend.complete([request()])
    assert not answer.valid and len(archetype.calls) == 3


def test_permanent_errors_and_a_transport_that_keeps_asking_to_send_again() -> None:
    rejected, _ = stack(Scripted(lambda n, s: LLMError("the server said 400")))
    with pytest.raises(LLMError, match="said 400") as info:
        rejected.complete([request()])
    assert not isinstance(info.value, TransientLLMError) and rejected.accounting.failures == 1
    # SendAgain: sent again at once, not a retry (a transport that dropped a feature).
    once, waits = stack(Scripted(lambda n, s: SendAgain() if n == 1 else yes(n, s)))
    (answer,) = once.complete([request()])
    assert answer.attempts == 1 and waits == [] and once.accounting.http_attempts == 2
    stuck, _ = stack(Scripted(lambda n, s: SendAgain()))
    with pytest.raises(LLMError, match="kept asking to send a request again"):
        stuck.complete([request()])


def test_secrets_in_a_reply_are_masked_before_they_leave(canary_key: str) -> None:
    echo = json.dumps({"share": "yes", "note": canary_key})
    backend, _ = stack(Scripted(lambda n, s: Completion(echo, refusal=None)))
    (answer,) = backend.complete([request()])
    assert answer.valid and canary_key not in answer.text
    refusing, _ = stack(Scripted(lambda n, s: Completion("", refusal=f"key {canary_key}")))
    (answer,) = refusing.complete([request()])
    assert canary_key not in (answer.error or "")


def test_an_unexpected_error_leaves_the_layer_redacted(canary_key: str) -> None:
    # A bug in a transport (an error no rule expects) quoting a URL with the key in it.
    url = f"http://scripted.test/v1?api_key={canary_key}"
    broken, _ = stack(Scripted(lambda n, s: RuntimeError(f"cannot parse {url}")))
    with pytest.raises(LLMError, match="unexpected error in the LLM layer: RuntimeError") as info:
        broken.complete([request()])
    assert canary_key not in str(info.value) and info.value.__cause__ is None
