"""Feed posts against a server that cuts answers at max_tokens: asked again with twice the
limit, kept as shares without text, flagged copies, cached for a resumed run."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from spillover.engine import copied_from, copies, simulate_feed
from spillover.events import Event, render_post
from spillover.exceptions import LLMError, PolicyError
from spillover.graphs import random_regular
from spillover.llm import (
    CachedBackend,
    FakeBackend,
    Faults,
    LLMRequest,
    LLMResponse,
    OpenAIBackend,
    SQLiteStore,
    StandinServer,
)
from spillover.llm._backend import ResponseCallback
from spillover.policies import FeedLLMPolicy
from spillover.trajectories import Posts

Start = Callable[..., StandinServer]
LIMIT = 30


def half(_: Sequence[dict[str, Any]]) -> float:
    return 0.5


def feed_policy(backend: Any, **kw: Any) -> FeedLLMPolicy:
    kw.setdefault("max_tokens", LIMIT)
    return FeedLLMPolicy(backend, model="standin-1", **kw)


def backend(server: StandinServer, **kw: Any) -> OpenAIBackend:
    return OpenAIBackend(server.url, concurrency=4, timeout_s=30, **kw)


def run_feed(policy: FeedLLMPolicy, event: Event, n_rounds: int = 3) -> Posts:
    graph = random_regular(40, 4, rng=2)
    feed = simulate_feed(graph, policy, n_rounds=n_rounds, n_seeds=3, event=event, rng=1)
    return feed.posts


def sent(server: StandinServer) -> list[tuple[str, int, int]]:
    """(messages, seed, max_tokens) of every chat request the server received."""
    return [
        (json.dumps(r["messages"]), int(r["seed"]), int(r["max_tokens"]))
        for r in server.chat_requests()
    ]


def test_a_cut_post_is_asked_again_with_twice_the_limit(standin: Start, event: Event) -> None:
    # Long posts run to 40 tokens: cut at 30, whole at 60.
    server = standin(probability=half, faults=Faults(long_posts=1.0, long_post_tokens=40))
    policy = feed_policy(backend(server))
    posts = run_feed(policy, event)
    requests = sent(server)
    first = {(m, s) for m, s, limit in requests if limit == LIMIT}
    again = [(m, s) for m, s, limit in requests if limit == 2 * LIMIT]
    # Every re-ask is a request of the first wave, with the same seed and twice the limit.
    assert again and set(again) <= first and len(again) == len(set(again))
    assert policy.stats()["posts_reasked"] == len(again)
    assert policy.stats()["posts_without_text"] == 0 and policy.invalid_answers == 0
    later = [i for i, r in enumerate(posts.round) if r > 0]
    retried = [i for i in later if posts.post_status[i] == "retried"]
    assert retried and all(posts.text[i].endswith("and and") for i in retried)
    assert set(posts.post_status) <= {"ok", "retried"}


def test_a_post_that_never_fits_is_a_share_without_text(standin: Start, event: Event) -> None:
    server = standin(probability=half, faults=Faults(long_posts=1.0, long_post_tokens=200))
    policy = feed_policy(backend(server))  # llm_invalid "fail": the run must not stop
    posts = run_feed(policy, event)
    no_text = [i for i, s in enumerate(posts.post_status) if s == "no_text"]
    assert no_text and policy.stats()["posts_without_text"] >= len(no_text)
    assert all(posts.text[i] == "" and posts.copied[i] is None for i in no_text)
    assert policy.invalid_answers == 0
    # A share without text reaches later feeds as the news item it shares, never as "".
    users = [r["messages"][-1]["content"] for r in server.chat_requests()]
    assert not any("<post>\n\n</post>" in u for u in users)
    assert any(u.count("<post>") > 0 for u in users)
    # The dry run's bound holds with the re-asks: decisions and their re-asks together stay
    # within decision_requests of the susceptible agent-rounds (3 rounds x 37 agents).
    stats = policy.stats()
    asked = stats["feed_decisions_asked"] + stats["posts_reasked"]
    assert stats["posts_reasked"] > 0 and asked <= policy.decision_requests(3 * 37)


def test_a_broken_post_is_asked_again_and_the_retry_used(standin: Start, event: Event) -> None:
    # The malformed fault ('{"share": "yes') hits the first attempt of each request only.
    server = standin(probability=half, faults=Faults(malformed=0.5))
    policy = feed_policy(backend(server, invalid_retries=0), max_tokens=256)
    posts = run_feed(policy, event)
    assert "retried" in posts.post_status and policy.invalid_answers == 0
    assert policy.stats()["posts_reasked"] > 0


def test_an_answer_cut_before_its_decision(standin: Start, event: Event) -> None:
    server = standin(probability=half)
    # 3 tokens: '{"share":' has no decision; asked again with 6, which reads it (no post).
    policy = feed_policy(backend(server), max_tokens=3)
    posts = run_feed(policy, event, n_rounds=2)
    later = [s for s, r in zip(posts.post_status, posts.round, strict=True) if r > 0]
    assert "no_text" in later and policy.invalid_answers == 0
    # With 1 token, even the second answer holds no decision: today's rule for an answer
    # without a decision (llm_invalid "fail") stops the run.
    with pytest.raises(LLMError, match=r"invalid answer .* truncated at max_tokens=2"):
        run_feed(feed_policy(backend(server), max_tokens=1), event, n_rounds=2)


class Interrupted(Exception):
    pass


class StopInReasks:
    """A backend that answers half of the first batch of re-asks, then stops the run."""

    def __init__(self, inner: OpenAIBackend) -> None:
        self.inner = inner
        self.identity = inner.identity
        self.accounting = inner.accounting
        self.stopped = False

    def complete(
        self, requests: Sequence[LLMRequest], *, on_response: ResponseCallback | None = None
    ) -> list[LLMResponse]:
        if requests and all(r.max_tokens == 2 * LIMIT for r in requests) and not self.stopped:
            self.stopped = True
            self.inner.complete(
                list(requests)[: max(len(requests) // 2, 1)], on_response=on_response
            )
            raise Interrupted
        return self.inner.complete(requests, on_response=on_response)

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


def test_a_resumed_run_asks_no_cached_post_again(
    standin: Start, event: Event, tmp_path: Path
) -> None:
    server = standin(probability=half, faults=Faults(long_posts=0.5, long_post_tokens=40))
    cache = tmp_path / "cache.sqlite"
    stopping = StopInReasks(backend(server))
    with pytest.raises(Interrupted):
        run_feed(feed_policy(CachedBackend(stopping, SQLiteStore(cache))), event)
    before = set(sent(server))
    assert any(limit == 2 * LIMIT for _, _, limit in before)
    server.reset_log()
    resumed = run_feed(feed_policy(CachedBackend(backend(server), SQLiteStore(cache))), event)
    after = sent(server)
    assert after and not set(after) & before  # nothing answered before is asked again
    fresh_server = standin(probability=half, faults=Faults(long_posts=0.5, long_post_tokens=40))
    fresh = run_feed(feed_policy(backend(fresh_server)), event)
    assert resumed.text == fresh.text and resumed.post_status == fresh.post_status
    assert "retried" in resumed.post_status
    # A third run is answered from the cache alone.
    server.reset_log()
    again = run_feed(feed_policy(CachedBackend(backend(server), SQLiteStore(cache))), event)
    assert not server.chat_requests() and again.text == fresh.text


def test_the_copy_rule() -> None:
    news = "Protesters gathered outside the ministry in Port Avel on Monday. Two were hurt."
    assert copies(news, news) and copies("  PROTESTERS gathered outside\nthe ministry  " * 1, news)
    assert copies(f"Wow. {news}", news)  # the news with a word around it
    assert not copies("Thinking of everyone in Port Avel tonight, stay safe.", news)
    assert not copies("Two were hurt.", news)  # short and not equal: not a copy
    assert copies("two were  HURT.", "Two were hurt.")  # equal once normalised
    assert not copies("", news)
    feed = ("My cousin lives near the ministry, this is scary to read about.",)
    assert copied_from(news, news, feed) == "news"
    assert (
        copied_from("my cousin lives near the ministry, this is scary to read about.", news, feed)
        == "post"
    )
    assert copied_from("A post of my own about something else entirely.", news, feed) is None


def test_copy_flags_of_known_posts(event: Event) -> None:
    news = render_post(event)
    written = {"copy": news, "own": "I can't believe this happened, praying for the families."}

    class Writer(FakeBackend):
        def answer(self, request: LLMRequest) -> LLMResponse:
            r = super().answer(request)
            if not request.discriminator:  # the empty feed: nobody shares offline
                return LLMResponse(text=r.text, share=False, post="", probability=0.0)
            kind = "copy" if int(request.discriminator.split("/a")[1]) % 2 else "own"
            return LLMResponse(
                text=r.text, share=True, post=written[kind], probability=1.0, completion_tokens=9
            )

    writer = Writer()
    graph = random_regular(30, 4, rng=3)
    feed = simulate_feed(graph, feed_policy(writer), n_rounds=2, n_seeds=2, event=event, rng=1)
    posts = feed.posts
    shown = {
        r.discriminator.split("/", 1)[1]: r.messages[-1][1]
        for r in writer.requests
        if r.discriminator
    }
    flags: dict[str, set[str | None]] = {"news": set(), "own": set(), "own after own": set()}
    for text, r, agent, flag in zip(
        posts.text, posts.round, posts.agent, posts.copied, strict=True
    ):
        if r == 0 or text == written["copy"]:
            assert text == news and flag == "news"
            flags["news"].add(flag)
        else:
            assert text == written["own"] and agent % 2 == 0
            # Its own words, unless its feed showed the same words (then it copies a post).
            saw_own = written["own"] in shown[f"r{r}/a{agent}"]
            flags["own after own" if saw_own else "own"].add(flag)
    assert flags == {"news": {"news"}, "own": {None}, "own after own": {"post"}}


def test_a_feed_policy_must_return_known_post_statuses(event: Event) -> None:
    class Odd(FeedLLMPolicy):
        def feed_decisions(self, candidates: Any, event: Event | None) -> Any:
            answers = super().feed_decisions(candidates, event)
            return replace(answers, status=("lost",) * len(candidates))

    with pytest.raises(PolicyError, match="each one of ok, retried, no_text"):
        run_feed(Odd(FakeBackend(), model="m"), event)


class FlipsWhenAskedAgain:
    """A backend whose answers asked again (twice the limit) say "no": a server that does not
    repeat itself for the same seed."""

    def __init__(self, inner: OpenAIBackend) -> None:
        self.inner = inner
        self.identity = inner.identity
        self.accounting = inner.accounting

    def complete(
        self, requests: Sequence[LLMRequest], *, on_response: ResponseCallback | None = None
    ) -> list[LLMResponse]:
        answers = self.inner.complete(requests, on_response=on_response)
        return [
            replace(a, share=False, post=None, post_error=None, probability=0.0)
            if r.max_tokens == 2 * LIMIT and a.valid
            else a
            for r, a in zip(requests, answers, strict=True)
        ]

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


def test_asking_again_never_turns_a_share_into_a_no(standin: Start, event: Event) -> None:
    faults = Faults(long_posts=1.0, long_post_tokens=40)
    honest = run_feed(feed_policy(backend(standin(probability=half, faults=faults))), event)
    flipping = feed_policy(FlipsWhenAskedAgain(backend(standin(probability=half, faults=faults))))
    flipped = run_feed(flipping, event)
    # The same agents share in the same rounds: the first decision stands.
    assert list(flipped.agent) == list(honest.agent) and list(flipped.round) == list(honest.round)
    assert "retried" in honest.post_status and flipping.stats()["posts_reasked"] > 0
    # Only the post is lost where the second answer did not give one.
    # Only the post is lost: every decision asked again kept its first answer, without text.
    stats = flipping.stats()
    assert stats["posts_without_text"] == stats["posts_reasked"]
    assert "retried" not in flipped.post_status
    assert all(
        t == "" for t, st in zip(flipped.text, flipped.post_status, strict=True) if st == "no_text"
    )
