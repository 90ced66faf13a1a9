"""Replicas of one model behind one pool: requests balanced by load, failing ones routed around.

A :class:`~spillover.llm.RetryingPool` sends through one or more transports that serve the same
model (vLLM or llama.cpp servers started from the same weights). :class:`Replicas` keeps, per
replica, how many requests are in flight and how many it may take at once, and chooses for each
HTTP attempt the replica with the lowest load (requests in flight over its cap):

- **the cap** of a replica is the configured concurrency, lowered to the number of slots the
  server reports where it reports them (llama.cpp's ``GET /props``, ``total_slots``, asked once
  through the transport's optional ``server_slots``; a server that cannot answer yet, refusing
  or answering 5xx, is asked again at the next batch, up to three times, and one that lets the
  question time out is not asked again), so no request waits on the server behind
  others while the client's deadline runs (and is abandoned when it expires, the server still
  working on it). A server that does not say (OpenAI, vLLM) keeps the configured concurrency;
- **a replica that failed** (a transient failure: 429, 5xx, a timeout, a refused or reset
  connection) is set aside for a cool-down that doubles with each failure in a row (0.5 s, 1 s,
  ..., at most 30 s) and ends at its next success; meanwhile requests go to the others, and a
  failed request is sent again at once to another replica when one is up. When every replica
  is set aside, the one that comes back first is used (and the pool backs off as for one
  server).
- **adaptive concurrency** where the server does not report its slots: the requests a replica
  may have in flight start at the configured concurrency, are halved by a sign of overload
  (a 429, a timeout) on a request sent since the last cut, and grow back by about one per
  round trip (``1 / limit`` per answer) while the answers come within twice the fastest
  latency seen there. Requests beyond the limit wait for a place before they are sent, so
  no request is abandoned for being queued inside an overloaded server.

Which replica answers never changes an answer: requests carry their seed, and the cache keys
name the model's server by the first replica (:attr:`Replicas.identity`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from spillover._redact import redact
from spillover.exceptions import ConfigError
from spillover.llm._transport import ChatTransport

__all__ = ["Replica", "Replicas"]

#: First cool-down of a replica after a transient failure, and the longest.
COOLDOWN_S: Final[float] = 0.5
MAX_COOLDOWN_S: Final[float] = 30.0
#: Deadline of the ``/props`` question, and how many times it is asked without an answer (a
#: question that runs into the deadline is not asked again: each try would cost the deadline).
PROBE_TIMEOUT_S: Final[float] = 5.0
MAX_PROBES: Final[int] = 3


@dataclass
class Replica:
    """One server of the model, and what the pool knows of it."""

    transport: ChatTransport
    concurrency: int  #: the configured most in flight
    slots: int | None = None  #: what the server reported (``/props``), None when it does not
    probed: bool = False  #: the server has been asked (and answered, one way or the other)
    probes_failed: int = 0  #: questions that got no answer
    in_flight: int = 0
    sent: int = 0  #: HTTP attempts sent to it
    failures: int = 0  #: transient failures it gave
    streak: int = 0  #: transient failures in a row
    down_until: float = 0.0  #: set aside until then (monotonic clock)
    limit: float = 0.0  #: adaptive limit on requests in flight (without reported slots)
    halvings: int = 0  #: times the limit was halved
    last_cut: float = -math.inf  #: when it last was
    fastest: float = math.inf  #: the shortest answer time seen, seconds

    def __post_init__(self) -> None:
        self.limit = float(self.concurrency)

    @property
    def cap(self) -> int:
        """Most requests in flight: the configured concurrency, at most the server's slots."""
        return min(self.concurrency, self.slots) if self.slots else self.concurrency

    @property
    def allowed(self) -> int:
        """Requests it may have in flight now: the server's slots where it reports them,
        else the adaptive limit."""
        return self.cap if self.slots else max(1, min(self.cap, int(self.limit)))

    def adapt(self, now: float, *, overloaded: bool, started: float, latency: float | None) -> None:
        """Halve the limit on overload (once per cut), grow it while latency holds."""
        if self.slots:
            return
        if overloaded:
            if started >= self.last_cut:
                self.limit = max(1.0, self.limit / 2)
                self.halvings += 1
                self.last_cut = now
        elif latency is not None:
            self.fastest = min(self.fastest, latency)
            if latency <= 2 * self.fastest and self.limit < self.cap:
                self.limit = min(float(self.cap), self.limit + 1 / self.limit)

    def describe(self) -> dict[str, Any]:
        return {
            "base_url": redact(self.transport.base_url),
            "server_slots": self.slots,
            "concurrency": self.cap,
            "http_attempts": self.sent,
            "transient_failures": self.failures,
            "concurrency_halvings": self.halvings,
            "concurrency_limit": self.allowed,
        }


class Replicas:
    """The replicas of one pool (see the module docstring).

    Parameters
    ----------
    transports : sequence of ChatTransport
        The replicas, the first naming the model's server in cache keys.
    concurrency : int
        Most requests in flight per replica (lowered to a server's slots).
    clock : callable, optional
        Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        transports: Sequence[ChatTransport],
        concurrency: int,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not transports:
            raise ConfigError("a pool needs at least one transport")
        self.replicas = [Replica(t, concurrency) for t in transports]
        self._clock = clock if clock is not None else time.monotonic
        self._changed: asyncio.Event | None = None

    def __len__(self) -> int:
        return len(self.replicas)

    def __getitem__(self, i: int) -> Replica:
        return self.replicas[i]

    @property
    def identity(self) -> str:
        """Who answers, in cache keys: the first replica's identity, so that adding replicas
        to a server keeps its cached answers."""
        return self.replicas[0].transport.identity

    @property
    def total(self) -> int:
        """Most requests in flight, all replicas together."""
        return sum(r.cap for r in self.replicas)

    def home(self, worker: int) -> int:
        """The replica a pool's worker connects to first (workers spread as the caps are)."""
        for i, r in enumerate(self.replicas):
            if worker < r.cap:
                return i
            worker -= r.cap
        return len(self.replicas) - 1

    # -- the server's slots --------------------------------------------------------------------

    async def probe(self) -> None:
        """Ask each replica not asked yet how many slots it has (its transport's optional
        ``server_slots(connection)``); a replica that cannot answer now (refused, 5xx) is asked
        again at the next batch, at most :data:`MAX_PROBES` times in all; one whose answer does
        not come in :data:`PROBE_TIMEOUT_S` is not asked again (once per run)."""
        todo = [r for r in self.replicas if not r.probed]
        if todo:
            await asyncio.gather(*(self._probe(r) for r in todo))

    async def _probe(self, replica: Replica) -> None:
        ask = getattr(replica.transport, "server_slots", None)
        if ask is None:
            replica.probed = True
            return
        try:
            async with replica.transport.connect() as connection:
                slots = await asyncio.wait_for(ask(connection), PROBE_TIMEOUT_S)
        except TimeoutError:
            # A server that hangs on the question would cost the deadline before every batch.
            replica.probes_failed += 1
            replica.probed = True
            return
        except Exception:  # advisory: a question the server cannot answer never fails a run
            replica.probes_failed += 1
            # Asked again at the next batch, a few times (the server may be starting).
            replica.probed = replica.probes_failed >= MAX_PROBES
            return
        replica.slots = slots if isinstance(slots, int) and slots >= 1 else None
        replica.probed = True

    # -- leases ------------------------------------------------------------------------------

    def begin(self) -> None:
        """Start a batch (in its event loop): nothing in flight."""
        self._changed = asyncio.Event()
        for r in self.replicas:
            r.in_flight = 0

    async def acquire(self, avoid: int | None = None) -> int:
        """A replica for one HTTP attempt (waits for a free place on one that is up); prefers
        another than ``avoid`` (the one that just failed)."""
        assert self._changed is not None, "begin() first"
        while True:
            i = self._pick(avoid)
            if i is not None:
                replica = self.replicas[i]
                replica.in_flight += 1
                replica.sent += 1
                return i
            self._changed.clear()
            await self._changed.wait()

    def _pick(self, avoid: int | None) -> int | None:
        now = self._clock()
        free = [i for i, r in enumerate(self.replicas) if r.in_flight < r.allowed]
        up = [i for i in free if self.replicas[i].down_until <= now]
        if not up:
            if not free or any(r.down_until <= now for r in self.replicas):
                return None  # a replica that is up is busy: wait for it
            # Every replica is set aside: the one that comes back first.
            up = [min(free, key=lambda i: self.replicas[i].down_until)]
        others = [i for i in up if i != avoid] or up
        return min(others, key=lambda i: (self.replicas[i].in_flight / self.replicas[i].allowed, i))

    def clock(self) -> float:
        return self._clock()

    def release(
        self,
        i: int,
        *,
        failed: bool = False,
        answered: bool = False,
        overloaded: bool = False,
        started: float | None = None,
        latency: float | None = None,
    ) -> None:
        """The attempt on replica ``i`` (sent at ``started``, by :meth:`clock`) ended:
        ``failed`` transiently (it is set aside for a while; ``overloaded``: its limit is
        halved), or ``answered`` after ``latency`` seconds (it is up again)."""
        replica = self.replicas[i]
        replica.in_flight -= 1
        now = self._clock()
        if failed:
            replica.failures += 1
            replica.streak += 1
            cooldown = min(MAX_COOLDOWN_S, COOLDOWN_S * 2 ** (replica.streak - 1))
            replica.down_until = now + cooldown
        elif answered:
            replica.streak = 0
            replica.down_until = 0.0
        if started is not None and (overloaded or answered):
            replica.adapt(now, overloaded=overloaded, started=started, latency=latency)
        if self._changed is not None:
            self._changed.set()

    def up_besides(self, i: int) -> bool:
        """Whether another replica than ``i`` is up (a failed attempt goes there at once)."""
        now = self._clock()
        return any(j != i and r.down_until <= now for j, r in enumerate(self.replicas))

    def describe(self) -> list[dict[str, Any]]:
        return [r.describe() for r in self.replicas]
