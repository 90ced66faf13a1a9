"""Diagnostic tasks for executors and limiters (module-level, so any worker can import them).

``hold_slot`` takes a slot of a sweep-wide limiter, holds it, and reports when it held it:
running many of them on an executor shows how many holders the limiter let in at once. The
tests use it; it is also a quick check of a real cluster's limiter::

    with DaskExecutor("tcp://...") as ex:
        lim = ex.limiter(4, name="check")
        spans = list(ex.map(hold_slot, [HoldSlot(lim, 0.5, i) for i in range(32)]))
        assert max_overlap(spans) <= 4
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from spillover.sweeps._limiter import Limiter, SlotLimiter

__all__ = ["HoldSlot", "SlotSpan", "hold_slot", "max_overlap"]


@dataclass(frozen=True)
class HoldSlot:
    """A probe task: hold one slot of ``limiter`` for ``seconds``."""

    limiter: Limiter
    seconds: float
    index: int = 0
    in_thread: bool = False


@dataclass(frozen=True)
class SlotSpan:
    """When a probe held its slot (``time.time()`` clock, comparable across processes)."""

    index: int
    start: float
    end: float


def hold_slot(task: HoldSlot) -> SlotSpan:
    """Hold a slot; with ``in_thread``, from a fresh thread (as an async backend's executor
    does), which inherits none of the task's context."""
    if isinstance(task.limiter, SlotLimiter):
        task.limiter.bind()
    if task.in_thread:
        spans: list[SlotSpan] = []
        plain = HoldSlot(task.limiter, task.seconds, task.index)
        thread = threading.Thread(target=lambda: spans.append(hold_slot(plain)))
        thread.start()
        thread.join()
        if not spans:
            raise RuntimeError("the probe thread failed to hold a slot")
        return spans[0]
    task.limiter.acquire()
    try:
        start = time.time()
        time.sleep(task.seconds)
        end = time.time()
    finally:
        task.limiter.release()
    return SlotSpan(task.index, start, end)


def max_overlap(spans: Iterable[SlotSpan]) -> int:
    """The largest number of spans holding a slot at the same instant."""
    spans = list(spans)
    # Ends sort before starts at the same instant: a slot handed over is not an overlap.
    events = sorted([(s.start, 1) for s in spans] + [(s.end, -1) for s in spans])
    held = peak = 0
    for _, step in events:
        held += step
        peak = max(peak, held)
    return peak
