"""``run_loop``: cascades that emit offline events, each event seeding a new cascade.

One loop replicate starts with cascade 0, seeded by the root event (``n_seeds`` agents from the
``seeds`` stream). Every event a cascade emits (:mod:`spillover.loop._emission`) starts a new
cascade of a new news item at the event's round, seeded by ``n_seeds`` of the agents taking part
offline at that round (all of them when fewer), on the same graph with fresh states. Cascades
are processed in creation order (breadth first), and each one's randomness is keyed by
``(replicate, cascade)`` on the run's streams (``seeds``: child seeds, ``dynamics``: decision
key, ``events``: emission and places), so the whole loop is one reproducible run: the same seed
gives the same cascades, events and bytes, whatever else changes.
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from spillover._checks import check_count
from spillover._rng import SeedLike, SeedRecord, seed_record
from spillover.exceptions import ConfigError
from spillover.loop._emission import EmissionRule, emission_rounds, make_event
from spillover.loop._simulate import CascadeArrays, CoupledRates, run_one

if TYPE_CHECKING:
    from spillover.events import Event
    from spillover.graphs import Graph

__all__ = ["Cascade", "EmittedEvent", "LoopResult", "LoopSettings", "run_loop"]


@dataclass(frozen=True)
class LoopSettings:
    """Settings of a chained run (the ``[loop]`` config section).

    Attributes
    ----------
    n_rounds : int
        Rounds simulated per cascade.
    n_seeds : int
        Seed agents of each cascade.
    generations : int
        How many generations of cascades events may seed (0: the root cascade only, its
        events are emitted but seed nothing).
    max_cascades : int
        Cap on cascades per loop replicate (the chain of a supercritical loop grows
        geometrically); events past it are emitted but seed nothing.
    emission : EmissionRule
    """

    n_rounds: int = 60
    n_seeds: int = 5
    generations: int = 3
    max_cascades: int = 50
    emission: EmissionRule = field(default_factory=EmissionRule)

    def __post_init__(self) -> None:
        check_count("loop n_rounds", self.n_rounds, 1)
        check_count("loop n_seeds", self.n_seeds, 1)
        check_count("loop generations", self.generations, 0)
        check_count("loop max_cascades", self.max_cascades, 1)
        if not isinstance(self.emission, EmissionRule):
            raise ConfigError(
                f"loop emission must be an EmissionRule; got {type(self.emission).__name__}"
            )

    def to_dict(self) -> dict[str, object]:
        """Every field by name, the emission rule as its own dict."""
        return asdict(self)


@dataclass(frozen=True)
class Cascade:
    """One cascade of a loop: where it came from and what it did."""

    replicate: int
    cascade: int
    generation: int
    parent: int  # -1 for the root cascade
    parent_event_id: str
    start_round: int
    seeds: np.ndarray
    arrays: CascadeArrays


@dataclass(frozen=True)
class EmittedEvent:
    """An event emitted by ``cascade`` at its local ``round``; ``child`` is the cascade it
    seeded (-1 when it seeded none)."""

    replicate: int
    cascade: int
    round: int
    abs_round: int
    participating: int
    child: int
    event: Event


@dataclass(frozen=True)
class LoopResult:
    """All cascades and events of ``n_reps`` loop replicates."""

    cascades: tuple[Cascade, ...]
    events: tuple[EmittedEvent, ...]
    rates: CoupledRates
    settings: LoopSettings
    n_nodes: int
    root_event: Event
    seed_record: SeedRecord


def run_loop(
    graph: Graph,
    rates: CoupledRates,
    root_event: Event,
    settings: LoopSettings | None = None,
    *,
    n_reps: int = 1,
    rng: SeedLike = None,
) -> LoopResult:
    """Run ``n_reps`` independent loops: cascade, offline events, new cascades, ...

    Parameters
    ----------
    graph : Graph
    rates : CoupledRates
    root_event : Event
        The offline event that starts each loop; emitted events take its country.
    settings : LoopSettings, optional
    n_reps : int
    rng : int, SeedSequence, Generator or None

    Returns
    -------
    LoopResult
    """
    settings = LoopSettings() if settings is None else settings
    n_reps = check_count("n_reps", n_reps, 1)
    if settings.n_seeds > graph.n_nodes:
        raise ConfigError(f"n_seeds must be <= n_nodes ({graph.n_nodes}); got {settings.n_seeds}")
    record = seed_record(rng)
    cascades: list[Cascade] = []
    events: list[EmittedEvent] = []
    for rep in range(n_reps):
        c_out, e_out = _one_loop(graph, rates, root_event, settings, record, rep)
        cascades.extend(c_out)
        events.extend(e_out)
    return LoopResult(
        cascades=tuple(cascades),
        events=tuple(events),
        rates=rates,
        settings=settings,
        n_nodes=graph.n_nodes,
        root_event=root_event,
        seed_record=record,
    )


def _one_loop(
    graph: Graph,
    rates: CoupledRates,
    root: Event,
    s: LoopSettings,
    record: SeedRecord,
    rep: int,
) -> tuple[list[Cascade], list[EmittedEvent]]:
    n = graph.n_nodes
    root_seeds = np.sort(record.generator("seeds", rep, 0).choice(n, s.n_seeds, replace=False))
    # (generation, parent, parent event id, start round, seeds), in creation order.
    pending = [(0, -1, root.event_id, 0, root_seeds.astype(np.int64))]
    cascades: list[Cascade] = []
    events: list[EmittedEvent] = []
    start_date: datetime.date = root.date
    while len(cascades) < len(pending):
        c = len(cascades)
        generation, parent, parent_id, start, seeds = pending[c]
        key = int(record.generator("dynamics", rep, c).integers(0, 2**64, dtype=np.uint64))
        arrays = run_one(graph, rates, seeds, s.n_rounds, key)
        cascades.append(Cascade(rep, c, generation, parent, parent_id, start, seeds, arrays))
        ev_rng = record.generator("events", rep, c)
        part = arrays.counts[:, 2]
        for j, t in enumerate(emission_rounds(part, n, s.emission, ev_rng)):
            t = int(t)
            event = make_event(
                event_id=f"LOOP{rep}-{c:04d}-{j:03d}",
                round_=start + t,
                participating=int(part[t]),
                n_nodes=n,
                rule=s.emission,
                start_date=start_date,
                country=root.country,
                rng=ev_rng,
            )
            child = -1
            if generation < s.generations and len(pending) < s.max_cascades:
                child = len(pending)
                who = arrays.participants_at(t)
                if who.size > s.n_seeds:
                    pick = record.generator("seeds", rep, child).choice(
                        who.size, s.n_seeds, replace=False
                    )
                    who = np.sort(who[pick])
                pending.append((generation + 1, c, event.event_id, start + t, who))
            events.append(EmittedEvent(rep, c, t, start + t, int(part[t]), child, event))
    return cascades, events
