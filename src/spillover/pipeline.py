"""One run end to end: config -> graph -> personas -> event -> policy -> engine.

This is the application layer behind ``spillover simulate``, ``spillover demo`` and the cells of
a sweep; :func:`run` (``spillover.run``) is its public entry point. It reads input files
through :mod:`spillover.io` and returns values, and writes nothing.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from spillover._redact import redact_tree
from spillover._replay import MAX_NOISE_TABLES, llm_noise_fit, replay_exposures
from spillover._resources import check_llm_work, check_run_fits
from spillover._rng import SeedLike, SeedRecord, seed_record
from spillover.config import DEFAULT_OFFLINE_REACH, SimulationConfig
from spillover.engine import agent_histories, simulate, warm_up
from spillover.events import Event, select_events
from spillover.graphs import (
    Graph,
    GraphCache,
    barabasi_albert,
    check_regular_size,
    erdos_renyi,
    random_regular,
    watts_strogatz,
)
from spillover.personas import assign_balanced
from spillover.policies import (
    ConstantPolicy,
    LLMPolicy,
    Policy,
    TabulatedPolicy,
    default_persona_policy,
)
from spillover.trajectories import AgentHistories, SimulationResult

if TYPE_CHECKING:
    from spillover.engine import Posts
    from spillover.llm import LLMBackend, LocalServer

__all__ = [
    "MAX_NOISE_TABLES",
    "RunOutput",
    "build_graph",
    "build_policy",
    "llm_noise_fit",
    "local_server",
    "plan_llm_run",
    "replay_exposures",
    "resolve_event",
    "run",
    "run_simulation",
]


@dataclass(frozen=True)
class RunOutput:
    """What a run produced, with the inputs it resolved."""

    config: SimulationConfig
    seed: SeedRecord
    graph: Graph
    persona_of_node: np.ndarray
    event: Event
    policy: Policy
    result: SimulationResult
    #: Per-agent histories (``agents.parquet``); None when the run was asked not to make them.
    agents: AgentHistories | None
    timings: dict[str, float] = field(default_factory=dict)
    #: Feed mode: the posts of the run (``posts.parquet``).
    posts: Posts | None = None
    #: LLM runs: model, server, prompt versions, cache and accounting (the manifest's ``llm``).
    llm: dict[str, Any] | None = None
    #: LLM runs: the answers as a replayable table (``llm_table.json``).
    llm_table: TabulatedPolicy | None = None
    #: The record whose graph stream drew the graph, when it is not ``seed`` (a sweep cell
    #: sharing the graph of another cell); the manifest's ``graph_seed``.
    graph_seed: SeedRecord | None = None


def graph_settings(config: SimulationConfig) -> tuple[Any, ...]:
    """What :func:`build_graph` reads of a config besides the seed: runs with equal settings
    and the same graph seed have the same graph."""
    return (config.edge_list, config.graph, config.n_nodes, config.degree, config.rewire_prob)


def build_graph(config: SimulationConfig, record: SeedRecord) -> Graph:
    """The graph a config asks for, drawn on the run's graph stream."""
    from spillover.io import read_edge_list

    if config.edge_list is not None:
        return read_edge_list(config.edge_list)
    rng = record.generator("graph")
    n, k = config.n_nodes, config.degree
    if config.graph == "random-regular":
        return random_regular(n, k, rng=rng)
    if config.graph == "erdos-renyi":
        return erdos_renyi(n, mean_degree=k, rng=rng)
    if config.graph == "watts-strogatz":
        return watts_strogatz(n, k, config.rewire_prob, rng=rng)
    return barabasi_albert(n, max(k // 2, 1), rng=rng)


@dataclass(frozen=True)
class _GraphSource:
    """Where a run's graph comes from: built on ``record``'s graph stream (``shared``: another
    run's record, not the run's own), looked up first in ``cache`` when there is one."""

    record: SeedRecord
    shared: bool = False
    cache: GraphCache | None = None

    def graph(self, config: SimulationConfig) -> Graph:
        if self.cache is None:
            return build_graph(config, self.record)
        key = (graph_settings(config), self.record.entropy, tuple(self.record.spawn_key))
        return self.cache.get(key, lambda: build_graph(config, self.record))


def local_server(config: SimulationConfig) -> LocalServer:
    """The embedded server a ``llm_local`` config describes (not started)."""
    from spillover.llm import LocalServer

    return LocalServer(
        config.llm.gguf,
        slots=config.llm.local_slots,
        threads=config.llm.local_threads,
        alias=config.llm.model,
    )


@contextlib.contextmanager
def _serving(config: SimulationConfig, needed: bool) -> Iterator[LocalServer | None]:
    """The embedded server of a ``llm_local`` run, running for the ``with`` block."""
    if not (needed and config.policy == "llm" and config.uses_local_server):
        yield None
        return
    with local_server(config) as server:
        yield server


def build_policy(
    config: SimulationConfig,
    *,
    limiter: Any = None,
    llm_backend: LLMBackend | None = None,
    llm_progress: Callable[[int, int], None] | None = None,
    local: LocalServer | None = None,
) -> Policy:
    """The policy a config asks for.

    Parameters
    ----------
    config : SimulationConfig
    limiter : object with acquire/release, optional
        A sweep-wide bound on LLM requests in flight (policy ``llm``).
    llm_backend : LLMBackend, optional
        Use this backend instead of building one from the config (tests, custom servers).
    llm_progress : callable, optional
        ``progress(answers_done, answers_planned)`` of an LLM policy.
    local : LocalServer, optional
        The embedded server of a ``llm_local`` run (its URL, identity and model name).
    """
    if config.policy == "constant":
        assert config.alpha is not None and config.beta is not None  # checked by the config
        return ConstantPolicy(config.alpha, config.beta)
    if config.policy == "tabulated":
        assert config.policy_table is not None
        table = TabulatedPolicy.load(config.policy_table)
        if config.offline_reach is None and config.offline_reach_scale == "none":
            return table
        reach = table.offline_reach if config.offline_reach is None else config.offline_reach
        # The default scale ("none") keeps the table's own; "fatalities" sets it.
        scale = None if config.offline_reach_scale == "none" else config.offline_reach_scale
        return table.with_reach(reach, scale)
    if config.policy == "llm":
        from spillover.llm import build_backend

        model = local.alias if local is not None else config.llm.model
        assert model is not None
        backend = (
            llm_backend
            if llm_backend is not None
            else build_backend(config, limiter=limiter, local=local)
        )
        return LLMPolicy(
            backend,
            model=model,
            mode=config.llm.mode,
            buckets=config.llm.buckets,
            probability=config.llm.probability,
            samples=config.llm.samples,
            temperature=config.llm.temperature,
            max_tokens=config.llm.max_tokens,
            invalid=config.llm.invalid,
            feed_cap=config.llm.feed_cap,
            progress=llm_progress,
            offline_reach=(
                DEFAULT_OFFLINE_REACH if config.offline_reach is None else config.offline_reach
            ),
            offline_reach_scale=config.offline_reach_scale,
        )
    return default_persona_policy()


def resolve_event(config: SimulationConfig) -> Event:
    """The event a configuration runs: ``event_id`` of its events file (default: the bundled
    examples), or the file's first event when it names none."""
    from spillover.io import example_events, read_events

    events = example_events() if config.events is None else read_events(config.events)
    if config.event_id is None:
        return events[0]
    return select_events(events, event_id=config.event_id)[0]


def run(
    config: SimulationConfig | str | os.PathLike[str],
    *,
    rng: SeedLike = None,
    progress: Callable[[int, int], None] | None = None,
    llm_progress: Callable[[int, int], None] | None = None,
    llm_backend: LLMBackend | None = None,
    limiter: Any = None,
    histories: bool = True,
    graph_seed: SeedRecord | None = None,
    graph_cache: GraphCache | None = None,
) -> RunOutput:
    """The run of ``spillover simulate``, from Python: the same code path, the same numbers.

    ``run(config, rng=SEED).result.curves.informed`` equals, row for row, the ``informed``
    column of the ``curves.parquet`` that ``spillover simulate --config FILE --seed SEED``
    writes, and :func:`spillover.io.write_run_dir` on the returned value writes the same
    tables.

    Parameters
    ----------
    config : SimulationConfig, or the path of a TOML or YAML config file
        A path is read as ``spillover simulate --config`` reads it
        (:func:`spillover.io.load_config`: relative paths in it against its folder).
    rng : int, SeedSequence, SeedRecord, Generator or None
        The run's seed; ``None`` takes ``config.seed`` (itself fresh entropy when ``None``,
        recorded in the returned ``seed``). An int, or a record without a spawn key, also
        becomes the returned config's ``seed``; a sweep cell's record ``SeedRecord(root,
        (c,))`` leaves it alone (the config keeps the sweep's root seed, as the cell's
        manifest does).
    progress, llm_progress, llm_backend, limiter, histories, graph_seed, graph_cache
        As :func:`run_simulation`.

    Returns
    -------
    RunOutput
        ``.result`` (curves, exposures, adoptions), ``.seed`` (the :class:`SeedRecord` to
        replay it), ``.graph``, ``.event``, ``.policy``, ``.timings``, ...
    """
    from spillover.io import load_config

    cfg = config if isinstance(config, SimulationConfig) else load_config(config)
    record = None
    if rng is not None:
        record = seed_record(rng)
        if not record.spawn_key:
            cfg = cfg.replace(seed=record.entropy)
    return run_simulation(
        cfg,
        progress=progress,
        llm_progress=llm_progress,
        llm_backend=llm_backend,
        limiter=limiter,
        seed=record,
        histories=histories,
        graph_seed=graph_seed,
        graph_cache=graph_cache,
    )


def run_simulation(
    config: SimulationConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
    llm_progress: Callable[[int, int], None] | None = None,
    llm_backend: LLMBackend | None = None,
    limiter: Any = None,
    seed: SeedLike | None = None,
    histories: bool = True,
    graph_seed: SeedRecord | None = None,
    graph_cache: GraphCache | None = None,
) -> RunOutput:
    """Build everything a config describes and simulate it.

    Parameters
    ----------
    config : SimulationConfig
    progress : callable, optional
        ``progress(done, n_reps)`` after each replicate (feed mode: ``(round, n_rounds)``).
    llm_progress : callable, optional
        ``progress(answers_done, answers_planned)`` of an LLM policy.
    llm_backend : LLMBackend, optional
        The backend of policy ``llm`` (built from the config when omitted); closed at the end.
    limiter : object with acquire/release, optional
        A sweep-wide bound on LLM requests in flight.
    seed : int, SeedSequence, SeedRecord, optional
        The run's seed instead of ``config.seed`` (a sweep passes each cell's SeedRecord).
    histories : bool
        Make the per-agent histories (``RunOutput.agents``, ``agents.parquet``); a sweep whose
        cells keep no agent tables skips them.
    graph_seed : SeedRecord, optional
        Draw the graph on this record's graph stream instead of the run's (a sweep whose cells
        share their graphs); recorded in the manifest as ``graph_seed``.
    graph_cache : GraphCache, optional
        Look the graph up there (by its settings and seed) before building it.
    """
    if config.edge_list is None:
        check_run_fits(config)
    check_llm_work(config)
    record = seed_record(config.seed if seed is None else seed)
    event = resolve_event(config)
    with _serving(config, llm_backend is None) as server:
        policy = build_policy(
            config,
            limiter=limiter,
            llm_backend=llm_backend,
            llm_progress=llm_progress,
            local=server,
        )
        graphs = _GraphSource(graph_seed or record, graph_seed is not None, graph_cache)
        return _run(config, record, event, policy, progress, server, histories, graphs)


def _run(
    config: SimulationConfig,
    record: SeedRecord,
    event: Event,
    policy: Policy,
    progress: Callable[[int, int], None] | None,
    server: LocalServer | None,
    histories: bool,
    graphs: _GraphSource,
) -> RunOutput:
    from spillover.io import read_persona_assignment

    try:
        timings: dict[str, Any] = {}
        t0 = time.perf_counter()
        graph = graphs.graph(config)
        timings["graph_s"] = time.perf_counter() - t0
        check_run_fits(config, n_nodes=graph.n_nodes, max_degree=int(graph.max_degree))
        t0 = time.perf_counter()
        if config.personas == "balanced":
            persona_of_node = assign_balanced(graph.n_nodes, rng=record.generator("personas"))
        else:
            persona_of_node = read_persona_assignment(config.personas, graph.n_nodes)
        timings["personas_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm_up()
        timings["compile_s"] = time.perf_counter() - t0
        if isinstance(policy, LLMPolicy):
            # Ask the model first where it can, so that simulate_s times the engine only.
            t0 = time.perf_counter()
            if policy.ask_ahead(event, int(graph.max_degree), np.unique(persona_of_node)):
                timings["llm_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        spread: dict[str, Any] = {
            "n_rounds": config.n_rounds,
            "n_reps": config.n_reps,
            "n_seeds": config.n_seeds,
            "event": event,
            "persona_of_node": persona_of_node,
            "rng": record,
            "progress": progress,
        }
        # The engine a policy needs is the engine's choice (feed policies: simulate_feed).
        result = simulate(graph, policy, **spread)
        posts = result.posts
        timings["simulate_s"] = time.perf_counter() - t0
        agents = None
        if histories:
            t0 = time.perf_counter()
            agents = agent_histories(graph, result)
            timings["histories_s"] = time.perf_counter() - t0
        llm = table = None
        if isinstance(policy, LLMPolicy):
            llm, table = _llm_record(config, policy, event, result)
            if server is not None:
                llm["local_server"] = server.describe()
    finally:
        if isinstance(policy, LLMPolicy):
            policy.close()
    return RunOutput(
        config=config,
        seed=record,
        graph=graph,
        persona_of_node=persona_of_node,
        event=event,
        policy=policy,
        result=result,
        agents=agents,
        timings=timings,
        posts=posts,
        llm=llm,
        llm_table=table,
        graph_seed=graphs.record if graphs.shared else None,
    )


def _llm_record(
    config: SimulationConfig, policy: LLMPolicy, event: Event, result: SimulationResult
) -> tuple[dict[str, Any], TabulatedPolicy]:
    """The manifest's ``llm`` entry (no secrets) and the replayable table of the answers."""
    from spillover.llm import normalise_base_url

    accounting = policy.backend.accounting
    doc = {
        **policy.provenance(),
        # One server: who answers (its URL, or the embedded model's hash); replicas: their URLs.
        "base_url": (
            [normalise_base_url(u) for u in config.llm.base_url]
            if isinstance(config.llm.base_url, tuple)
            else policy.backend.identity
        ),
        "api_key_env": config.llm.api_key_env,
        "cache": config.llm.cache,
        "cache_mode": config.llm.cache_mode if config.llm.cache is not None else "off",
        "accounting": accounting.to_dict(config.llm.price_prompt, config.llm.price_completion),
        "answers": policy.stats(),
        "backend": policy.backend.describe(),
    }
    return redact_tree(doc), policy.replay_table(event, result.exposures)


def plan_llm_run(config: SimulationConfig) -> dict[str, Any]:
    """How many requests a ``policy = "llm"`` run would make, without sending any.

    Builds the graph and the persona placement (to know the largest degree and the personas
    present) and looks requests up in the cache.

    Returns
    -------
    dict
        ``keys``, ``first_pass``, ``worst_case`` and ``cached`` (see
        :meth:`spillover.policies.LLMPolicy.planned_requests`), and in feed mode
        ``feed_decisions_max``: at most two requests per susceptible agent-round (the
        decision, asked only with an informed neighbour, and one re-ask of a cut answer).
    """
    from spillover.exceptions import ConfigError
    from spillover.io import read_persona_assignment
    from spillover.llm import shown_urls

    if config.policy != "llm":
        raise ConfigError(
            f"a request plan applies to LLM runs (policy 'llm'); got policy {config.policy!r}",
            params=("policy",),
        )
    check_llm_work(config)
    if config.edge_list is None:
        check_run_fits(config)
    record = seed_record(config.seed)
    event = resolve_event(config)
    local = local_server(config) if config.uses_local_server else None
    policy = build_policy(config, local=local)
    assert isinstance(policy, LLMPolicy)
    try:
        n_nodes, max_degree = _planned_graph_size(config, record)
        if config.personas == "balanced":
            persona_of_node = assign_balanced(n_nodes, rng=record.generator("personas"))
        else:
            persona_of_node = read_persona_assignment(config.personas, n_nodes)
        personas = np.unique(persona_of_node).tolist()
        plan = policy.planned_requests(personas, max_degree, event)
        decisions = policy.decision_requests(
            config.n_reps * config.n_rounds * max(n_nodes - config.n_seeds, 0)
        )
    finally:
        policy.close()
    plan["model"] = policy.model
    plan["base_url"] = (
        shown_urls(config.llm.base_url or "")
        if local is None
        else f"embedded server ({local.model.name})"
    )
    plan["n_nodes"] = n_nodes
    plan["max_degree"] = max_degree
    if decisions is not None:
        plan["feed_decisions_max"] = decisions
    return plan


def _planned_graph_size(config: SimulationConfig, record: SeedRecord) -> tuple[int, int]:
    """``(n_nodes, max_degree)`` of the run's graph: a k-regular graph's are its settings (no
    graph is built); any other graph is built (or read) as the run would."""
    if config.edge_list is None and config.graph == "random-regular":
        return check_regular_size(config.n_nodes, config.degree)
    graph = build_graph(config, record)
    return int(graph.n_nodes), int(graph.max_degree)
