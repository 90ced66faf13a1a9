"""The posts of a feed-mode run on its report page: a few of them, and how many were copies.

Only runs with ``posts.parquet`` (feed mode) get the section. Post texts are model output:
they are escaped like every other string from a run, never inserted as markup.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape
from pathlib import Path

__all__ = ["FeedPosts", "feed_posts_section", "read_feed_posts"]

#: How many posts the report shows.
SHOWN_POSTS = 5


@dataclass(frozen=True)
class FeedPosts:
    """What the report shows of a run's posts.

    Attributes
    ----------
    rows : list of dict
        The first posts written by agents (round 1 onwards), by round, replicate and agent:
        ``round, replicate, agent, persona, post_status, copied, text``.
    n_posts, n_seed_posts : int
        Posts in all, and those of the seeds (the news item itself).
    status, copied : dict
        Counts of the agents' posts by post status and by copy flag (``"none"`` for posts
        that copy nothing).
    """

    rows: list[dict[str, object]]
    n_posts: int
    n_seed_posts: int
    status: dict[str, int]
    copied: dict[str, int]


def read_feed_posts(run: Path, n: int = SHOWN_POSTS) -> FeedPosts | None:
    """The posts of the run directory ``run`` for its report; None without ``posts.parquet``."""
    from spillover.io import read_table
    from spillover.personas import PERSONAS

    path = run / "posts.parquet"
    if not path.is_file():
        return None
    posts = read_table(path).to_pylist()
    persona: dict[tuple[int, int], int] = {}
    if (run / "adoptions.parquet").is_file():  # a sweep cell may keep no agent tables
        adoptions = read_table(run / "adoptions.parquet").select(["replicate", "agent", "persona"])
        persona = {(r["replicate"], r["agent"]): r["persona"] for r in adoptions.to_pylist()}
    written = [p for p in posts if p["round"] > 0]
    written.sort(key=lambda p: (p["round"], p["replicate"], p["agent"]))
    rows = []
    for p in written[:n]:
        c = persona.get((p["replicate"], p["agent"]))
        rows.append(
            {
                **p,
                "persona": PERSONAS[int(c)].code if c is not None else "",
                "post_status": p.get("post_status") or "ok",
                "copied": p.get("copied"),
            }
        )
    return FeedPosts(
        rows=rows,
        n_posts=len(posts),
        n_seed_posts=len(posts) - len(written),
        status=dict(Counter(str(p.get("post_status") or "ok") for p in written)),
        copied=dict(Counter(str(p.get("copied") or "none") for p in written)),
    )


def feed_posts_section(posts: FeedPosts | None) -> str:
    """The page's section of a feed-mode run's posts ("" for other runs)."""
    if posts is None:
        return ""
    n_written = posts.n_posts - posts.n_seed_posts
    copied_news, copied_post = posts.copied.get("news", 0), posts.copied.get("post", 0)
    retried, no_text = posts.status.get("retried", 0), posts.status.get("no_text", 0)
    summary = (
        f"{posts.n_posts:,} posts: {posts.n_seed_posts:,} by the seeds (the news item) and "
        f"{n_written:,} by agents, of which {copied_news:,} copy the news item and "
        f"{copied_post:,} a post of their feed verbatim; {retried:,} were written when asked "
        f"again with twice the token limit and {no_text:,} are shares without text (the post "
        "never fitted). The first posts by round:"
    )
    rows = "".join(
        f"<tr><td class='num'>{r['round']}</td><td class='num'>{r['replicate']}</td>"
        f"<td class='num'>{r['agent']}</td><td>{escape(str(r['persona']))}</td>"
        f"<td>{escape(str(r['post_status']))}</td>"
        f"<td>{escape(str(r['copied'] or ''))}</td><td>{escape(str(r['text']))}</td></tr>"
        for r in posts.rows
    )
    table = (
        "<div class='table-wrap'><table><tr><th>round</th><th>replicate</th><th>agent</th>"
        "<th>persona</th><th>post status</th><th>copied</th><th>text</th></tr>"
        f"{rows}</table></div>"
        if posts.rows
        else "<p class='muted'>No agent shared: only the seeds posted.</p>"
    )
    return (
        "<h2>Posts (feed mode)</h2>"
        f"<p>{escape(summary)}</p>{table}"
        "<p class='muted'>Texts are the model's, shown as plain text; every post is in "
        "posts.parquet with its flags (docs/llm.md).</p>"
    )
