"""The LLMBackend seam (modelled on the httpx transport): a batch of requests in, answers out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from spillover.llm._accounting import Accounting
from spillover.llm._types import LLMRequest, LLMResponse

__all__ = ["LLMBackend", "ResponseCallback"]

#: Called as ``on_response(index, response)`` as each answer of a batch arrives (in completion
#: order, possibly from another thread); the cache commits there, and progress bars advance.
ResponseCallback = Callable[[int, LLMResponse], None]


@runtime_checkable
class LLMBackend(Protocol):
    """Answers chat requests.

    ``complete`` returns one response per request, **in request order**, whatever the order in
    which answers arrive; implementations may work on several requests at once (bounded
    concurrency). Transient failures are retried inside; a request that still fails raises
    :class:`~spillover.exceptions.LLMError` (:class:`~spillover.exceptions.TransientLLMError`
    when the cause was transient), after the answers already received were reported through
    ``on_response``.

    Attributes
    ----------
    identity : str
        Who answers (the server's base URL, or ``fake:NAME``); part of every cache key, never
        a secret.
    accounting : Accounting
        Counters of this backend's use.
    """

    identity: str
    accounting: Accounting

    def complete(
        self, requests: Sequence[LLMRequest], *, on_response: ResponseCallback | None = None
    ) -> list[LLMResponse]:
        """Answer every request; same length and order as ``requests``."""
        ...

    def close(self) -> None:
        """Release connections and files; the backend cannot be used afterwards."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-able description for manifests (no secrets)."""
        ...
