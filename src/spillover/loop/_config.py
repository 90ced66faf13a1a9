"""The settings of a chained loop run as plain values: the keys of a ``[loop]`` section, their
checks, and the run they describe (shared by ``spillover loop`` and loop sweeps)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any, Final

from spillover.exceptions import ConfigError

if TYPE_CHECKING:
    from spillover._rng import SeedRecord
    from spillover.events import Event
    from spillover.graphs import Graph
    from spillover.loop._chain import LoopResult, LoopSettings
    from spillover.loop._simulate import CoupledRates

__all__ = [
    "LOOP_KEYS",
    "build_loop",
    "check_loop_fits",
    "check_loop_value",
    "estimate_loop_bytes",
    "loop_root_event",
    "run_loop_values",
]

#: Keys of the ``[loop]`` config section, with their defaults.
LOOP_KEYS: Final[dict[str, Any]] = {
    "n_nodes": 5000,
    "degree": 6,
    "n_rounds": 80,
    "n_reps": 1,
    "n_seeds": 10,
    "alpha": 0.0,
    "beta": 0.1,
    "gamma": 0.1,
    "eta": 0.12,
    "kappa": 0.0,
    "delta": 0.2,
    "emission": "threshold",
    "threshold": 0.05,
    "event_rate": 0.0005,
    "riot_level": 0.15,
    "generations": 3,
    "max_cascades": 50,
    "events": None,
    "event_id": None,
    "seed": None,
}

_INT_KEYS: Final = {
    "n_nodes",
    "degree",
    "n_rounds",
    "n_reps",
    "n_seeds",
    "generations",
    "max_cascades",
    "seed",
}
_STR_KEYS: Final = {"emission", "events", "event_id"}


def check_loop_value(key: str, value: Any, where: str) -> Any:
    """Check the type of one ``[loop]`` value; ConfigError naming the key and the type found
    (never the value: a file may hold something pasted by mistake)."""
    if key not in LOOP_KEYS:
        raise ConfigError(f"{where}.{key}: unknown setting")
    if key in _INT_KEYS:
        ok = isinstance(value, int) and not isinstance(value, bool)
        expected = "an integer"
    elif key in _STR_KEYS:
        ok = isinstance(value, str)
        expected = "a string"
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        expected = "a number"
    if not ok:
        raise ConfigError(f"{where}.{key} must be {expected}; got {type(value).__name__}")
    return value


#: The settings a memory refusal of a loop may blame.
_SIZE_KEYS: Final = ("n_nodes", "degree", "n_rounds", "n_reps", "max_cascades")


def estimate_loop_bytes(values: Mapping[str, Any]) -> int:
    """Upper estimate of the peak memory of the chained loop that ``[loop]`` values describe.

    Every loop is counted as running its ``max_cascades`` cascades (fewer where the threshold
    rule, one event per round at most, cannot seed that many in ``generations``), each holding what
    :func:`spillover.loop._simulate.run_one` keeps: nine int64 columns per round (states and
    flows), four per round and exposure count (0..degree), and three int32 rounds per agent;
    the run folder's tables are counted as much again. Add the random regular graph (its build
    or the graph, whichever is larger), the kernel's working arrays (37 bytes per agent), a
    10% margin and the interpreter (:func:`spillover._resources.estimate_memory`).
    """
    from spillover._resources import estimate_memory

    n, degree = int(values["n_nodes"]), max(int(values["degree"]), 1)
    rounds = int(values["n_rounds"]) + 1
    per_loop = max(int(values["max_cascades"]), 1)
    if values["emission"] == "threshold":
        # At most one event per round, each seeding one cascade of the next generation.
        tree, width = 1, 1
        for _ in range(max(int(values["generations"]), 0)):
            width *= rounds
            tree += width
            if tree >= per_loop:
                break
        per_loop = min(per_loop, tree)
    cascades = max(int(values["n_reps"]), 1) * per_loop
    graph = estimate_memory(n, degree, n_reps=1, n_rounds=1)
    per_cascade = 8 * rounds * (9 + 4 * (degree + 1)) + 12 * n
    held = graph.graph + 37 * n + 2 * cascades * per_cascade
    return replace(graph, graph=0, engine=held, tables=0).peak


def check_loop_fits(values: Mapping[str, Any], available: int | None = None) -> int:
    """Refuse (ConfigError) a loop whose :func:`estimate_loop_bytes` exceeds the memory
    available, naming the setting whose default would lower it most; return the estimate."""
    from spillover._resources import available_memory_bytes, format_bytes

    estimate = estimate_loop_bytes(values)
    free = available_memory_bytes() if available is None else available
    if estimate <= free:
        return estimate
    gains = {
        key: estimate - estimate_loop_bytes({**values, key: LOOP_KEYS[key]})
        for key in _SIZE_KEYS
        if values[key] != LOOP_KEYS[key]
    }
    name = max(gains, key=lambda k: gains[k]) if gains else "n_nodes"
    raise ConfigError(
        f"{name} = {values[name]:,}: the loop would need about {format_bytes(estimate)} of "
        f"memory, more than the {format_bytes(free)} available",
        params=(name,),
    )


def build_loop(
    values: Mapping[str, Any], *, check_memory: bool = True
) -> tuple[CoupledRates, LoopSettings]:
    """The rates and loop settings of resolved ``[loop]`` values (validated by their types).

    A loop too large for the memory available is refused here, before anything is allocated
    (:func:`check_loop_fits`), unless ``check_memory`` is False (a finished sweep being
    analysed allocates no loop).
    """
    from spillover.loop._chain import LoopSettings
    from spillover.loop._emission import EmissionRule
    from spillover.loop._simulate import CoupledRates

    # The rates and the chain settings are named in [loop] as their fields are.
    rates = CoupledRates(**{f.name: values[f.name] for f in fields(CoupledRates)})
    rule = EmissionRule(
        mode=values["emission"],
        threshold=values["threshold"],
        rate=values["event_rate"],
        riot_level=values["riot_level"],
    )
    chain = {f.name: values[f.name] for f in fields(LoopSettings) if f.name != "emission"}
    settings = LoopSettings(**chain, emission=rule)
    if check_memory:
        check_loop_fits(values)
    return rates, settings


def loop_root_event(values: Mapping[str, Any]) -> Event:
    """The root event: ``event_id`` of ``events`` (the bundled examples when None), or the
    first event."""
    from spillover.events import select_events
    from spillover.io import example_events, read_events

    events = example_events() if values["events"] is None else read_events(values["events"])
    if values["event_id"] is None:
        return events[0]
    return select_events(events, event_id=values["event_id"])[0]


def run_loop_values(
    values: Mapping[str, Any], record: SeedRecord
) -> tuple[LoopResult, Graph, dict[str, float]]:
    """Run the chained loop that resolved ``[loop]`` values describe, seeded by ``record``:
    the graph from its ``graph`` stream, the cascades as :func:`spillover.loop.run_loop`.
    Returns the result, the graph and the timings (``graph_s``, ``simulate_s``)."""
    from spillover.graphs import random_regular
    from spillover.loop._chain import run_loop

    rates, settings = build_loop(values)
    root = loop_root_event(values)
    t0 = time.perf_counter()
    graph = random_regular(values["n_nodes"], values["degree"], rng=record.generator("graph"))
    t1 = time.perf_counter()
    result = run_loop(graph, rates, root, settings, n_reps=values["n_reps"], rng=record)
    t2 = time.perf_counter()
    return result, graph, {"graph_s": t1 - t0, "simulate_s": t2 - t1}
