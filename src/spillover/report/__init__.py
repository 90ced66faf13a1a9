"""Figures and reports of runs. Imports matplotlib lazily, never at ``import spillover``."""

from spillover.report._figures import mean_adoption_round, plot_run

__all__ = ["mean_adoption_round", "plot_run"]
