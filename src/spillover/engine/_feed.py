"""``simulate_feed``: the round-by-round engine of feed-mode LLM agents.

Feed mode shows each agent the actual posts of its informed neighbours, so the policy cannot be
tabulated once per run: every round, every susceptible agent with informed neighbours is a
request of its own. This engine runs all replicates in lockstep, one round at a time, so each
round's requests of every replicate go to the policy as one batch (one concurrent burst of
requests), and keeps the posts agents write.

Semantics are those of :func:`spillover.engine.simulate` (DESIGN section 2), with the same
seed sets, the same keyed uniforms ``decision_uniform(key_rep, round, agent)`` and the same
early stop, so for a policy whose probabilities depend only on (persona, n_exposed) it returns
the same tables as the numba engine; the tests check equality. Agents with no informed
neighbour see an empty feed: their probability is the policy's table value for (persona, 0),
asked once per run.

Post texts: a seed posts the news item itself (:func:`spillover.events.render_post`); an agent
that shares through the offline channel posts its persona's offline post
(``policy.offline_post``); an agent that shares from its feed posts what it wrote in its
answer, or, when it wrote nothing (possible when the probability comes from log-probabilities
and the sampled answer was "no"), reposts the newest post of its feed; a decision whose post
could not be read (status ``"no_text"`` in :class:`~spillover.policies.FeedAnswers`) is a share
without text, shown in later feeds as the news item it shares. Every post carries its status
and whether it copies the news item or a post of the feed verbatim
(:func:`spillover.engine.copied_from`). Texts are data: they are escaped inside later prompts
and never executed or rendered as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from spillover._checks import check_run_sizes
from spillover._rng import SeedLike, SeedRecord, seed_record
from spillover.engine._copies import copied_from
from spillover.engine._simulate import _seed_sets
from spillover.engine._uniform import decision_uniforms
from spillover.exceptions import ConfigError, PolicyError
from spillover.personas import N_PERSONAS, assign_balanced, validate_assignment
from spillover.policies import (
    POST_STATUSES,
    ExposureBatch,
    FeedAnswers,
    FeedCandidate,
    checked_probabilities,
)
from spillover.trajectories import Adoptions, Curves, ExposureTable, Posts, SimulationResult

if TYPE_CHECKING:
    from spillover.events import Event
    from spillover.graphs import Graph

__all__ = ["FeedPolicy", "FeedSimulation", "Posts", "simulate_feed"]


@runtime_checkable
class FeedPolicy(Protocol):
    """What :func:`simulate_feed` needs from a policy (``FeedLLMPolicy`` has it);
    :func:`spillover.engine.simulate` runs any policy that has it on :func:`simulate_feed`."""

    feed_cap: int

    def share_probability(self, batch: ExposureBatch, event: Event | None) -> np.ndarray: ...

    def feed_decisions(
        self, candidates: Sequence[FeedCandidate], event: Event | None
    ) -> FeedAnswers: ...

    def offline_post(self, persona: int, event: Event) -> str: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FeedSimulation:
    """What :func:`simulate_feed` returns: the usual tables and the posts (``result.posts`` is
    the same value)."""

    result: SimulationResult
    posts: Posts


def _neighbours(indptr: np.ndarray, indices: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    if nodes.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts, ends = indptr[nodes], indptr[nodes + 1]
    return np.concatenate(
        [indices[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    )


class _RepRound(NamedTuple):
    """One replicate's round: its susceptible agents ``sus`` with their personas ``c`` and
    exposure counts ``m``, the positions ``fed`` (into ``sus``) of those with informed
    neighbours, and where their candidates start in the round's batch (``first``)."""

    rep: int
    sus: np.ndarray
    c: np.ndarray
    m: np.ndarray
    fed: np.ndarray
    first: int


@dataclass
class _FeedRun:
    """All replicates of one feed-mode run, advanced together one round at a time."""

    policy: FeedPolicy
    event: Event
    n_rounds: int
    persona: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    cap: int
    news: str
    offline: np.ndarray
    keys: list[int]
    at_risk: np.ndarray
    shared: np.ndarray
    informed_by_persona: np.ndarray
    adoption_round: np.ndarray
    n_exposed: np.ndarray
    post_of: list[dict[int, str]]
    last_active: np.ndarray
    active: np.ndarray
    offline_posts: dict[int, str] = field(default_factory=dict)
    #: Per replicate and sharer: (post status, copied flag) of its post.
    flags_of: list[dict[int, tuple[str, str | None]]] = field(default_factory=list)


def _offline_probabilities(policy: FeedPolicy, persona: np.ndarray, event: Event) -> np.ndarray:
    """The policy's table value for (persona, 0) of every persona present, asked once."""
    present = np.unique(persona)
    offline = np.zeros(N_PERSONAS)
    batch = ExposureBatch(persona=present, n_exposed=np.zeros(present.size, dtype=np.int64))
    offline[present] = checked_probabilities(policy, batch, event)
    return offline


def _start(
    graph: Graph,
    policy: FeedPolicy,
    event: Event,
    persona: np.ndarray,
    seed_sets: np.ndarray,
    record: SeedRecord,
    n_rounds: int,
    n_reps: int,
) -> _FeedRun:
    """The run's state at round 0: the seeds informed (posting the news item) and their
    neighbours exposed."""
    from spillover.events import render_post

    n = graph.n_nodes
    max_degree = int(graph.max_degree)
    indptr = np.asarray(graph.indptr, dtype=np.int64)
    indices = np.asarray(graph.indices, dtype=np.int64)
    cap = max(int(getattr(policy, "feed_cap", 5)), 1)
    news = render_post(event)
    offline = _offline_probabilities(policy, persona, event)
    keys = [
        int(record.generator("dynamics", r).integers(0, 2**64, dtype=np.uint64))
        for r in range(n_reps)
    ]
    shape = (n_rounds + 1, N_PERSONAS, max_degree + 1)
    run = _FeedRun(
        policy=policy,
        event=event,
        n_rounds=n_rounds,
        persona=persona,
        indptr=indptr,
        indices=indices,
        cap=cap,
        news=news,
        offline=offline,
        keys=keys,
        at_risk=np.zeros((n_reps, *shape), dtype=np.int64),
        shared=np.zeros((n_reps, *shape), dtype=np.int64),
        informed_by_persona=np.zeros((n_reps, n_rounds + 1, N_PERSONAS), dtype=np.int64),
        adoption_round=np.full((n_reps, n), -1, dtype=np.int32),
        n_exposed=np.zeros((n_reps, n), dtype=np.int64),
        post_of=[{} for _ in range(n_reps)],
        last_active=np.zeros(n_reps, dtype=np.int32),
        active=np.ones(n_reps, dtype=bool),
        flags_of=[{} for _ in range(n_reps)],
    )
    for rep in range(n_reps):
        s = seed_sets[rep]
        run.adoption_round[rep, s] = 0
        np.add.at(run.n_exposed[rep], _neighbours(run.indptr, run.indices, s), 1)
        run.informed_by_persona[rep, 0] = np.bincount(persona[s], minlength=N_PERSONAS)
        for a in s.tolist():
            run.post_of[rep][a] = run.news
            run.flags_of[rep][a] = ("ok", "news")
    return run


def _candidates(run: _FeedRun, t: int) -> tuple[list[_RepRound], list[FeedCandidate]]:
    """Round ``t`` of every active replicate: count those at risk, and one candidate per
    susceptible agent with informed neighbours (its feed: their newest ``cap`` posts)."""
    plans: list[_RepRound] = []
    candidates: list[FeedCandidate] = []
    indptr, indices, adoption_round = run.indptr, run.indices, run.adoption_round
    for rep in np.flatnonzero(run.active).tolist():
        sus = np.flatnonzero(adoption_round[rep] < 0)
        c, m = run.persona[sus], run.n_exposed[rep, sus]
        np.add.at(run.at_risk[rep, t], (c, m), 1)
        fed = np.flatnonzero(m > 0)
        first = len(candidates)
        for j in fed.tolist():
            agent = int(sus[j])
            nb = indices[indptr[agent] : indptr[agent + 1]]
            nb = nb[adoption_round[rep, nb] >= 0]
            order = np.lexsort((nb, -adoption_round[rep, nb].astype(np.int64)))[: run.cap]
            candidates.append(
                FeedCandidate(
                    replicate=rep,
                    round=t,
                    agent=agent,
                    persona=int(c[j]),
                    n_exposed=int(m[j]),
                    # A share without text shows the news item it shares.
                    posts=tuple(run.post_of[rep][int(v)] or run.news for v in nb[order]),
                    decision_key=run.keys[rep],
                )
            )
        plans.append(_RepRound(rep, sus, c, m, fed, first))
    return plans, candidates


def _feed_answers(
    policy: FeedPolicy, candidates: list[FeedCandidate], event: Event
) -> tuple[FeedAnswers, np.ndarray]:
    """The policy's answers for one round's batch, and their checked probabilities."""
    answers = (
        policy.feed_decisions(candidates, event) if candidates else FeedAnswers(np.zeros(0), ())
    )
    p_feed = np.asarray(answers.probability, dtype=np.float64)
    if p_feed.shape != (len(candidates),) or np.any(
        ~np.isfinite(p_feed) | (p_feed < 0) | (p_feed > 1)
    ):
        raise PolicyError(
            f"{type(policy).__name__}.feed_decisions must return {len(candidates)} "
            "probabilities in [0, 1]"
        )
    if (
        len(answers.posts) != len(candidates)
        or (answers.status and len(answers.status) != len(candidates))
        or not set(answers.status) <= set(POST_STATUSES)
    ):
        raise PolicyError(
            f"{type(policy).__name__}.feed_decisions must return {len(candidates)} posts "
            f"(and as many post statuses, each one of {', '.join(POST_STATUSES)}, or none)"
        )
    return answers, p_feed


def _post_text(
    run: _FeedRun,
    persona: int,
    k: int | None,
    candidates: list[FeedCandidate],
    answers: FeedAnswers,
) -> tuple[str, str, str | None]:
    """What a sharer posts, its post status and copy flag: its persona's offline post (no
    feed, ``k`` None), else what it wrote in answer ``k``, else nothing when its post could not
    be read, or else a repost of the newest post of its feed."""
    if k is None:
        if persona not in run.offline_posts:
            run.offline_posts[persona] = run.policy.offline_post(persona, run.event)
        text = run.offline_posts[persona]
        return text, "ok", copied_from(text, run.news)
    status = answers.status[k] if answers.status else "ok"
    if status == "no_text":
        return "", status, None
    feed = candidates[k].posts
    text = answers.posts[k] or (feed[0] if feed else run.news)
    return text, status, copied_from(text, run.news, feed)


def _advance(
    run: _FeedRun,
    t: int,
    plan: _RepRound,
    candidates: list[FeedCandidate],
    answers: FeedAnswers,
    p_feed: np.ndarray,
) -> None:
    """Decide round ``t`` of one replicate: who shares, what they post, who is exposed next;
    a replicate where nobody can share any more stops (its later rounds repeat this one)."""
    rep, sus, c, m, fed, first = plan
    p = run.offline[c].copy()
    p[fed] = p_feed[first : first + fed.size]
    u = decision_uniforms(run.keys[rep], t, sus)
    chosen = np.flatnonzero(u < p)
    new = sus[chosen]
    n_possible = int(np.count_nonzero(p > 0.0))
    np.add.at(run.shared[rep, t], (c[chosen], m[chosen]), 1)
    slot = {int(j): first + k for k, j in enumerate(fed.tolist())}
    for j in chosen.tolist():
        k = None if m[j] == 0 else slot[j]
        text, status, copied = _post_text(run, int(c[j]), k, candidates, answers)
        run.post_of[rep][int(sus[j])] = text
        run.flags_of[rep][int(sus[j])] = (status, copied)
    run.adoption_round[rep, new] = t
    np.add.at(run.n_exposed[rep], _neighbours(run.indptr, run.indices, new), 1)
    informed = run.informed_by_persona
    informed[rep, t] = informed[rep, t - 1] + np.bincount(run.persona[new], minlength=N_PERSONAS)
    if new.size:
        run.last_active[rep] = t
    elif n_possible == 0:
        # Nobody can share and nothing changes: the remaining rounds repeat this one.
        for later in range(t + 1, run.n_rounds + 1):
            run.at_risk[rep, later] = run.at_risk[rep, t]
            informed[rep, later] = informed[rep, t]
        run.active[rep] = False


def _tables(run: _FeedRun, seed_sets: np.ndarray, record: SeedRecord, n: int) -> FeedSimulation:
    """The run's curves, exposures, adoptions and posts, replicate by replicate."""
    persona, adoption_round = run.persona, run.adoption_round
    at_risk, shared = run.at_risk, run.shared
    exposure_parts, adoption_parts, post_parts = [], [], []
    for rep in range(len(run.keys)):
        tt, cc, mm = np.nonzero(at_risk[rep])
        exposure_parts.append(
            (np.full(tt.size, rep), tt, cc, mm, at_risk[rep][tt, cc, mm], shared[rep][tt, cc, mm])
        )
        agents = np.flatnonzero(adoption_round[rep] >= 0)
        rounds = adoption_round[rep, agents]
        order = np.lexsort((agents, rounds))
        agents, rounds = agents[order], rounds[order]
        adoption_parts.append((np.full(agents.size, rep), agents, persona[agents], rounds))
        post_parts.append(
            (
                np.full(agents.size, rep),
                rounds,
                agents,
                [run.post_of[rep][int(a)] for a in agents],
                [run.flags_of[rep][int(a)] for a in agents],
            )
        )
    exposures = ExposureTable(*(np.concatenate(cols) for cols in zip(*exposure_parts, strict=True)))
    adoptions = Adoptions(*(np.concatenate(cols) for cols in zip(*adoption_parts, strict=True)))
    posts = Posts(
        np.concatenate([p[0] for p in post_parts]),
        np.concatenate([p[1] for p in post_parts]),
        np.concatenate([p[2] for p in post_parts]),
        tuple(text for p in post_parts for text in p[3]),
        post_status=tuple(flags[0] for p in post_parts for flags in p[4]),
        copied=tuple(flags[1] for p in post_parts for flags in p[4]),
    )
    result = SimulationResult(
        curves=Curves(run.informed_by_persona, n_nodes=n),
        exposures=exposures,
        adoptions=adoptions,
        seeds=seed_sets,
        last_active_round=run.last_active,
        seed_record=record,
        persona_of_node=persona.astype(np.int8),
        posts=posts,
    )
    return FeedSimulation(result=result, posts=posts)


def simulate_feed(
    graph: Graph,
    policy: FeedPolicy,
    *,
    n_rounds: int,
    n_reps: int = 1,
    n_seeds: int = 1,
    event: Event,
    persona_of_node: np.ndarray | None = None,
    seeds: Sequence[int] | np.ndarray | None = None,
    rng: SeedLike = None,
    progress: Callable[[int, int], None] | None = None,
) -> FeedSimulation:
    """Simulate ``n_reps`` spreads where agents read their neighbours' actual posts.

    Parameters are those of :func:`spillover.engine.simulate`; ``progress(done, n_rounds)`` is
    called after each round (all replicates advance together).

    Returns
    -------
    FeedSimulation
        ``result`` (curves, exposures, adoptions, as the numba engine) and ``posts``.
    """
    n_rounds, n_reps, n_seeds = check_run_sizes(n_rounds=n_rounds, n_reps=n_reps, n_seeds=n_seeds)
    if event is None:
        raise PolicyError("simulate_feed needs the event: the prompts carry the news item")
    record = seed_record(rng)
    n = graph.n_nodes
    if n < 1:
        raise ConfigError("graph must have at least one node")
    if persona_of_node is None:
        persona_of_node = assign_balanced(n, rng=record.generator("personas"))
    persona = np.asarray(validate_assignment(persona_of_node, n), dtype=np.int64)
    seed_sets = _seed_sets(record, n, n_seeds, n_reps, seeds)
    run = _start(graph, policy, event, persona, seed_sets, record, n_rounds, n_reps)

    for t in range(1, n_rounds + 1):
        plans, candidates = _candidates(run, t)
        answers, p_feed = _feed_answers(policy, candidates, event)
        for plan in plans:
            _advance(run, t, plan, candidates, answers, p_feed)
        if progress is not None:
            progress(t, n_rounds)
        if not run.active.any():
            break

    return _tables(run, seed_sets, record, n)
