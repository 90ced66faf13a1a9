"""Sweep-wide concurrency limits: a bounded number of slots shared by every worker of a sweep.

An LLM sweep runs many cells at once, each with its own LLM backend; the server must see at
most ``llm_concurrency`` requests in flight *for the whole sweep*, not per worker. The driver
creates one :class:`SlotLimiter` from its executor and hands the same object to every task;
whoever talks to the server wraps each request in it::

    with limiter:              # or limiter.acquire(); try: ... finally: limiter.release()
        response = http_client.post(...)

The slots live in one place that every worker reaches:

- serial executor: a :class:`threading.BoundedSemaphore` in the driver process;
- process executor: a ``multiprocessing.Manager().Semaphore(n)`` proxy (the manager process
  holds the count; the proxy is pickled into each task and reconnects in the worker);
- Dask executor: a :class:`distributed.Semaphore` with ``max_leases=n`` (the scheduler holds
  the leases; leases of a worker that dies expire after the lease timeout).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable

__all__ = ["Limiter", "SlotLimiter", "local_limiter"]


@runtime_checkable
class Limiter(Protocol):
    """What a consumer of a sweep-wide limit needs: blocking ``acquire``, ``release``.

    Any object with these two methods fits (threading and multiprocessing semaphores,
    :class:`distributed.Semaphore`, :class:`SlotLimiter`). ``acquire`` blocks until a slot is
    free; every successful ``acquire`` must be followed by exactly one ``release``.
    """

    def acquire(self) -> Any: ...

    def release(self) -> Any: ...


class SlotLimiter:
    """A picklable handle on ``slots`` sweep-wide slots; a context manager.

    Parameters
    ----------
    inner
        The shared semaphore (threading, multiprocessing-manager proxy, or Dask).
    slots : int
        How many holders may be inside at once.
    kind : str
        ``"thread"``, ``"process"`` or ``"dask"`` (for messages and manifests).
    """

    def __init__(self, inner: Limiter, slots: int, kind: str) -> None:
        self.inner = inner
        self.slots = slots
        self.kind = kind
        self._bound = False

    def __getstate__(self) -> dict[str, Any]:
        # A copy that travels to a worker must bind again there.
        return {"inner": self.inner, "slots": self.slots, "kind": self.kind, "_bound": False}

    def bind(self) -> SlotLimiter:
        """Attach the limiter to the worker running the current task; returns ``self``.

        Call it from the task's own thread before handing the limiter to other threads (an
        async backend's thread pool, say). A Dask semaphore finds its scheduler through the
        task's context, which other threads lack: it is rebuilt here, in that context, under
        the same name (so it shares the same leases) and with its lease refresh running.
        Other kinds need nothing; calling it more than once is harmless.
        """
        if self.kind == "dask" and not self._bound:
            import distributed

            dist: Any = distributed
            name = str(getattr(self.inner, "name"))  # noqa: B009 - a Dask Semaphore
            self.inner = dist.Semaphore(max_leases=self.slots, name=name)
            self._bound = True
        return self

    def acquire(self) -> None:
        """Block until a slot is free, and take it."""
        if self.inner.acquire() is False:  # Dask returns False only on a timeout (none here)
            raise RuntimeError(f"could not acquire a {self.kind} limiter slot")

    def release(self) -> None:
        """Give back a slot taken by :meth:`acquire`."""
        self.inner.release()

    def __enter__(self) -> SlotLimiter:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()  # the slot is given back whether or not the block raised

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "slots": self.slots}

    def __repr__(self) -> str:
        return f"SlotLimiter(slots={self.slots}, kind={self.kind!r})"


def local_limiter(slots: int) -> SlotLimiter:
    """A limiter for threads of one process (the serial executor's)."""
    return SlotLimiter(threading.BoundedSemaphore(slots), slots, "thread")
