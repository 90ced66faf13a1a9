"""The backend a run configuration describes: OpenAI-compatible, behind the cache if asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spillover.llm._accounting import Accounting
from spillover.llm._backend import LLMBackend
from spillover.llm._cache import CachedBackend, SQLiteStore
from spillover.llm._openai import OpenAIBackend
from spillover.llm._pool import Limiter
from spillover.llm._retry import RetryPolicy

if TYPE_CHECKING:
    import httpx

    from spillover.config import SimulationConfig
    from spillover.llm._local import LocalServer

__all__ = ["build_backend"]


def build_backend(
    config: SimulationConfig,
    *,
    limiter: Limiter | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    local: LocalServer | None = None,
    **retry: Any,
) -> LLMBackend:
    """An :class:`OpenAIBackend` for ``config``, wrapped in a :class:`CachedBackend` when
    ``config.llm.cache`` is set and ``config.llm.cache_mode`` is not ``off``.

    Parameters
    ----------
    config : SimulationConfig
        Uses ``llm.base_url`` (one server, or a tuple of replicas), ``llm.api_key_env``,
        ``llm.concurrency``, ``llm.timeout_s``, ``llm.max_retries``, ``llm.structured``,
        ``llm.invalid_retries``, ``llm.cache`` and ``llm.cache_mode``.
    limiter : object with acquire/release, optional
        A sweep-wide bound on requests in flight.
    transport : httpx.AsyncBaseTransport, optional
        For tests (``httpx.MockTransport``).
    local : LocalServer, optional
        The embedded server of a ``llm_local`` run: its URL, its identity (the model file's
        hash) and its slots (as many requests in flight) replace the config's.
    **retry
        Further :class:`RetryPolicy` fields (``backoff_base_s``, ...).
    """
    base_url: str | tuple[str, ...]
    if local is not None:
        # A server not started yet (a dry run) still has its identity; nothing is sent then.
        base_url = local.base_url if local.running else "http://127.0.0.1/v1"
        identity = local.identity
        concurrency, api_key_env = local.total_slots, None
    else:
        assert config.llm.base_url is not None
        base_url, identity = config.llm.base_url, None
        concurrency, api_key_env = config.llm.concurrency, config.llm.api_key_env
    inner = OpenAIBackend(
        base_url,
        api_key_env=api_key_env,
        require_key=api_key_env is not None and api_key_env != "OPENAI_API_KEY",
        concurrency=concurrency,
        timeout_s=config.llm.timeout_s,
        retry=RetryPolicy(max_retries=config.llm.max_retries, **retry),
        structured=config.llm.structured,
        invalid_retries=config.llm.invalid_retries,
        transport=transport,
        limiter=limiter,
        accounting=Accounting(),
        identity=identity,
    )
    if config.llm.cache is None or config.llm.cache_mode == "off":
        return inner
    store = SQLiteStore(config.llm.cache, read_only=config.llm.cache_mode == "read_only")
    return CachedBackend(inner, store, config.llm.cache_mode)
