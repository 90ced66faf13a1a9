"""``spillover fit --model si-dose-persona`` on a persona run; the default document unchanged."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from spillover.fit import (
    dose_design,
    fit_used_columns,
    get_model,
    levels_for,
    totals_by_persona_exposure,
)
from spillover.personas import N_PERSONAS
from spillover.trajectories import ExposureTable

#: The fits of a default ``spillover fit`` of an SI run, as before si-dose-persona was a
#: registry entry: it is fitted when named only.
DEFAULT_MODELS = ["si", "si2", "si-groups2", "si-persona", "si-dose2", "si-dose", "pair"]


def _simulate(cli: Callable[[list[str]], int], out: Path, *args: str) -> Path:
    argv = ["simulate", *args, "--seed", "7", "--quiet", "--out", str(out)]
    assert cli(argv) == 0
    return out


def _fit_json(
    cli: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str], *argv: str
) -> str:
    capsys.readouterr()
    assert cli(["fit", *argv, "--json"]) == 0
    return capsys.readouterr().out


def test_fit_model_si_dose_persona_on_a_persona_run(
    cli: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _simulate(cli, tmp_path / "run", "--n-nodes", "800", "--replicates", "3")
    doc = json.loads(_fit_json(cli, capsys, str(run), "--model", "si-dose-persona"))
    assert [m["name"] for m in doc["models"]] == ["si-dose-persona"]
    model = doc["models"][0]
    names = list(model["params"])
    assert names[0] == "alpha_c" and names[-1].endswith("+_c")
    assert names[1:] == [f"online_{m}_c" for m in range(1, len(names) - 1)] + [names[-1]]
    assert all(len(v) == N_PERSONAS for v in model["params"].values())
    # Scored on held-out replicates too (null: -inf, a level some persona never saw in a fold).
    assert "held_out_loglik" in model
    # The verdict's online test is the same fit against one rate per persona.
    online = next(e for e in doc["two_rates"]["evidence"] if e["test"] == "online")
    assert online["df"] == model["n_params"] - N_PERSONAS
    # Its names are those of the registry entry on the run's exposure table.
    from spillover.io import read_fit_input

    table = read_fit_input(run).exposures
    assert tuple(names) == get_model("si-dose-persona").params_for(table)
    # The default fit leaves it out.
    default = json.loads(_fit_json(cli, capsys, str(run), "--folds", "0"))
    assert [m["name"] for m in default["models"]] == DEFAULT_MODELS


def _binomial(n: np.ndarray, s: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = s / n
        terms = np.where(s > 0, s * np.log(p), 0.0) + np.where(n > s, (n - s) * np.log1p(-p), 0.0)
    return float(terms.sum())


def _previous_dose_fit(table: ExposureTable) -> tuple[float, int]:
    """The verdict's si-dose-persona fit as it was computed before the registry entry: its
    own closed form where g >= 0 is slack (tests/selection/test_verdict.py has the same)."""
    persona, m, at_risk, shared = totals_by_persona_exposure(table)
    keep = at_risk > 0
    persona, m = persona[keep], m[keep]
    n, s = at_risk[keep].astype(np.float64), shared[keep].astype(np.float64)
    levels = levels_for(table)
    p = s / n
    p0 = np.full(N_PERSONAS, -1.0)
    zero = m == 0
    p0[persona[zero]] = p[zero]
    slack = np.ones(N_PERSONAS, dtype=bool)
    np.logical_and.at(slack, persona, p >= p0[persona] - 1e-12)
    easy = slack[persona]
    loglik, n_params = _binomial(n[easy], s[easy]), int(easy.sum())
    for c in np.unique(persona[~easy]):
        rows = persona == c
        fit, rank, _ = fit_used_columns(dose_design(m[rows], levels), n[rows], s[rows])
        loglik += fit.loglik
        n_params += rank
    return loglik, n_params


@pytest.mark.slow
def test_default_fit_json_of_a_demo_sized_run_is_byte_identical_to_before(
    cli: Callable[[list[str]], int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The demo's size (3,200 agents, 8-regular, 10 replicates, the persona prior), 40 rounds.
    run = _simulate(cli, tmp_path / "run", "--n-nodes", "3200", "--replicates", "10")
    after = _fit_json(cli, capsys, str(run))
    monkeypatch.setattr(
        importlib.import_module("spillover.selection._verdict"),
        "_dose_persona_fit",
        _previous_dose_fit,
    )
    before = _fit_json(cli, capsys, str(run))
    assert after == before
    doc = json.loads(after)
    assert [m["name"] for m in doc["models"]] == DEFAULT_MODELS
    assert doc["two_rates"]["reading"] == "offline-online"
