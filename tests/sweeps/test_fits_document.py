"""A sweep cell's fits are the ``spillover fit --json`` document of its run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spillover.cli import main
from spillover.sweeps import (
    SerialExecutor,
    fit_sweep,
    fits_document,
    load_sweep,
    query_sweep,
    read_sweep_config,
    run_sweep,
)
from spillover.sweeps._dataset import fits_rows

MODELS = ("si", "si2", "si-groups2")

SWEEP = """\
seed = 4

[sweep]
models = ["si", "si2", "si-groups2"]

[base]
n_nodes = 240
n_rounds = 8
n_reps = 2
n_seeds = 3
policy = "constant"
alpha = 0.02

[grid]
beta = [0.05, 0.25]
"""


def _cli_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    capsys.readouterr()
    try:
        main(argv)
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fits-doc")
    (folder / "sweep.toml").write_text(SWEEP, encoding="utf-8")
    spec = read_sweep_config(folder / "sweep.toml")
    assert run_sweep(spec, folder / "out", executor=SerialExecutor()).ok
    return folder / "out"


def _model_flags() -> list[str]:
    return [flag for name in MODELS for flag in ("--model", name)]


@pytest.mark.parametrize("cell", [0, 1])
def test_cell_fits_json_is_the_fit_json_document(
    sweep: Path, cell: int, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = sweep / "cells" / f"cell-{cell:05d}"
    written = json.loads((run_dir / "fits.json").read_text(encoding="utf-8"))
    printed = _cli_json(["fit", str(run_dir), *_model_flags(), "--folds", "0", "--json"], capsys)
    assert written == printed
    assert [m["name"] for m in written["models"]] == list(MODELS)
    assert written["criterion"] == "bic" and written["best"] in MODELS
    assert "two_rates" in written  # the verdict travels with the document
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["fits"] == written


@pytest.mark.parametrize("criterion", ["bic", "aic"])
def test_fit_sweep_rows_are_the_rows_of_the_fit_json_document(
    sweep: Path, criterion: str, capsys: pytest.CaptureFixture[str]
) -> None:
    table = fit_sweep(sweep, MODELS, criterion=criterion)  # type: ignore[arg-type]
    cells = load_sweep(sweep).complete_cells()
    assert len(cells) == 2
    for cell in cells:
        argv = ["fit", str(cell.run_dir), *_model_flags(), "--folds", "0", "--json"]
        printed = _cli_json([*argv, "--criterion", criterion], capsys)
        rows = [r for r in table.to_pylist() if r["cell"] == cell.cell]
        expected = fits_rows(printed)
        assert [r["model"] for r in rows] == expected["model"]
        assert [r["value"] for r in rows] == expected["value"]
        assert [r["best"] for r in rows] == expected["best"]
        assert sum(expected["best"]) == 2  # the best model's two parameters (alpha, beta)


def test_the_dataset_fits_view_matches_fit_sweep(sweep: Path) -> None:
    stored = query_sweep(
        sweep, "SELECT cell, model, param, value, best FROM fits ORDER BY cell, model, param"
    ).to_pylist()
    fresh = sorted(
        (
            {k: r[k] for k in ("cell", "model", "param", "value", "best")}
            for r in fit_sweep(sweep, MODELS).to_pylist()
        ),
        key=lambda r: (r["cell"], r["model"], r["param"]),
    )
    assert stored == fresh


def test_a_model_that_cannot_be_fitted_is_listed_as_failed() -> None:
    from spillover.trajectories import ExposureTable

    empty = ExposureTable(
        **{name: column[:0] for name, column in _one_row_table().columns().items()}
    )
    doc = fits_document(empty, ("si", "si2"))
    assert [m["name"] for m in doc["models"]] == ["si", "si2"]
    assert all(m["status"] == "failed" and m["params"] == {} for m in doc["models"])
    assert all("no agent at risk" in m["message"] for m in doc["models"])
    assert doc["best"] is None and doc["models"][0]["loglik"] is None
    rows = fits_rows(doc)
    assert rows["param"] == [None, None] and rows["status"] == ["failed", "failed"]
    json.dumps(doc, allow_nan=False)  # strict JSON, as written to fits.json


def _one_row_table() -> Any:
    import spillover

    graph = spillover.random_regular(20, 4, rng=1)
    result = spillover.simulate(
        graph, spillover.ConstantPolicy(0.1, 0.2), n_rounds=2, n_reps=1, n_seeds=2, rng=1
    )
    return result.exposures
