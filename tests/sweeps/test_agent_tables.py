"""``sweep.agent_tables = false``: cells without their per-agent tables, the same results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spillover.exceptions import ConfigError
from spillover.io import read_fit_input, read_manifest
from spillover.report import build_run_report
from spillover.sweeps import SerialExecutor, read_sweep_config, run_sweep
from spillover.sweeps._run import fits_document

from .conftest import TINY, write_sweep

LEAN = TINY.replace('models = ["si", "si2"]', 'models = ["si", "si2"]\nagent_tables = false')


def _sweep(folder: Path, text: str) -> Path:
    out = folder / "out"
    spec = read_sweep_config(write_sweep(folder, text))
    assert run_sweep(spec, out, executor=SerialExecutor()).ok
    return out


def test_lean_cells_hold_no_agent_tables_and_the_same_results(
    tmp_path: Path, tiny_reference: dict[str, Any], take_snapshot: Any
) -> None:
    out = _sweep(tmp_path, LEAN)
    for cell in sorted((out / "cells").glob("cell-*")):
        names = sorted(p.name for p in cell.iterdir() if not p.name.startswith("."))
        assert names == ["curves.parquet", "exposures.parquet", "fits.json", "manifest.json"]
        manifest = read_manifest(cell)
        assert manifest["agent_tables"] is False and "histories_s" not in manifest["timings"]
    lean = take_snapshot(out)
    # The dataset's rows and every file a lean cell keeps are those of the full sweep.
    assert lean["tables"] == tiny_reference["tables"]
    assert lean["cells"] == tiny_reference["cells"]
    kept = {k: v for k, v in tiny_reference["files"].items() if k in lean["files"]}
    assert lean["files"] == kept
    assert any(k.endswith("adoptions.parquet") for k in tiny_reference["files"])
    assert json.loads((out / "sweep.json").read_text())["settings"]["agent_tables"] is False


def test_a_lean_cell_is_fitted_and_reported_like_any_run(tmp_path: Path) -> None:
    out = _sweep(tmp_path, LEAN.replace('["si", "si2"]', '["si", "si2", "si-groups2"]'))
    cell = out / "cells" / "cell-00000"
    data = read_fit_input(cell)
    assert data.agents is None
    # What the cell holds is what spillover fit finds again (si-groups2 from the exposures).
    stored = json.loads((cell / "fits.json").read_text())
    refit = json.loads(json.dumps(fits_document(data.exposures, ["si", "si2", "si-groups2"])))
    assert stored == refit
    page = build_run_report(cell, n_folds=0).read_text(encoding="utf-8")
    assert "not kept (sweep.agent_tables = false)" in page
    assert not (cell / "figures" / "spread.png").exists()
    assert (cell / "figures" / "curves_fit.png").is_file()


def test_a_sweep_resumes_only_with_the_setting_it_was_written_with(tmp_path: Path) -> None:
    out = _sweep(tmp_path, LEAN)
    spec = read_sweep_config(write_sweep(tmp_path / "again", TINY))
    with pytest.raises(ConfigError, match="skip their agent tables; resume it with"):
        run_sweep(spec, out, executor=SerialExecutor())
    assert run_sweep(read_sweep_config(write_sweep(tmp_path / "same", LEAN)), out).ok


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (TINY.replace('models = ["si", "si2"]', 'agent_tables = "no"'), "must be true or false"),
        (TINY.replace('models = ["si", "si2"]', "agent_tables = 0"), "must be true or false"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        read_sweep_config(write_sweep(tmp_path, text))
