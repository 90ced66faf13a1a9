"""Reading fit inputs: run directories, exposure and curve tables, and their errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from spillover.config import SimulationConfig
from spillover.exceptions import ConfigError
from spillover.io import read_fit_input, write_run_dir
from spillover.pipeline import run_simulation


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = SimulationConfig(n_nodes=400, degree=6, n_rounds=15, n_reps=2, n_seeds=2, seed=1)
    return write_run_dir(run_simulation(cfg), tmp_path_factory.mktemp("fit") / "run")


def test_run_directory(run_dir: Path) -> None:
    data = read_fit_input(run_dir)
    assert data.degree == 6 and data.exposures is not None and data.curves is not None
    assert data.agents is not None and len(data.agents) > 0
    assert data.curves.informed.shape == (2, 16)
    assert data.graph is not None and data.graph["is_regular"] is True
    assert (data.graph["min_degree"], data.graph["max_degree"]) == (6, 6)


def test_tables_as_parquet_and_csv(run_dir: Path, tmp_path: Path) -> None:
    table = pq.read_table(run_dir / "exposures.parquet")
    pacsv.write_csv(table, tmp_path / "exposures.csv")
    for path in (run_dir / "exposures.parquet", tmp_path / "exposures.csv"):
        data = read_fit_input(path)
        assert data.exposures is not None and data.curves is None
        assert int(data.exposures.at_risk.sum()) == int(pa.compute.sum(table["at_risk"]).as_py())
    curves = read_fit_input(run_dir / "curves.parquet")
    assert curves.curves is not None and curves.exposures is None and curves.degree is None
    assert curves.graph is None  # a table does not say what graph it came from


def _write(tmp_path: Path, name: str, columns: dict[str, list[int]]) -> Path:
    path = tmp_path / name
    pacsv.write_csv(pa.table(columns), path)
    return path


GOOD = {
    "replicate": [0, 0],
    "round": [1, 1],
    "persona": [0, 1],
    "n_exposed": [0, 2],
    "at_risk": [10, 5],
    "shared": [1, 2],
}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"shared": [1, 9]}, "shared must be <= at_risk"),
        ({"at_risk": [-1, 5]}, "must be >= 0"),
        ({"n_exposed": None}, "cannot tell what the table holds"),
    ],
)
def test_bad_exposure_tables(
    tmp_path: Path, change: dict[str, list[int] | None], match: str
) -> None:
    cols = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(ConfigError, match=match):
        read_fit_input(_write(tmp_path, "e.csv", cols))  # type: ignore[arg-type]


def test_missing_column_in_a_run_directory_table(tmp_path: Path) -> None:
    cols = {k: v for k, v in GOOD.items() if k != "persona"}
    with pytest.raises(ConfigError, match="missing column"):
        from spillover.io._tables import exposures_from_table

        exposures_from_table(pa.table(cols), "x.csv")


def test_empty_and_missing_inputs(tmp_path: Path) -> None:
    empty = tmp_path / "e.parquet"
    pq.write_table(pa.table({k: pa.array([], pa.int64()) for k in GOOD}), empty)
    with pytest.raises(ConfigError, match="empty"):
        read_fit_input(empty)
    with pytest.raises(ConfigError, match="no such file"):
        read_fit_input(tmp_path / "nope.parquet")
    bad = tmp_path / "e.txt"
    bad.write_text("x")
    with pytest.raises(ConfigError, match=r"\.parquet or \.csv"):
        read_fit_input(bad)


def test_bad_curves(tmp_path: Path) -> None:
    cols = {
        "replicate": [0, 0, 0],
        "round": [0, 1, 2],
        "informed": [5, 3, 9],
        "n_nodes": [10, 10, 10],
    }
    with pytest.raises(ConfigError, match="cumulative"):
        read_fit_input(_write(tmp_path, "c.csv", cols))
    cols["informed"] = [5, 6, 11]
    with pytest.raises(ConfigError, match="between 0 and n_nodes"):
        read_fit_input(_write(tmp_path, "c.csv", cols))
