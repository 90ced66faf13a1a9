"""Suite-wide secret canary: a recognisable fake API key that must never be written anywhere.

For the whole session ``OPENAI_API_KEY`` (the default key variable) and
``SPILLOVER_TEST_API_KEY`` hold :data:`CANARY`, so every backend built by any test sends it to
its (loopback) server. Then:

- after each test, the files under its ``tmp_path`` are searched for the canary (a hit fails
  the test in teardown, naming the file);
- everything a test reads back with ``capsys``/``capfd``, the output of every subprocess a test
  captures (``subprocess.run(capture_output=True)``, ``Popen.communicate``) and the captured
  output of every test report are searched too (a hit fails the session);
- at the end of the session every file under the session's temporary folder is searched.

Tests that must put the canary into an input file (a config with a pasted key, say) register
that file with the ``allow_canary`` fixture; only those exact files are skipped.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CANARY = "sk-test-canary-4f9c2a7e1b6d8035c2e9"
_ENV_NAMES = ("OPENAI_API_KEY", "SPILLOVER_TEST_API_KEY")
_allowed: set[Path] = set()
_leaks: list[str] = []
_saved_env: dict[str, str | None] = {}
_CHUNK = 1 << 20


def find_canary(root: Path, allowed: set[Path] | frozenset[Path] = frozenset()) -> list[Path]:
    """The files under ``root`` (or ``root`` itself) whose bytes contain the canary."""
    needle = CANARY.encode()
    hits: list[Path] = []
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in paths:
        if path.resolve() in allowed or path.is_symlink():
            continue
        try:
            with path.open("rb") as fh:
                tail = b""
                while chunk := fh.read(_CHUNK):
                    if needle in tail + chunk:
                        hits.append(path)
                        break
                    tail = chunk[-len(needle) :]
        except OSError:
            continue
    return hits


def _holds_canary(data: str | bytes | None) -> bool:
    if data is None:
        return False
    if isinstance(data, bytes):
        return CANARY.encode() in data
    return CANARY in data


def _test_name() -> str:
    return os.environ.get("PYTEST_CURRENT_TEST", "a test").rsplit(" ", 1)[0]


def pytest_configure(config: pytest.Config) -> None:
    for name in _ENV_NAMES:
        _saved_env[name] = os.environ.get(name)
        os.environ[name] = CANARY
    original = pytest.CaptureFixture.readouterr
    communicate = subprocess.Popen.communicate

    def communicate_and_search(self: Any, *args: Any, **kwargs: Any) -> Any:
        out, err = communicate(self, *args, **kwargs)
        for stream, data in (("stdout", out), ("stderr", err)):
            if _holds_canary(data):
                _leaks.append(f"captured {stream} of a subprocess of {_test_name()}")
        return out, err

    subprocess.Popen.communicate = communicate_and_search  # type: ignore[method-assign]

    def readouterr(self: Any) -> Any:
        result = original(self)
        for stream, text in (("stdout", result.out), ("stderr", result.err)):
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            if CANARY in text:
                _leaks.append(f"captured {stream} read by {_test_name()}")
        return result

    pytest.CaptureFixture.readouterr = readouterr  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    texts = [content for _, content in report.sections]
    if report.longrepr is not None:
        texts.append(report.longreprtext)
    if any(CANARY in t for t in texts):
        _leaks.append(f"output of {report.nodeid} ({report.when})")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        try:
            base = factory.getbasetemp()
        except (OSError, ValueError):
            base = None
        if base is not None and base.is_dir():
            _leaks.extend(f"file {p}" for p in find_canary(base, _allowed))
    if _leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["the fake API key (secret canary) leaked into:", *sorted(set(_leaks))]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def canary_key() -> str:
    """The fake key every backend of the suite sends (the value of OPENAI_API_KEY)."""
    return CANARY


@pytest.fixture
def allow_canary() -> Callable[[Path], Path]:
    """Register an input file that holds the canary on purpose; returns the path."""

    def allow(path: Path) -> Path:
        _allowed.add(path.resolve())
        return path

    return allow


@pytest.fixture
def canary_scan() -> Callable[[Path], list[Path]]:
    """The scanner the suite uses, to test that it finds what it must."""
    return lambda root: find_canary(root, _allowed)


@pytest.fixture(autouse=True)
def _no_canary_in_tmp_path(request: pytest.FixtureRequest) -> Iterator[None]:
    root: Path | None = None
    if "tmp_path" in request.fixturenames:
        root = request.getfixturevalue("tmp_path")
    yield
    if root is not None and root.is_dir():
        hits = find_canary(root, _allowed)
        if hits:
            pytest.fail(f"the fake API key was written to {', '.join(map(str, hits))}")


@pytest.fixture
def wider_than_page() -> str:
    """A script for a headless browser: the elements reaching past the right edge of the page
    (called with ``true``, those inside a table's scrolling box, which may be wider than the
    page, are left out), at most five."""
    return """(skipWrapped) => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    if (skipWrapped && el.parentElement.closest(".table-wrap")) continue;
    const box = el.getBoundingClientRect();
    if (box.right > width + 0.5) out.push(`${el.tagName}.${el.className}: ${box.right}`);
  }
  return out.slice(0, 5);
}"""
