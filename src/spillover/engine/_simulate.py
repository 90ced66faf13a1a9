"""``simulate``: replicates of the discrete-round SI spread of DESIGN section 2."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from spillover._checks import check_run_sizes, check_seed_ids
from spillover._rng import SeedLike, SeedRecord, seed_record
from spillover.engine._kernels import adoption_order, run_replicate, state_layout
from spillover.exceptions import ConfigError, PolicyError
from spillover.personas import N_PERSONAS, assign_balanced, validate_assignment
from spillover.policies import ExposureBatch, Policy, checked_probabilities
from spillover.trajectories import Adoptions, Curves, ExposureTable, SimulationResult

if TYPE_CHECKING:
    from spillover.events import Event
    from spillover.graphs import Graph

__all__ = ["probability_table", "simulate", "warm_up"]

#: Called after each replicate with (replicates done, replicates in all).
ProgressCallback = Callable[[int, int], None]


def probability_table(
    policy: Policy,
    event: Event | None,
    max_degree: int,
    personas: np.ndarray | Sequence[int] | None = None,
) -> np.ndarray:
    """Ask the policy once for every (persona, n_exposed) key of the personas present.

    Parameters
    ----------
    personas : array-like of int, optional
        The personas placed on the graph (default: all 32). Only their keys are asked, so an
        LLM policy sends exactly the requests that ``--dry-run`` counts; the rows of absent
        personas are 0 and never read.

    Returns
    -------
    ndarray of float64, shape (32, max_degree + 1)
        ``table[c, m]``: share probability of a susceptible agent of persona c with m informed
        neighbours.
    """
    present = (
        np.arange(N_PERSONAS, dtype=np.int64)
        if personas is None
        else np.unique(np.asarray(personas, dtype=np.int64))
    )
    persona, n_exposed = np.meshgrid(
        present, np.arange(max_degree + 1, dtype=np.int64), indexing="ij"
    )
    batch = ExposureBatch(persona=persona.ravel(), n_exposed=n_exposed.ravel())
    p = checked_probabilities(policy, batch, event)
    table = np.zeros((N_PERSONAS, max_degree + 1), dtype=np.float64)
    table[present] = p.reshape(present.size, max_degree + 1)
    return np.ascontiguousarray(table)


def _seed_sets(
    record: SeedRecord,
    n_nodes: int,
    n_seeds: int,
    n_reps: int,
    seeds: Sequence[int] | np.ndarray | None,
) -> np.ndarray:
    if seeds is not None:
        return np.tile(check_seed_ids(seeds, n_nodes), (n_reps, 1))
    if n_seeds > n_nodes:
        raise ConfigError(f"n_seeds must be <= n_nodes ({n_nodes}); got {n_seeds}")
    return np.stack(
        [
            np.sort(record.generator("seeds", rep).choice(n_nodes, size=n_seeds, replace=False))
            for rep in range(n_reps)
        ]
    ).astype(np.int64)


def _joined(parts: list[tuple[np.ndarray, ...]]) -> list[np.ndarray]:
    """The columns of the replicates' parts, joined; frozen so the tables keep them as they are.

    A single part is taken as it is (no copy): at 100 million agents the adoption rows alone
    are gigabytes.
    """
    if len(parts) == 1:
        columns = [np.ascontiguousarray(col) for col in parts[0]]
    else:
        columns = [np.concatenate(cols) for cols in zip(*parts, strict=True)]
        parts.clear()
    for col in columns:
        if col.base is None:
            col.flags.writeable = False
    return columns


class _Work(NamedTuple):
    """Work arrays of the kernel, reused by every replicate (the kernel initialises them)."""

    state: np.ndarray
    candidates: np.ndarray
    newly: np.ndarray
    adoption_round: np.ndarray
    shift: int


def _work_arrays(n_nodes: int, max_degree: int, index_dtype: np.dtype) -> _Work:
    """Uninitialised work arrays for ``n_nodes`` agents of degree at most ``max_degree``."""
    state_dtype, shift = state_layout(max_degree)
    return _Work(
        state=np.empty(n_nodes, dtype=state_dtype),
        candidates=np.empty(n_nodes + 1, dtype=index_dtype),  # a spare slot for the spread
        newly=np.empty(n_nodes, dtype=index_dtype),
        adoption_round=np.empty(n_nodes, dtype=np.int32),
        shift=shift,
    )


def _exposure_rows(rep: int, at_risk: np.ndarray, shared: np.ndarray) -> tuple[np.ndarray, ...]:
    """Replicate ``rep``'s exposure-table columns: one row per non-empty (round, persona, m)."""
    t, c, m = np.nonzero(at_risk)
    return (np.full(t.size, rep), t, c, m, at_risk[t, c, m], shared[t, c, m])


def _adoption_rows(
    rep: int, adoption_round: np.ndarray, n_rounds: int, persona_of_node: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Replicate ``rep``'s adoption-table columns, in adoption order."""
    n_adopters = int(np.count_nonzero(adoption_round >= 0))
    agents = np.empty(n_adopters, dtype=np.int64)
    rounds = np.empty(n_adopters, dtype=np.int32)
    adoption_order(adoption_round, n_rounds, agents, rounds)
    return (
        np.full(agents.size, rep, dtype=np.int32),
        agents,
        persona_of_node[agents].astype(np.int16),
        rounds,
    )


def simulate(
    graph: Graph,
    policy: Policy,
    *,
    n_rounds: int,
    n_reps: int = 1,
    n_seeds: int = 1,
    event: Event | None = None,
    persona_of_node: np.ndarray | None = None,
    seeds: Sequence[int] | np.ndarray | None = None,
    rng: SeedLike = None,
    progress: ProgressCallback | None = None,
) -> SimulationResult:
    """Simulate ``n_reps`` independent spreads of one news item on a fixed graph.

    At round 0 the seed agents share (``n_seeds`` drawn uniformly per replicate, or the given
    ``seeds`` in every replicate). In each round t >= 1 every susceptible agent i shares with
    probability ``policy(persona(i), m_i(t))``, where m_i(t) counts its informed neighbours at
    the end of round t - 1; all agents update synchronously. A replicate stops doing work once
    nobody can share any more; its tables still cover all rounds up to ``n_rounds``.

    Parameters
    ----------
    graph : Graph
        The network (undirected, simple).
    policy : Policy
        Share probabilities; evaluated once per run on every (persona, n_exposed) key. A
        policy that reads actual feeds (a :class:`~spillover.engine.FeedPolicy`, such as
        :class:`~spillover.policies.FeedLLMPolicy`) runs on the round-by-round engine
        :func:`~spillover.engine.simulate_feed` instead, with the same semantics, streams and
        tables, and the posts in ``result.posts``; it needs ``event``, and ``progress`` is
        then called after each round, as ``progress(round, n_rounds)``.
    n_rounds : int
        Last round T (>= 1).
    n_reps : int
        Independent replicates on the same graph and persona placement.
    n_seeds : int
        Seed agents per replicate, when ``seeds`` is not given.
    event : Event, optional
        The news item; passed to the policy.
    persona_of_node : ndarray of int, shape (n_nodes,), optional
        Persona of each agent; balanced and randomly placed (personas stream) when omitted.
    seeds : sequence of int, optional
        Fixed seed agents for every replicate.
    rng : int, SeedSequence, Generator or None
        Root of the run's randomness. Seeds use the ``seeds`` stream and decisions the
        ``dynamics`` stream, each keyed by replicate, so replicate r is the same whatever
        ``n_reps`` is.
    progress : callable, optional
        Called as ``progress(done, n_reps)`` after each replicate.

    Returns
    -------
    SimulationResult
    """
    from spillover.engine._feed import FeedPolicy, simulate_feed

    options: dict[str, Any] = {
        "n_rounds": n_rounds,
        "n_reps": n_reps,
        "n_seeds": n_seeds,
        "persona_of_node": persona_of_node,
        "seeds": seeds,
        "rng": rng,
        "progress": progress,
    }
    if isinstance(policy, FeedPolicy):
        if event is None:
            raise PolicyError("simulate_feed needs the event: the prompts carry the news item")
        return simulate_feed(graph, policy, event=event, **options).result
    return _simulate_table(graph, policy, event=event, **options)


def _simulate_table(
    graph: Graph,
    policy: Policy,
    *,
    n_rounds: int,
    n_reps: int,
    n_seeds: int,
    event: Event | None,
    persona_of_node: np.ndarray | None,
    seeds: Sequence[int] | np.ndarray | None,
    rng: SeedLike,
    progress: ProgressCallback | None,
) -> SimulationResult:
    """The table engine of :func:`simulate`: the policy asked once, the numba kernel per
    replicate."""
    n_rounds, n_reps, n_seeds = check_run_sizes(n_rounds=n_rounds, n_reps=n_reps, n_seeds=n_seeds)
    record = seed_record(rng)
    n_nodes = graph.n_nodes
    if n_nodes < 1:
        raise ConfigError("graph must have at least one node")
    if persona_of_node is None:
        persona_of_node = assign_balanced(n_nodes, rng=record.generator("personas"))
    persona_of_node = np.ascontiguousarray(
        validate_assignment(persona_of_node, n_nodes), dtype=np.int8
    )
    seed_sets = _seed_sets(record, n_nodes, n_seeds, n_reps, seeds)
    max_degree = int(graph.max_degree)
    present = np.flatnonzero(np.bincount(persona_of_node, minlength=N_PERSONAS))
    prob = probability_table(policy, event, max_degree, present)
    indptr = np.ascontiguousarray(graph.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(graph.indices)

    shape = (n_rounds + 1, N_PERSONAS, max_degree + 1)
    informed_by_persona = np.zeros((n_reps, n_rounds + 1, N_PERSONAS), dtype=np.int64)
    last_active = np.zeros(n_reps, dtype=np.int32)
    work = _work_arrays(n_nodes, max_degree, indices.dtype)
    exposure_parts: list[tuple[np.ndarray, ...]] = []
    adoption_parts: list[tuple[np.ndarray, ...]] = []
    for rep in range(n_reps):
        key = record.generator("dynamics", rep).integers(0, 2**64, dtype=np.uint64)
        at_risk = np.zeros(shape, dtype=np.int64)
        shared = np.zeros(shape, dtype=np.int64)
        work.adoption_round.fill(-1)
        last_active[rep] = run_replicate(
            indptr,
            indices,
            persona_of_node,
            prob,
            seed_sets[rep],
            n_rounds,
            np.uint64(key),
            at_risk,
            shared,
            informed_by_persona[rep],
            work.adoption_round,
            work.state,
            work.candidates,
            work.newly,
            work.shift,
        )
        exposure_parts.append(_exposure_rows(rep, at_risk, shared))
        adoption_parts.append(_adoption_rows(rep, work.adoption_round, n_rounds, persona_of_node))
        if progress is not None:
            progress(rep + 1, n_reps)

    exposures = ExposureTable(*_joined(exposure_parts))
    del work
    adoptions = Adoptions(*_joined(adoption_parts))
    return SimulationResult(
        curves=Curves(informed_by_persona, n_nodes=n_nodes),
        exposures=exposures,
        adoptions=adoptions,
        seeds=seed_sets,
        last_active_round=last_active,
        seed_record=record,
        persona_of_node=persona_of_node,
    )


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the engine's kernels on a tiny graph.

    Callers that time the engine call this first, so the timing is of the engine, not of the
    compiler. It goes through :func:`simulate` itself, so that the kernels are specialised for
    exactly the array types (read-only graph and persona arrays) a real run passes.
    """
    from spillover.graphs import Graph
    from spillover.policies import ConstantPolicy

    simulate(Graph.from_edges(2, [(0, 1)]), ConstantPolicy(0.5, 0.5), n_rounds=1, rng=0)
