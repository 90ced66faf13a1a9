"""The OpenAI-compatible backend: OpenAI, vLLM, Ollama, llama.cpp, LM Studio, ...

Built on the official ``openai`` client (``AsyncOpenAI``) over an ``httpx.AsyncClient``:

- **bounded concurrency**: at most ``concurrency`` requests in flight (a pool of workers), and
  optionally a sweep-wide ``limiter`` shared with other processes;
- **timeouts** per request (``timeout_s``);
- **retries** of transient failures only (HTTP 429, 5xx, timeouts, connection errors), with
  exponential backoff and jitter from the backend's own :class:`random.Random` (never the
  simulation's generator), honouring ``Retry-After`` / ``retry-after-ms``; the client's own
  retries are switched off (``max_retries=0``) so this policy is the one in force;
- **structured output** (a JSON schema) where the server accepts it: with ``structured="auto"``
  a server that rejects ``response_format`` (HTTP 400/422) is asked again without it, and the
  plain answer is parsed; the same fallback applies to ``logprobs``;
- **malformed or refused answers** are asked again up to ``invalid_retries`` times (with a
  different seed), then returned as invalid: the caller applies its rule.

The API key is read from the environment variable ``api_key_env`` each time a batch starts; it
is never stored on the object, logged, or put in an error message (any occurrence is masked).
Local servers need no key: a placeholder is sent when the variable is unset.

Each :meth:`OpenAIBackend.complete` call runs its own event loop in a helper thread, so the
backend works the same from scripts, from the command line and inside notebooks (which already
run a loop); nothing stays open between calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import math
import os
import random
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol
from urllib.parse import urlsplit

from spillover._extras import require_extra
from spillover._redact import redact, register_key_env, shown
from spillover.exceptions import ConfigError, LLMError, SpilloverError, TransientLLMError
from spillover.llm._accounting import Accounting
from spillover.llm._backend import ResponseCallback
from spillover.llm._parse import MAX_POST_CHARS, parse_answer, share_probability_from_logprobs
from spillover.llm._prompts import response_schema
from spillover.llm._retry import RetryPolicy, retry_after_seconds
from spillover.llm._types import LLMRequest, LLMResponse

if TYPE_CHECKING:
    import httpx
    import openai

__all__ = ["NO_KEY", "Limiter", "OpenAIBackend", "normalise_base_url"]

#: Sent as the key when the key variable is unset (local servers ignore it).
NO_KEY: Final[str] = "sk-no-key-required"

StructuredMode = Literal["auto", "json_schema", "off"]
STRUCTURED_MODES: Final[tuple[str, ...]] = ("auto", "json_schema", "off")


class Limiter(Protocol):
    """Anything with blocking ``acquire()`` and ``release()`` (a semaphore)."""

    def acquire(self) -> Any: ...

    def release(self) -> Any: ...


def normalise_base_url(base_url: str) -> str:
    """Check a server URL (http or https, a host, no credentials) and drop a trailing slash."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigError(
            f"llm_base_url must be a URL such as http://localhost:11434/v1; got {shown(base_url)}"
        )
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            "llm_base_url must start with http:// or https:// and name a host; "
            f"got {shown(base_url)}"
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "llm_base_url must not hold credentials (user:password@); put the API key in the "
            "environment variable named by llm_api_key_env"
        )
    return url


class _MalformedBody(Exception):
    """The HTTP body of a response was not a readable chat completion."""


class OpenAIBackend:
    """An :class:`~spillover.llm.LLMBackend` for any OpenAI-compatible chat-completions server.

    Parameters
    ----------
    base_url : str
        The API root, e.g. ``http://localhost:11434/v1`` (Ollama),
        ``http://localhost:8000/v1`` (vLLM), ``https://api.openai.com/v1``.
    api_key_env : str or None
        Name of the environment variable holding the key (read per batch, never stored).
        None: send no key (a placeholder).
    require_key : bool
        Fail with ConfigError when the variable is unset (instead of sending a placeholder).
    concurrency : int
        Most requests in flight at once.
    timeout_s : float
        Timeout of one HTTP request, seconds: it bounds the whole request (connecting,
        sending, waiting and reading the answer), not each read.
    retry : RetryPolicy
    structured : {"auto", "json_schema", "off"}
        Send the answer's JSON schema as ``response_format``: ``auto`` falls back to a plain
        answer when the server rejects it; ``json_schema`` fails instead; ``off`` never sends it.
    invalid_retries : int
        How many times a malformed or refused answer is asked again before it is returned as
        invalid.
    transport : httpx.AsyncBaseTransport, optional
        The HTTP transport (``httpx.MockTransport`` in tests); a fresh default one otherwise.
    limiter : object with acquire/release, optional
        A shared semaphore held around every HTTP call (sweep-wide concurrency bound).
    accounting : Accounting, optional
        Counters to add to (shared with a cache in front of this backend).
    jitter_seed : int, optional
        Seed of the backoff jitter generator (retries only; it cannot change a result).
    sleep : async callable, optional
        ``await sleep(seconds)`` between retries (tests pass a recorder).
    max_post_chars : int
        Feed-mode posts are cut to this length.
    notice : callable, optional
        ``notice(line)`` for the one-time note that a server asked to wait (``Retry-After``
        of a second or more); a line on stderr by default.
    identity : str, optional
        Who answers, in cache keys (the base URL by default; the embedded server gives its
        model file's hash, so that a new port does not make every answer new).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        require_key: bool = False,
        concurrency: int = 8,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        structured: StructuredMode = "auto",
        invalid_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: Limiter | None = None,
        accounting: Accounting | None = None,
        jitter_seed: int | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        max_post_chars: int = MAX_POST_CHARS,
        notice: Callable[[str], None] | None = None,
        identity: str | None = None,
    ) -> None:
        require_extra("llm")
        self.base_url = normalise_base_url(base_url)
        self.identity = identity if identity is not None else self.base_url
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"llm_concurrency must be an integer >= 1; got {concurrency!r}")
        if (
            isinstance(timeout_s, bool)
            or not isinstance(timeout_s, int | float)
            or not timeout_s > 0
        ):
            raise ConfigError(f"llm_timeout_s must be a number > 0; got {timeout_s!r}")
        if structured not in STRUCTURED_MODES:
            raise ConfigError(
                f"structured must be one of {', '.join(STRUCTURED_MODES)}; got {structured!r}"
            )
        if (
            isinstance(invalid_retries, bool)
            or not isinstance(invalid_retries, int)
            or invalid_retries < 0
        ):
            raise ConfigError(f"invalid_retries must be an integer >= 0; got {invalid_retries!r}")
        if api_key_env is not None and (not isinstance(api_key_env, str) or not api_key_env):
            raise ConfigError(f"api_key_env must name an environment variable; got {api_key_env!r}")
        if require_key and (api_key_env is None or not os.environ.get(api_key_env)):
            raise ConfigError(
                f"the API key variable {api_key_env} is not set in the environment "
                "(export it, or point llm_api_key_env at the variable that holds the key)"
            )
        register_key_env(api_key_env)
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout_s = float(timeout_s)
        self.retry = retry if retry is not None else RetryPolicy()
        self.structured: StructuredMode = structured
        self.invalid_retries = invalid_retries
        self.accounting = accounting if accounting is not None else Accounting()
        self.max_post_chars = max_post_chars
        self._transport = transport
        self._limiter = limiter
        self._rng = random.Random(jitter_seed)
        self._sleep = sleep if sleep is not None else asyncio.sleep
        # What this server turned out to accept (learned from 400 answers, kept across batches).
        self._structured_ok = structured != "off"
        self._logprobs_ok = True
        self._closed = False
        self._ssl_context: ssl.SSLContext | None = None
        self._limiter_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._batch_lock = threading.Lock()
        self._notice = notice if notice is not None else _print_notice
        self._wait_announced = False

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(base_url={redact(self.base_url)!r}, api_key_env={self.api_key_env!r}, "
            f"concurrency={self.concurrency})"
        )

    # -- public API ------------------------------------------------------------------------

    def complete(
        self, requests: Sequence[LLMRequest], *, on_response: ResponseCallback | None = None
    ) -> list[LLMResponse]:
        """Answer ``requests`` (in their order), ``concurrency`` at a time.

        Raises
        ------
        TransientLLMError
            A request still failed after all retries (server down, persistent 429/5xx, timeouts).
        LLMError
            A non-transient error (bad request, authentication, unknown model...).
        """
        if self._closed:
            raise LLMError("this OpenAIBackend is closed")
        reqs = list(requests)
        if not reqs:
            return []
        # One batch at a time per backend (callers from several threads queue here).
        with self._batch_lock:
            return self._complete_batch(reqs, on_response)

    def _complete_batch(
        self, reqs: list[LLMRequest], on_response: ResponseCallback | None
    ) -> list[LLMResponse]:
        box: dict[str, Any] = {}
        started = threading.Event()
        thread = threading.Thread(
            target=self._thread_main,
            args=(reqs, on_response, box, started),
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
            if isinstance(error, SpilloverError):
                # The boundary of the LLM layer: no error leaves it unredacted.
                raise type(error)(redact(str(error))) from None
            raise error
        result: list[LLMResponse] = box["result"]
        return result

    def close(self) -> None:
        """Nothing stays open between batches; this only marks the backend as closed."""
        self._closed = True

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "openai-compatible",
            "base_url": redact(self.base_url),
            "api_key_env": self.api_key_env,
            "api_key_set": bool(self.api_key_env and os.environ.get(self.api_key_env)),
            "concurrency": self.concurrency,
            "timeout_s": self.timeout_s,
            "max_retries": self.retry.max_retries,
            "invalid_retries": self.invalid_retries,
            "structured": self.structured,
            "structured_accepted": self._structured_ok,
            "logprobs_accepted": self._logprobs_ok,
        }

    # -- the event loop of one batch -------------------------------------------------------

    def _thread_main(
        self,
        reqs: list[LLMRequest],
        on_response: ResponseCallback | None,
        box: dict[str, Any],
        started: threading.Event,
    ) -> None:
        async def main() -> list[LLMResponse]:
            box["loop"] = asyncio.get_running_loop()
            box["task"] = asyncio.current_task()
            started.set()
            return await self._complete_all(reqs, on_response)

        try:
            box["result"] = asyncio.run(main())
        except BaseException as exc:  # handed to the calling thread, which re-raises it
            box["error"] = exc
        finally:
            started.set()

    def _api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    def _redact(self, text: str) -> str:
        key = self._api_key()
        if key and len(key) >= 4:
            text = text.replace(key, "***")
        return redact(text)

    def _announce_wait(self, asked: float) -> None:
        """Say once per backend, on stderr (even under --quiet), that the server asked to wait."""
        if asked < _ANNOUNCE_WAIT_S or self._wait_announced:
            return
        self._wait_announced = True
        cap = self.retry.max_retry_after_s
        capped = "" if asked <= cap else f"; waiting {cap:.0f} s per retry at most"
        self._notice(
            redact(
                f"note: the LLM server at {self.base_url} asked to wait {asked:,.0f} s before "
                f"retrying (Retry-After){capped}, up to {self.retry.max_retries} retries"
            )
        )

    def _make_client(self) -> openai.AsyncOpenAI:
        require_extra("llm")
        import httpx
        import openai

        # One connection per client, one client per worker: httpcore's pool scans every
        # connection of a pool for each request, which costs more CPU than the request itself
        # once a pool holds dozens of connections.
        if self._ssl_context is None:
            # Built once per backend: loading the CA bundle costs ~30 ms per client.
            self._ssl_context = httpx.create_ssl_context()
        http_client = httpx.AsyncClient(
            transport=self._transport,
            verify=self._ssl_context,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=httpx.Timeout(self.timeout_s),
        )
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._api_key() or NO_KEY,
            max_retries=0,
            timeout=self.timeout_s,
            # The client accepts a legacy ``httpx`` client as well as an ``httpx2`` one (it
            # checks both at run time); ``httpx`` is the one whose MockTransport tests inject.
            http_client=http_client,  # type: ignore[arg-type]
        )

    async def _complete_all(
        self, reqs: list[LLMRequest], on_response: ResponseCallback | None
    ) -> list[LLMResponse]:
        results: list[LLMResponse | None] = [None] * len(reqs)
        errors: list[BaseException] = []
        pending = iter(range(len(reqs)))

        async def worker() -> None:
            client = self._make_client()
            try:
                while not errors:
                    i = next(pending, None)
                    if i is None:
                        return
                    try:
                        response = await self._complete_one(client, reqs[i])
                        results[i] = response
                        if on_response is not None:
                            on_response(i, response)
                    except Exception as exc:
                        errors.append(exc)
                        return
            finally:
                await client.close()

        n_workers = min(self.concurrency, len(reqs))
        if self._limiter is not None:
            self._limiter_pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=n_workers, thread_name_prefix="spillover-llm-limiter"
            )
        try:
            await asyncio.gather(*(worker() for _ in range(n_workers)))
        finally:
            if self._limiter_pool is not None:
                self._limiter_pool.shutdown(wait=False, cancel_futures=True)
                self._limiter_pool = None
        if errors:
            raise errors[0]
        done = [r for r in results if r is not None]
        assert len(done) == len(reqs)
        return done

    # -- one request ---------------------------------------------------------------------------

    async def _complete_one(self, client: openai.AsyncOpenAI, req: LLMRequest) -> LLMResponse:
        attempts = 0
        for round_ in range(self.invalid_retries + 1):
            try:
                completion, n = await self._send(client, req, round_)
                attempts += n
                response = self._response(req, completion, attempts)
            except _MalformedBody as exc:
                attempts += 1
                response = LLMResponse(
                    text="", share=None, valid=False, error=str(exc), attempts=attempts
                )
            if response.valid:
                break
            if round_ < self.invalid_retries:
                self.accounting.add(invalid_retries=1)
        if not response.valid:
            self.accounting.add(invalid=1)
        self.accounting.add(requests=1)
        # Nothing leaves the backend (to the cache, posts, tables) unredacted or unbounded.
        return response.sanitised()

    def _kwargs(self, req: LLMRequest, round_: int) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": req.model,
            "messages": [{"role": role, "content": content} for role, content in req.messages],
            "temperature": req.temperature,
            "max_tokens": req.max_tokens,
            "seed": (req.seed + round_) & 0x7FFFFFFF,
        }
        if req.logprobs and self._logprobs_ok:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = req.top_logprobs
        if self._structured_ok:
            kwargs["response_format"] = response_schema(req.answer_format)
        return kwargs

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

    async def _send(
        self, client: openai.AsyncOpenAI, req: LLMRequest, round_: int
    ) -> tuple[Any, int]:
        import openai

        attempt = 0
        while True:
            kwargs = self._kwargs(req, round_)
            self.accounting.add(http_attempts=1)
            try:
                async with self._slot():
                    # The client's low-level post: the same HTTP handling, errors and exception
                    # tree as ``chat.completions.create``, without its per-call parameter
                    # transformation and response models (the client's main CPU cost); the body
                    # is parsed here as plain JSON. httpx's timeouts apply per read, so a
                    # server dripping bytes would never time out: the deadline bounds the whole.
                    raw = await asyncio.wait_for(
                        client.post("/chat/completions", cast_to=bytes, body=kwargs),
                        self.timeout_s,
                    )
                try:
                    completion = json.loads(raw)
                except ValueError:
                    head = self._redact(raw[:2000].decode("utf-8", "replace"))
                    raise _MalformedBody(
                        f"unreadable response from {self.base_url}: {head[:60]!r}"
                    ) from None
                if not isinstance(completion, dict) or not completion.get("choices"):
                    raise _MalformedBody(f"response without choices from {self.base_url}")
                return completion, attempt + 1
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if "response_format" in kwargs and self.structured == "auto":
                    self._structured_ok = False  # this server: plain answers from now on
                    continue
                if "logprobs" in kwargs:
                    self._logprobs_ok = False  # this server: no log-probabilities
                    continue
                self.accounting.add(failures=1)
                raise LLMError(
                    f"the LLM server at {self.base_url} rejected a request "
                    f"(HTTP {exc.status_code}): {self._redact(_message(exc))}"
                ) from None
            except (
                openai.RateLimitError,
                openai.InternalServerError,
                openai.APIConnectionError,
                TimeoutError,
            ) as exc:
                what = (
                    f"no complete answer within {self.timeout_s:g} s (the timeout bounds the "
                    "whole request)"
                    if isinstance(exc, TimeoutError)
                    else _transient_reason(exc)
                )
                if attempt >= self.retry.max_retries:
                    self.accounting.add(failures=1)
                    raise TransientLLMError(
                        f"the LLM server at {self.base_url} failed after {attempt + 1} "
                        f"attempt(s): {self._redact(what)}"
                    ) from None
                headers = exc.response.headers if isinstance(exc, openai.APIStatusError) else None
                asked = retry_after_seconds(headers)
                wait = self.retry.delay(attempt, asked, self._rng)
                if asked is not None:
                    self._announce_wait(asked)
                self.accounting.add(retries=1)
                attempt += 1
                await self._sleep(wait)
            except openai.APIStatusError as exc:
                self.accounting.add(failures=1)
                hint = ""
                if exc.status_code in (401, 403):
                    hint = f" (is the key in ${self.api_key_env} right for this server?)"
                elif exc.status_code == 404:
                    hint = f" (is model {req.model!r} served there, and is the URL the API root?)"
                raise LLMError(
                    f"the LLM server at {self.base_url} answered HTTP {exc.status_code}: "
                    f"{self._redact(_message(exc))}{hint}"
                ) from None
            except openai.APIResponseValidationError as exc:
                raise _MalformedBody(
                    f"unreadable response from {self.base_url}: {self._redact(str(exc))[:120]}"
                ) from None

    def _response(self, req: LLMRequest, completion: dict[str, Any], attempts: int) -> LLMResponse:
        usage = completion.get("usage") or {}
        prompt_tokens = _int(usage.get("prompt_tokens"))
        completion_tokens = _int(usage.get("completion_tokens"))
        self.accounting.add(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        choice = completion["choices"][0]
        if not isinstance(choice, dict):
            raise _MalformedBody(f"unreadable choice in a response from {self.base_url}")
        message = choice.get("message") or {}
        content = message.get("content") if isinstance(message, dict) else None
        text = content if isinstance(content, str) else ""

        def invalid(error: str | None) -> LLMResponse:
            return LLMResponse(
                text=text,
                share=None,
                valid=False,
                error=error,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                attempts=attempts,
            )

        refusal = message.get("refusal") if isinstance(message, dict) else None
        if refusal:
            return invalid(f"refused: {self._redact(str(refusal)[:2000])[:80]!r}")
        parsed = parse_answer(text, req.answer_format, max_post_chars=self.max_post_chars)
        if parsed.share is None:
            error = parsed.error
            if choice.get("finish_reason") == "length":
                error = f"truncated at max_tokens={req.max_tokens}: {error}"
            return invalid(error)
        probability = None
        logprobs = choice.get("logprobs")
        if req.logprobs and isinstance(logprobs, dict):
            content_lp = logprobs.get("content")
            if isinstance(content_lp, list):
                probability = share_probability_from_logprobs(
                    [_Token(t) for t in content_lp if isinstance(t, dict)], text, parsed.span
                )
        return LLMResponse(
            text=text,
            share=parsed.share,
            post=parsed.post,
            probability=probability,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            attempts=attempts,
        )


#: A server's Retry-After of at least this many seconds is announced (once per backend).
_ANNOUNCE_WAIT_S: Final[float] = 1.0


def _print_notice(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


class _Token:
    """A token entry of a ``logprobs.content`` list, read from plain JSON."""

    __slots__ = ("logprob", "token", "top_logprobs")

    def __init__(self, d: dict[str, Any]) -> None:
        token, logprob = d.get("token"), d.get("logprob")
        self.token: str = token if isinstance(token, str) else ""
        self.logprob: float = float(logprob) if isinstance(logprob, int | float) else -math.inf
        top = d.get("top_logprobs")
        self.top_logprobs: list[_Token] = (
            [_Token(t) for t in top if isinstance(t, dict)] if isinstance(top, list) else []
        )


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        msg = body.get("message") or body.get("error")
        if isinstance(msg, str):
            return redact(msg[:4000])[:200]
    return redact(str(getattr(exc, "message", exc))[:4000])[:200]


def _transient_reason(exc: Exception) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        if _was_reset(cause):
            return "the connection was reset or closed by the server before it answered"
        detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        return f"cannot connect{detail}"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {_message(exc)}"
    return str(exc)


def _was_reset(cause: BaseException | None) -> bool:
    """Whether a connection error happened after connecting (a reset or a hang-up)."""
    import httpx

    seen = 0
    while cause is not None and seen < 8:
        if isinstance(cause, httpx.ReadError | httpx.RemoteProtocolError | ConnectionResetError):
            return True
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return False
