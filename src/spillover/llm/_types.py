"""The values that cross the LLMBackend seam: one request, one response.

Both are frozen and JSON-serialisable. A request carries everything that can change an answer
(model, messages, sampling settings, prompt version, sample index) and nothing secret: the API
key lives in the backend, read from the environment, and never in a request, a response, the
cache or a manifest.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal

from spillover._vocab import LLM_MODES, LLMMode
from spillover.exceptions import ConfigError

__all__ = [
    "ANSWER_FORMATS",
    "MAX_ANSWER_CHARS",
    "AnswerFormat",
    "LLMRequest",
    "LLMResponse",
    "Message",
]

AnswerFormat = LLMMode
ANSWER_FORMATS: Final[tuple[str, ...]] = LLM_MODES
_ROLES: Final[tuple[str, ...]] = ("system", "user", "assistant")
#: Longest answer text kept (characters): answers are parsed in full, then stored cut to this.
MAX_ANSWER_CHARS: Final[int] = 4000

#: One chat message, ``(role, content)``.
Message = tuple[str, str]


@dataclass(frozen=True)
class LLMRequest:
    """One chat-completion request, as the backend sends it and the cache keys it.

    Parameters
    ----------
    model : str
        Model name on the server.
    messages : tuple of (role, content)
        The chat, system prompt first.
    temperature : float
        Sampling temperature, >= 0.
    max_tokens : int
        Longest completion, >= 1.
    sample_index : int
        Which of several independent samples of the same prompt this is (0, 1, ...). Samples
        that must differ have different indices, so the cache never collapses them.
    prompt_version : str
        Version of the templates that built ``messages`` (e.g. ``"persona-v1+archetype-v2"``).
    answer_format : {"archetype", "feed"}
        The answer expected: ``{"share": "yes"|"no"}``, plus ``"post"`` in feed mode. It
        selects the JSON schema sent as structured output and the parser.
    logprobs : bool
        Ask for token log-probabilities (with ``top_logprobs`` alternatives).
    top_logprobs : int
        Alternatives per token when ``logprobs`` is set (0-20).
    discriminator : str
        Distinguishes requests that must receive independent answers although their prompts
        may coincide (feed mode: the replicate's decision key, the round and the agent).
    """

    model: str
    messages: tuple[Message, ...]
    temperature: float = 1.0
    max_tokens: int = 16
    sample_index: int = 0
    prompt_version: str = ""
    answer_format: AnswerFormat = "archetype"
    logprobs: bool = True
    top_logprobs: int = 5
    discriminator: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(f"LLMRequest.model must be a non-empty string; got {self.model!r}")
        messages = tuple((str(role), str(content)) for role, content in self.messages)
        if not messages:
            raise ConfigError("LLMRequest.messages must hold at least one message")
        for role, _ in messages:
            if role not in _ROLES:
                raise ConfigError(
                    f"LLMRequest.messages: role must be one of {', '.join(_ROLES)}; got {role!r}"
                )
        object.__setattr__(self, "messages", messages)
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, int | float) or not (0.0 <= t <= 2.0):
            raise ConfigError(f"LLMRequest.temperature must be in [0, 2]; got {t!r}")
        object.__setattr__(self, "temperature", float(t))
        for name, low, high in (
            ("max_tokens", 1, 1_000_000),
            ("sample_index", 0, 2**31 - 1),
            ("top_logprobs", 0, 20),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                raise ConfigError(
                    f"LLMRequest.{name} must be an integer in [{low}, {high}]; got {v!r}"
                )
        if self.answer_format not in ANSWER_FORMATS:
            raise ConfigError(
                f"LLMRequest.answer_format must be one of {', '.join(ANSWER_FORMATS)}; "
                f"got {self.answer_format!r}"
            )

    @property
    def seed(self) -> int:
        """The ``seed`` sent to the server: a hash of the sample index and discriminator.

        Servers that honour it (OpenAI, vLLM, llama.cpp) then answer repeated requests alike,
        while different samples and decisions get different seeds.
        """
        digest = hashlib.sha256(f"{self.sample_index}\x1f{self.discriminator}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

    def key_document(self, server: str) -> dict[str, Any]:
        """The canonical fields the cache key is a hash of (never a secret)."""
        return {
            "server": server,
            "model": self.model,
            "messages": [list(m) for m in self.messages],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "prompt_version": self.prompt_version,
            "sample_index": self.sample_index,
            "discriminator": self.discriminator,
            "answer_format": self.answer_format,
            "logprobs": self.logprobs,
        }

    def cache_key(self, server: str) -> str:
        """sha256 of the canonical JSON of :meth:`key_document`."""
        doc = json.dumps(
            self.key_document(server), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(doc.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["messages"] = [list(m) for m in self.messages]
        return d

    def describe(self) -> str:
        """A short human description for messages: the last line of the user prompt, trimmed."""
        user = self.messages[-1][1].strip().splitlines()
        head = user[0] if user else ""
        return (
            f"{self.answer_format} request (sample {self.sample_index}"
            f"{', ' + self.discriminator if self.discriminator else ''}): {head[:60]!r}"
        )


@dataclass(frozen=True)
class LLMResponse:
    """One answer, parsed.

    Attributes
    ----------
    text : str
        The completion text (data: it is never executed or rendered as markup); backends
        return it sanitised (:meth:`sanitised`: credentials masked, at most
        :data:`MAX_ANSWER_CHARS` characters).
    share : bool or None
        The parsed answer; None when the answer was invalid.
    post : str or None
        Feed mode: the post the agent writes when it shares (sanitised); None otherwise.
    probability : float or None
        P(share) from the token log-probabilities of the answer, when the server returned
        them; None otherwise (the caller then estimates it from several samples).
    valid : bool
        Whether ``text`` held a well-formed answer.
    error : str or None
        Why the answer is invalid (malformed, refused, truncated).
    truncated : bool
        The server cut the answer at ``max_tokens`` (``finish_reason == "length"``).
    post_error : str or None
        Feed mode: the decision was read but the post was not (a truncated or malformed
        answer, e.g. ``{"share": "yes", "post": "cut her``); the response is valid, ``post``
        is None, and this says why. None otherwise.
    prompt_tokens, completion_tokens : int
        Token usage reported by the server (0 when it reports none).
    attempts : int
        HTTP attempts it took, retries included.
    cached : bool
        Whether it was read from the cache rather than received now.
    """

    text: str
    share: bool | None
    post: str | None = None
    probability: float | None = None
    valid: bool = True
    error: str | None = None
    truncated: bool = False
    post_error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 1
    cached: bool = False

    def __post_init__(self) -> None:
        p = self.probability
        if p is not None and not (isinstance(p, float) and math.isfinite(p) and 0.0 <= p <= 1.0):
            raise ConfigError(f"LLMResponse.probability must be in [0, 1] or None; got {p!r}")
        if self.valid and self.share is None:
            raise ConfigError("LLMResponse: a valid response must carry a share answer")

    @property
    def probability_source(self) -> Literal["logprobs", "sample", "invalid"]:
        """Where the share probability of this single response comes from."""
        if not self.valid:
            return "invalid"
        return "logprobs" if self.probability is not None else "sample"

    def sanitised(self, max_chars: int = MAX_ANSWER_CHARS) -> LLMResponse:
        """This answer as it may be kept: credentials masked (:func:`spillover._redact.redact`)
        in its text, error and post, and the text cut to ``max_chars`` characters."""
        from spillover._redact import redact

        text = redact(self.text[: max_chars * 2])[:max_chars]
        error = None if self.error is None else redact(self.error[:2000])[:300]
        post = None if self.post is None else redact(self.post)
        post_error = None if self.post_error is None else redact(self.post_error[:2000])[:300]
        if (text, error, post, post_error) == (self.text, self.error, self.post, self.post_error):
            return self
        return replace(self, text=text, error=error, post=post, post_error=post_error)

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("cached")
        return json.dumps(d, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, *, cached: bool = True) -> LLMResponse:
        d = json.loads(text)
        if not isinstance(d, dict):
            raise ConfigError("cached response is not a JSON object")
        known = {f for f in cls.__dataclass_fields__ if f != "cached"}
        return cls(**{k: v for k, v in d.items() if k in known}, cached=cached)
