"""spillover: how news of offline events spreads through networks of LLM agents.

Simulate the spread of an event through a network of agents with Big Five personas, then
learn the dynamics with stochastic and mean-field models. The data flow::

    events -> personas -> graphs -> policies -> engine -> trajectories -> fit

Quick start (the run of ``spillover simulate --seed 1``, same numbers)::

    import spillover as so

    run = so.run(so.SimulationConfig(n_nodes=3200, degree=8, n_rounds=40), rng=1)
    run.result.curves.informed          # the informed column of curves.parquet
    fits = so.fit_exposures(run.result.exposures, ("si", "si2"))

The lower-level calls reproduce it when each draws from its own stream of the seed record::

    record = so.SeedRecord(1)
    graph = so.random_regular(3200, 8, rng=record.generator("graph"))
    result = so.simulate(graph, so.default_persona_policy(), event=run.event,
                         n_rounds=40, n_reps=10, n_seeds=5, rng=record)
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING

from spillover import exceptions

if TYPE_CHECKING:
    from spillover._rng import STREAMS, SeedRecord
    from spillover.config import LLMConfig, SimulationConfig
    from spillover.engine import simulate
    from spillover.events import Event, render_post
    from spillover.fit import FitResult, SI2Estimator, SIEstimator, fit_exposures
    from spillover.graphs import Graph, random_regular
    from spillover.personas import PERSONAS, TRAITS, Persona
    from spillover.pipeline import RunOutput, run
    from spillover.policies import (
        ConstantPolicy,
        PersonaPolicy,
        Policy,
        default_persona_policy,
    )
    from spillover.trajectories import Adoptions, Curves, ExposureTable, SimulationResult

# Every public name is loaded from its module on first use, so that ``import spillover`` (and
# every command line start) pays only for what it touches: the fits' scipy.stats, say, are
# not imported by a dry run.
_LAZY: dict[str, str] = {
    "STREAMS": "spillover._rng",
    "SeedRecord": "spillover._rng",
    "LLMConfig": "spillover.config",
    "SimulationConfig": "spillover.config",
    "simulate": "spillover.engine",
    "Event": "spillover.events",
    "render_post": "spillover.events",
    "FitResult": "spillover.fit",
    "SI2Estimator": "spillover.fit",
    "SIEstimator": "spillover.fit",
    "fit_exposures": "spillover.fit",
    "Graph": "spillover.graphs",
    "random_regular": "spillover.graphs",
    "PERSONAS": "spillover.personas",
    "TRAITS": "spillover.personas",
    "Persona": "spillover.personas",
    "RunOutput": "spillover.pipeline",
    "run": "spillover.pipeline",
    "ConstantPolicy": "spillover.policies",
    "PersonaPolicy": "spillover.policies",
    "Policy": "spillover.policies",
    "default_persona_policy": "spillover.policies",
    "Adoptions": "spillover.trajectories",
    "Curves": "spillover.trajectories",
    "ExposureTable": "spillover.trajectories",
    "SimulationResult": "spillover.trajectories",
}

try:
    __version__ = _metadata.version("spillover")
except _metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "PERSONAS",
    "STREAMS",
    "TRAITS",
    "Adoptions",
    "ConstantPolicy",
    "Curves",
    "Event",
    "ExposureTable",
    "FitResult",
    "Graph",
    "LLMConfig",
    "Persona",
    "PersonaPolicy",
    "Policy",
    "RunOutput",
    "SI2Estimator",
    "SIEstimator",
    "SeedRecord",
    "SimulationConfig",
    "SimulationResult",
    "__version__",
    "default_persona_policy",
    "exceptions",
    "fit_exposures",
    "random_regular",
    "render_post",
    "run",
    "simulate",
]


def __getattr__(name: str) -> object:
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    # Subpackages (``spillover.io``, ``spillover.fit``...) load on first use too.
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"spillover.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"spillover.{name}":
                raise
    raise AttributeError(f"module 'spillover' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
