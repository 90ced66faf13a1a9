"""Executors (serial, process) and the sweep-wide limiter."""

from __future__ import annotations

import json
import os
import pickle
import threading
from pathlib import Path
from typing import Any

import pytest

from spillover.exceptions import ConfigError
from spillover.sweeps import (
    Limiter,
    ProcessExecutor,
    SerialExecutor,
    SlotLimiter,
    local_limiter,
    make_executor,
)
from spillover.sweeps._probe import HoldSlot, SlotSpan, hold_slot, max_overlap


def _fail_as_text(task: str, exc: BaseException) -> str:
    return f"failed {task}: {type(exc).__name__}"


def test_serial_executor_maps_in_order_and_reports_errors() -> None:
    ex = SerialExecutor()
    assert list(ex.map(len, ["a", "bb"])) == [1, 2]
    out = list(ex.map(int, ["1", "x", "3"], on_error=_fail_as_text))
    assert out == [1, "failed x: ValueError", 3]
    with pytest.raises(ValueError):
        list(ex.map(int, ["x"]))


def test_make_executor_validates() -> None:
    assert make_executor("serial").kind == "serial"
    assert make_executor("process", workers=3).describe()["workers"] == 3
    with pytest.raises(ConfigError, match="needs a scheduler address") as exc:
        make_executor("dask")
    assert exc.value.params == ("scheduler",) and "--scheduler" not in str(exc.value)
    with pytest.raises(ConfigError, match="executor must be one of"):
        make_executor("threads")
    with pytest.raises(ConfigError, match="workers must be an integer >= 1"):
        ProcessExecutor(0)
    with pytest.raises(ConfigError, match="context must be"):
        ProcessExecutor(1, context="fork")


def test_local_limiter_bounds_concurrent_holders() -> None:
    limiter = local_limiter(2)
    assert isinstance(limiter, Limiter)
    spans: list[SlotSpan] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        span = hold_slot(HoldSlot(limiter, 0.05, i))
        with lock:
            spans.append(span)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(spans) == 6
    # Six threads start at once: exactly two are inside at a time.
    assert max_overlap(spans) == 2
    with limiter:
        pass


def test_max_overlap() -> None:
    spans = [SlotSpan(0, 0.0, 1.0), SlotSpan(1, 0.5, 2.0), SlotSpan(2, 1.0, 3.0)]
    assert max_overlap(spans) == 2
    assert max_overlap([SlotSpan(0, 0.0, 1.0), SlotSpan(1, 1.0, 2.0)]) == 1


@pytest.mark.slow
@pytest.mark.parametrize(("slots", "in_thread"), [(1, False), (2, False), (1, True)])
def test_process_limiter_is_shared_by_all_workers(slots: int, in_thread: bool) -> None:
    with ProcessExecutor(3) as ex:
        limiter = ex.limiter(slots, name="test")
        assert isinstance(limiter, SlotLimiter) and limiter.kind == "process"
        # The handle travels to the workers by pickling, and still points at one count.
        pickle.loads(pickle.dumps(limiter))
        tasks = [HoldSlot(limiter, 0.25, i, in_thread) for i in range(6)]
        spans = list(ex.map(hold_slot, tasks))
    assert sorted(s.index for s in spans) == list(range(6))
    assert max_overlap(spans) <= slots


@pytest.mark.slow
def test_process_executor_yields_as_completed_and_reports_errors() -> None:
    with ProcessExecutor(2) as ex:
        out = list(ex.map(int, ["1", "x", "3", "4"], on_error=_fail_as_text))
    assert sorted(map(str, out)) == ["1", "3", "4", "failed x: ValueError"]


@pytest.mark.slow
def test_a_worker_that_dies_is_reported_not_raised() -> None:
    # os._exit kills the worker process outright (as the OOM killer would).
    with ProcessExecutor(1) as ex:
        out = list(ex.map(os._exit, [3], on_error=_fail_as_text))
    assert out == ["failed 3: BrokenProcessPool"]


def test_llm_sweeps_hand_one_limiter_to_every_cell(
    sweep_file: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spillover import pipeline
    from spillover.policies import ConstantPolicy
    from spillover.sweeps import read_sweep_config, run_sweep

    text = (
        "seed = 1\n[sweep]\nllm_concurrency = 3\n[base]\nn_nodes = 100\nn_rounds = 4\n"
        'n_reps = 1\npolicy = "constant"\nalpha = 0.1\nbeta = 0.1\n[grid]\ndegree = [2, 4]\n'
    )
    spec = read_sweep_config(sweep_file(text))
    assert spec.settings.llm_concurrency == 3
    seen: list[Any] = []

    def build_policy(config: Any, *, limiter: Any = None, **kwargs: Any) -> ConstantPolicy:
        seen.append(limiter)
        return ConstantPolicy(config.alpha, config.beta)

    monkeypatch.setattr(pipeline, "build_policy", build_policy)
    summary = run_sweep(spec, tmp_path / "out", executor=SerialExecutor())
    assert summary.ok and len(seen) == 2
    assert all(isinstance(lim, SlotLimiter) and lim.slots == 3 for lim in seen)
    assert seen[0] is seen[1]  # one limiter for the whole sweep
    doc = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert doc["limiter"] == {"kind": "thread", "slots": 3}
