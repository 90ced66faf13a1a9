"""Retries of transient failures: backoff with jitter, and the server's ``Retry-After``."""

from __future__ import annotations

import contextlib
import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from spillover.exceptions import ConfigError

__all__ = ["RetryPolicy", "retry_after_seconds"]


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before retrying a transient failure.

    Parameters
    ----------
    max_retries : int
        Retries after the first attempt (so ``max_retries + 1`` attempts in all).
    backoff_base_s, backoff_max_s : float
        Attempt ``a`` (0-based) waits a uniform time in ``[d/2, d]`` with
        ``d = min(backoff_max_s, backoff_base_s * 2**a)`` ("equal jitter").
    max_retry_after_s : float
        A server's ``Retry-After`` is honoured up to this many seconds (plus up to 10% jitter).
    """

    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise ConfigError(f"max_retries must be an integer >= 0; got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0; got {self.max_retries}")
        for name in ("backoff_base_s", "backoff_max_s", "max_retry_after_s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0:
                raise ConfigError(f"{name} must be a number >= 0; got {v!r}")

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        if retry_after is not None:
            wait = min(max(retry_after, 0.0), self.max_retry_after_s)
            return wait * (1.0 + 0.1 * rng.random())
        d = min(self.backoff_max_s, self.backoff_base_s * 2.0**attempt)
        return d / 2.0 + rng.uniform(0.0, d / 2.0)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a server asks for: ``retry-after-ms``, or ``Retry-After`` (seconds or a date)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        with contextlib.suppress(ValueError):
            return max(float(ms) / 1000.0, 0.0)
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
