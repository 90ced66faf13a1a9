"""LLM sweeps against a loopback stand-in server: one cache for all cells, one concurrency
bound for the whole sweep (not per worker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spillover.llm._standin import StandinServer
from spillover.sweeps import (
    ProcessExecutor,
    SerialExecutor,
    SweepSettings,
    SweepSpec,
    run_sweep,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def server() -> Any:
    """A loopback stand-in server; ``max_in_flight`` is the most requests it held at once."""
    with StandinServer(latency_s=0.02, max_lifetime_s=120) as s:
        yield s


def _spec(server: StandinServer, folder: Path, slots: int | None, **base: Any) -> SweepSpec:
    values = {
        "n_nodes": 200,
        "n_rounds": 4,
        "n_reps": 1,
        "n_seeds": 2,
        "policy": "llm",
        "llm_base_url": server.url,
        "llm_model": "standin-1",
        "llm_concurrency": 8,  # per cell: each backend alone may have 8 requests in flight
        **base,
    }
    return SweepSpec(
        base=values,
        grid=(("degree", (4, 6)),),
        seed=1,
        settings=SweepSettings(llm_concurrency=slots),
        folder=str(folder),
    )


def test_the_limit_holds_across_worker_processes(server: StandinServer, tmp_path: Path) -> None:
    spec = _spec(server, tmp_path, 2, cache="answers.sqlite")
    with ProcessExecutor(2) as executor:
        summary = run_sweep(spec, tmp_path / "out", executor=executor)
    assert summary.ok
    assert server.chat_requests()
    # Two worker processes, each backend allowed 8: the sweep-wide limiter allows 2.
    assert server.max_in_flight <= 2
    doc = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert doc["limiter"] == {"kind": "process", "slots": 2}
    # Every cell used the one cache named in [base], resolved against the sweep's folder.
    assert doc["llm_caches"] == [str(tmp_path / "answers.sqlite")]
    for cell in (0, 1):
        manifest = json.loads((tmp_path / f"out/cells/cell-{cell:05d}/manifest.json").read_text())
        assert manifest["config"]["cache"] == str(tmp_path / "answers.sqlite")


def test_without_a_limit_each_backend_runs_its_own_concurrency(
    server: StandinServer, tmp_path: Path
) -> None:
    """The control of the test above: the server does see overlapping requests."""
    summary = run_sweep(_spec(server, tmp_path, None), tmp_path / "out", executor=SerialExecutor())
    assert summary.ok and server.max_in_flight > 2


def test_cells_share_one_cache_by_default(server: StandinServer, tmp_path: Path) -> None:
    spec = _spec(server, tmp_path, None)
    summary = run_sweep(spec, tmp_path / "out", executor=SerialExecutor())
    assert summary.ok
    shared = tmp_path / "out" / "llm-cache.sqlite"
    assert shared.is_file()
    first = len(server.chat_requests())
    # Cells share the answers; a fresh run of the same sweep with a kept cache sends nothing.
    assert first > 0
    accounting = [
        json.loads((tmp_path / f"out/cells/cell-{c:05d}/manifest.json").read_text())["llm"][
            "accounting"
        ]
        for c in (0, 1)
    ]
    # Cell 1 (degree 6) needs one more exposure bucket than cell 0 (degree 4): it asks only
    # those prompts and takes the rest from the cache cell 0 filled.
    assert accounting[1]["cache_hits"] > 0
    assert 0 < accounting[1]["http_attempts"] < accounting[0]["http_attempts"]
    assert accounting[0]["http_attempts"] + accounting[1]["http_attempts"] == first
    # --force starts the sweep over but keeps the answers it paid for: nothing is sent.
    server.reset_log()
    summary = run_sweep(spec, tmp_path / "out", executor=SerialExecutor(), force=True)
    assert summary.ran == 2 and summary.skipped == 0
    assert len(server.chat_requests()) == 0
    # A cache named in [base] is shared the same way, wherever it lives.
    server.reset_log()
    spec_named = _spec(server, tmp_path, None, cache="named.sqlite")
    run_sweep(spec_named, tmp_path / "again", executor=SerialExecutor())
    assert len(server.chat_requests()) == first
    assert (tmp_path / "named.sqlite").is_file()
    assert not (tmp_path / "again" / "llm-cache.sqlite").exists()
