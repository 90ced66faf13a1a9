"""Parsing answers robustly, and reading the share probability off token log-probabilities.

The prompts ask for a JSON object (``{"share": "yes"}``, plus ``"post"`` in feed mode) and,
where the server accepts it, enforce it with a JSON schema. Servers without structured output
answer in free text, so :func:`parse_answer` also accepts the object inside prose or a code
fence, booleans, and a bare leading ``yes``/``no``. Anything else is invalid: malformed,
refused or truncated.

Nothing here executes or evaluates model output: it is parsed as JSON data or matched with
regular expressions, and post texts are sanitised (:func:`clean_post`).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

__all__ = [
    "MAX_POST_CHARS",
    "ParsedAnswer",
    "TokenLogprob",
    "clean_post",
    "parse_answer",
    "read_decision",
    "share_probability_from_logprobs",
]

#: Longest post text kept from an answer (characters); longer posts are cut.
MAX_POST_CHARS: Final[int] = 500

_YES: Final[frozenset[str]] = frozenset({"yes", "y", "true"})
_NO: Final[frozenset[str]] = frozenset({"no", "n", "false"})
_FENCE = re.compile(r"^```[a-zA-Z]*\s*(.*?)\s*```$", re.DOTALL)
_SHARE_VALUE = re.compile(r'"share"\s*:\s*"?\s*(yes|no|true|false|y|n)\b', re.IGNORECASE)
_LEADING_WORD = re.compile(r"^[\W_]*(yes|no)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedAnswer:
    """What an answer text says.

    Attributes
    ----------
    share : bool or None
        None when no answer could be read (then ``error`` says why).
    post : str or None
        Feed mode: the agent's post, sanitised; None in archetype mode or when absent.
    span : (int, int) or None
        Character offsets of the yes/no value in the text, used to find its token.
    error : str or None
    """

    share: bool | None
    post: str | None = None
    span: tuple[int, int] | None = None
    error: str | None = None


def clean_post(text: str, max_chars: int = MAX_POST_CHARS) -> str:
    """Sanitise a post written by a model: plain text, no control characters, bounded length.

    Control and format characters (other than newlines and tabs, which become spaces) are
    dropped, runs of whitespace collapse, and the text is cut to ``max_chars``.
    """
    kept = []
    for ch in text:
        if ch in "\n\t\r":
            kept.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
            continue
        else:
            kept.append(ch)
    squashed = " ".join("".join(kept).split())
    return squashed[:max_chars].rstrip()


def _short(text: str, n: int = 80) -> str:
    return repr(text if len(text) <= n else text[: n - 3] + "...")


def _as_share(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().strip("\"'").strip().lower()
        if v in _YES:
            return True
        if v in _NO:
            return False
    return None


def _json_object(text: str) -> tuple[dict[str, Any], int] | None:
    """The first JSON object in ``text`` and its offset, or None."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        return doc, 0
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            doc, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(doc, dict):
            return doc, match.start()
    return None


def parse_answer(
    text: str, answer_format: str, *, max_post_chars: int = MAX_POST_CHARS
) -> ParsedAnswer:
    """Read the share decision (and, in feed mode, the post) from an answer text.

    Parameters
    ----------
    text : str
        The completion text.
    answer_format : {"archetype", "feed"}
    max_post_chars : int
        Posts are cut to this length.

    Returns
    -------
    ParsedAnswer
        With ``share`` None and ``error`` set when the text holds no readable answer.
    """
    raw = text.strip()
    if not raw:
        return ParsedAnswer(None, error="empty answer")
    body = raw
    fenced = _FENCE.match(raw)
    if fenced:
        body = fenced.group(1)
    found = _json_object(body)
    if found is not None:
        doc, _ = found
        share = _as_share(doc.get("share"))
        if share is None:
            return ParsedAnswer(
                None, error=f"JSON answer without a yes/no 'share' value: {_short(raw)}"
            )
        post = None
        if answer_format == "feed":
            value = doc.get("post", "")
            post = clean_post(value if isinstance(value, str) else "", max_post_chars)
        span_match = _SHARE_VALUE.search(text)
        span = span_match.span(1) if span_match else None
        return ParsedAnswer(share, post=post, span=span)
    word = _LEADING_WORD.match(text.strip())
    if word:
        offset = len(text) - len(text.lstrip())
        share = word.group(1).lower() == "yes"
        return ParsedAnswer(
            share,
            post="" if answer_format == "feed" else None,
            span=(word.start(1) + offset, word.end(1) + offset),
        )
    if "{" in raw:
        return ParsedAnswer(None, error=f"malformed JSON answer: {_short(raw)}")
    return ParsedAnswer(None, error=f"no yes/no answer (refused or off-format): {_short(raw)}")


def read_decision(text: str) -> tuple[bool, tuple[int, int]] | None:
    """The yes/no value of a ``"share"`` key in a text that does not parse as a whole (a feed
    answer cut inside its post, or with broken JSON after the decision), and its span; None
    when the text holds no such value.

    Only the decision is read: the post of such an answer is not trusted (it is cut or
    malformed), so the caller keeps the decision and asks again for the post, or goes without.
    """
    match = _SHARE_VALUE.search(text)
    if match is None:
        return None
    share = _as_share(match.group(1))
    return (share, match.span(1)) if share is not None else None


class TokenLogprob(Protocol):
    """What the OpenAI client returns per token (``choices[0].logprobs.content[i]``)."""

    @property
    def token(self) -> str: ...

    @property
    def logprob(self) -> float: ...

    @property
    def top_logprobs(self) -> Sequence[Any]: ...


def _side(token: str) -> bool | None:
    """True for a token that starts 'yes' or 'true', False for 'no' or 'false', else None."""
    t = token.strip().strip("\"'").strip().lower()
    if not t:
        return None
    if "yes".startswith(t) or "true".startswith(t):
        return True
    if "no".startswith(t) or "false".startswith(t):
        return False
    return None


def _answer_position(
    tokens: Sequence[TokenLogprob], text: str, span: tuple[int, int] | None
) -> int | None:
    if span is not None and "".join(t.token for t in tokens) == text:
        offset = 0
        for i, tok in enumerate(tokens):
            end = offset + len(tok.token)
            if offset <= span[0] < end:
                return i
            offset = end
    # Token strings that do not add up to the text (some servers): the first yes/no-like token
    # after the "share" key, or the first one at all for a bare answer.
    seen_key = "share" not in text
    for i, tok in enumerate(tokens):
        if not seen_key:
            seen_key = "share" in tok.token.lower()
            continue
        if _side(tok.token) is not None:
            return i
    return None


def share_probability_from_logprobs(
    tokens: Sequence[TokenLogprob] | None, text: str, span: tuple[int, int] | None
) -> float | None:
    """P(yes) / (P(yes) + P(no)) at the token that carries the answer.

    The alternatives at that position (``top_logprobs``, plus the chosen token) are split into
    tokens that begin "yes" (or "true") and tokens that begin "no" (or "false"), ignoring case,
    spaces and quotes; each side's probabilities are summed. Returns None when the server sent
    no log-probabilities or neither side appears among the alternatives.
    """
    if not tokens:
        return None
    i = _answer_position(tokens, text, span)
    if i is None:
        return None
    candidates: dict[str, float] = {}
    chosen = tokens[i]
    for alt in [chosen, *(chosen.top_logprobs or ())]:
        token = getattr(alt, "token", None)
        logprob = getattr(alt, "logprob", None)
        if not isinstance(token, str) or not isinstance(logprob, int | float):
            continue
        if math.isfinite(logprob):
            candidates[token] = float(logprob)
    p_yes = p_no = 0.0
    for token, logprob in candidates.items():
        side = _side(token)
        if side is True:
            p_yes += math.exp(logprob)
        elif side is False:
            p_no += math.exp(logprob)
    if p_yes + p_no <= 0.0:
        return None
    return min(1.0, max(0.0, p_yes / (p_yes + p_no)))
