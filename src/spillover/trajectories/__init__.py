"""Results of runs: curves, exposure tables, adoptions, agent histories."""

from spillover.trajectories._result import Posts, SimulationResult
from spillover.trajectories._tables import Adoptions, AgentHistories, Curves, ExposureTable

__all__ = [
    "Adoptions",
    "AgentHistories",
    "Curves",
    "ExposureTable",
    "Posts",
    "SimulationResult",
]
