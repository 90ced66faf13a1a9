"""Figures and reports of runs. Imports matplotlib lazily, never at ``import spillover``."""

from spillover.report._figures import mean_adoption_round, plot_run
from spillover.report._fit_figures import plot_curve_fits, plot_persona_rates, plot_trait_effects
from spillover.report._html import Figure, render_report
from spillover.report._study import build_study_report

__all__ = [
    "Figure",
    "build_study_report",
    "mean_adoption_round",
    "plot_curve_fits",
    "plot_persona_rates",
    "plot_run",
    "plot_trait_effects",
    "render_report",
]
