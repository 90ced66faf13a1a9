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
and the sampled answer was "no"), reposts the newest post of its feed. Texts are data: they are
escaped inside later prompts and never executed or rendered as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from spillover._rng import SeedLike, seed_record
from spillover.engine._simulate import _check_count, _seed_sets
from spillover.engine._uniform import decision_uniforms
from spillover.exceptions import ConfigError, PolicyError
from spillover.personas import N_PERSONAS, assign_balanced, validate_assignment
from spillover.policies import ExposureBatch, FeedAnswers, FeedCandidate, checked_probabilities
from spillover.trajectories import Adoptions, Curves, ExposureTable, SimulationResult

if TYPE_CHECKING:
    from spillover.events import Event
    from spillover.graphs import Graph

__all__ = ["FeedPolicy", "FeedSimulation", "Posts", "simulate_feed"]


@runtime_checkable
class FeedPolicy(Protocol):
    """What :func:`simulate_feed` needs from a policy (``LLMPolicy`` in feed mode has it)."""

    feed_cap: int

    def share_probability(self, batch: ExposureBatch, event: Event | None) -> np.ndarray: ...

    def feed_decisions(
        self, candidates: Sequence[FeedCandidate], event: Event | None
    ) -> FeedAnswers: ...

    def offline_post(self, persona: int, event: Event) -> str: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Posts:
    """The posts of a feed-mode run: ``replicate, round, agent, text``, one per sharer."""

    replicate: np.ndarray
    round: np.ndarray
    agent: np.ndarray
    text: tuple[str, ...]

    def __post_init__(self) -> None:
        for name, dtype in (("replicate", np.int32), ("round", np.int32), ("agent", np.int64)):
            arr = np.array(getattr(self, name), dtype=dtype)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "text", tuple(str(t) for t in self.text))
        if not (len(self.replicate) == len(self.round) == len(self.agent) == len(self.text)):
            raise ConfigError("Posts: columns must have equal lengths")

    def __len__(self) -> int:
        return len(self.text)

    def columns(self) -> dict[str, Any]:
        return {
            "replicate": self.replicate,
            "round": self.round,
            "agent": self.agent,
            "text": list(self.text),
        }


@dataclass(frozen=True)
class FeedSimulation:
    """What :func:`simulate_feed` returns: the usual tables and the posts."""

    result: SimulationResult
    posts: Posts


def _neighbours(indptr: np.ndarray, indices: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    if nodes.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts, ends = indptr[nodes], indptr[nodes + 1]
    return np.concatenate(
        [indices[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    )


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
    from spillover.events import render_post

    n_rounds = _check_count("n_rounds", n_rounds, 1)
    n_reps = _check_count("n_reps", n_reps, 1)
    n_seeds = _check_count("n_seeds", n_seeds, 1)
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
    max_degree = int(graph.max_degree)
    indptr = np.asarray(graph.indptr, dtype=np.int64)
    indices = np.asarray(graph.indices, dtype=np.int64)
    cap = max(int(getattr(policy, "feed_cap", 5)), 1)
    news = render_post(event)

    present = np.unique(persona)
    offline = np.zeros(N_PERSONAS)
    batch = ExposureBatch(persona=present, n_exposed=np.zeros(present.size, dtype=np.int64))
    offline[present] = checked_probabilities(policy, batch, event)
    offline_posts: dict[int, str] = {}

    keys = [
        int(record.generator("dynamics", r).integers(0, 2**64, dtype=np.uint64))
        for r in range(n_reps)
    ]
    shape = (n_rounds + 1, N_PERSONAS, max_degree + 1)
    at_risk = np.zeros((n_reps, *shape), dtype=np.int64)
    shared = np.zeros((n_reps, *shape), dtype=np.int64)
    informed_by_persona = np.zeros((n_reps, n_rounds + 1, N_PERSONAS), dtype=np.int64)
    adoption_round = np.full((n_reps, n), -1, dtype=np.int32)
    n_exposed = np.zeros((n_reps, n), dtype=np.int64)
    post_of: list[dict[int, str]] = [{} for _ in range(n_reps)]
    last_active = np.zeros(n_reps, dtype=np.int32)
    active = np.ones(n_reps, dtype=bool)

    for rep in range(n_reps):
        s = seed_sets[rep]
        adoption_round[rep, s] = 0
        np.add.at(n_exposed[rep], _neighbours(indptr, indices, s), 1)
        informed_by_persona[rep, 0] = np.bincount(persona[s], minlength=N_PERSONAS)
        for a in s.tolist():
            post_of[rep][a] = news

    for t in range(1, n_rounds + 1):
        plans = []
        candidates: list[FeedCandidate] = []
        for rep in np.flatnonzero(active).tolist():
            sus = np.flatnonzero(adoption_round[rep] < 0)
            c, m = persona[sus], n_exposed[rep, sus]
            np.add.at(at_risk[rep, t], (c, m), 1)
            fed = np.flatnonzero(m > 0)
            first = len(candidates)
            for j in fed.tolist():
                agent = int(sus[j])
                nb = indices[indptr[agent] : indptr[agent + 1]]
                nb = nb[adoption_round[rep, nb] >= 0]
                order = np.lexsort((nb, -adoption_round[rep, nb].astype(np.int64)))[:cap]
                candidates.append(
                    FeedCandidate(
                        replicate=rep,
                        round=t,
                        agent=agent,
                        persona=int(c[j]),
                        n_exposed=int(m[j]),
                        posts=tuple(post_of[rep][int(v)] for v in nb[order]),
                        decision_key=keys[rep],
                    )
                )
            plans.append((rep, sus, c, m, fed, first))
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
        for rep, sus, c, m, fed, first in plans:
            p = offline[c].copy()
            p[fed] = p_feed[first : first + fed.size]
            u = decision_uniforms(keys[rep], t, sus)
            chosen = np.flatnonzero(u < p)
            new = sus[chosen]
            n_possible = int(np.count_nonzero(p > 0.0))
            np.add.at(shared[rep, t], (c[chosen], m[chosen]), 1)
            slot = {int(j): first + k for k, j in enumerate(fed.tolist())}
            for j in chosen.tolist():
                agent = int(sus[j])
                if m[j] == 0:
                    cp = int(c[j])
                    if cp not in offline_posts:
                        offline_posts[cp] = policy.offline_post(cp, event)
                    text = offline_posts[cp]
                else:
                    k = slot[j]
                    text = answers.posts[k] or (
                        candidates[k].posts[0] if candidates[k].posts else news
                    )
                post_of[rep][agent] = text
            adoption_round[rep, new] = t
            np.add.at(n_exposed[rep], _neighbours(indptr, indices, new), 1)
            informed_by_persona[rep, t] = informed_by_persona[rep, t - 1] + np.bincount(
                persona[new], minlength=N_PERSONAS
            )
            if new.size:
                last_active[rep] = t
            elif n_possible == 0:
                # Nobody can share and nothing changes: the remaining rounds repeat this one.
                for later in range(t + 1, n_rounds + 1):
                    at_risk[rep, later] = at_risk[rep, t]
                    informed_by_persona[rep, later] = informed_by_persona[rep, t]
                active[rep] = False
        if progress is not None:
            progress(t, n_rounds)
        if not active.any():
            break

    exposure_parts, adoption_parts, post_parts = [], [], []
    for rep in range(n_reps):
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
            (np.full(agents.size, rep), rounds, agents, [post_of[rep][int(a)] for a in agents])
        )
    exposures = ExposureTable(*(np.concatenate(cols) for cols in zip(*exposure_parts, strict=True)))
    adoptions = Adoptions(*(np.concatenate(cols) for cols in zip(*adoption_parts, strict=True)))
    posts = Posts(
        np.concatenate([p[0] for p in post_parts]),
        np.concatenate([p[1] for p in post_parts]),
        np.concatenate([p[2] for p in post_parts]),
        tuple(text for p in post_parts for text in p[3]),
    )
    result = SimulationResult(
        curves=Curves(informed_by_persona, n_nodes=n),
        exposures=exposures,
        adoptions=adoptions,
        seeds=seed_sets,
        last_active_round=last_active,
        seed_record=record,
        persona_of_node=persona.astype(np.int8),
    )
    return FeedSimulation(result=result, posts=posts)
