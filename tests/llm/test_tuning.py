"""Tuned to real servers (issue 10, item 3): the order a batch is sent in, the prefix-cache hit
rate from the server's timings, and a deadline that grows with the latency measured.

Every test goes through ``httpx.MockTransport`` (no network) or the stand-in server.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from spillover.llm import (
    TIMEOUT_LATENCY_FACTOR,
    TIMEOUT_MIN_ANSWERS,
    LLMRequest,
    OpenAIBackend,
    RetryingPool,
    RetryPolicy,
    StandinServer,
    prefix_order,
)

URL = "http://127.0.0.1:9/v1"  # never contacted: the mock transport answers


def reply(timings: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": '{"share": "yes"}'},
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105},
    }
    if timings is not None:
        doc["timings"] = timings
    return doc


def request(persona: str, i: int) -> LLMRequest:
    return LLMRequest(model="m", messages=(("system", persona), ("user", f"question {i}")))


def mock(handler: Callable[[dict[str, Any]], dict[str, Any]], **kw: Any) -> OpenAIBackend:
    def respond(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=handler(json.loads(req.content)))

    kw.setdefault("retry", RetryPolicy(max_retries=0))
    return OpenAIBackend(URL, transport=httpx.MockTransport(respond), **kw)


def test_prefix_order_groups_requests_of_one_persona_in_first_appearance_order() -> None:
    reqs = [request(p, i) for i, p in enumerate("ABACBCA")]
    assert prefix_order(reqs) == [0, 2, 6, 1, 4, 3, 5]
    grouped = [request(p, i) for i, p in enumerate("AABBC")]  # archetype batches: unchanged
    assert prefix_order(grouped) == [0, 1, 2, 3, 4]
    assert prefix_order([]) == []


def test_a_batch_is_sent_persona_by_persona_and_answered_in_the_order_given() -> None:
    sent: list[tuple[str, str]] = []

    def handler(body: dict[str, Any]) -> dict[str, Any]:
        system, user = (m["content"] for m in body["messages"])
        sent.append((system, user))
        doc = reply()
        doc["choices"][0]["message"]["content"] = json.dumps({"share": "yes", "post": user})
        return doc

    backend = mock(handler, concurrency=1)
    reqs = [
        LLMRequest(
            model="m",
            messages=(("system", p), ("user", f"q{i}")),
            answer_format="feed",
            max_tokens=64,
        )
        for i, p in enumerate("ABAB")
    ]
    answers = backend.complete(reqs)
    assert sent == [("A", "q0"), ("A", "q2"), ("B", "q1"), ("B", "q3")]
    assert [a.post for a in answers] == ["q0", "q1", "q2", "q3"]


def test_the_prefix_cache_hit_rate_comes_from_the_servers_timings() -> None:
    calls = iter([{"cache_n": 0, "prompt_n": 100}, {"cache_n": 90, "prompt_n": 10}, None])

    def handler(body: dict[str, Any]) -> dict[str, Any]:
        return reply(next(calls))

    backend = mock(handler, concurrency=1)
    backend.complete([request("A", i) for i in range(3)])
    acc = backend.accounting.to_dict()
    assert acc["prompt_tokens"] == 300  # every answer's usage
    assert acc["prompt_tokens_timed"] == 200 and acc["prompt_tokens_from_cache"] == 90
    assert acc["prefix_cache_hit_rate"] == 0.45


@pytest.mark.parametrize(
    "timings",
    [None, {"prompt_n": 5}, {"cache_n": "7", "prompt_n": 5}, {"cache_n": -1, "prompt_n": 2}],
)
def test_without_readable_timings_there_is_no_hit_rate(timings: dict[str, Any] | None) -> None:
    backend = mock(lambda body: reply(timings), concurrency=1)
    backend.complete([request("A", 0)])
    acc = backend.accounting.to_dict()
    assert acc["prompt_tokens_timed"] == 0 and acc["prefix_cache_hit_rate"] is None


def test_the_deadline_is_the_timeout_until_answers_show_a_slower_server() -> None:
    backend = mock(lambda body: reply(), timeout_s=5.0)
    pool: RetryingPool = backend.pool
    assert pool.deadline_s() == 5.0
    pool._latencies.extend([0.2] * 10)  # fast answers: the configured timeout stands
    assert pool.deadline_s() == 5.0
    pool._latencies.clear()
    pool._latencies.extend([3.0] * (TIMEOUT_MIN_ANSWERS - 1))
    assert pool.deadline_s() == 5.0  # too few answers to go by
    pool._latencies.extend([2.0, 4.0])
    assert pool.deadline_s() == TIMEOUT_LATENCY_FACTOR * 3.0  # the median of 3, 3, 2, 4
    assert "timeout_grown_to_s" not in backend.describe()


def test_a_slow_server_is_waited_for_past_the_configured_timeout() -> None:
    # Answers take 0.3 s; the timeout is 0.5 s. A request that takes 0.9 s (a longer prompt,
    # a busy server) fails with a fixed timeout; once three answers have shown the server's
    # pace, the deadline is 10 x 0.3 s and it is waited for.
    server = StandinServer(latency_s=0.3, max_lifetime_s=60.0).start()
    try:
        backend = OpenAIBackend(
            server.url, concurrency=1, timeout_s=0.5, retry=RetryPolicy(max_retries=0)
        )
        reqs = [LLMRequest(model="standin-1", messages=(("user", f"q{i}"),)) for i in range(4)]
        backend.complete(reqs[:3])
        server.config = dataclasses.replace(server.config, latency_s=0.9)
        t0 = time.perf_counter()
        (answer,) = backend.complete(reqs[3:])
        assert answer.valid and time.perf_counter() - t0 >= 0.9
        assert backend.accounting.retries == 0
        assert backend.describe()["timeout_grown_to_s"] == pytest.approx(3.0, rel=0.2)

        fresh = OpenAIBackend(
            server.url, concurrency=1, timeout_s=0.5, retry=RetryPolicy(max_retries=0)
        )
        with pytest.raises(Exception, match=r"within 0\.5 s"):
            fresh.complete(reqs[3:])
    finally:
        server.stop()
