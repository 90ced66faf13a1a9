"""``RetryingPool``: a batch of calls through a transport, concurrently, with retries.

The layer between a :class:`~spillover.llm.ChatTransport` (one request, one HTTP call) and the
answer parsing of :class:`~spillover.llm.AnsweringBackend`:

- **prefix order**: requests of one persona (the same system message) are sent one after
  another (:func:`prefix_order`), so a server's prefix cache re-reads little of each prompt;
- **bounded concurrency**: at most ``concurrency`` calls in flight per server (a pool of
  workers, one transport connection each), fewer where the server reports fewer slots
  (llama.cpp's ``/props``), else an adaptive limit (halved on 429s and timeouts, grown back
  while latency holds), and optionally a sweep-wide ``limiter`` shared with other
  processes, held around every HTTP call;
- **replicas**: given several transports (servers of the same model), each HTTP attempt goes
  to the least loaded one, and a failed one is set aside while the others take its requests
  (:mod:`spillover.llm._replicas`);
- **a deadline** per call: it bounds the whole call (connecting, sending, waiting and
  reading), so a server that drips bytes times out too. It is ``timeout_s`` at least, and
  ``max(timeout_s, TIMEOUT_LATENCY_FACTOR x the median latency)`` of the last answers once
  :data:`TIMEOUT_MIN_ANSWERS` have come, so a slow server (a big model on a CPU, a long queue)
  is not given up on while it is still working on the request;
- **retries** of transient failures only (:class:`~spillover.llm.TransientFailure` and the
  deadline), with exponential backoff and jitter from the pool's own :class:`random.Random`
  (never the simulation's generator), honouring the server's ``Retry-After``.

Each :meth:`RetryingPool.send_all` runs its own event loop in a helper thread, so the pool works
the same from scripts, from the command line and inside notebooks (which already run a loop);
nothing stays open between batches.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import random
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from spillover._redact import redact
from spillover.exceptions import ConfigError, LLMError, SpilloverError, TransientLLMError
from spillover.llm._accounting import Accounting
from spillover.llm._replicas import Replicas
from spillover.llm._retry import RetryPolicy
from spillover.llm._transport import (
    ChatTransport,
    Completion,
    MalformedReply,
    SendAgain,
    TransientFailure,
)
from spillover.llm._types import LLMRequest

__all__ = ["Call", "Limiter", "Outcome", "RetryingPool", "prefix_order"]

#: A server's Retry-After of at least this many seconds is announced (once per pool).
_ANNOUNCE_WAIT_S: Final[float] = 1.0
#: Most immediate re-sends of one call after :class:`SendAgain` (a transport that keeps
#: asking is broken).
_MAX_SEND_AGAIN: Final[int] = 8

#: The deadline of a call grows to this many times the median latency of recent answers.
TIMEOUT_LATENCY_FACTOR: Final[float] = 10.0
#: Answers measured before the deadline follows the latency.
TIMEOUT_MIN_ANSWERS: Final[int] = 3
#: Recent answers whose latency counts (per pool).
_LATENCY_WINDOW: Final[int] = 64

#: One call: the request and the seed to send it with.
Call = tuple[LLMRequest, int]


def prefix_order(requests: Sequence[LLMRequest]) -> list[int]:
    """The order a batch is sent in: requests with the same system message (a persona) follow
    each other, the groups in the order each first appears, the order given within a group.

    A server with a prefix cache (llama.cpp, vLLM) then re-reads only what differs from the
    prompt before; archetype batches, already persona by persona, keep their order. Answers
    come back in the order given whatever the order sent.
    """
    groups: dict[tuple[str, str], list[int]] = {}
    for i, request in enumerate(requests):
        first = request.messages[0] if request.messages else ("", "")
        groups.setdefault(first, []).append(i)
    return [i for members in groups.values() for i in members]


class Limiter(Protocol):
    """Anything with blocking ``acquire()`` and ``release()`` (a semaphore)."""

    def acquire(self) -> Any: ...

    def release(self) -> Any: ...


@dataclass(frozen=True)
class Outcome:
    """How one call ended: a completion, or an unreadable reply.

    Attributes
    ----------
    completion : Completion or None
        None when the reply was unreadable (``error`` says why).
    error : str or None
    attempts : int
        HTTP attempts it took, retries included.
    """

    completion: Completion | None
    error: str | None
    attempts: int


class RetryingPool:
    """Sends batches of calls through ``transport``: concurrently, with retries.

    Parameters
    ----------
    transport : ChatTransport, or a sequence of them
        The server; several: replicas of one model, balanced by load (the first names them in
        cache keys, :attr:`identity`).
    concurrency : int
        Most calls in flight at once per server (at most the slots a server reports).
    timeout_s : float
        Deadline of one HTTP call, seconds (the whole call, not each read), at least; it grows
        with the latency measured (:meth:`deadline_s`).
    retry : RetryPolicy, optional
    limiter : object with acquire/release, optional
        A shared semaphore held around every HTTP call (sweep-wide concurrency bound).
    accounting : Accounting, optional
        Counters to add to (HTTP attempts, retries, failures, wall time).
    jitter_seed : int, optional
        Seed of the backoff jitter generator (retries only; it cannot change a result).
    sleep : async callable, optional
        ``await sleep(seconds)`` between retries (tests pass a recorder).
    notice : callable, optional
        ``notice(line)`` for the one-time note that a server asked to wait (``Retry-After``
        of a second or more); a line on stderr by default.
    """

    def __init__(
        self,
        transport: ChatTransport | Sequence[ChatTransport],
        *,
        concurrency: int = 8,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        limiter: Limiter | None = None,
        accounting: Accounting | None = None,
        jitter_seed: int | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"llm_concurrency must be an integer >= 1; got {concurrency!r}")
        if (
            isinstance(timeout_s, bool)
            or not isinstance(timeout_s, int | float)
            or not timeout_s > 0
        ):
            raise ConfigError(f"llm_timeout_s must be a number > 0; got {timeout_s!r}")
        transports = tuple(transport) if isinstance(transport, Sequence) else (transport,)
        self.replicas = Replicas(transports, concurrency)
        self.transports = transports
        #: The first server (the only one without replicas).
        self.transport = transports[0]
        self.concurrency = concurrency
        self.timeout_s = float(timeout_s)
        self.retry = retry if retry is not None else RetryPolicy()
        self.accounting = accounting if accounting is not None else Accounting()
        self._limiter = limiter
        self._rng = random.Random(jitter_seed)
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._notice = notice if notice is not None else _print_notice
        self._wait_announced = False
        self._limiter_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._batch_lock = threading.Lock()
        self._latencies: collections.deque[float] = collections.deque(maxlen=_LATENCY_WINDOW)
        self._longest_deadline_s = self.timeout_s

    def deadline_s(self) -> float:
        """The deadline of the next call: ``timeout_s``, or ``TIMEOUT_LATENCY_FACTOR`` times the
        median latency of the recent answers when that is longer (never shorter)."""
        if len(self._latencies) < TIMEOUT_MIN_ANSWERS:
            return self.timeout_s
        scaled = TIMEOUT_LATENCY_FACTOR * statistics.median(self._latencies)
        return max(self.timeout_s, scaled)

    @property
    def identity(self) -> str:
        return self.replicas.identity

    def __repr__(self) -> str:
        shown = self.transport if len(self.transports) == 1 else list(self.transports)
        return f"RetryingPool({shown!r}, concurrency={self.concurrency})"

    def describe(self) -> dict[str, Any]:
        doc = {
            **self.transport.describe(),
            "concurrency": self.concurrency,
            "timeout_s": self.timeout_s,
            "max_retries": self.retry.max_retries,
        }
        if len(self.transports) > 1:
            doc["base_url"] = [redact(t.base_url) for t in self.transports]
            doc["replicas"] = self.replicas.describe()
        else:
            only = self.replicas[0]
            if only.slots is not None:
                doc["server_slots"] = only.slots
            if only.halvings:
                doc["concurrency_halvings"] = only.halvings
                doc["concurrency_limit"] = only.allowed
        if self._longest_deadline_s > self.timeout_s:
            doc["timeout_grown_to_s"] = round(self._longest_deadline_s, 3)
        return doc

    # -- a batch ---------------------------------------------------------------------------

    def send_all(
        self,
        calls: Sequence[Call],
        *,
        on_outcome: Callable[[int, Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Send every call, ``concurrency`` at a time; the outcomes in call order.

        ``on_outcome(index, outcome)`` is called as each call ends (from the batch's thread).

        Raises
        ------
        TransientLLMError
            A call still failed after all retries (server down, persistent 429/5xx, timeouts).
        LLMError
            A permanent failure reported by the transport.
        """
        calls = list(calls)
        if not calls:
            return []
        # One batch at a time per pool (callers from several threads queue here).
        with self._batch_lock:
            return self._run_batch(calls, on_outcome)

    def _run_batch(
        self, calls: list[Call], on_outcome: Callable[[int, Outcome], None] | None
    ) -> list[Outcome]:
        box: dict[str, Any] = {}
        started = threading.Event()
        thread = threading.Thread(
            target=self._thread_main,
            args=(calls, on_outcome, box, started),
            name="spillover-llm",
            daemon=True,
        )
        t0 = time.perf_counter()
        thread.start()
        try:
            while thread.is_alive():
                thread.join(0.05)
        except KeyboardInterrupt:
            started.wait()
            loop, task = box.get("loop"), box.get("task")
            if loop is not None and task is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(task.cancel)
            thread.join()
            raise
        finally:
            self.accounting.add(wall_s=time.perf_counter() - t0)
        if "error" in box:
            error = box["error"]
            # The boundary of the LLM layer: no error leaves it unredacted, not even one
            # that no rule expected (its text could quote a URL with a key in it).
            if isinstance(error, ConfigError):
                raise type(error)(redact(str(error)), params=error.params) from None
            if isinstance(error, SpilloverError):
                raise type(error)(redact(str(error))) from None
            if isinstance(error, Exception):
                raise LLMError(
                    redact(f"unexpected error in the LLM layer: {type(error).__name__}: {error}")
                ) from None
            raise error
        result: list[Outcome] = box["result"]
        return result

    def _thread_main(
        self,
        calls: list[Call],
        on_outcome: Callable[[int, Outcome], None] | None,
        box: dict[str, Any],
        started: threading.Event,
    ) -> None:
        async def main() -> list[Outcome]:
            box["loop"] = asyncio.get_running_loop()
            box["task"] = asyncio.current_task()
            started.set()
            return await self._send_all(calls, on_outcome)

        try:
            box["result"] = asyncio.run(main())
        except BaseException as exc:  # handed to the calling thread, which re-raises it
            box["error"] = exc
        finally:
            started.set()

    async def _send_all(
        self, calls: list[Call], on_outcome: Callable[[int, Outcome], None] | None
    ) -> list[Outcome]:
        results: list[Outcome | None] = [None] * len(calls)
        errors: list[BaseException] = []
        pending = iter(prefix_order([request for request, _ in calls]))
        await self.replicas.probe()
        self.replicas.begin()

        async def worker(w: int) -> None:
            async with contextlib.AsyncExitStack() as stack:
                connections: dict[int, Any] = {}

                async def connection(r: int) -> Any:
                    # Opened when first needed: the home replica's at once, others on use.
                    if r not in connections:
                        transport = self.transports[r]
                        connections[r] = await stack.enter_async_context(transport.connect())
                    return connections[r]

                await connection(self.replicas.home(w))
                while not errors:
                    i = next(pending, None)
                    if i is None:
                        return
                    try:
                        request, seed = calls[i]
                        outcome = await self._call(connection, request, seed)
                        results[i] = outcome
                        if on_outcome is not None:
                            on_outcome(i, outcome)
                    except Exception as exc:
                        errors.append(exc)
                        return

        n_workers = min(self.replicas.total, len(calls))
        if self._limiter is not None:
            self._limiter_pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=n_workers, thread_name_prefix="spillover-llm-limiter"
            )
        try:
            await asyncio.gather(*(worker(w) for w in range(n_workers)))
        finally:
            if self._limiter_pool is not None:
                self._limiter_pool.shutdown(wait=False, cancel_futures=True)
                self._limiter_pool = None
        if errors:
            raise errors[0]
        done = [r for r in results if r is not None]
        assert len(done) == len(calls)
        return done

    # -- one call --------------------------------------------------------------------------

    async def _call(
        self, connection: Callable[[int], Awaitable[Any]], request: LLMRequest, seed: int
    ) -> Outcome:
        """One call, retried: each attempt on the replica :class:`Replicas` chooses (another
        than the one that just failed, when one is up), through ``connection(replica)``."""
        attempt = 0
        again = 0
        last: int | None = None
        while True:
            r = await self.replicas.acquire(avoid=last)
            transport = self.transports[r]
            failed = answered = overloaded = False
            wait = 0.0
            started: float | None = None
            latency: float | None = None
            deadline = self.deadline_s()
            try:
                conn = await connection(r)
                self.accounting.add(http_attempts=1)
                async with self._slot():
                    started = self.replicas.clock()
                    deadline = self.deadline_s()
                    self._longest_deadline_s = max(self._longest_deadline_s, deadline)
                    completion = await asyncio.wait_for(
                        transport.send(conn, request, seed=seed), deadline
                    )
                    latency = self.replicas.clock() - started
                    self._latencies.append(latency)
                answered = True
                return Outcome(completion, None, attempt + 1)
            except SendAgain:
                again += 1
                if again > _MAX_SEND_AGAIN:
                    self.accounting.add(failures=1)
                    raise LLMError(
                        f"the transport for {transport.base_url} kept asking to send a "
                        "request again"
                    ) from None
            except MalformedReply as exc:
                answered = True
                return Outcome(None, str(exc), attempt + 1)
            except LLMError:
                self.accounting.add(failures=1)
                raise
            except (TransientFailure, TimeoutError) as exc:
                failed = True
                overloaded = isinstance(exc, TimeoutError) or exc.overloaded
                wait = self._after_failure(exc, attempt, transport, r, deadline)
                attempt += 1
            finally:
                self.replicas.release(
                    r,
                    failed=failed,
                    answered=answered,
                    overloaded=overloaded,
                    started=started,
                    latency=latency,
                )
            last = r
            if wait > 0:
                await self._sleep(wait)

    def _after_failure(
        self,
        exc: TransientFailure | TimeoutError,
        attempt: int,
        transport: ChatTransport,
        r: int,
        deadline: float,
    ) -> float:
        """The wait before the next attempt of a call that failed transiently on replica ``r``
        (none when another replica is up); raises when the retries are spent."""
        if isinstance(exc, TransientFailure):
            what, asked = exc.reason, exc.retry_after
        else:
            what = (
                f"no complete answer within {deadline:g} s (the timeout bounds the whole request)"
            )
            asked = None
        if attempt >= self.retry.max_retries:
            self.accounting.add(failures=1)
            raise TransientLLMError(
                f"the LLM server at {transport.base_url} failed after "
                f"{attempt + 1} attempt(s): {redact(what)}"
            ) from None
        self.accounting.add(retries=1)
        if self.replicas.up_besides(r):
            return 0.0  # sent again at once, to another replica
        wait = self.retry.delay(attempt, asked, self._rng)
        if asked is not None:
            self._announce_wait(asked)
        return wait

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        limiter = self._limiter
        if limiter is None:
            yield
            return
        loop = asyncio.get_running_loop()
        # Blocking acquires wait in threads of their own: in the loop's default executor they
        # could take every thread that the HTTP client needs, and deadlock.
        acquired = loop.run_in_executor(self._limiter_pool, limiter.acquire)
        try:
            await asyncio.shield(acquired)
        except asyncio.CancelledError:
            # The blocking acquire may still succeed later: give the slot back when it does.
            acquired.add_done_callback(
                lambda f: limiter.release() if not f.cancelled() and f.exception() is None else None
            )
            raise
        try:
            yield
        finally:
            limiter.release()

    def _announce_wait(self, asked: float) -> None:
        """Say once per pool, on stderr (even under --quiet), that the server asked to wait."""
        if asked < _ANNOUNCE_WAIT_S or self._wait_announced:
            return
        self._wait_announced = True
        cap = self.retry.max_retry_after_s
        capped = "" if asked <= cap else f"; waiting {cap:.0f} s per retry at most"
        self._notice(
            redact(
                f"note: the LLM server at {self.transport.base_url} asked to wait "
                f"{asked:,.0f} s before retrying (Retry-After){capped}, up to "
                f"{self.retry.max_retries} retries"
            )
        )


def _print_notice(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
