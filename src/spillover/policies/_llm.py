"""``LLMPolicy``: share probabilities from a language model, in two fidelity modes.

``LLMPolicy`` is the base the two modes share (the backend, the requests, the answers of each
(persona, bucket) key, the invalid-answer rule, the records); each mode is a subclass:
:class:`~spillover.policies.ArchetypeLLMPolicy` and :class:`~spillover.policies.FeedLLMPolicy`.
``LLMPolicy(backend, model=..., mode=...)`` builds the subclass of ``mode``.

**Archetype mode** (the default). The engine asks a policy once per run for every
(persona, n_exposed) key. The policy groups exposure counts into buckets
(:class:`ExposureBuckets`, default 0, 1, 2, 3-4, 5-8, 9+) and sends one request per distinct
(persona, event, bucket): the number of requests depends on the personas present, the events
and the largest degree, never on the number of agents. Each answer becomes a probability:

- from token log-probabilities where the server returns them (one request per key):
  ``P(yes) / (P(yes) + P(no))`` at the answer token;
- otherwise from ``samples`` independent samples (sample indices 0..samples-1, which are
  part of the cache key): the share of "yes" answers.

With ``probability="auto"`` (default) the first request of each key asks for log-probabilities,
and only the keys whose answer came without them are sampled further; ``"logprobs"`` requires
them (LLMError otherwise); ``"samples"`` never asks for them.

**Feed mode** needs the actual posts an agent sees, so it runs on the round-by-round engine
:func:`spillover.engine.simulate_feed` (which :func:`spillover.engine.simulate` chooses for it),
which calls :meth:`FeedLLMPolicy.feed_decisions` with every
susceptible agent that has informed neighbours, once per round; agents with an empty feed use
the offline (bucket 0) probability of their persona. Cost grows with the number of decisions.

**Decisions stay with the engine**: the policy only turns answers into probabilities; the
engine draws keyed uniforms ``u(key, round, agent)``, so the order in which answers arrive
cannot change a result.

**Invalid answers** (malformed or refused, after the backend's retries) follow ``invalid``:
``"fail"`` raises LLMError naming the request; ``"not_shared"`` counts the answer as a "no" (a
sample that says no; in feed mode, a decision not to share). Invalid answers are counted in the
run's manifest either way. In feed mode a post that did not fit (cut at ``max_tokens``, or
broken after a readable decision) is not an invalid answer: :class:`FeedLLMPolicy` asks it again
with twice the limit, then keeps the decision without the post.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from spillover._redact import shown
from spillover._vocab import (
    INVALID_RULES,
    LLM_MODES,
    PROBABILITY_SOURCES,
    InvalidRule,
    LLMMode,
    ProbabilitySource,
)
from spillover.exceptions import ConfigError, LLMError, PolicyError
from spillover.personas import N_PERSONAS, PERSONAS
from spillover.policies._protocol import ExposureBatch
from spillover.policies._tabulated import (
    ANSWER_FROM_LOGPROBS,
    ANSWER_FROM_UNKNOWN,
    ExposureBuckets,
    TabulatedPolicy,
    check_offline_reach,
    check_reach_scale,
    event_offline_reach,
    with_offline_reach,
)

if TYPE_CHECKING:
    from spillover.events import Event
    from spillover.llm import LLMBackend, LLMRequest, LLMResponse
    from spillover.trajectories import ExposureTable

__all__ = ["INVALID_RULES", "LLM_MODES", "PROBABILITY_SOURCES", "LLMPolicy"]


@dataclass
class _KeyResult:
    probability: float
    source: str
    n_samples: int
    n_invalid: int
    posts: tuple[str, ...]


class LLMPolicy:
    """A :class:`~spillover.policies.Policy` whose answers come from an LLM backend.

    The base of :class:`~spillover.policies.ArchetypeLLMPolicy` and
    :class:`~spillover.policies.FeedLLMPolicy`; ``LLMPolicy(backend, model=..., mode=...)``
    builds the one of ``mode``. A subclass says how a key's prompt reads
    (:meth:`_key_messages`) and, where its mode differs, which keys a run asks
    (:meth:`key_buckets`), what it asks before the run (:meth:`ask_ahead`), how many requests
    it may add per decision (:meth:`decision_requests`) and which table replays the run
    (:meth:`replay_table`).

    Parameters
    ----------
    backend : LLMBackend
        Usually a :class:`spillover.llm.CachedBackend` over an
        :class:`spillover.llm.OpenAIBackend`; the policy closes it in :meth:`close`.
    model : str
        Model name on the server.
    mode : {"archetype", "feed"}, optional
        Which subclass ``LLMPolicy(...)`` builds (archetype by default); a subclass accepts its
        own mode only.
    buckets : ExposureBuckets, sequence of int or str
        Exposure buckets of archetype mode (and bucket 0 of feed mode): lower edges such as
        ``(0, 1, 2, 3, 5, 9)`` or ``"0,1,2,3,5,9"``.
    probability : {"auto", "logprobs", "samples"}
    samples : int
        Samples per key when the probability comes from samples.
    temperature : float
        Sampling temperature of every request.
    max_tokens : int, optional
        Longest answer; the mode's ``default_max_tokens`` by default (32 in archetype mode,
        256 in feed mode).
    top_logprobs : int
        Alternatives per token asked for with log-probabilities.
    invalid : {"fail", "not_shared"}
        What an invalid answer counts as (see the module docstring).
    feed_cap : int
        Feed mode: most posts shown in one prompt (newest first).
    progress : callable, optional
        ``progress(answers_done, answers_planned)`` as answers arrive (cache hits included).
    offline_reach : float in [0, 1] or None
        Per-round probability that an agent meets the news outside the platform. The answer
        with nobody informed is P(share | met offline), so ``alpha = offline_reach * P``; with
        informed neighbours ``p = 1 - (1 - alpha) (1 - P(share | news in the feed))`` (see
        :func:`spillover.policies.with_offline_reach`). None: the answers are used as
        per-round probabilities.
    offline_reach_scale : {"none", "fatalities"}
        ``"fatalities"``: each event's reach is ``offline_reach`` times its salience
        (:func:`spillover.policies.salience`), at most 1.
    """

    #: The mode of a subclass: its prompts and answer format.
    mode: ClassVar[LLMMode]
    #: Longest answer when ``max_tokens`` is not given.
    default_max_tokens: ClassVar[int]
    _by_mode: ClassVar[dict[str, type[LLMPolicy]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mode = cls.__dict__.get("mode")
        if mode is not None:
            LLMPolicy._by_mode[mode] = cls

    def __new__(cls, *args: Any, mode: str | None = None, **kwargs: Any) -> LLMPolicy:
        if cls is LLMPolicy:
            chosen = "archetype" if mode is None else mode
            if chosen not in LLMPolicy._by_mode:
                raise ConfigError(
                    f"llm_mode must be one of {', '.join(LLM_MODES)}; got {shown(mode)}"
                )
            cls = LLMPolicy._by_mode[chosen]
        return super().__new__(cls)

    def __init__(
        self,
        backend: LLMBackend,
        *,
        model: str,
        mode: LLMMode | None = None,
        buckets: ExposureBuckets | Sequence[int] | str | None = None,
        probability: ProbabilitySource = "auto",
        samples: int = 10,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        top_logprobs: int = 5,
        invalid: InvalidRule = "fail",
        feed_cap: int = 5,
        progress: Callable[[int, int], None] | None = None,
        offline_reach: float | None = None,
        offline_reach_scale: str = "none",
    ) -> None:
        if mode is not None and mode != self.mode:
            raise ConfigError(
                f"llm_mode of a {type(self).__name__} must be {self.mode!r}; got {shown(mode)}"
            )
        if probability not in PROBABILITY_SOURCES:
            raise ConfigError(
                f"llm_probability must be one of {', '.join(PROBABILITY_SOURCES)}; "
                f"got {probability!r}"
            )
        if invalid not in INVALID_RULES:
            raise ConfigError(
                f"llm_invalid must be one of {', '.join(INVALID_RULES)}; got {invalid!r}"
            )
        for name, value, low in (("llm_samples", samples, 1), ("llm_feed_cap", feed_cap, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}; got {value!r}")
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"llm_model must name a model; got {model!r}")
        self.backend = backend
        self.model = model
        self.buckets = ExposureBuckets.parse(buckets)
        self.probability: ProbabilitySource = probability
        self.samples = samples
        self.temperature = float(temperature)
        self.max_tokens = max_tokens if max_tokens is not None else self.default_max_tokens
        self.top_logprobs = top_logprobs
        self.invalid: InvalidRule = invalid
        self.feed_cap = feed_cap
        self.progress = progress
        self.offline_reach = check_offline_reach(offline_reach)
        self.offline_reach_scale = check_reach_scale(offline_reach_scale)
        self._memo: dict[tuple[str, int, int], _KeyResult] = {}
        self._lock = threading.Lock()
        self._planned = 0
        self._done = 0
        self.invalid_answers = 0
        self.sources: Counter[str] = Counter()
        self.decisions_asked = 0

    # -- requests ------------------------------------------------------------------------------

    @property
    def prompt_version(self) -> str:
        from spillover.llm import prompt_version

        return prompt_version(self.mode)

    def _request(
        self, messages: Any, *, sample_index: int, logprobs: bool, discriminator: str = ""
    ) -> LLMRequest:
        from spillover.llm import LLMRequest

        return LLMRequest(
            model=self.model,
            messages=messages,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            sample_index=sample_index,
            prompt_version=self.prompt_version,
            answer_format=self.mode,
            logprobs=logprobs,
            top_logprobs=self.top_logprobs,
            discriminator=discriminator,
        )

    def key_request(
        self, persona: int, bucket: int, event: Event, sample_index: int = 0
    ) -> LLMRequest:
        """The request of one (persona, bucket) key and sample (as share_probability sends it)."""
        return self._sample_request(self._key_messages(persona, bucket, event), sample_index)

    def _key_messages(self, persona: int, bucket: int, event: Event) -> tuple[tuple[str, str], ...]:
        """The prompt of one (persona, bucket) key."""
        raise NotImplementedError(f"{type(self).__name__} does not say how a key's prompt reads")

    def _sample_request(
        self, messages: tuple[tuple[str, str], ...], sample_index: int
    ) -> LLMRequest:
        logprobs = self.probability != "samples" and sample_index == 0
        return self._request(messages, sample_index=sample_index, logprobs=logprobs)

    def planned_requests(
        self, personas: Iterable[int], max_degree: int, event: Event
    ) -> dict[str, Any]:
        """What a run would ask (for ``--dry-run``): key requests, first pass and worst case.

        Returns
        -------
        dict
            ``keys`` (distinct prompts), ``first_pass`` (requests if the server returns
            log-probabilities), ``worst_case`` (if every key must be sampled), ``cached`` (of
            the worst case, answers already in the cache).
        """
        buckets = self.key_buckets(max_degree)
        keys = [(int(c), b) for c in sorted(set(personas)) for b in buckets]
        per_key = 1 if self.probability != "samples" else self.samples
        all_requests = [
            self._sample_request(messages, s)
            for messages in (self._key_messages(c, b, event) for c, b in keys)
            for s in range(self.samples)
        ]
        if self.probability == "logprobs":
            all_requests = [r for r in all_requests if r.sample_index == 0]
        counter = getattr(self.backend, "cached_count", None)
        cached = int(counter(all_requests)) if callable(counter) else 0
        return {
            "mode": self.mode,
            "keys": len(keys),
            "first_pass": len(keys) * per_key,
            "worst_case": len(all_requests),
            "cached": cached,
            "buckets": [self.buckets.label(b) for b in buckets],
        }

    def key_buckets(self, max_degree: int) -> list[int]:
        """The buckets whose (persona, bucket) keys a run on a graph of ``max_degree`` asks."""
        return self.buckets.needed(max_degree)

    def decision_requests(self, agent_rounds: int) -> int | None:
        """At most how many requests a run sends besides its key requests, given its number
        of susceptible agent-rounds (replicates x rounds x agents not seeded); None when it
        asks its keys only."""
        return None

    def ask_ahead(self, event: Event, max_degree: int, personas: Iterable[int]) -> bool:
        """Ask, before the run, what the engine will need (so that the engine's time is its
        own); False when nothing can be asked ahead."""
        return False

    def replay_table(self, event: Event, exposures: ExposureTable) -> TabulatedPolicy:
        """The table that replays a run of this policy (``exposures``: the run's table)."""
        return self.table(event)

    def _complete(self, requests: list[LLMRequest]) -> list[LLMResponse]:
        with self._lock:
            self._planned += len(requests)
        if self.progress is not None:
            self.progress(self._done, self._planned)

        def tick(_: int, __: LLMResponse) -> None:
            with self._lock:
                self._done += 1
                done, planned = self._done, self._planned
            if self.progress is not None:
                self.progress(done, planned)

        return self.backend.complete(requests, on_response=tick)

    def _what(self, key: tuple[int, int], sample: int) -> str:
        c, b = key
        return f"persona {PERSONAS[c].code}, exposure {self.buckets.label(b)}, sample {sample}"

    def _invalid(self, response: LLMResponse, what: str) -> None:
        """Count an invalid answer; raise under the rule "fail"."""
        with self._lock:
            self.invalid_answers += 1
        if self.invalid == "fail":
            raise LLMError(
                f"invalid answer from model {self.model!r} for {what} after retries: "
                f"{response.error}; set llm_invalid = 'not_shared' to count such answers as "
                "not shared (answers so far are cached)"
            )

    # -- the answers of (persona, bucket) keys -------------------------------------------------

    def _resolve_keys(self, keys: list[tuple[int, int]], event: Event) -> None:
        todo = [k for k in keys if (event.event_id, *k) not in self._memo]
        if not todo:
            return
        # First pass: sample 0 of every key (with log-probabilities unless "samples"); in
        # "samples" mode every sample at once.
        per_key = self.samples if self.probability == "samples" else 1
        first = [self.key_request(c, b, event, s) for c, b in todo for s in range(per_key)]
        received = iter(self._complete(first))
        answers = {k: [next(received) for _ in range(per_key)] for k in todo}
        resolved: dict[tuple[int, int], _KeyResult] = {}
        need_samples: list[tuple[int, int]] = []
        for k, got in answers.items():
            response = got[0]
            if not response.valid and self.invalid == "fail":
                self._invalid(response, self._what(k, 0))
            if self.probability == "samples":
                need_samples.append(k)
            elif response.valid and response.probability is not None:
                post = (response.post,) if response.share and response.post else ()
                resolved[k] = _KeyResult(response.probability, "logprobs", 1, 0, post)
            elif self.probability == "logprobs" and response.valid:
                raise LLMError(
                    f"the server at {self.backend.identity} returned no log-probabilities for "
                    f"model {self.model!r}; use llm_probability 'auto' or 'samples'"
                )
            else:
                need_samples.append(k)
        if self.probability != "samples" and need_samples and self.samples > 1:
            more = [
                self.key_request(c, b, event, s)
                for c, b in need_samples
                for s in range(1, self.samples)
            ]
            it = iter(self._complete(more))
            for k in need_samples:
                answers[k].extend(next(it) for _ in range(1, self.samples))
        for k in need_samples:
            yes = n_invalid = 0
            posts: list[str] = []
            for s, response in enumerate(answers[k]):
                if not response.valid:
                    n_invalid += 1
                    self._invalid(response, self._what(k, s))
                elif response.share:
                    yes += 1
                    if response.post:
                        posts.append(response.post)
            n = len(answers[k])
            resolved[k] = _KeyResult(yes / n, "samples", n, n_invalid, tuple(posts))
        for k, result in resolved.items():
            self._memo[(event.event_id, *k)] = result
            self.sources[result.source] += 1

    def share_probability(self, batch: ExposureBatch, event: Event | None) -> np.ndarray:
        """One answer per distinct (persona, event, bucket) key, reused for every agent with it.

        Raises
        ------
        PolicyError
            Without an event (the prompt needs the news item), or in feed mode for an agent
            with informed neighbours (feed mode runs on :func:`spillover.engine.simulate_feed`).
        LLMError
            From the backend, or for an invalid answer under the rule ``"fail"``.
        """
        if event is None:
            raise PolicyError("LLMPolicy needs the event: the prompt carries the news item")
        persona = np.asarray(batch.persona, dtype=np.int64)
        if persona.size and (persona.min() < 0 or persona.max() >= N_PERSONAS):
            raise PolicyError(f"persona indices must be in 0..{N_PERSONAS - 1}")
        bucket = self.buckets.index(batch.n_exposed)
        self._check_buckets(bucket)
        keys = {(int(c), int(b)) for c, b in zip(persona.tolist(), bucket.tolist(), strict=True)}
        if self.offline_reach is not None:  # alpha of every persona asked
            keys |= {(c, 0) for c, _ in keys}
        self._resolve_keys(sorted(keys), event)
        answers = np.full((N_PERSONAS, len(self.buckets)), np.nan)
        for c, b in keys:
            answers[c, b] = self._memo[(event.event_id, c, b)].probability
        per_round = with_offline_reach(answers, self._reach(event))
        return np.asarray(per_round[persona, bucket], dtype=np.float64)

    def _check_buckets(self, bucket: np.ndarray) -> None:
        """Raise PolicyError for buckets this mode cannot answer from a key."""

    def _reach(self, event: Event) -> float | None:
        return event_offline_reach(self.offline_reach, event, self.offline_reach_scale)

    def table(self, event: Event | None = None) -> TabulatedPolicy:
        """The answers so far as a :class:`TabulatedPolicy` (NaN where a key was not asked)."""
        events = sorted({e for e, _, _ in self._memo} if event is None else {event.event_id})
        if not events:
            raise PolicyError("this LLMPolicy has not been asked anything yet")
        tables = {}
        counts = {}
        for e in events:
            t = np.full((N_PERSONAS, len(self.buckets)), np.nan)
            n = np.full((N_PERSONAS, len(self.buckets)), ANSWER_FROM_UNKNOWN, dtype=np.int64)
            for (e2, c, b), result in self._memo.items():
                if e2 == e:
                    t[c, b] = result.probability
                    n[c, b] = (
                        ANSWER_FROM_LOGPROBS if result.source == "logprobs" else result.n_samples
                    )
            tables[e] = t
            counts[e] = n
        return TabulatedPolicy(
            tables,
            self.buckets,
            self.provenance(built_from="LLM answers"),
            self.offline_reach,
            self.offline_reach_scale,
            counts,
        )

    # -- records --------------------------------------------------------------------------------

    def provenance(self, **extra: Any) -> dict[str, Any]:
        from spillover.llm import ARCHETYPE_VERSION, FEED_VERSION, PERSONA_PROMPT_VERSION

        return {
            "model": self.model,
            "server": self.backend.identity,
            "mode": self.mode,
            "prompt_version": self.prompt_version,
            "prompt_versions": {
                "persona": PERSONA_PROMPT_VERSION,
                "archetype": ARCHETYPE_VERSION,
                "feed": FEED_VERSION,
            },
            "temperature": self.temperature,
            "probability": self.probability,
            "samples": self.samples,
            "offline_reach": self.offline_reach,
            "offline_reach_scale": self.offline_reach_scale,
            **extra,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "llm",
            **self.provenance(),
            "buckets": list(self.buckets.lower),
            "bucket_labels": self.buckets.labels(),
            "max_tokens": self.max_tokens,
            "invalid_rule": self.invalid,
            "feed_cap": None,
        }

    def stats(self) -> dict[str, Any]:
        """Use of the model in this run: keys, sources of probabilities, invalid answers."""
        return {
            "keys_answered": len(self._memo),
            "probability_sources": dict(self.sources),
            "invalid_answers_used": self.invalid_answers,
            "feed_decisions_asked": self.decisions_asked,
            "answers": self._done,
        }

    def close(self) -> None:
        """Close the backend (and its cache)."""
        self.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
