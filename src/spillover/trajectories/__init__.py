"""Results of runs: curves, exposure tables, adoptions, agent histories."""

from spillover.trajectories._result import SimulationResult
from spillover.trajectories._tables import Adoptions, AgentHistories, Curves, ExposureTable

__all__ = ["Adoptions", "AgentHistories", "Curves", "ExposureTable", "SimulationResult"]
