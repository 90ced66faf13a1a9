"""The server URLs of a run configuration (``llm.base_url``): one, or several replicas."""

from __future__ import annotations

from spillover._redact import shown
from spillover.exceptions import ConfigError

__all__ = ["base_urls", "check_urls"]


def _check_url(value: object, which: str = "") -> None:
    """One server URL (``which``: `` (the 2nd)`` when it is one of several)."""
    from urllib.parse import urlsplit

    where = ("llm.base_url",)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"llm.base_url{which} must be a URL such as http://localhost:11434/v1; "
            f"got {shown(value)}",
            params=where,
        )
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"llm.base_url{which} must start with http:// or https:// and name a host; "
            f"got {shown(value)}",
            params=where,
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"llm.base_url{which} must not hold credentials (user:password@); put the API key "
            "in the environment variable named by llm.api_key_env",
            params=where,
        )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def check_urls(value: object) -> None:
    """``llm.base_url``: one URL, or a tuple of several (replicas of one model), each checked,
    none twice."""
    if not isinstance(value, tuple):
        _check_url(value)
        return
    for n, url in enumerate(value, 1):
        _check_url(url, f" (the {_ordinal(n)} of {len(value)})")
    seen = [u.strip().rstrip("/") for u in value]
    if len(set(seen)) < len(seen):
        twice = next(u for u in seen if seen.count(u) > 1)
        raise ConfigError(
            f"llm.base_url names the server {shown(twice)} twice (replicas are distinct servers)",
            params=("llm.base_url",),
        )


def base_urls(value: object) -> object:
    """A list or tuple of URLs as the config keeps it: one URL as a string, several as a
    tuple; anything else unchanged (and refused by the checks)."""
    if isinstance(value, list | tuple):
        if not value:
            raise ConfigError(
                "llm.base_url must name at least one server; got an empty list",
                params=("llm.base_url",),
            )
        return value[0] if len(value) == 1 else tuple(value)
    return value
