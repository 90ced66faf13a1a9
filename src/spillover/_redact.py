"""One redaction rule for every string that leaves the LLM layer or the config reader.

:func:`redact` masks

- the values of the environment variables that hold keys: the variable a backend is configured
  with (registered by :func:`register_key_env`), ``OPENAI_API_KEY``, and any variable whose
  name says it holds a credential (``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSW*``, ``*CRED*``);
- anything shaped like a credential: ``sk-...`` keys, ``Bearer``/``Basic`` authorisation
  values, ``api_key=``/``token=``/... query or assignment parameters, and ``user:password@``
  in URLs.

Errors, log lines, progress text, manifests, cache rows and feed posts pass through it.
:func:`shown` is the capped, redacted ``repr`` used wherever a message echoes a value.
"""

from __future__ import annotations

import os
import re
import reprlib
import threading
from typing import Any, Final

__all__ = [
    "MASK",
    "SHOWN_CHARS",
    "looks_secret",
    "redact",
    "redact_tree",
    "register_key_env",
    "shown",
]

#: What a masked secret is replaced with.
MASK: Final[str] = "***"
#: Longest echo of a value in a message (characters of its repr).
SHOWN_CHARS: Final[int] = 80
#: Values shorter than this are never masked as a key value (too likely to be ordinary text).
_MIN_KEY_CHARS: Final[int] = 8

_KEY_ENV_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CRED", re.IGNORECASE)
_NAMES: Final[str] = (
    r"api[_-]?key|apikey|access[_-]?token|auth[_-]?token|refresh[_-]?token|token|"
    r"client[_-]?secret|secret|password|passwd"
)
_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # user:password@ in a URL (the scheme is kept).
    (re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^\s/@:'\"]*:[^\s/@'\"]*@"), rf"\1{MASK}@"),
    # Authorization values: "Bearer abc", "Basic abc", "Authorization: xyz".
    (re.compile(r"(?i)\b(bearer|basic)(\s+|%20|\+)[A-Za-z0-9._~+/=\-]{4,}"), rf"\1\2{MASK}"),
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?!bearer|basic)[^\s'\",;}]+"),
        rf"\1{MASK}",
    ),
    # api_key=..., token=..., "api_key": "...", secret: ... (query strings, configs, JSON).
    (
        re.compile(
            rf"(?i)(?<![A-Za-z0-9])((?:[A-Za-z0-9]+[_-])?(?:{_NAMES}))(['\"]?\s*[:=]\s*['\"]?)"
            r"(?!\*\*\*)[^\s&#'\",;}\]]+"
        ),
        rf"\1\2{MASK}",
    ),
    # Keys shaped like OpenAI's and other services' (sk-..., sk-proj-..., hf_..., ghp_...).
    (
        re.compile(r"\b(sk|pk|rk|hf|ghp|gho|ghs|github_pat|xoxb|xoxp)([-_])[A-Za-z0-9_\-]{8,}"),
        rf"\1\2{MASK}",
    ),
    # JSON web tokens.
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"), MASK),
)

_lock = threading.Lock()
_key_envs: set[str] = {"OPENAI_API_KEY"}


def register_key_env(name: str | None) -> None:
    """Mask the value of environment variable ``name`` from now on (a configured key)."""
    if name:
        with _lock:
            _key_envs.add(name)


def _key_values() -> list[str]:
    with _lock:
        names = set(_key_envs)
    names.update(n for n in os.environ if _KEY_ENV_NAME.search(n))
    values = {os.environ.get(n, "") for n in names}
    # Longest first, so a key that contains another is masked whole.
    return sorted((v for v in values if len(v) >= _MIN_KEY_CHARS), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with key values and credential-shaped substrings masked (see the module doc)."""
    if not text:
        return text
    return _redact(text, _key_values())


def _redact(text: str, key_values: list[str]) -> str:
    """:func:`redact` with the key values to mask given (longest first)."""
    if not text:
        return text
    for value in key_values:
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def looks_secret(value: object) -> bool:
    """Whether the text of ``value`` holds a key value or a credential-shaped string."""
    try:
        text = value if isinstance(value, str) else _REPR.repr(value)
    except Exception:
        return False
    return redact(text) != text


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """The ``repr`` of ``value`` for a message: redacted, and cut to ``limit`` characters.

    The repr is built with bounded depth and length (:mod:`reprlib`), so even a huge nested
    value costs little to describe.
    """
    try:
        text = _REPR.repr(value)
    except Exception:  # a value whose repr fails is described by its type
        text = f"<{type(value).__name__}>"
    text = redact(text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = SHOWN_CHARS * 2
_REPR.maxother = SHOWN_CHARS * 2
_REPR.maxlong = SHOWN_CHARS
for _name in ("maxdict", "maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque", "maxarray"):
    setattr(_REPR, _name, 8)


def redact_tree(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, tuples, strings) with every string redacted.

    The key values to mask are looked up once for the whole tree (a manifest holds hundreds
    of strings, and each lookup scans the environment).
    """
    return _redact_tree(value, _key_values())


def _redact_tree(value: Any, key_values: list[str]) -> Any:
    if isinstance(value, str):
        return _redact(value, key_values)
    if isinstance(value, dict):
        return {_redact_tree(k, key_values): _redact_tree(v, key_values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_tree(v, key_values) for v in value)
    return value
