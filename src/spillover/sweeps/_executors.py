"""Executors: run a function over picklable tasks and yield results as they complete.

Three implementations of one small protocol:

- :class:`SerialExecutor`: in the calling process, in task order;
- :class:`ProcessExecutor`: a :class:`concurrent.futures.ProcessPoolExecutor` with a
  ``forkserver`` (or ``spawn``) context, so workers never inherit the driver's threads or state;
- :class:`DaskExecutor`: a :class:`distributed.Client` connected to a running scheduler.

Results come back in completion order; each result carries its own cell index, so nothing
downstream depends on the order. No cluster code lives here: Dask does the distribution.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeAlias, TypeVar

from spillover._extras import require_extra
from spillover._redact import redact
from spillover.exceptions import ConfigError
from spillover.sweeps._limiter import SlotLimiter, local_limiter
from spillover.sweeps._spec import check_scheduler_address

__all__ = [
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "make_executor",
]

T = TypeVar("T")
R = TypeVar("R")

#: ``(task, get its result)`` pairs, as tasks settle: the getter raises the task's exception.
_Settled: TypeAlias = Generator[tuple[T, Callable[[], R]]]


class Executor(Protocol):
    """Runs ``fn`` over tasks; yields the results as they complete.

    ``map(fn, tasks, on_error=...)`` yields one value per task, in completion order. When a
    task raises (or its worker dies), ``on_error(task, exception)`` is yielded in its place;
    without ``on_error`` the exception propagates. ``fn`` and the tasks must be picklable
    (module-level function, plain data) for every executor but the serial one.
    """

    kind: str

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        on_error: Callable[[T, BaseException], R] | None = None,
    ) -> Iterator[R]: ...

    def limiter(self, slots: int, *, name: str) -> SlotLimiter:
        """A limiter of ``slots`` slots shared by every task this executor runs."""
        ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _Base:
    kind = "base"

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        on_error: Callable[[T, BaseException], R] | None = None,
    ) -> Iterator[R]:
        """The protocol's ``map``: each task's result, or ``on_error``'s value for a task that
        raised (the exception itself without ``on_error``), as :meth:`_results` settles them."""
        with contextlib.closing(self._results(fn, list(tasks))) as settled:
            for task, result in settled:
                try:
                    value = result()
                except Exception as exc:
                    value = _fail(task, exc, on_error)
                yield value

    def _results(self, fn: Callable[[T], R], tasks: list[T]) -> _Settled[T, R]:
        """``(task, get its result)`` for every task, in completion order; the getter raises
        the task's exception. Closing the iterator stops the tasks not yet settled."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the executor holds (pools, managers, clients)."""

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _fail(task: T, exc: BaseException, on_error: Callable[[T, BaseException], R] | None) -> R:
    if on_error is None:
        raise exc
    return on_error(task, exc)


class SerialExecutor(_Base):
    """Runs every task in the calling process, in task order."""

    kind = "serial"

    def _results(self, fn: Callable[[T], R], tasks: list[T]) -> _Settled[T, R]:
        for task in tasks:
            yield task, functools.partial(fn, task)

    def limiter(self, slots: int, *, name: str) -> SlotLimiter:
        return local_limiter(slots)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": 1}


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _parent_gone(parent: int, driver: int) -> bool:
    from spillover.io import pid_alive

    return os.getppid() != parent or not pid_alive(driver)


def _watch_parent(parent: int, driver: int) -> None:
    while not _parent_gone(parent, driver):
        time.sleep(0.5)
    os._exit(70)  # the driver is gone: nothing may be written for it any more


def die_with_driver(driver: int) -> None:
    """Make this worker process end when the driver ``driver`` (or its own parent) dies.

    Run as the initializer of every worker (and of the limiter's manager process). On Linux
    the kernel sends SIGKILL when the parent dies (``PR_SET_PDEATHSIG``: with forkserver the
    parent is the fork server, which exits with the driver); everywhere a watchdog thread
    checks the parent and the driver twice a second. A driver killed with SIGKILL therefore
    leaves no worker writing into its sweep.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent == 1 or _parent_gone(parent, driver):  # it died before the above took effect
        os._exit(70)
    threading.Thread(
        target=_watch_parent, args=(parent, driver), name="spillover-parent-watch", daemon=True
    ).start()


def _stop_workers(pool: Any) -> None:
    """Terminate the pool's worker processes (an interrupted sweep must not go on writing)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            process.terminate()


def _default_context() -> str:
    # forkserver: workers start from a clean server process, never a fork of a driver that may
    # hold threads (progress bars, Dask clients) or locks; spawn where forkserver is missing.
    return "forkserver" if sys.platform.startswith("linux") else "spawn"


class ProcessExecutor(_Base):
    """Local worker processes (``concurrent.futures.ProcessPoolExecutor``).

    Parameters
    ----------
    workers : int, optional
        Worker processes; ``os.cpu_count()`` when None. Never more than there are tasks.
    context : {"forkserver", "spawn"}, optional
        Start method; ``forkserver`` on Linux, else ``spawn``. ``fork`` is refused: a forked
        child of a multi-threaded driver can deadlock.
    """

    kind = "process"

    def __init__(self, workers: int | None = None, *, context: str | None = None) -> None:
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            raise ConfigError(f"workers must be an integer >= 1; got {workers!r}")
        context = context or _default_context()
        if context not in ("forkserver", "spawn"):
            raise ConfigError(f"context must be 'forkserver' or 'spawn'; got {context!r}")
        self.workers = workers or os.cpu_count() or 1
        self.context = context
        self._ctx = multiprocessing.get_context(context)
        if context == "forkserver":
            # Workers fork from a server that has already imported the package (a few seconds
            # per worker otherwise); the server itself starts no threads and holds no state.
            self._ctx.set_forkserver_preload(["spillover.sweeps._run"])
        self._manager: Any = None

    def _results(self, fn: Callable[[T], R], tasks: list[T]) -> _Settled[T, R]:
        from concurrent.futures import Future, ProcessPoolExecutor, as_completed

        if not tasks:
            return
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(tasks)),
            mp_context=self._ctx,
            initializer=die_with_driver,
            initargs=(os.getpid(),),
        )
        clean = False
        try:
            futures: dict[Future[R], T] = {pool.submit(fn, task): task for task in tasks}
            for future in as_completed(futures):
                yield futures[future], future.result
            clean = True
        finally:
            # On an early exit (interrupt, consumer error) drop queued tasks, stop the running
            # ones and do not wait.
            if not clean:
                _stop_workers(pool)
            pool.shutdown(wait=clean, cancel_futures=True)

    def limiter(self, slots: int, *, name: str) -> SlotLimiter:
        if self._manager is None:
            from multiprocessing.managers import SyncManager

            self._manager = SyncManager(ctx=self._ctx)
            self._manager.start(die_with_driver, (os.getpid(),))
        return SlotLimiter(self._manager.Semaphore(slots), slots, "process")

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self.workers, "context": self.context}

    def close(self) -> None:
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = None


class DaskExecutor(_Base):
    """Tasks on a Dask cluster through :class:`distributed.Client`.

    Parameters
    ----------
    address : str
        Scheduler address, ``tcp://HOST:PORT``.
    timeout : float
        Seconds to wait for the scheduler to answer.

    Notes
    -----
    Workers must import the same version of spillover, and see the sweep folder at the same
    path (a shared filesystem) when it is on another machine: each cell writes its run
    directory there.
    """

    kind = "dask"

    def __init__(self, address: str, *, timeout: float = 30.0) -> None:
        require_extra("sweeps", only=("distributed",))
        import distributed

        dist: Any = distributed
        self.address = check_scheduler_address(address)
        try:
            self.client: Any = dist.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cannot connect to the Dask scheduler at {redact(address)}: {redact(str(exc))}"
            ) from None
        self._semaphores: list[Any] = []

    def _results(self, fn: Callable[[T], R], tasks: list[T]) -> _Settled[T, R]:
        import distributed

        as_completed: Any = distributed.as_completed
        if not tasks:
            return
        token = uuid.uuid4().hex[:8]
        keys = [f"spillover-task-{i:05d}-{token}" for i in range(len(tasks))]
        # pure=False: a task has side effects (it writes a run directory) and must never be
        # answered from a result held by the scheduler.
        futures = self.client.map(fn, tasks, key=keys, pure=False, retries=0)
        by_key = {f.key: task for f, task in zip(futures, tasks, strict=True)}
        done: set[Any] = set()
        try:
            # The client's loop, given explicitly: this client is not the default one.
            for future in as_completed(futures, loop=self.client.loop):
                done.add(future.key)
                try:
                    yield by_key[future.key], future.result
                finally:
                    future.release()
        finally:
            pending = [f for f in futures if f.key not in done]
            if pending:
                self.client.cancel(pending)

    def limiter(self, slots: int, *, name: str) -> SlotLimiter:
        import distributed

        dist: Any = distributed
        # Bound to this client explicitly; unpickled in a task it binds to its worker.
        sem = dist.Semaphore(
            max_leases=slots,
            name=name,
            scheduler_rpc=self.client.scheduler,
            loop=self.client.loop,
        )
        sem.register()
        self._semaphores.append(sem)
        return SlotLimiter(sem, slots, "dask")

    def n_workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "scheduler": redact(self.address), "workers": self.n_workers()}

    def close(self) -> None:
        for sem in self._semaphores:
            try:
                sem.close()
            except Exception:  # the scheduler may be gone: nothing left to free
                continue
        self._semaphores.clear()
        self.client.close()


def make_executor(
    kind: str, *, workers: int | None = None, scheduler: str | None = None
) -> SerialExecutor | ProcessExecutor | DaskExecutor:
    """The executor a sweep asks for: ``serial``, ``process`` or ``dask`` (needs ``scheduler``)."""
    if kind == "serial":
        return SerialExecutor()
    if kind == "process":
        return ProcessExecutor(workers)
    if kind == "dask":
        if scheduler is None:
            raise ConfigError(
                "executor 'dask' needs a scheduler address: set scheduler to tcp://HOST:PORT",
                params=("scheduler",),
            )
        return DaskExecutor(scheduler)
    raise ConfigError(f"executor must be one of serial, process, dask; got {kind!r}")
