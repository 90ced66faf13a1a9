"""Signals: SIGINT, SIGTERM and SIGKILL of ``simulate`` and ``sweep`` (issue 8, items 3 and 8).

A killed or interrupted command leaves nothing that looks complete, no staging folder it could
have removed, and no worker process behind; a rerun resumes. To hit the moment that matters
(a run directory being written, cells running in workers) deterministically, the child
processes load a ``sitecustomize`` hook that slows that step down and says when it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spillover.cli import main
from spillover.exceptions import RunDirError
from spillover.io._owned import pid_alive
from spillover.sweeps import SerialExecutor, read_sweep_config, run_sweep

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux signals")

HOOK = """\
import os
import time
from pathlib import Path

_delay = float(os.environ.get("SPILLOVER_TEST_SLOW", "0"))
_where = os.environ.get("SPILLOVER_TEST_SLOW_AT", "")
_flags = os.environ.get("SPILLOVER_TEST_FLAGS", "")


def _started():
    if _flags:
        (Path(_flags) / str(os.getpid())).write_text("started")


if _delay and _where == "cell":
    import spillover.sweeps._run as _run

    _simulate = _run.simulate_config

    def _slow_cell(*args, **kwargs):
        _started()
        time.sleep(_delay)
        return _simulate(*args, **kwargs)

    _run.simulate_config = _slow_cell
elif _delay and _where == "write":
    import spillover.io._rundir as _rundir

    _write = _rundir.write_table

    def _slow_write(table, path):
        _write(table, path)
        _started()
        time.sleep(_delay)

    _rundir.write_table = _slow_write
"""

CLI = "import sys; from spillover.cli import main; sys.argv[0] = 'spillover'; main()"
SMALL = ["--n-nodes", "200", "--degree", "4", "--rounds", "5", "--replicates", "2"]
SMALL += ["--seeds", "2", "--seed", "1", "--quiet"]

SWEEP = """\
seed = 5
[base]
n_nodes = 150
n_rounds = 4
n_reps = 2
n_seeds = 2
policy = "constant"
alpha = 0.01
[grid]
beta = [0.1, 0.2, 0.3, 0.4]
[sweep]
executor = "process"
workers = 2
"""


@pytest.fixture
def hook(tmp_path: Path) -> Path:
    folder = tmp_path / "hook"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(HOOK)
    (tmp_path / "flags").mkdir()
    return folder


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(argv: list[str], hook: Path, where: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
        SPILLOVER_TEST_SLOW="120",
        SPILLOVER_TEST_SLOW_AT=where,
        SPILLOVER_TEST_FLAGS=str(tmp_path / "flags"),
    )
    with (tmp_path / "stderr.txt").open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-c", CLI, *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # signals reach the command only, as from `kill PID`
            # A shell's background job inherits SIGINT ignored (and Python then keeps it so):
            # the command gets the default, as when started from a terminal.
            preexec_fn=_default_sigint,
        )


def _wait_started(proc: subprocess.Popen[bytes], tmp_path: Path, n: int) -> list[int]:
    deadline = time.monotonic() + 120
    while True:
        pids = [int(p.name) for p in (tmp_path / "flags").iterdir()]
        if len(pids) >= n:
            return pids
        if proc.poll() is not None:
            err = (tmp_path / "stderr.txt").read_text()
            pytest.fail(f"the command ended before the signal (code {proc.returncode}): {err}")
        assert time.monotonic() < deadline, "the command never reached the slow step"
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    if not pid_alive(pid):
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _wait_gone(pids: list[int], within: float) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = [p for p in pids if not _gone(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return [p for p in pids if not _gone(p)]


@pytest.fixture
def reap() -> Iterator[list[int]]:
    """Pids to SIGKILL at the end whatever happened (never leave a process behind)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def _staging(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name)


# -- simulate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_simulate_cleans_its_staging_on_sigterm_and_sigint(
    hook: Path, tmp_path: Path, reap: list[int], sig: signal.Signals, code: int
) -> None:
    out = tmp_path / "runs" / "run"
    proc = _start(["simulate", *SMALL, "--out", str(out)], hook, "write", tmp_path)
    reap.append(proc.pid)
    _wait_started(proc, tmp_path, 1)
    assert _staging(out.parent), "the run directory is being written"
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=60) == code
    assert _staging(out.parent) == [] and not out.exists()


def test_simulate_killed_leaves_staging_that_the_next_run_clears(
    hook: Path, tmp_path: Path, reap: list[int]
) -> None:
    out = tmp_path / "runs" / "run"
    proc = _start(["simulate", *SMALL, "--out", str(out)], hook, "write", tmp_path)
    reap.append(proc.pid)
    _wait_started(proc, tmp_path, 1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert _staging(out.parent) == [f".run.partial-{proc.pid}"]
    assert not out.exists()
    with pytest.raises(SystemExit) as info:
        main(["simulate", *SMALL, "--out", str(out)])
    assert info.value.code == 0
    assert _staging(out.parent) == [] and (out / "manifest.json").is_file()


# -- sweep ------------------------------------------------------------------------------------


def _sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP)
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGKILL, -9), (signal.SIGTERM, 143), (signal.SIGINT, 130)],
)
def test_sweep_workers_die_with_the_driver_and_the_sweep_resumes(
    hook: Path, tmp_path: Path, reap: list[int], sig: signal.Signals, code: int
) -> None:
    path = _sweep_file(tmp_path)
    out = tmp_path / "out"
    proc = _start(["sweep", str(path), "--out", str(out), "-q"], hook, "cell", tmp_path)
    reap.append(proc.pid)
    workers = _wait_started(proc, tmp_path, 2)
    reap.extend(workers)
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=60) == code
    # The workers were in the middle of a two-minute cell: they must not outlive the driver.
    assert _wait_gone(workers, within=10) == []
    if sig != signal.SIGKILL:
        assert json.loads((out / "sweep.json").read_text())["status"] == "interrupted"
    # A new driver starts at once and finishes the sweep; nothing stale is left.
    summary = run_sweep(read_sweep_config(path), out, executor=SerialExecutor())
    assert summary.ok and summary.ran == 4
    assert _staging(out / "cells") == []


def test_a_sweep_does_not_start_while_an_earlier_writer_lives(
    tmp_path: Path, reap: list[int]
) -> None:
    path = _sweep_file(tmp_path)
    out = tmp_path / "out"
    run_sweep(read_sweep_config(path), out, executor=SerialExecutor())
    # A process still writing a cell of this sweep (a worker whose driver is gone).
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from spillover.sweeps._store import writer_lock
                with writer_lock({str(out)!r}):
                    print("holding", flush=True)
                    time.sleep(120)
                """
            ),
        ],
        stdout=subprocess.PIPE,
    )
    reap.append(holder.pid)
    assert holder.stdout is not None
    with holder.stdout:
        assert holder.stdout.readline().strip() == b"holding"
    with pytest.raises(RunDirError, match="still write cells"):
        run_sweep(read_sweep_config(path), out, executor=SerialExecutor(), force=True)
    assert (out / "sweep.json").is_file()
    holder.kill()
    holder.wait(timeout=30)
    summary = run_sweep(read_sweep_config(path), out, executor=SerialExecutor(), force=True)
    assert summary.ok and summary.ran == 4
