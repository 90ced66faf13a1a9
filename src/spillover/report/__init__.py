"""Figures and reports of runs. Imports matplotlib lazily, never at ``import spillover``.

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` drawn without pyplot: it
never selects or switches the backend, so it shows inline in a notebook; save it with
:func:`save_figure` (or ``fig.savefig``).
"""

from spillover.report._build import build_run_report, build_sweep_report, forecast_models_to_draw
from spillover.report._figures import mean_adoption_round, plot_run
from spillover.report._fit_figures import (
    plot_curve_fits,
    plot_forecasts,
    plot_persona_rates,
    plot_trait_effects,
)
from spillover.report._html import PageFigure, render_report
from spillover.report._loop import (
    build_loop_report,
    plot_critical_curve,
    plot_outbreak_sweeps,
    plot_participation,
)
from spillover.report._mpl import save_figure
from spillover.report._study import build_study_report
from spillover.report._study_figures import (
    plot_best_models,
    plot_effects,
    plot_mean_field_error,
    plot_rates_by_type,
)
from spillover.report._sweep_figures import plot_rates_across

__all__ = [
    "PageFigure",
    "build_loop_report",
    "build_run_report",
    "build_study_report",
    "build_sweep_report",
    "forecast_models_to_draw",
    "mean_adoption_round",
    "plot_best_models",
    "plot_critical_curve",
    "plot_curve_fits",
    "plot_effects",
    "plot_forecasts",
    "plot_mean_field_error",
    "plot_outbreak_sweeps",
    "plot_participation",
    "plot_persona_rates",
    "plot_rates_across",
    "plot_rates_by_type",
    "plot_run",
    "plot_trait_effects",
    "render_report",
    "save_figure",
]
