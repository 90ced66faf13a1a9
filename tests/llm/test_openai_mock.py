"""OpenAIBackend through httpx.MockTransport: retries, fallbacks, parsing, secrets, order."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from spillover.exceptions import ConfigError, LLMError, TransientLLMError
from spillover.llm import NO_KEY, LLMRequest, OpenAIBackend, RetryPolicy, retry_after_seconds

URL = "http://127.0.0.1:9/v1"  # never contacted: the mock transport answers


def completion(content: str, *, yes_logprob: float | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "index": 0,
        "finish_reason": "stop",
        "message": {"role": "assistant", "content": content},
        "logprobs": None,
    }
    if yes_logprob is not None:
        import math

        p = math.exp(yes_logprob)
        choice["logprobs"] = {
            "content": [
                {"token": t, "logprob": 0.0, "top_logprobs": [{"token": t, "logprob": 0.0}]}
                for t in ('{"', "share", '":', ' "')
            ]
            + [
                {
                    "token": "yes",
                    "logprob": yes_logprob,
                    "top_logprobs": [
                        {"token": "yes", "logprob": yes_logprob},
                        {"token": "no", "logprob": math.log(1 - p)},
                    ],
                },
                {"token": '"}', "logprob": 0.0, "top_logprobs": []},
            ]
        }
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [choice],
        "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16},
    }


def request(i: int = 0, **kw: Any) -> LLMRequest:
    return LLMRequest(model="m", messages=(("system", "s"), ("user", f"question {i}")), **kw)


class Recorder:
    """A mock server: a handler per call number, every request body recorded."""

    def __init__(
        self, handler: Callable[[int, dict[str, Any], httpx.Request], httpx.Response]
    ) -> None:
        self.handler = handler
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[httpx.Headers] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        self.bodies.append(body)
        self.headers.append(req.headers)
        return self.handler(len(self.bodies), body, req)


def backend(handler: Recorder, **kw: Any) -> tuple[OpenAIBackend, list[float]]:
    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    kw.setdefault("retry", RetryPolicy(max_retries=3, backoff_base_s=0.5))
    b = OpenAIBackend(URL, transport=httpx.MockTransport(handler), sleep=sleep, jitter_seed=0, **kw)
    return b, sleeps


def ok(_: int, __: dict[str, Any], ___: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=completion('{"share": "yes"}', yes_logprob=-0.5))


def test_answers_come_back_in_request_order_with_logprob_probabilities() -> None:
    def handler(n: int, body: dict[str, Any], _: httpx.Request) -> httpx.Response:
        i = int(body["messages"][1]["content"].split()[-1])
        return httpx.Response(200, json=completion('{"share": "%s"}' % ("yes" if i % 2 else "no")))

    rec = Recorder(handler)
    b, _ = backend(rec, concurrency=4)
    out = b.complete([request(i) for i in range(20)])
    assert [r.share for r in out] == [bool(i % 2) for i in range(20)]
    assert all(r.probability is None and r.valid for r in out)
    rec2 = Recorder(ok)
    b2, _ = backend(rec2)
    (r,) = b2.complete([request()])
    assert r.probability == pytest.approx(__import__("math").exp(-0.5))
    assert r.prompt_tokens == 11 and r.completion_tokens == 5
    body = rec2.bodies[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert body["response_format"]["type"] == "json_schema"
    assert body["max_tokens"] == 16 and body["seed"] == request().seed
    assert b2.accounting.requests == 1 and b2.accounting.prompt_tokens == 11


def test_concurrency_is_bounded() -> None:
    state = {"now": 0, "max": 0}

    async def handler(req: httpx.Request) -> httpx.Response:
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1
        return httpx.Response(200, json=completion('{"share": "no"}'))

    b = OpenAIBackend(URL, concurrency=3, transport=httpx.MockTransport(handler))
    out = b.complete([request(i) for i in range(30)])
    assert len(out) == 30 and state["max"] == 3


def test_transient_errors_are_retried_with_backoff_and_retry_after() -> None:
    def handler(n: int, _: dict[str, Any], __: httpx.Request) -> httpx.Response:
        if n == 1:
            return httpx.Response(
                429, headers={"Retry-After": "2"}, json={"error": {"message": "slow"}}
            )
        if n == 2:
            return httpx.Response(503, json={"error": {"message": "busy"}})
        if n == 3:
            raise httpx.ConnectError("refused")
        if n == 4:
            raise httpx.ReadTimeout("slow read")
        return httpx.Response(200, json=completion('{"share": "yes"}'))

    rec = Recorder(handler)
    b, sleeps = backend(rec, retry=RetryPolicy(max_retries=4, backoff_base_s=0.5))
    (r,) = b.complete([request()])
    assert r.share is True and r.attempts == 5
    assert 2.0 <= sleeps[0] <= 2.2  # Retry-After honoured (plus at most 10% jitter)
    assert 0.5 <= sleeps[1] <= 1.0  # attempt 1: d = 1.0, wait in [d/2, d]
    assert 1.0 <= sleeps[2] <= 2.0
    assert 2.0 <= sleeps[3] <= 4.0
    assert b.accounting.retries == 4 and b.accounting.http_attempts == 5


def test_retries_use_their_own_jitter_source_not_the_global_one() -> None:
    def fail_twice(n: int, _: dict[str, Any], __: httpx.Request) -> httpx.Response:
        return httpx.Response(500) if n <= 2 else httpx.Response(200, json=completion("yes"))

    random.seed(1)
    state = random.getstate()
    b1, s1 = backend(Recorder(fail_twice))
    b1.complete([request()])
    assert random.getstate() == state
    b2, s2 = backend(Recorder(fail_twice))
    b2.complete([request()])
    assert s1 == s2  # same jitter seed, same waits


def test_a_server_that_stays_down_gives_a_clear_error_after_the_retries() -> None:
    def down(_: int, __: dict[str, Any], ___: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    b, sleeps = backend(Recorder(down), retry=RetryPolicy(max_retries=2, backoff_base_s=0.1))
    with pytest.raises(TransientLLMError, match=r"failed after 3 attempt\(s\): cannot connect"):
        b.complete([request()])
    assert len(sleeps) == 2 and b.accounting.failures == 1


@pytest.mark.parametrize(("status", "fragment"), [(400, "rejected"), (401, "key"), (404, "model")])
def test_client_errors_are_not_retried(status: int, fragment: str) -> None:
    def handler(_: int, __: dict[str, Any], ___: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": {"message": "nope"}})

    rec = Recorder(handler)
    b, sleeps = backend(rec, structured="off")
    with pytest.raises(LLMError, match=fragment) as info:
        b.complete([request(logprobs=False)])
    assert not isinstance(info.value, TransientLLMError)
    assert sleeps == [] and len(rec.bodies) == 1


def test_structured_output_and_logprobs_fall_back_when_the_server_rejects_them() -> None:
    def handler(_: int, body: dict[str, Any], __: httpx.Request) -> httpx.Response:
        if "response_format" in body:
            return httpx.Response(400, json={"error": {"message": "response_format unsupported"}})
        if body.get("logprobs"):
            return httpx.Response(400, json={"error": {"message": "logprobs unsupported"}})
        return httpx.Response(200, json=completion("Yes, I would share it."))

    rec = Recorder(handler)
    b, sleeps = backend(rec)
    out = b.complete([request(0), request(1)])
    assert [r.share for r in out] == [True, True] and sleeps == []
    assert b.describe()["structured_accepted"] is False
    assert b.describe()["logprobs_accepted"] is False
    # Learned once: later requests go plain straight away.
    n = len(rec.bodies)
    b.complete([request(2)])
    assert len(rec.bodies) == n + 1
    assert "response_format" not in rec.bodies[-1] and "logprobs" not in rec.bodies[-1]
    # json_schema mode does not fall back.
    strict, _ = backend(Recorder(handler), structured="json_schema")
    with pytest.raises(LLMError, match="rejected"):
        strict.complete([request(logprobs=False)])


def test_malformed_and_refused_answers_are_retried_then_recorded_invalid() -> None:
    def handler(n: int, _: dict[str, Any], __: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=completion('{"share": "ye' if n == 1 else '{"share": "no"}')
        )

    rec = Recorder(handler)
    b, _ = backend(rec)
    (r,) = b.complete([request()])
    assert r.valid and r.share is False and r.attempts == 2
    assert rec.bodies[1]["seed"] == (rec.bodies[0]["seed"] + 1) & 0x7FFFFFFF
    assert b.accounting.invalid_retries == 1 and b.accounting.invalid == 0

    def refuse(_: int, __: dict[str, Any], ___: httpx.Request) -> httpx.Response:
        body = completion("")
        body["choices"][0]["message"]["refusal"] = "I can't help with that."
        return httpx.Response(200, json=body)

    b2, _ = backend(Recorder(refuse), invalid_retries=2)
    (r2,) = b2.complete([request()])
    assert not r2.valid and "refused" in (r2.error or "") and r2.attempts == 3
    assert b2.accounting.invalid == 1 and b2.accounting.invalid_retries == 2

    def truncated(_: int, __: dict[str, Any], ___: httpx.Request) -> httpx.Response:
        body = completion('{"sha')
        body["choices"][0]["finish_reason"] = "length"
        return httpx.Response(200, json=body)

    b3, _ = backend(Recorder(truncated), invalid_retries=0)
    (r3,) = b3.complete([request()])
    assert not r3.valid and "truncated at max_tokens=16" in (r3.error or "")


def test_an_unreadable_body_is_an_invalid_answer_not_a_crash() -> None:
    def handler(n: int, _: dict[str, Any], __: httpx.Request) -> httpx.Response:
        if n == 1:
            return httpx.Response(200, content=b"<html>oops", headers={"content-type": "text/html"})
        if n == 2:
            return httpx.Response(200, json={"choices": []})
        return httpx.Response(200, json=completion('{"share": "yes"}'))

    b, _ = backend(Recorder(handler), invalid_retries=2)
    (r,) = b.complete([request()])
    assert r.valid and r.attempts == 3


def test_the_key_is_sent_but_never_stored_or_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("MY_LLM_KEY", secret)

    def handler(_: int, __: dict[str, Any], ___: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401, json={"error": {"message": f"Incorrect API key provided: {secret}"}}
        )

    rec = Recorder(handler)
    b, _ = backend(rec, api_key_env="MY_LLM_KEY")
    with pytest.raises(LLMError) as info:
        b.complete([request()])
    assert rec.headers[0]["authorization"] == f"Bearer {secret}"
    assert secret not in str(info.value) and "***" in str(info.value)
    assert secret not in repr(b) and secret not in json.dumps(b.describe())
    assert secret not in json.dumps(vars(b), default=repr)
    assert b.describe()["api_key_set"] is True


def test_missing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    rec = Recorder(ok)
    b, _ = backend(rec)  # OPENAI_API_KEY unset: local servers need none
    b.complete([request()])
    assert rec.headers[0]["authorization"] == f"Bearer {NO_KEY}"
    monkeypatch.delenv("ABSENT_KEY_VAR", raising=False)
    with pytest.raises(ConfigError, match="ABSENT_KEY_VAR is not set"):
        OpenAIBackend(URL, api_key_env="ABSENT_KEY_VAR", require_key=True)


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="credentials"):
        OpenAIBackend("http://user:pw@localhost/v1")
    with pytest.raises(ConfigError, match="http"):
        OpenAIBackend("localhost:8000")
    with pytest.raises(ConfigError, match="concurrency"):
        OpenAIBackend(URL, concurrency=0)
    with pytest.raises(ConfigError, match="structured"):
        OpenAIBackend(URL, structured="xml")  # type: ignore[arg-type]
    b = OpenAIBackend(URL + "/")
    assert b.identity == URL
    b.close()
    with pytest.raises(LLMError, match="closed"):
        b.complete([request()])
    assert b.complete.__doc__


def test_retry_after_parsing() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": "0.25"}) == 0.25
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    rp = RetryPolicy(max_retry_after_s=5)
    assert rp.delay(0, 60.0, random.Random(0)) <= 5.5
    with pytest.raises(ConfigError):
        RetryPolicy(max_retries=-1)


def test_a_limiter_is_held_around_every_call() -> None:
    import threading

    class Counting:
        def __init__(self) -> None:
            self.sem = threading.BoundedSemaphore(2)
            self.acquired = 0
            self.released = 0

        def acquire(self) -> None:
            self.sem.acquire()
            self.acquired += 1

        def release(self) -> None:
            self.released += 1
            self.sem.release()

    limiter = Counting()
    b, _ = backend(Recorder(ok), concurrency=8, limiter=limiter)
    b.complete([request(i) for i in range(12)])
    assert limiter.acquired == limiter.released == 12


def test_completion_callback_sees_every_answer_once() -> None:
    seen: list[int] = []
    b, _ = backend(Recorder(ok), concurrency=4)
    b.complete([request(i) for i in range(10)], on_response=lambda i, r: seen.append(i))
    assert sorted(seen) == list(range(10))
    assert b.complete([]) == []
