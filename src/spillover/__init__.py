"""spillover: how news of offline events spreads through networks of LLM agents.

Simulate the spread of an event through a network of agents with Big Five personas, then
learn the dynamics with stochastic and mean-field models. The data flow::

    events -> personas -> graphs -> policies -> engine -> trajectories -> fit

Quick start::

    import spillover as so

    graph = so.random_regular(3200, 8, rng=1)
    event = so.io.example_events()[0]
    result = so.simulate(graph, so.default_persona_policy(), event=event,
                         n_rounds=40, n_reps=10, n_seeds=5, rng=1)
    fits = so.fit_exposures(result.exposures, ("si", "si2"))
"""

from __future__ import annotations

from importlib import metadata as _metadata

from spillover import exceptions
from spillover.config import SimulationConfig
from spillover.engine import simulate
from spillover.events import Event, render_post
from spillover.fit import FitResult, SI2Estimator, SIEstimator, fit_exposures
from spillover.graphs import Graph, random_regular
from spillover.personas import PERSONAS, TRAITS, Persona
from spillover.policies import ConstantPolicy, PersonaPolicy, Policy, default_persona_policy
from spillover.trajectories import Adoptions, Curves, ExposureTable, SimulationResult

try:
    __version__ = _metadata.version("spillover")
except _metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "PERSONAS",
    "TRAITS",
    "Adoptions",
    "ConstantPolicy",
    "Curves",
    "Event",
    "ExposureTable",
    "FitResult",
    "Graph",
    "Persona",
    "PersonaPolicy",
    "Policy",
    "SI2Estimator",
    "SIEstimator",
    "SimulationConfig",
    "SimulationResult",
    "__version__",
    "default_persona_policy",
    "exceptions",
    "fit_exposures",
    "random_regular",
    "render_post",
    "simulate",
]


def __getattr__(name: str) -> object:
    # ``spillover.io`` is loaded on first use so that importing the core stays light.
    if name == "io":
        import importlib

        return importlib.import_module("spillover.io")
    raise AttributeError(f"module 'spillover' has no attribute {name!r}")
