"""`spillover query`, the dataset's views, fits per cell and the rates figure."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spillover.cli import main
from spillover.exceptions import ConfigError, RunDirError
from spillover.report import plot_rates_across, save_figure
from spillover.sweeps import (
    SerialExecutor,
    fit_sweep,
    is_sweep,
    load_sweep,
    query_sweep,
    read_sweep_config,
    run_sweep,
)


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def sweep(sweep_file: Any, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    assert _run(["sweep", str(sweep_file()), "--out", str(out), "--executor", "serial", "-q"]) == 0
    return out


def test_views_have_cell_and_parameter_columns(sweep: Path) -> None:
    curves = query_sweep(sweep, "SELECT * FROM curves")
    assert curves.column_names[:1] == ["cell"]
    assert {"replicate", "round", "informed", "n_nodes", "degree", "beta"} <= set(
        curves.column_names
    )
    assert curves.num_rows == 4 * 2 * 7
    rows = query_sweep(
        sweep,
        "SELECT cell, degree, beta, value FROM fits WHERE model = 'si2' AND param = 'beta' "
        "ORDER BY cell",
    ).to_pylist()
    assert [(r["cell"], r["degree"], r["beta"]) for r in rows] == [
        (0, 4, 0.1),
        (1, 4, 0.3),
        (2, 6, 0.1),
        (3, 6, 0.3),
    ]
    # Exposure totals equal the shares seen in the curves (a join across views).
    check = query_sweep(
        sweep,
        "SELECT e.cell, e.shared, c.informed - c.seeds AS gained FROM "
        "(SELECT cell, sum(shared) AS shared FROM exposures GROUP BY cell) e JOIN "
        "(SELECT cell, sum(informed) FILTER (WHERE round = 6) AS informed, "
        "sum(informed) FILTER (WHERE round = 0) AS seeds FROM curves GROUP BY cell) c "
        "USING (cell)",
    ).to_pylist()
    assert all(r["shared"] == r["gained"] for r in check) and len(check) == 4
    cells = query_sweep(sweep, "SELECT * FROM cells ORDER BY cell").to_pylist()
    assert [c["status"] for c in cells] == ["complete"] * 4
    assert cells[3]["degree"] == 6 and cells[3]["run_dir"] == "cells/cell-00003"


def test_query_cli_prints_table_csv_and_json(
    sweep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT cell, degree, beta FROM cells ORDER BY cell"
    assert _run(["query", str(sweep), sql]) == 0
    table = capsys.readouterr().out
    assert "degree" in table and "(4 rows)" in table
    assert _run(["query", str(sweep), sql, "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[1] == {"cell": "1", "degree": "4", "beta": "0.3"}
    assert _run(["query", str(sweep), sql, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[2] == {"cell": 2, "degree": 6, "beta": 0.1}


@pytest.mark.parametrize("sql", ["SELEC 1", "SELECT * FROM nope", "SELECT nope FROM fits"])
def test_bad_sql_is_one_error_line_and_exit_2(
    sweep: Path, sql: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["query", str(sweep), sql]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: query failed: ") and err.count("error:") == 1
    with pytest.raises(ConfigError, match="query failed"):
        query_sweep(sweep, sql)


@pytest.mark.parametrize("sql", ["", "   ", " ; "])
def test_an_empty_statement_is_one_error_line(
    sweep: Path, sql: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["query", str(sweep), sql]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: query: the SQL statement is empty") and err.count("\n") == 0


def test_query_of_a_folder_that_is_not_a_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["query", str(tmp_path), "SELECT 1"]) == 2
    assert "is not a sweep folder" in capsys.readouterr().err
    with pytest.raises(RunDirError):
        load_sweep(tmp_path)


def test_views_exist_when_no_cell_completed(sweep_file: Any, tmp_path: Path) -> None:
    text = "seed = 1\n[base]\nn_nodes = 11\n[grid]\ndegree = [3, 5]\n"
    out = tmp_path / "out"
    summary = run_sweep(read_sweep_config(sweep_file(text)), out, executor=SerialExecutor())
    assert summary.failed == 2
    for view in ("curves", "exposures", "fits"):
        table = query_sweep(out, f"SELECT * FROM {view}")
        assert table.num_rows == 0 and "degree" in table.column_names
    assert query_sweep(out, "SELECT count(*) AS n FROM cells").to_pylist() == [{"n": 2}]
    assert fit_sweep(out).num_rows == 0


def test_load_fit_and_plot_a_sweep(sweep: Path, tmp_path: Path) -> None:
    assert is_sweep(sweep) and not is_sweep(tmp_path)
    loaded = load_sweep(sweep)
    assert loaded.seed == 11 and loaded.keys == ("degree", "beta") and loaded.status == "complete"
    assert [c.status for c in loaded.cells] == ["complete"] * 4
    assert loaded.cells[2].run_dir == sweep / "cells/cell-00002"
    fits = fit_sweep(sweep, ("si2",))
    assert set(fits.column("model").to_pylist()) == {"si2"}
    assert fits.num_rows == 4 * 2  # alpha and beta per cell
    betas = [r["value"] for r in fits.to_pylist() if r["param"] == "beta" and r["degree"] == 4]
    assert betas[0] < betas[1]  # beta 0.1 then 0.3
    fig = plot_rates_across(sweep)
    # One column per swept parameter (degree, beta), one row per rate (alpha, beta).
    assert len(fig.axes) == 4
    png = save_figure(fig, tmp_path / "rates.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A model absent from the dataset is fitted on the fly; si has no alpha row.
    assert len(plot_rates_across(loaded, model="si").axes) == 2
    with pytest.raises(ConfigError, match="unknown model"):
        plot_rates_across(sweep, model="nope")


def test_a_coupled_model_on_an_si_sweep_is_one_clear_error(
    sweep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="'loop-pair' is a coupled model of loop runs"):
        fit_sweep(sweep, ("si2", "loop-pair"))
    capsys.readouterr()
    assert _run(["fit", str(sweep), "--model", "loop-mf"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'loop-mf' is a coupled model of loop runs" in err
    assert "no offline tables" in err and len(err.strip().splitlines()) == 1
    # --model still selects spread models on an SI sweep.
    assert _run(["fit", str(sweep), "--model", "si", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["fits"]
    assert {r["model"] for r in rows} == {"si"}


def test_plot_with_a_categorical_parameter(sweep_file: Any, tmp_path: Path) -> None:
    text = (
        'seed = 2\n[base]\nn_nodes = 200\nn_rounds = 6\nn_reps = 2\npolicy = "constant"\n'
        'alpha = 0.01\nbeta = 0.2\n[grid]\ngraph = ["random-regular", "erdos-renyi"]\n'
    )
    out = tmp_path / "out"
    run_sweep(read_sweep_config(sweep_file(text)), out, executor=SerialExecutor())
    fig = plot_rates_across(out)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [
        "random-regular",
        "erdos-renyi",
    ]
    graphs = query_sweep(out, "SELECT DISTINCT graph FROM curves ORDER BY graph").to_pylist()
    assert graphs == [{"graph": "erdos-renyi"}, {"graph": "random-regular"}]


def test_importing_sweeps_stays_light() -> None:
    code = (
        "import sys, json, spillover.sweeps; print(json.dumps([m for m in "
        "('matplotlib', 'duckdb', 'distributed', 'dask', 'pyarrow', 'pandas') "
        "if m in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == []
