"""Fixtures of the LLM tests: stand-in servers on 127.0.0.1 that stop by themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from spillover.events import Event
from spillover.io import example_events
from spillover.llm import StandinServer


@pytest.fixture
def standin() -> Iterator[Callable[..., StandinServer]]:
    """A factory of started stand-in servers; every one is stopped at the end of the test."""
    servers: list[StandinServer] = []

    def start(**kwargs: Any) -> StandinServer:
        kwargs.setdefault("max_lifetime_s", 120.0)
        server = StandinServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def event() -> Event:
    return example_events()[0]


@pytest.fixture(autouse=True)
def _no_real_key(monkeypatch: pytest.MonkeyPatch, canary_key: str) -> None:
    # Tests talk to loopback servers only and never send a developer's real key: the key they
    # send is the suite's canary (tests/conftest.py), which must never be written anywhere.
    monkeypatch.setenv("OPENAI_API_KEY", canary_key)
