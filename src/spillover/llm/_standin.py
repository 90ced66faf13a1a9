"""A stand-in OpenAI-compatible server for tests and benchmarks (loopback only).

:class:`StandinServer` serves ``POST /v1/chat/completions`` and ``GET /v1/models`` (and, given
``slots``, llama.cpp's ``GET /props`` with ``total_slots``) on ``127.0.0.1`` (it refuses any
other address) from a thread-per-connection :class:`http.server.ThreadingHTTPServer`. Answers
are deterministic functions of the request:

- the share probability ``p`` comes from ``probability(messages)``; the default reads the
  persona (a hash of the system prompt gives an offline rate alpha and an online rate beta) and
  the number of sharing neighbours stated by the prompt, ``p = 1 - (1-alpha)(1-beta)^m``;
- the sampled answer of choice ``j`` is "yes" when ``u(messages, seed, j) < p`` for a hash
  uniform ``u``, so different seeds (samples) give different answers and equal requests equal
  ones;
- with ``logprobs`` the tokens of the JSON answer are returned with ``top_logprobs``; the answer
  token carries ``log p`` for "yes" and ``log(1 - p)`` for "no";
- ``n`` choices, ``response_format`` (JSON schema) and ``seed`` are honoured.

Latency (fixed, plus a deterministic jitter per request that shuffles completion order) and
faults are configurable (:class:`Faults`): 429 with ``Retry-After``, 500, 503, hanging past the
client's timeout, malformed JSON answers, refusals, an unreadable body, missing
log-probabilities, rejecting ``response_format`` or ``logprobs`` with a 400, feed posts too
long for the request's ``max_tokens`` (every answer is cut at that limit, with
``finish_reason`` "length", as a real server does), and the hostile
ones: a non-JSON body or a refusal that quotes the request's key, a body dripped one byte per
second, a connection reset after the request, and a huge answer. Each fault
hits a deterministic fraction of distinct requests (model, messages, seed) on their first
``fault_attempts`` attempts, so retries succeed and outcomes do not depend on timing.

The answer rules and the faults live in :mod:`spillover.llm._standin_answers`; this module
serves them over HTTP. Every request is recorded (:attr:`StandinServer.log`). The server
stops on :meth:`stop`, at the end of a ``with`` block, or after ``max_lifetime_s`` at the
latest.

To serve from a separate process (as the benchmark does)::

    python -c "from spillover.llm._standin import main; main()" --latency 0.05

prints its base URL and serves until its standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final

from spillover.llm._standin_answers import (
    DRIP,
    RESET,
    AnswerConfig,
    Faults,
    answer,
    default_probability,
    error_body,
    unit,
)

__all__ = ["Faults", "StandinServer", "default_probability"]

_HOST: Final[str] = "127.0.0.1"
_REASONS: Final[dict[int, str]] = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class StandinServer:
    """A deterministic OpenAI-compatible server on 127.0.0.1 (see the module docstring).

    Parameters
    ----------
    model : str
        The model name listed by ``/v1/models`` (any model name is answered).
    latency_s : float
        Delay before each answer.
    latency_jitter_s : float
        Up to this much more, deterministic per request (so completion order varies).
    faults : Faults, optional
    probability : callable, optional
        ``probability(messages) -> p``; :func:`default_probability` when omitted.
    hostile_posts : bool
        Feed-mode posts carry markup and an injection attempt (to test escaping).
    plain_answers : bool
        Answer in prose ("Yes." / "No, ...") instead of JSON when no schema is sent.
    slots : int, optional
        Serve ``GET /props`` saying ``{"total_slots": slots}``, as llama.cpp's server does
        (404 without it, as OpenAI and vLLM).
    port : int
        0 picks a free port.
    max_lifetime_s : float
        Hard limit: the server stops by itself after this long.
    """

    def __init__(
        self,
        *,
        model: str = "standin-1",
        latency_s: float = 0.0,
        latency_jitter_s: float = 0.0,
        faults: Faults | None = None,
        probability: Callable[[Sequence[dict[str, Any]]], float] | None = None,
        hostile_posts: bool = False,
        plain_answers: bool = False,
        host: str = _HOST,
        port: int = 0,
        max_lifetime_s: float = 300.0,
        slots: int | None = None,
    ) -> None:
        if host != _HOST:
            raise ValueError(f"the stand-in server binds only to {_HOST}; got {host!r}")
        self.config = AnswerConfig(
            model=model,
            latency_s=latency_s,
            latency_jitter_s=latency_jitter_s,
            faults=faults if faults is not None else Faults(),
            probability=probability if probability is not None else default_probability,
            hostile_posts=hostile_posts,
            plain_answers=plain_answers,
        )
        self.slots = slots
        self.log: list[dict[str, Any]] = []
        #: Requests waiting out their latency now, and the most at once so far.
        self.in_flight = 0
        self.max_in_flight = 0
        self.max_lifetime_s = max_lifetime_s
        self._requested_port = port
        self._port = 0
        self._attempts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._shutdown: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The base URL to give a client: ``http://127.0.0.1:PORT/v1``."""
        return f"http://{_HOST}:{self._port}/v1"

    def start(self) -> StandinServer:
        """Start serving in a background thread; return once the port is bound."""
        self._thread = threading.Thread(target=self._run, name="standin-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and close the socket (idempotent)."""
        loop, shutdown = self._loop, self._shutdown
        if loop is not None and shutdown is not None and not self._stopped.is_set():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(shutdown.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server has stopped (True) or ``timeout`` passed (False)."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def chat_requests(self) -> list[dict[str, Any]]:
        """The recorded chat-completion requests (bodies plus ``_auth``), in arrival order."""
        with self._lock:
            return [r for r in self.log if str(r.get("_path", "")).endswith("/chat/completions")]

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    # -- the event loop ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            self._stopped.set()
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._shutdown = asyncio.Event()
        handlers: set[asyncio.Task[None]] = set()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            try:
                await self._connection(reader, writer)
            finally:
                handlers.discard(task)

        server = await asyncio.start_server(
            on_connect, _HOST, self._requested_port, backlog=1024, reuse_address=True
        )
        self._port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._shutdown.wait(), self.max_lifetime_s)
        finally:
            server.close()
            for task in list(handlers):
                task.cancel()
            if handlers:
                await asyncio.gather(*handlers, return_exceptions=True)
            await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = ([*line.decode("latin-1").split(" ", 2), "", ""])[:3]
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                raw = await reader.readexactly(length) if length else b""
                status, payload, extra = await self._dispatch(method, path, headers, raw)
                if status == RESET:
                    _reset(writer)
                    return
                if status < 0 and status != DRIP:
                    return
                code = 200 if status == DRIP else status
                head = [f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}"]
                head.append("Content-Type: application/json")
                head.append(f"Content-Length: {len(payload)}")
                head += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
                if status == DRIP:
                    for i in range(len(payload)):
                        writer.write(payload[i : i + 1])
                        await writer.drain()
                        await asyncio.sleep(self.config.faults.drip_interval_s)
                else:
                    writer.write(payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _dispatch(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        auth = headers.get("authorization")
        route = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and route.endswith("/models"):
            self._record({"_path": path, "_auth": auth})
            body = {"object": "list", "data": [{"id": self.config.model, "object": "model"}]}
            return 200, json.dumps(body).encode(), {}
        if method == "GET" and route == "/props" and self.slots is not None:
            self._record({"_path": path, "_auth": auth})
            props = {"total_slots": self.slots, "model_alias": self.config.model}
            return 200, json.dumps(props).encode(), {}
        if method != "POST" or not route.endswith("/chat/completions"):
            return 404, error_body("not found"), {}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, error_body("body is not JSON"), {}
        if not isinstance(body, dict):
            return 400, error_body("body is not a JSON object"), {}
        body["_path"] = path
        body["_auth"] = auth or ""
        self._record(body)
        return await self._answer(body)

    # -- answering ---------------------------------------------------------------------------

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.log.append(entry)

    def _attempt(self, key: str) -> int:
        with self._lock:
            n = self._attempts.get(key, 0) + 1
            self._attempts[key] = n
            return n

    async def _answer(self, body: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        cfg = self.config
        messages = body.get("messages") or []
        seed = body.get("seed")
        prompt = json.dumps([body.get("model"), messages], sort_keys=True)
        key = f"{prompt}\x1f{seed}"
        attempt = self._attempt(key)
        delay = cfg.latency_s + cfg.latency_jitter_s * unit(key, attempt, "latency")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if delay > 0:
                await asyncio.sleep(delay)
        finally:
            self.in_flight -= 1

        return await answer(cfg, body, key, prompt, attempt)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP reset (SO_LINGER 0), as a crashing proxy does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def main(argv: list[str] | None = None) -> None:
    """Serve from this process until standard input closes (for benchmarks)."""
    parser = argparse.ArgumentParser(prog="spillover-standin")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--jitter", type=float, default=0.0, help="extra seconds, up to")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-lifetime", type=float, default=600.0)
    ns = parser.parse_args(argv)
    server = StandinServer(
        latency_s=ns.latency,
        latency_jitter_s=ns.jitter,
        port=ns.port,
        max_lifetime_s=ns.max_lifetime,
    ).start()
    print(server.url, flush=True)

    def watch_stdin() -> None:
        sys.stdin.read()
        server.stop()

    watcher = threading.Thread(target=watch_stdin, daemon=True)
    watcher.start()
    try:
        server.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
