"""One run end to end: config -> graph -> personas -> event -> policy -> engine.

This is the application layer behind ``spillover simulate`` and ``spillover demo``; it reads
input files through :mod:`spillover.io` and returns values, and writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spillover._rng import SeedRecord, seed_record
from spillover.config import SimulationConfig
from spillover.engine import agent_histories, simulate, warm_up
from spillover.events import Event, select_events
from spillover.graphs import (
    Graph,
    barabasi_albert,
    erdos_renyi,
    random_regular,
    watts_strogatz,
)
from spillover.personas import assign_balanced
from spillover.policies import ConstantPolicy, Policy, default_persona_policy
from spillover.trajectories import AgentHistories, SimulationResult

__all__ = ["RunOutput", "build_graph", "build_policy", "run_simulation"]


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
    agents: AgentHistories
    timings: dict[str, float] = field(default_factory=dict)


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


def build_policy(config: SimulationConfig) -> Policy:
    if config.policy == "constant":
        assert config.alpha is not None and config.beta is not None  # checked by the config
        return ConstantPolicy(config.alpha, config.beta)
    return default_persona_policy()


def _event(config: SimulationConfig) -> Event:
    from spillover.io import example_events, read_events

    events = example_events() if config.events is None else read_events(config.events)
    if config.event_id is None:
        return events[0]
    return select_events(events, event_id=config.event_id)[0]


def run_simulation(
    config: SimulationConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> RunOutput:
    """Build everything a config describes and simulate it.

    Parameters
    ----------
    config : SimulationConfig
    progress : callable, optional
        ``progress(done, n_reps)`` after each replicate.
    """
    from spillover.io import read_persona_assignment

    record = seed_record(config.seed)
    event = _event(config)
    policy = build_policy(config)
    timings: dict[str, Any] = {}
    t0 = time.perf_counter()
    graph = build_graph(config, record)
    timings["graph_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if config.personas == "balanced":
        persona_of_node = assign_balanced(graph.n_nodes, rng=record.generator("personas"))
    else:
        persona_of_node = read_persona_assignment(config.personas, graph.n_nodes)
    timings["personas_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm_up()
    timings["compile_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = simulate(
        graph,
        policy,
        n_rounds=config.n_rounds,
        n_reps=config.n_reps,
        n_seeds=config.n_seeds,
        event=event,
        persona_of_node=persona_of_node,
        rng=record,
        progress=progress,
    )
    timings["simulate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    agents = agent_histories(graph, result)
    timings["histories_s"] = time.perf_counter() - t0
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
    )
