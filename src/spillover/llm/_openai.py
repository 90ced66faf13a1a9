"""The OpenAI-compatible transport and backend: OpenAI, vLLM, Ollama, llama.cpp, LM Studio, ...

:class:`OpenAITransport` sends one chat-completions request with the official ``openai`` client
(``AsyncOpenAI``, one per worker, over an ``httpx.AsyncClient`` with one connection) and reads
the reply into a :class:`~spillover.llm.Completion`:

- **structured output** (a JSON schema) where the server accepts it: with ``structured="auto"``
  a server that rejects ``response_format`` (HTTP 400/422) is asked again without it, and the
  plain answer is parsed; the same fallback applies to ``logprobs``; what the server accepts is
  learned once and kept;
- HTTP 429, 5xx, timeouts and connection errors are transient (retried by the pool); the
  client's own retries are switched off (``max_retries=0``) so the pool's policy is the one in
  force; other errors are permanent, with a hint for 401/403 (the key) and 404 (the model or
  URL).

The API key is read from the environment variable ``api_key_env`` each time a connection opens;
it is never stored on the object, logged, or put in an error message (any occurrence is masked).
Local servers need no key: a placeholder is sent when the variable is unset.

:class:`OpenAIBackend` is the whole stack over it (:func:`spillover.llm.transport_backend`):
retries and bounded concurrency, answer parsing and re-asking of invalid answers.
"""

from __future__ import annotations

import json
import math
import os
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from spillover._extras import require_extra
from spillover._redact import redact, register_key_env, shown
from spillover._vocab import STRUCTURED_MODES, StructuredMode
from spillover.exceptions import ConfigError, LLMError
from spillover.llm._answers import AnsweringBackend
from spillover.llm._parse import MAX_POST_CHARS
from spillover.llm._pool import RetryingPool
from spillover.llm._prompts import response_schema
from spillover.llm._retry import retry_after_seconds
from spillover.llm._transport import Completion, MalformedReply, SendAgain, Token, TransientFailure
from spillover.llm._types import LLMRequest

if TYPE_CHECKING:
    import httpx
    import openai

__all__ = [
    "NO_KEY",
    "OpenAIBackend",
    "OpenAITransport",
    "normalise_base_url",
    "props_url",
    "shown_urls",
]

#: Sent as the key when the key variable is unset (local servers ignore it).
NO_KEY: Final[str] = "sk-no-key-required"


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


def shown_urls(base_url: str | Sequence[str]) -> str:
    """Servers as messages show them, redacted: ``URL``, or ``URL1, URL2 (2 replicas)``."""
    if isinstance(base_url, str):
        return redact(base_url)
    urls = list(base_url)
    return f"{', '.join(redact(u) for u in urls)} ({len(urls)} replicas)"


def props_url(base_url: str) -> str:
    """Where llama.cpp's server describes itself: ``/props`` at the root of the API
    (``http://host:8080/v1`` -> ``http://host:8080/props``)."""
    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    return f"{root}/props"


class OpenAITransport:
    """A :class:`~spillover.llm.ChatTransport` for any OpenAI-compatible chat-completions server.

    Parameters
    ----------
    base_url : str
        The API root, e.g. ``http://localhost:11434/v1`` (Ollama),
        ``http://localhost:8000/v1`` (vLLM), ``https://api.openai.com/v1``.
    api_key_env : str or None
        Name of the environment variable holding the key (read per connection, never stored).
        None: send no key (a placeholder).
    require_key : bool
        Fail with ConfigError when the variable is unset (instead of sending a placeholder).
    timeout_s : float
        The HTTP client's timeout for connecting; reading and writing are bounded by the pool's
        deadline of each whole call instead (``timeout_s`` at least, longer for a slow server:
        :meth:`spillover.llm.RetryingPool.deadline_s`), so the client never gives up first.
    structured : {"auto", "json_schema", "off"}
        Send the answer's JSON schema as ``response_format``: ``auto`` falls back to a plain
        answer when the server rejects it; ``json_schema`` fails instead; ``off`` never sends it.
    transport : httpx.AsyncBaseTransport, optional
        The HTTP transport (``httpx.MockTransport`` in tests); a fresh default one otherwise.
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
        timeout_s: float = 60.0,
        structured: StructuredMode = "auto",
        transport: httpx.AsyncBaseTransport | None = None,
        identity: str | None = None,
    ) -> None:
        require_extra("llm")
        self.base_url = normalise_base_url(base_url)
        self.identity = identity if identity is not None else self.base_url
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
        if api_key_env is not None and (not isinstance(api_key_env, str) or not api_key_env):
            raise ConfigError(f"api_key_env must name an environment variable; got {api_key_env!r}")
        if require_key and (api_key_env is None or not os.environ.get(api_key_env)):
            raise ConfigError(
                f"the API key variable {api_key_env} is not set in the environment "
                "(export it, or point llm_api_key_env at the variable that holds the key)"
            )
        register_key_env(api_key_env)
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self.structured: StructuredMode = structured
        self._transport = transport
        # What this server turned out to accept (learned from 400 answers, kept across batches).
        self.structured_ok = structured != "off"
        self.logprobs_ok = True
        self._ssl_context: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return (
            f"OpenAITransport(base_url={redact(self.base_url)!r}, api_key_env={self.api_key_env!r})"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "openai-compatible",
            "base_url": redact(self.base_url),
            "api_key_env": self.api_key_env,
            "api_key_set": bool(self.api_key_env and os.environ.get(self.api_key_env)),
            "structured": self.structured,
            "structured_accepted": self.structured_ok,
            "logprobs_accepted": self.logprobs_ok,
        }

    def _api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    def _redact(self, text: str) -> str:
        key = self._api_key()
        if key and len(key) >= 4:
            text = text.replace(key, "***")
        return redact(text)

    def connect(self) -> openai.AsyncOpenAI:
        """One client with one connection (it closes at the end of ``async with``)."""
        require_extra("llm")
        import httpx
        import openai

        # One connection per client, one client per worker: httpcore's pool scans every
        # connection of a pool for each request, which costs more CPU than the request itself
        # once a pool holds dozens of connections.
        if self._ssl_context is None:
            # Built once per transport: loading the CA bundle costs ~30 ms per client.
            self._ssl_context = httpx.create_ssl_context()
        # Connecting is bounded here; the rest by the pool's deadline, which may be longer.
        timeout = httpx.Timeout(self.timeout_s, read=None, write=None)
        http_client = httpx.AsyncClient(
            transport=self._transport,
            verify=self._ssl_context,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=timeout,
        )
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._api_key() or NO_KEY,
            max_retries=0,  # no timeout here: the client's (above) is used
            # The client accepts a legacy ``httpx`` client as well as an ``httpx2`` one (it
            # checks both at run time); ``httpx`` is the one whose MockTransport tests inject.
            http_client=http_client,  # type: ignore[arg-type]
        )

    async def server_slots(self, connection: openai.AsyncOpenAI) -> int | None:
        """The requests the server works on at once, if it says: llama.cpp's ``GET /props``
        (``total_slots``, at the server's root, beside ``/v1``); None when it does not say
        (OpenAI, vLLM: no such route). Raises TimeoutError when it does not answer in time
        (a server that hangs there), TransientFailure when it cannot answer now (refused, 5xx,
        429)."""
        import openai

        try:
            raw = await connection.get(
                props_url(self.base_url), cast_to=bytes, options={"timeout": 5.0}
            )
        except openai.APITimeoutError:
            raise TimeoutError(f"{self.base_url}/props did not answer in 5 s") from None
        except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError):
            raise TransientFailure(f"{self.base_url}/props did not answer") from None
        except openai.APIError:
            return None  # 404 and the like: this server does not report its slots
        try:
            doc = json.loads(raw)
        except ValueError:
            return None
        n = doc.get("total_slots") if isinstance(doc, dict) else None
        return n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else None

    def _body(self, req: LLMRequest, seed: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": req.model,
            "messages": [{"role": role, "content": content} for role, content in req.messages],
            "temperature": req.temperature,
            "max_tokens": req.max_tokens,
            "seed": seed,
        }
        if req.logprobs and self.logprobs_ok:
            body["logprobs"] = True
            body["top_logprobs"] = req.top_logprobs
        if self.structured_ok:
            body["response_format"] = response_schema(req.answer_format)
        return body

    async def send(
        self, connection: openai.AsyncOpenAI, request: LLMRequest, *, seed: int
    ) -> Completion:
        import openai

        body = self._body(request, seed)
        try:
            # The client's low-level post: the same HTTP handling, errors and exception tree
            # as ``chat.completions.create``, without its per-call parameter transformation and
            # response models (the client's main CPU cost); the body is parsed here as JSON.
            raw = await connection.post("/chat/completions", cast_to=bytes, body=body)
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if "response_format" in body and self.structured == "auto":
                self.structured_ok = False  # this server: plain answers from now on
                raise SendAgain from None
            if "logprobs" in body:
                self.logprobs_ok = False  # this server: no log-probabilities
                raise SendAgain from None
            raise LLMError(
                f"the LLM server at {self.base_url} rejected a request "
                f"(HTTP {exc.status_code}): {self._redact(_message(exc))}"
            ) from None
        except (
            openai.RateLimitError,
            openai.InternalServerError,
            openai.APIConnectionError,
        ) as exc:
            headers = exc.response.headers if isinstance(exc, openai.APIStatusError) else None
            raise TransientFailure(
                self._redact(_transient_reason(exc)),
                retry_after=retry_after_seconds(headers),
                overloaded=isinstance(exc, openai.RateLimitError | openai.APITimeoutError),
            ) from None
        except openai.APIStatusError as exc:
            hint = ""
            if exc.status_code in (401, 403):
                hint = f" (is the key in ${self.api_key_env} right for this server?)"
            elif exc.status_code == 404:
                hint = f" (is model {request.model!r} served there, and is the URL the API root?)"
            raise LLMError(
                f"the LLM server at {self.base_url} answered HTTP {exc.status_code}: "
                f"{self._redact(_message(exc))}{hint}"
            ) from None
        except openai.APIResponseValidationError as exc:
            raise MalformedReply(
                f"unreadable response from {self.base_url}: {self._redact(str(exc))[:120]}"
            ) from None
        return self._completion(raw)

    def _completion(self, raw: bytes) -> Completion:
        try:
            doc = json.loads(raw)
        except ValueError:
            head = self._redact(raw[:2000].decode("utf-8", "replace"))
            raise MalformedReply(
                f"unreadable response from {self.base_url}: {head[:60]!r}"
            ) from None
        if not isinstance(doc, dict) or not doc.get("choices"):
            raise MalformedReply(f"response without choices from {self.base_url}")
        choice = doc["choices"][0]
        if not isinstance(choice, dict):
            raise MalformedReply(f"unreadable choice in a response from {self.base_url}")
        usage = doc.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        message = choice.get("message")
        message = message if isinstance(message, dict) else {}
        content = message.get("content")
        refusal = message.get("refusal")
        tokens = None
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
            tokens = tuple(_token(t) for t in logprobs["content"] if isinstance(t, dict))
        cached, evaluated = _prompt_cache(doc.get("timings"))
        return Completion(
            text=content if isinstance(content, str) else "",
            refusal=self._redact(str(refusal)[:2000]) if refusal else None,
            truncated=choice.get("finish_reason") == "length",
            logprobs=tokens,
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
            prompt_cached=cached,
            prompt_evaluated=evaluated,
        )


#: The options of :class:`OpenAIBackend` that go to its transport (the others go to its pool).
_TRANSPORT_OPTIONS: Final[tuple[str, ...]] = (
    "api_key_env",
    "require_key",
    "structured",
    "transport",
    "identity",
)


class OpenAIBackend(AnsweringBackend):
    """An :class:`~spillover.llm.LLMBackend` for any OpenAI-compatible chat-completions server:
    the stack of :func:`~spillover.llm.transport_backend` over an :class:`OpenAITransport`.

    Parameters
    ----------
    base_url : str, or a sequence of them
        The API root (see :class:`OpenAITransport`); several: replicas of one model (vLLM or
        llama.cpp servers), balanced by load, named in cache keys by the first (or by
        ``identity``).
    timeout_s : float
        Timeout of one HTTP request, seconds: it bounds the whole request (connecting,
        sending, waiting and reading the answer), not each read.
    api_key_env, require_key, structured, transport, identity
        Those of :class:`OpenAITransport` (``api_key_env`` defaults to ``OPENAI_API_KEY``).
    invalid_retries, max_post_chars
        Those of :class:`~spillover.llm.AnsweringBackend`.
    concurrency, retry, limiter, accounting, jitter_seed, sleep, notice
        Those of :class:`~spillover.llm.RetryingPool` (at most 8 requests in flight by
        default; ``limiter`` is a sweep-wide bound held around every HTTP call).
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        *,
        timeout_s: float = 60.0,
        invalid_retries: int = 2,
        max_post_chars: int = MAX_POST_CHARS,
        **options: Any,
    ) -> None:
        chat = {name: options.pop(name) for name in _TRANSPORT_OPTIONS if name in options}
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ConfigError("llm_base_url must name at least one server")
        self._replicas = [OpenAITransport(url, timeout_s=timeout_s, **chat) for url in urls]
        if len({t.base_url for t in self._replicas}) < len(urls):
            raise ConfigError("llm_base_url names the same server twice")
        self._chat = self._replicas[0]
        pool = RetryingPool(self._replicas, timeout_s=timeout_s, **options)
        super().__init__(pool, invalid_retries=invalid_retries, max_post_chars=max_post_chars)

    @property
    def base_url(self) -> str:
        """The (first) server's API root."""
        return self._chat.base_url

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every replica's API root."""
        return tuple(t.base_url for t in self._replicas)

    @property
    def api_key_env(self) -> str | None:
        return self._chat.api_key_env

    def __repr__(self) -> str:
        where = redact(self.base_url) if len(self._replicas) == 1 else redact(str(self.base_urls))
        return (
            f"OpenAIBackend(base_url={where!r}, api_key_env={self.api_key_env!r}, "
            f"concurrency={self.pool.concurrency})"
        )

    def describe(self) -> dict[str, Any]:
        # The manifest's order of old: where, who, how many, how long, then what is sent.
        doc = super().describe()
        order = (
            "kind",
            "base_url",
            "api_key_env",
            "api_key_set",
            "concurrency",
            "timeout_s",
            "max_retries",
            "invalid_retries",
            "structured",
            "structured_accepted",
            "logprobs_accepted",
        )
        return {**{k: doc[k] for k in order if k in doc}, **doc}


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _prompt_cache(timings: object) -> tuple[int | None, int | None]:
    """Prompt tokens from the prefix cache and read anew: llama.cpp's ``timings.cache_n`` and
    ``timings.prompt_n``; (None, None) when the server gives no such counts."""
    if not isinstance(timings, dict):
        return None, None
    cached, evaluated = timings.get("cache_n"), timings.get("prompt_n")
    if not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (cached, evaluated)
    ):
        return None, None
    return cached, evaluated


def _token(d: dict[str, Any]) -> Token:
    """A token entry of a ``logprobs.content`` list, read from plain JSON."""
    token, logprob = d.get("token"), d.get("logprob")
    top = d.get("top_logprobs")
    return Token(
        token=token if isinstance(token, str) else "",
        logprob=float(logprob) if isinstance(logprob, int | float) else -math.inf,
        top_logprobs=(
            tuple(_token(t) for t in top if isinstance(t, dict)) if isinstance(top, list) else ()
        ),
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
