"""Timeouts that mean what they say, and servers that misbehave on the wire.

Faults of the stand-in server on 127.0.0.1: a body dripped one byte at a time, a connection
reset after the request, a huge answer, and a ``Retry-After`` of a day.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from spillover.cli import main
from spillover.exceptions import TransientLLMError
from spillover.llm import (
    CachedBackend,
    Faults,
    LLMRequest,
    LLMResponse,
    OpenAIBackend,
    RetryPolicy,
    SQLiteStore,
    StandinServer,
)
from spillover.llm._types import MAX_ANSWER_CHARS

NO_RETRY = RetryPolicy(max_retries=0)


def request(i: int = 0) -> LLMRequest:
    return LLMRequest(
        model="standin-1",
        messages=(("system", "You are a reader."), ("user", f"Share this? ({i})")),
        max_tokens=16,
    )


def complete_within(backend: Any, seconds: float, reqs: list[LLMRequest]) -> Any:
    """Run ``backend.complete`` in a thread; fail (instead of hanging) past ``seconds``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["out"] = backend.complete(reqs)
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    t0 = time.perf_counter()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s"
    box["elapsed"] = time.perf_counter() - t0
    return box


def test_the_timeout_bounds_the_whole_request_of_a_dripping_server() -> None:
    # 200 and the headers at once, then one byte every 0.25 s: each read is quick, the whole
    # answer (~300 bytes) would take over a minute.
    faults = Faults(drip=1.0, drip_interval_s=0.25, fault_attempts=1000)
    with StandinServer(faults=faults, max_lifetime_s=60) as server:
        backend = OpenAIBackend(server.url, timeout_s=1.5, retry=NO_RETRY)
        box = complete_within(backend, 30.0, [request()])
    error = box.get("error")
    assert isinstance(error, TransientLLMError), box
    assert "within 1.5 s" in str(error)


def test_a_connection_reset_after_connecting_is_named() -> None:
    with StandinServer(faults=Faults(reset=1.0, fault_attempts=1000), max_lifetime_s=60) as s:
        box = complete_within(OpenAIBackend(s.url, retry=NO_RETRY), 30.0, [request()])
    error = box.get("error")
    assert isinstance(error, TransientLLMError), box
    assert "connection was reset" in str(error) and "cannot connect" not in str(error)


def test_a_reset_is_retried_like_any_transient_failure() -> None:
    with StandinServer(faults=Faults(reset=1.0, fault_attempts=1), max_lifetime_s=60) as s:
        backend = OpenAIBackend(s.url, retry=RetryPolicy(max_retries=2, backoff_base_s=0.01))
        (answer,) = complete_within(backend, 30.0, [request()])["out"]
    assert answer.valid and answer.attempts == 2


def test_a_huge_answer_is_parsed_but_stored_capped(tmp_path: Path) -> None:
    faults = Faults(huge_body=1.0, huge_body_chars=400_000, fault_attempts=1000)
    path = tmp_path / "answers.sqlite"
    with StandinServer(faults=faults, max_lifetime_s=60) as server:
        backend = CachedBackend(OpenAIBackend(server.url, retry=NO_RETRY), SQLiteStore(path))
        answers = backend.complete([request(i) for i in range(2)])
        backend.close()
    assert all(a.valid and a.share is True for a in answers)
    assert all(len(a.text) <= MAX_ANSWER_CHARS for a in answers)
    with sqlite3.connect(path) as db:
        sizes = [n for (n,) in db.execute("SELECT length(response) FROM answers")]
    assert len(sizes) == 2 and max(sizes) < 2 * MAX_ANSWER_CHARS


def test_the_store_caps_and_redacts_whatever_backend_answered(
    tmp_path: Path, canary_key: str
) -> None:
    store = SQLiteStore(tmp_path / "answers.sqlite")
    huge = LLMResponse(text='{"share": "no"} ' + canary_key + "x" * 1_000_000, share=False)
    store.put("k", request(), huge)
    got = store.get("k")
    store.close()
    assert got is not None and got.share is False and len(got.text) <= MAX_ANSWER_CHARS
    assert canary_key not in got.text


def test_a_long_retry_after_is_announced_once() -> None:
    notes: list[str] = []
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    faults = Faults(rate_limit=1.0, retry_after="86400", fault_attempts=1)
    with StandinServer(faults=faults, max_lifetime_s=60) as server:
        backend = OpenAIBackend(
            server.url,
            concurrency=2,
            retry=RetryPolicy(max_retries=3),
            sleep=sleep,
            notice=notes.append,
        )
        answers = backend.complete([request(i) for i in range(4)])
    assert all(a.valid for a in answers) and len(waits) == 4
    assert len(notes) == 1, notes
    assert "asked to wait 86,400 s" in notes[0] and "120 s per retry at most" in notes[0]


def test_the_retry_after_note_reaches_stderr_under_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = Faults(rate_limit=0.02, retry_after="1", fault_attempts=1)
    with StandinServer(faults=faults, max_lifetime_s=120) as server:
        argv = ["simulate", "--n-nodes", "60", "--degree", "4", "--rounds", "3", "--seed", "2"]
        argv += ["--replicates", "1", "--seeds", "2", "--quiet", "--llm-model", "standin-1"]
        argv += ["--llm-base-url", server.url, "--out", str(tmp_path / "run")]
        try:
            main(argv)
        except SystemExit as exc:
            assert not exc.code
    err = capsys.readouterr().err
    assert err.count("asked to wait") == 1, err
    assert "Retry-After" in err
