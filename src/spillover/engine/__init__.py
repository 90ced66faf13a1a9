"""The simulation engine: numba kernels and ``simulate``."""

from spillover._resources import MemoryEstimate, available_memory, check_memory, estimate_memory
from spillover.engine._copies import copied_from, copies
from spillover.engine._feed import FeedPolicy, FeedSimulation, Posts, simulate_feed
from spillover.engine._histories import agent_histories
from spillover.engine._simulate import probability_table, simulate, warm_up
from spillover.engine._uniform import decision_uniform, decision_uniforms

__all__ = [
    "FeedPolicy",
    "FeedSimulation",
    "MemoryEstimate",
    "Posts",
    "agent_histories",
    "available_memory",
    "check_memory",
    "copied_from",
    "copies",
    "decision_uniform",
    "decision_uniforms",
    "estimate_memory",
    "probability_table",
    "simulate",
    "simulate_feed",
    "warm_up",
]
