"""Integration: OpenAIBackend, the cache and LLMPolicy against the stand-in server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from spillover.config import LLMConfig, SimulationConfig
from spillover.engine import simulate
from spillover.events import Event
from spillover.exceptions import TransientLLMError
from spillover.graphs import random_regular
from spillover.llm import (
    CachedBackend,
    Faults,
    LLMRequest,
    OpenAIBackend,
    RetryPolicy,
    SQLiteStore,
    StandinServer,
)
from spillover.pipeline import run_simulation
from spillover.policies import LLMPolicy

Start = Callable[..., StandinServer]
FAST = RetryPolicy(max_retries=4, backoff_base_s=0.01, backoff_max_s=0.05)


def requests_(n: int, **kw: object) -> list[LLMRequest]:
    return [
        LLMRequest(model="m", messages=(("system", "s"), ("user", f"question {i}")), **kw)  # type: ignore[arg-type]
        for i in range(n)
    ]


def test_the_server_binds_to_loopback_only_and_stops(standin: Start) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        StandinServer(host="0.0.0.0")
    server = standin(max_lifetime_s=0.5)
    assert server.url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(server.url + "/models", timeout=5) as resp:
        assert json.load(resp)["data"][0]["id"] == "standin-1"
    assert server.wait(5)  # hard lifetime limit reached
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
        pass


def test_concurrency_and_latency(standin: Start) -> None:
    server = standin(latency_s=0.05)
    backend = OpenAIBackend(server.url, concurrency=16)
    backend.complete(requests_(1))  # imports and first connection out of the timing
    t0 = time.perf_counter()
    out = backend.complete(requests_(64))
    elapsed = time.perf_counter() - t0
    assert all(r.valid and r.probability is not None for r in out)
    assert server.max_in_flight == 16  # bounded, and the bound is reached
    assert elapsed < 64 * 0.05 / 2  # requests overlapped
    assert backend.accounting.requests == 65 and len(server.chat_requests()) == 65


def test_faults_are_retried_and_answers_unchanged(standin: Start) -> None:
    clean = standin()
    faulty = standin(
        faults=Faults(
            rate_limit=0.2, server_error=0.2, malformed=0.2, bad_body=0.1, retry_after="0.02"
        )
    )
    reqs = requests_(40)
    good = OpenAIBackend(clean.url, concurrency=8).complete(reqs)
    backend = OpenAIBackend(faulty.url, concurrency=8, retry=FAST)
    out = backend.complete(reqs)
    acc = backend.accounting
    assert acc.retries > 0 and acc.invalid_retries > 0 and acc.failures == 0
    assert all(r.valid for r in out)
    # Transient faults do not change answers; a malformed answer is asked again with another
    # seed, so only those answers may differ.
    same = [a.share == b.share for a, b in zip(good, out, strict=True)]
    assert sum(same) >= 40 - acc.invalid_retries


def test_timeouts_are_retried(standin: Start) -> None:
    server = standin(faults=Faults(timeout=0.5, hang_s=2.0))
    backend = OpenAIBackend(server.url, concurrency=4, timeout_s=0.3, retry=FAST)
    out = backend.complete(requests_(8))
    assert all(r.valid for r in out) and backend.accounting.retries >= 1


def test_rate_limits_honour_retry_after(standin: Start) -> None:
    server = standin(faults=Faults(rate_limit=1.0, retry_after="0.3"))
    backend = OpenAIBackend(server.url, retry=FAST)
    t0 = time.perf_counter()
    backend.complete(requests_(1))
    assert time.perf_counter() - t0 >= 0.3  # not the 0.01 s backoff: the server's wait


def test_missing_logprobs_and_rejected_schemas(standin: Start, event: Event) -> None:
    server = standin(
        faults=Faults(missing_logprobs=0.5, reject_response_format=True), plain_answers=True
    )
    backend = OpenAIBackend(server.url, concurrency=8, retry=FAST)
    policy = LLMPolicy(backend, model="m", samples=6)
    graph = random_regular(400, 4, rng=1)
    simulate(graph, policy, n_rounds=2, n_seeds=2, event=event, rng=1)
    sources = policy.stats()["probability_sources"]
    assert sources["logprobs"] > 0 and sources["samples"] > 0
    assert backend.describe()["structured_accepted"] is False
    sent = server.chat_requests()
    assert "response_format" not in sent[-1]
    assert {r.get("seed") for r in sent if r.get("logprobs") is None}  # samples with seeds


def test_results_do_not_depend_on_completion_order(standin: Start, event: Event) -> None:
    graph = random_regular(600, 6, rng=2)
    curves = []
    for jitter in (0.0, 0.03):
        server = standin(latency_jitter_s=jitter)
        policy = LLMPolicy(OpenAIBackend(server.url, concurrency=12), model="m")
        curves.append(simulate(graph, policy, n_rounds=20, n_reps=2, n_seeds=3, event=event, rng=4))
    np.testing.assert_array_equal(
        curves[0].curves.informed_by_persona, curves[1].curves.informed_by_persona
    )
    np.testing.assert_array_equal(curves[0].exposures.shared, curves[1].exposures.shared)


def test_a_server_that_goes_down_keeps_what_was_answered(standin: Start, tmp_path: Path) -> None:
    server = standin(latency_s=0.01)
    cache = tmp_path / "cache.sqlite"
    backend = CachedBackend(
        OpenAIBackend(server.url, concurrency=2, retry=FAST), SQLiteStore(cache)
    )
    backend.complete(requests_(5))
    server.stop()
    with pytest.raises(TransientLLMError) as info:
        backend.complete(requests_(10))
    message = str(info.value)
    assert "failed after 5 attempt(s): cannot connect" in message
    assert str(cache) in message and "resumes" in message
    backend.close()
    assert len(SQLiteStore(cache, read_only=True)) == 5


def test_run_simulation_against_the_standin(standin: Start, tmp_path: Path) -> None:
    server = standin(latency_s=0.002)
    cfg = SimulationConfig(
        n_nodes=500,
        degree=6,
        n_rounds=10,
        n_reps=2,
        n_seeds=3,
        seed=5,
        policy="llm",
        llm=LLMConfig(
            base_url=server.url,
            model="standin-1",
            concurrency=8,
            cache=str(tmp_path / "c.sqlite"),
            price_prompt=1e-6,
            price_completion=2e-6,
        ),
    )
    first = run_simulation(cfg)
    assert first.llm is not None
    acc = first.llm["accounting"]
    assert acc["requests"] == 32 * 5 and acc["cache_hits"] == 0
    assert acc["cost_estimate"] == pytest.approx(
        acc["prompt_tokens"] * 1e-6 + acc["completion_tokens"] * 2e-6, abs=1e-6
    )
    assert first.llm["prompt_version"] == "persona-v1+archetype-v2"
    assert first.timings["llm_s"] > 0
    n_sent = len(server.chat_requests())
    second = run_simulation(cfg)
    assert second.llm is not None and second.llm["accounting"]["cache_hits"] == 32 * 5
    assert len(server.chat_requests()) == n_sent  # everything came from the cache
    np.testing.assert_array_equal(first.result.curves.informed, second.result.curves.informed)
