"""The simulation engine: numba kernels and ``simulate``."""

from spillover.engine._feed import FeedPolicy, FeedSimulation, Posts, simulate_feed
from spillover.engine._histories import agent_histories
from spillover.engine._simulate import probability_table, simulate, warm_up
from spillover.engine._uniform import decision_uniform, decision_uniforms

__all__ = [
    "FeedPolicy",
    "FeedSimulation",
    "Posts",
    "agent_histories",
    "decision_uniform",
    "decision_uniforms",
    "probability_table",
    "simulate",
    "simulate_feed",
    "warm_up",
]
