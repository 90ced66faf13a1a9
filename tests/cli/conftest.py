"""Shared pieces of the command-line tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from spillover.cli import main


@pytest.fixture
def cli() -> Callable[[list[str]], int]:
    """``cli(argv)``: run ``spillover ARGV`` in this process and return its exit code."""

    def run(argv: list[str]) -> int:
        code: str | int | None = 0
        try:
            main(argv)
        except SystemExit as exc:  # errors end with sys.exit, success returns
            code = exc.code
        return int(code or 0)

    return run
