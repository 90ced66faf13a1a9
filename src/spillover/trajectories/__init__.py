"""Results of runs: curves, exposure tables, adoptions."""

from spillover.trajectories._result import SimulationResult
from spillover.trajectories._tables import Adoptions, Curves, ExposureTable

__all__ = ["Adoptions", "Curves", "ExposureTable", "SimulationResult"]
