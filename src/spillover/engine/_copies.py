"""Which posts of a feed-mode run copy the news item, or a post of the feed, verbatim.

The rule (the ``copied`` column of ``posts.parquet``): both texts are normalised (case folded,
runs of whitespace made one space, trimmed); a post **copies** a source when the two are
equal, or when the post has at least :data:`COPY_MIN_CHARS` characters and its longest
substring in common with the source covers at least :data:`COPY_SHARE` of the post. So a post
that is the news item, or the news item with a word or two around it, or its headline with a
short opener, copies it; a post of its own that quotes a phrase does not. The news item comes
first: a post that copies both it and a neighbour's post (which copied the news) is "news".
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Final, Literal

__all__ = ["COPY_MIN_CHARS", "COPY_SHARE", "copied_from", "copies"]

#: Shortest (normalised) post that can copy a source without being equal to it.
COPY_MIN_CHARS: Final[int] = 30
#: Share of the post that its longest common substring with a source must cover.
COPY_SHARE: Final[float] = 0.8


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def copies(post: str, source: str) -> bool:
    """Whether ``post`` copies ``source`` verbatim under the module's rule."""
    a, b = _normal(post), _normal(source)
    if not a or not b:
        return False
    if a == b or (len(a) >= COPY_MIN_CHARS and a in b):
        return True
    if len(a) < COPY_MIN_CHARS or len(b) < COPY_SHARE * len(a):
        return False
    # A common substring covering 80 % of the post holds at least one of its fifths whole:
    # when none is in the source (the usual case of a post of its own), it is no copy.
    q = len(a) // 5
    if not any(a[i : i + q] in b for i in range(0, len(a) - q + 1, q)):
        return False
    match = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return match.size >= COPY_SHARE * len(a)


def copied_from(post: str, news: str, feed: Iterable[str] = ()) -> Literal["news", "post"] | None:
    """``"news"`` when ``post`` copies the news item, else ``"post"`` when it copies one of
    the posts of its ``feed``, else None (an empty post copies nothing)."""
    if copies(post, news):
        return "news"
    if any(copies(post, other) for other in feed):
        return "post"
    return None
