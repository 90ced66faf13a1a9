"""Every public plot function returns a matplotlib Figure and leaves the backend alone.

The functions are listed from the package's public API (every ``plot_*`` name in the
``__all__`` of a public subpackage), so a new one without inputs here fails the test.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

import spillover
from spillover.fit import FitResult, TraitEffects
from spillover.personas import PERSONAS, TRAITS

Call = tuple[tuple[Any, ...], dict[str, Any]]


def public_plot_functions() -> dict[str, Callable[..., Any]]:
    """``plot_*`` names exported by spillover's public (non-underscore) subpackages."""
    found: dict[str, Callable[..., Any]] = {}
    for info in pkgutil.walk_packages(spillover.__path__, "spillover."):
        if not info.ispkg or any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            if name.startswith("plot_"):
                fn = getattr(module, name)
                assert found.setdefault(name, fn) is fn, f"two different {name} in the API"
    return found


@pytest.fixture(scope="module")
def run() -> Any:
    graph = spillover.random_regular(400, 6, rng=3)
    return spillover.simulate(
        graph,
        spillover.default_persona_policy(),
        n_rounds=12,
        n_reps=3,
        n_seeds=4,
        rng=3,
    )


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from spillover.sweeps import SerialExecutor, read_sweep_config, run_sweep

    folder = tmp_path_factory.mktemp("sweep")
    spec = folder / "sweep.toml"
    spec.write_text(
        'seed = 5\n[sweep]\nmodels = ["si2"]\n[base]\nn_nodes = 200\nn_rounds = 6\n'
        'n_reps = 2\nn_seeds = 2\npolicy = "constant"\nalpha = 0.01\n[grid]\n'
        "beta = [0.1, 0.3]\n",
        encoding="utf-8",
    )
    assert run_sweep(read_sweep_config(spec), folder / "out", executor=SerialExecutor()).ok
    return folder / "out"


def _study_document() -> dict[str, Any]:
    pools = [
        {"event_type": t, "degree": k, "best": best, "verdict": {"reading": reading}}
        for t, k, best, reading in (
            ("Protests", 4, "si2", "offline-online"),
            ("Protests", 8, "si", "none"),
            ("Riots", 4, "si2", "offline-online"),
            ("Riots", 8, "si-groups2", "two-groups"),
        )
    ]
    return {
        "design": {
            "event_types": ["Protests", "Riots"],
            "degrees": [4, 8],
            "analysis": {"criterion": "bic"},
        },
        "pooled": {"by_type_degree": pools},
    }


def _rates_rows() -> list[dict[str, Any]]:
    return [
        {"event_type": t, "param": p, "estimate": v, "ci_low": v * 0.9, "ci_high": v * 1.1}
        | ({"truth": v} if t == "Riots" else {})
        for t in ("Protests", "Riots")
        for p, v in (("alpha", 0.01), ("beta", 0.2))
    ]


def _effect_rows() -> list[dict[str, Any]]:
    return [
        {
            "term": trait,
            "channel": channel,
            "hazard_ratio": 1.2,
            "ci_low": np.log(1.1),
            "ci_high": np.log(1.3),
            "truth": np.log(1.25),
        }
        for trait in TRAITS
        for channel in ("alpha", "beta")
    ]


def _mean_field() -> dict[str, Any]:
    cells = [
        {"degree": k, f"{m}_{s}": 0.01 * k * (i + 1)}
        for i, k in enumerate((4, 8))
        for m in ("mean_field", "pair")
        for s in ("max", "mean")
    ]
    merged: dict[int, dict[str, Any]] = {}
    for c in cells:
        merged.setdefault(c["degree"], {}).update(c)
    return {"by_degree": list(merged.values()), "cells": list(merged.values())}


def _persona_fit() -> FitResult:
    alpha = tuple(0.01 + 0.001 * i for i in range(len(PERSONAS)))
    beta = tuple(0.1 + 0.002 * i for i in range(len(PERSONAS)))
    se = tuple(0.002 for _ in PERSONAS)
    return FitResult(
        model="si-persona",
        params={"alpha_c": alpha, "beta_c": beta},
        stderr={"alpha_c": se, "beta_c": se},
        loglik=-100.0,
        n_params=64,
        n_obs=1000,
        status="converged",
    )


def _traits() -> TraitEffects:
    terms = ("baseline", *TRAITS)
    return TraitEffects(
        channels=("alpha", "beta"),
        terms=terms,
        coef=np.linspace(-0.5, 0.5, 2 * len(terms)).reshape(2, len(terms)),
        stderr=np.full((2, len(terms)), 0.1),
        loglik=-50.0,
        n_obs=500,
        converged=True,
    )


def _offline() -> dict[str, np.ndarray]:
    rounds = np.tile(np.arange(5), 2)
    return {
        "n_nodes": np.full(10, 100),
        "replicate": np.zeros(10, dtype=int),
        "cascade": np.repeat([0, 1], 5),
        "abs_round": rounds,
        "participating": rounds * 2,
        "engaged": rounds * 5,
    }


def _outbreak() -> Any:
    from spillover.loop import outbreak_sweep

    return outbreak_sweep(
        degree=4,
        beta=0.2,
        gamma=0.1,
        delta=0.2,
        etas=[0.05, 0.3],
        n_nodes=200,
        n_reps=2,
        n_seeds=4,
        n_rounds=20,
        rng=1,
    )


def _calls(run: Any, sweep_dir: Path) -> dict[str, Call]:
    """One call of each public plot function: positional and keyword arguments."""
    overlay = ("flat", np.full(run.curves.n_rounds + 1, 0.5))
    rates = {"beta": 0.2, "eta": 0.3, "gamma": 0.1, "delta": 0.2, "kappa": 0.0}
    return {
        "plot_run": ((run.curves, run.adoptions), {"title": "a run"}),
        "plot_curve_fits": ((run.curves, [overlay]), {}),
        "plot_persona_rates": ((_persona_fit(),), {}),
        "plot_trait_effects": ((_traits(),), {}),
        "plot_best_models": ((_study_document(),), {}),
        "plot_rates_by_type": ((_rates_rows(),), {}),
        "plot_effects": ((_effect_rows(),), {"label": "term", "title": "trait"}),
        "plot_mean_field_error": ((_mean_field(),), {}),
        "plot_outbreak_sweeps": (([_outbreak()],), {"threshold": 0.05}),
        "plot_participation": ((_offline(),), {}),
        "plot_critical_curve": (
            (np.linspace(0.01, 1.0, 20), rates, 4, 0.02, 20, np.array([0.1, 0.2])),
            {},
        ),
        "plot_rates_across": ((sweep_dir,), {"model": "si2"}),
        "plot_forecasts": ((_forecast(run),), {"models": ["pair"]}),
    }


def _forecast(run: Any) -> Any:
    from spillover.selection import analyse

    analysis = analyse(curves=run.curves, degree=6, models=["pair"], n_folds=0, fit_rounds=6)
    return analysis.forecast


@pytest.fixture
def other_backend() -> Iterator[str]:
    """A backend the plotters would visibly change (they used to force Agg)."""
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        yield matplotlib.get_backend()
    finally:
        matplotlib.use(before)


def test_every_public_plot_function_has_a_call_here(run: Any, sweep_dir: Path) -> None:
    assert set(public_plot_functions()) == set(_calls(run, sweep_dir))


@pytest.mark.parametrize("name", sorted(public_plot_functions()))
def test_plot_returns_a_figure_and_leaves_the_backend(
    name: str, run: Any, sweep_dir: Path, other_backend: str, tmp_path: Path
) -> None:
    from spillover.report import save_figure

    args, kwargs = _calls(run, sweep_dir)[name]
    open_before = _pyplot_figures()
    fig = public_plot_functions()[name](*args, **kwargs)
    assert isinstance(fig, Figure)
    assert fig.axes, "the figure has no axes"
    assert matplotlib.get_backend() == other_backend
    # Not registered with pyplot: nothing for the caller to close, no double display inline.
    assert _pyplot_figures() == open_before
    png = save_figure(fig, tmp_path / f"{name}.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.get_backend() == other_backend


def _pyplot_figures() -> list[int]:
    plt = sys.modules.get("matplotlib.pyplot")
    return [] if plt is None else list(plt.get_fignums())


def test_a_plot_without_matplotlib_names_the_report_extra(tmp_path: Path) -> None:
    import subprocess

    code = (
        "import sys\nsys.modules['matplotlib'] = None\n"
        "import spillover as so\nfrom spillover.exceptions import MissingExtraError\n"
        "from spillover.report import plot_run\n"
        "r = so.simulate(so.random_regular(100, 4, rng=1), so.ConstantPolicy(0.02, 0.2), "
        "n_rounds=5, rng=1)\n"
        "try:\n    plot_run(r.curves, r.adoptions, title='x')\n"
        "except MissingExtraError as exc:\n    print('MISSING', exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("MISSING ") and "spillover[report]" in proc.stdout


def test_a_barely_identified_trait_effect_is_shown_not_a_crash() -> None:
    # A standard error of 1,000 on the log scale: exp of its interval's end overflows.
    import math
    from dataclasses import replace

    from spillover.fit import hazard_ratio
    from spillover.report import plot_trait_effects
    from spillover.report._html import _traits_table
    from spillover.selection import Analysis

    wide = replace(_traits(), stderr=np.full((2, 6), 1000.0))
    assert hazard_ratio(1960.0) == math.inf and hazard_ratio(0.0) == 1.0
    figure = plot_trait_effects(wide)
    assert all(ax.get_xscale() == "log" for ax in figure.axes)
    highs = [ax.get_xlim()[1] for ax in figure.axes]
    assert max(highs) < 1e4  # intervals cut at a factor e^5 each way, not drawn to exp(1960)
    page = _traits_table(Analysis(groups=(), trait_effects=wide))
    assert "[0.000, inf]" in page
