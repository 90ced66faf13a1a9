"""Accounting of LLM use: requests, cache hits, retries, failures, tokens, time and cost."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["Accounting"]


@dataclass
class Accounting:
    """Counters shared by the backends of one run (thread-safe increments).

    Attributes
    ----------
    requests : int
        Answers requested from the server (one per request; retries not counted).
    http_attempts : int
        HTTP calls, retries included.
    cache_hits, cache_misses : int
        Answers found, and not found, in the cache.
    retries : int
        Retries after a transient error (rate limit, 5xx, timeout, connection).
    invalid_retries : int
        Requests sent again because the answer was malformed or refused.
    invalid : int
        Answers still invalid after those retries (recorded as invalid).
    failures : int
        Requests that failed for good (after all retries, or a non-transient error).
    prompt_tokens, completion_tokens : int
        Token usage reported by the server, for answers received now (cache hits cost none).
    wall_s : float
        Time spent waiting for answers (seconds).
    prompt_tokens_timed, prompt_tokens_from_cache : int
        Prompt tokens of the answers whose server said how it read them (llama.cpp's
        ``timings``), and how many of those it took from its prefix cache;
        ``prefix_cache_hit_rate`` in :meth:`to_dict` is their ratio (None without timings).
    """

    requests: int = 0
    http_attempts: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    retries: int = 0
    invalid_retries: int = 0
    invalid: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    prompt_tokens_timed: int = 0
    prompt_tokens_from_cache: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        """Add to counters by name, atomically."""
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def cost(self, price_prompt: float | None, price_completion: float | None) -> float | None:
        """Estimated cost: tokens times the user-given prices per token (None without prices)."""
        if price_prompt is None and price_completion is None:
            return None
        return self.prompt_tokens * (price_prompt or 0.0) + self.completion_tokens * (
            price_completion or 0.0
        )

    def to_dict(
        self, price_prompt: float | None = None, price_completion: float | None = None
    ) -> dict[str, Any]:
        """The counters as JSON-able values, with the cost estimate when prices are given."""
        with self._lock:
            doc: dict[str, Any] = {
                f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")
            }
        doc["wall_s"] = round(float(doc["wall_s"]), 6)
        timed = doc["prompt_tokens_timed"]
        doc["prefix_cache_hit_rate"] = (
            round(doc["prompt_tokens_from_cache"] / timed, 6) if timed else None
        )
        cost = self.cost(price_prompt, price_completion)
        doc["cost_estimate"] = None if cost is None else round(cost, 6)
        doc["price_per_prompt_token"] = price_prompt
        doc["price_per_completion_token"] = price_completion
        return doc

    def summary(
        self, price_prompt: float | None = None, price_completion: float | None = None
    ) -> str:
        """One line for the end of a run."""
        d = self.to_dict(price_prompt, price_completion)
        line = (
            f"{d['requests']:,} requests, {d['cache_hits']:,} cache hits, "
            f"{d['retries']:,} retries, "
            f"{d['failures']:,} failed, {d['invalid']:,} invalid; tokens "
            f"{d['prompt_tokens']:,} prompt + {d['completion_tokens']:,} completion; "
            f"{d['wall_s']:.1f} s"
        )
        if d["cost_estimate"] is not None:
            line += f"; cost ≈ {d['cost_estimate']:.4f}"
        return line
