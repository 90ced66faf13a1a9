"""``FeedLLMPolicy``: each agent reads its actual feed, one request per decision.

Feed mode needs the posts an agent sees, so it runs on the round-by-round engine
:func:`spillover.engine.simulate_feed` (which :func:`spillover.engine.simulate` chooses for any
policy with ``feed_decisions``): every round, every susceptible agent with informed neighbours
is a request of its own (:meth:`FeedLLMPolicy.feed_decisions`). Agents with an empty feed use
the offline (bucket 0) answer of their persona, asked once per run.

**Posts that do not fit.** A decision whose post was lost (the answer was cut at ``max_tokens``,
or its JSON broke after the ``"share"`` value: ``post_error`` set by the backend), or whose
answer was cut before any decision, is asked again **once** with twice the token limit: the
same request otherwise, so the same seed (a server that honours seeds writes the same answer
with room to finish it) and its own cache key (the limit is part of the key, so a resumed run
reads both answers from the cache). A decision read in the first answer stands, whatever the
second says (a server that does not repeat itself must not turn shares into "no"); only its
post comes from the second. Each decision gets a post status: ``"ok"``, ``"retried"`` (the post
of the second answer, or the second answer itself when the first had no decision), or
``"no_text"`` (still no post: the decision is kept and the agent, if it shares, shares without
text). Only a decision that cannot be read at all, in
either answer, or a refusal, is an invalid answer under the ``invalid`` rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

import numpy as np

from spillover.exceptions import LLMError, PolicyError
from spillover.personas import PERSONAS
from spillover.policies._llm import LLMPolicy
from spillover.policies._tabulated import TabulatedPolicy

if TYPE_CHECKING:
    from spillover.events import Event
    from spillover.llm import LLMRequest, LLMResponse
    from spillover.trajectories import ExposureTable

__all__ = ["POST_STATUSES", "FeedAnswers", "FeedCandidate", "FeedLLMPolicy"]

#: What became of a decision's post: as written, written when asked again with twice the token
#: limit, or never readable (the decision is kept; a share has no text).
POST_STATUSES: Final[tuple[str, ...]] = ("ok", "retried", "no_text")
#: How much more room a post that did not fit gets when asked again.
REASK_TOKEN_FACTOR: Final[int] = 2


def _more_room(max_tokens: int) -> int:
    """The token limit of a decision asked again (within what a request accepts)."""
    return min(max_tokens * REASK_TOKEN_FACTOR, 1_000_000)


@dataclass(frozen=True)
class FeedCandidate:
    """One susceptible agent deciding in one round of a feed-mode run.

    Attributes
    ----------
    replicate, round, agent, persona : int
    n_exposed : int
        Informed neighbours at the end of the previous round.
    posts : tuple of str
        The posts shown, newest first (at most the feed cap).
    decision_key : int
        The replicate's decision key (uint64); it makes requests of different runs and
        replicates distinct in the cache even when their prompts coincide.
    """

    replicate: int
    round: int
    agent: int
    persona: int
    n_exposed: int
    posts: tuple[str, ...]
    decision_key: int

    @property
    def discriminator(self) -> str:
        return f"{self.decision_key:016x}/r{self.round}/a{self.agent}"


@dataclass(frozen=True)
class FeedAnswers:
    """Probabilities and post texts for a batch of feed candidates (same order).

    ``posts[i]`` is the post the agent wrote in its answer ("" when it wrote none);
    ``status[i]`` one of :data:`POST_STATUSES` (empty: every post ``"ok"``). An agent that
    shares with status ``"no_text"`` shares without text; one that shares with an empty post
    otherwise reposts the newest post of its feed.
    """

    probability: np.ndarray
    posts: tuple[str, ...]
    status: tuple[str, ...] = ()


class FeedLLMPolicy(LLMPolicy):
    """An :class:`LLMPolicy` in feed mode: each decision shows the agent the posts of its
    informed neighbours (at most ``feed_cap``, newest first).

    Parameters are those of :class:`LLMPolicy`.
    """

    mode: ClassVar[Literal["feed"]] = "feed"
    default_max_tokens: ClassVar[int] = 256

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Decisions asked again with twice the token limit, and those still without a post.
        self.posts_reasked = 0
        self.posts_without_text = 0

    def _key_messages(self, persona: int, bucket: int, event: Event) -> tuple[tuple[str, str], ...]:
        from spillover.llm import feed_messages

        if bucket != 0:
            raise PolicyError("feed mode asks per-key requests only for the empty feed (bucket 0)")
        return feed_messages(PERSONAS[persona], event, 0, ())

    def key_buckets(self, max_degree: int) -> list[int]:
        """Only the empty feed is a key (bucket 0); the rest are decisions."""
        return [0]

    def decision_requests(self, agent_rounds: int) -> int | None:
        """Two requests per susceptible agent-round at most: its decision (asked only with an
        informed neighbour) and one re-ask, with twice the token limit, when the answer was cut
        before its decision or its post did not fit."""
        return 2 * agent_rounds

    def _check_buckets(self, bucket: np.ndarray) -> None:
        if np.any(bucket > 0):
            raise PolicyError(
                "an LLMPolicy in feed mode needs each agent's actual feed: run it with "
                "spillover.engine.simulate, which runs it on spillover.engine.simulate_feed "
                "(the table engine handles only archetype mode)"
            )

    def replay_table(self, event: Event, exposures: ExposureTable) -> TabulatedPolicy:
        """A surrogate learned from the run's exposure table (feed answers have no keys)."""
        return TabulatedPolicy.from_exposures(
            exposures,
            buckets=self.buckets,
            event_id=event.event_id,
            source=self.provenance(built_from="feed-mode run (learned surrogate)"),
        )

    def feed_decisions(
        self, candidates: Sequence[FeedCandidate], event: Event | None
    ) -> FeedAnswers:
        """Ask one request per candidate (its actual feed); probabilities and posts, same order."""
        from spillover.llm import feed_messages

        if event is None:
            raise PolicyError("LLMPolicy needs the event: the prompt carries the news item")
        requests = [
            self._request(
                feed_messages(PERSONAS[c.persona], event, c.n_exposed, c.posts[: self.feed_cap]),
                sample_index=0,
                logprobs=self.probability != "samples",
                discriminator=c.discriminator,
            )
            for c in candidates
        ]
        responses, status = self._answers(requests) if requests else ([], [])
        self.decisions_asked += len(requests)
        p = np.zeros(len(requests))
        posts: list[str] = []
        for i, (c, response) in enumerate(zip(candidates, responses, strict=True)):
            if not response.valid:
                self._invalid(
                    response, f"agent {c.agent} in round {c.round} (replicate {c.replicate})"
                )
                posts.append("")
                continue
            if self.probability != "samples" and response.probability is not None:
                p[i] = response.probability
                self.sources["logprobs"] += 1
            elif self.probability == "logprobs":
                raise LLMError(
                    f"the server at {self.backend.identity} returned no log-probabilities for "
                    f"model {self.model!r}; use llm_probability 'auto' or 'samples'"
                )
            else:
                p[i] = 1.0 if response.share else 0.0
                self.sources["sample"] += 1
            posts.append((response.post or "") if response.share else "")
        if self.offline_reach is not None and candidates:
            # The offline channel is open to agents with a feed too (as in the table engine).
            personas = sorted({c.persona for c in candidates})
            self._resolve_keys([(c, 0) for c in personas], event)
            reach = self._reach(event)
            assert reach is not None
            alpha = np.array(
                [reach * self._memo[(event.event_id, c.persona, 0)].probability for c in candidates]
            )
            p = 1.0 - (1.0 - alpha) * (1.0 - p)
        return FeedAnswers(p, tuple(posts), tuple(status))

    def _complete(self, requests: list[LLMRequest]) -> list[LLMResponse]:
        # Key requests (the empty feed) get the same second chance as decisions.
        return self._answers(requests)[0]

    def _answers(self, requests: list[LLMRequest]) -> tuple[list[LLMResponse], list[str]]:
        """The answers to ``requests``, those whose post did not fit asked once more with
        twice the token limit (see the module docstring), and each one's post status."""
        responses = super()._complete(requests)
        status = ["ok"] * len(responses)
        todo = [
            i
            for i, r in enumerate(responses)
            if (r.valid and r.share and r.post_error is not None) or (not r.valid and r.truncated)
        ]
        if not todo:
            return responses, status
        again = super()._complete(
            [replace(requests[i], max_tokens=_more_room(requests[i].max_tokens)) for i in todo]
        )
        self.posts_reasked += len(todo)
        for i, second in zip(todo, again, strict=True):
            first = responses[i]
            if first.valid:
                # The first decision stands whatever the second answer decides (a server
                # that does not repeat itself must not turn a share into a "no" only because
                # its post was cut): only the post is taken, from a second "yes" that fits.
                if second.valid and second.share and second.post_error is None:
                    responses[i] = replace(first, post=second.post, post_error=None)
                    status[i] = "retried"
                else:
                    status[i] = "no_text"
            elif second.valid:
                responses[i] = second  # the first answer was cut before its decision
                status[i] = "no_text" if second.share and second.post_error else "retried"
            else:
                responses[i] = second  # no decision in either answer: an invalid answer
        self.posts_without_text += status.count("no_text")
        return responses, status

    def offline_post(self, persona: int, event: Event) -> str:
        """The post of an agent with an empty feed that shares (from its bucket-0 answers)."""
        from spillover.events import render_post

        self._resolve_keys([(persona, 0)], event)
        posts = self._memo[(event.event_id, persona, 0)].posts
        return posts[0] if posts else render_post(event)

    def stats(self) -> dict[str, Any]:
        """Those of :class:`LLMPolicy`, and the posts asked again and still without text."""
        return {
            **super().stats(),
            "posts_reasked": self.posts_reasked,
            "posts_without_text": self.posts_without_text,
        }

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "feed_cap": self.feed_cap}
