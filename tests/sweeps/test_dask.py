"""Sweeps on a real Dask cluster: a scheduler and a worker started as processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spillover.cli import main
from spillover.sweeps import DaskExecutor, read_sweep_config, run_sweep
from spillover.sweeps._probe import HoldSlot, hold_slot, max_overlap

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 90.0


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process group we started: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Address of a scheduler with one worker process (2 threads), both bound to 127.0.0.1."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    common: dict[str, Any] = {
        "cwd": folder,
        "start_new_session": True,  # its own process group: the nanny's worker is stopped too
    }
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        log = (folder / "scheduler.log").open("wb")
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "distributed.cli.dask_scheduler"),
                    *("--host", "127.0.0.1", "--port", "0", "--no-dashboard"),
                    *("--scheduler-file", str(scheduler_file)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                **common,
            )
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        address = None
        while address is None:
            assert procs[0].poll() is None, (folder / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the Dask scheduler did not start"
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        assert address.startswith("tcp://127.0.0.1:")
        log = (folder / "worker.log").open("wb")
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "distributed.cli.dask_worker", address),
                    *("--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "2"),
                    *("--no-dashboard", "--local-directory", str(folder / "worker")),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                **common,
            )
        )
        from distributed import Client

        with Client(address, timeout=START_TIMEOUT_S, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=START_TIMEOUT_S)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for log in logs:
            log.close()


def test_a_sweep_on_dask_equals_the_serial_sweep(
    dask_scheduler: str,
    sweep_file: Any,
    tmp_path: Path,
    take_snapshot: Any,
    tiny_reference: dict[str, Any],
) -> None:
    out = tmp_path / "out"
    argv = ["sweep", str(sweep_file()), "--out", str(out), "--scheduler", dask_scheduler, "-q"]
    assert _run(argv) == 0
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["executor"] == {"kind": "dask", "scheduler": dask_scheduler, "workers": 1}
    assert take_snapshot(out) == tiny_reference


def test_failing_cells_on_dask_with_the_scheduler_from_the_file(
    dask_scheduler: str, sweep_file: Any, tmp_path: Path
) -> None:
    text = (
        f'seed = 5\n[sweep]\nscheduler = "{dask_scheduler}"\n[base]\nn_nodes = 241\n'
        'n_rounds = 5\nn_reps = 2\npolicy = "constant"\nalpha = 0.01\nbeta = 0.2\n'
        "[grid]\ndegree = [4, 5]\n"
    )
    spec = read_sweep_config(sweep_file(text))
    summary = run_sweep(spec, tmp_path / "out")
    assert summary.executor["kind"] == "dask"
    assert (summary.complete, summary.failed) == (1, 1)
    assert "n_nodes * degree must be even" in summary.failures[0][1]


@pytest.mark.parametrize("in_thread", [False, True])
def test_the_dask_limiter_bounds_holders_across_the_cluster(
    dask_scheduler: str, in_thread: bool
) -> None:
    """Tasks record when they held a slot; with ``in_thread`` they take it from a thread of
    their own, as an async LLM backend's thread pool does."""
    with DaskExecutor(dask_scheduler) as executor:
        limiter = executor.limiter(1, name=f"spillover-test-limiter-{in_thread}")
        assert limiter.kind == "dask"
        tasks = [HoldSlot(limiter, 0.3, i, in_thread) for i in range(4)]
        spans = list(executor.map(hold_slot, tasks))
    assert sorted(s.index for s in spans) == [0, 1, 2, 3]
    # The worker runs two tasks at a time; the limiter lets one hold a slot.
    assert max_overlap(spans) == 1
