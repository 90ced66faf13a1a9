"""Sweep files: grid order, validation of every cell up front, paths, settings, CLI errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spillover.cli import main
from spillover.exceptions import ConfigError
from spillover.sweeps import SweepSettings, SweepSpec, read_sweep_config


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cells_are_row_major_over_the_grid_as_written(sweep_file: Any) -> None:
    spec = read_sweep_config(sweep_file())
    assert spec.keys == ("degree", "beta")
    assert spec.n_cells == 4
    cells = [params for _, params in spec.iter_cells()]
    assert cells == [
        {"degree": 4, "beta": 0.1},
        {"degree": 4, "beta": 0.3},
        {"degree": 6, "beta": 0.1},
        {"degree": 6, "beta": 0.3},
    ]
    assert [spec.cell_params(c) for c in range(4)] == cells
    config = spec.cell_config(3, seed=11)
    assert (config.degree, config.beta, config.n_nodes, config.seed) == (6, 0.3, 240, 11)


def test_yaml_and_toml_give_the_same_spec(sweep_file: Any) -> None:
    yaml_text = """
seed: 11
sweep: {models: [si, si2]}
base: {n_nodes: 240, n_rounds: 6, n_reps: 2, n_seeds: 2, policy: constant, alpha: 0.01}
grid:
  degree: [4, 6]
  beta: [0.1, 0.3]
"""
    a = read_sweep_config(sweep_file())
    b = read_sweep_config(sweep_file(yaml_text, "sweep.yaml"))
    assert a.fingerprint() == b.fingerprint()
    assert a.seed == b.seed and a.settings == b.settings


def test_rates_given_as_integers_are_floats(sweep_file: Any) -> None:
    spec = read_sweep_config(
        sweep_file(
            'seed = 1\n[base]\npolicy = "constant"\nalpha = 0.0\n[grid]\nbeta = [0, 0.5, 1]\n'
        )
    )
    assert [p["beta"] for _, p in spec.iter_cells()] == [0.0, 0.5, 1.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seed = 1\n[grid]\ndegre = [4, 8]\n", r"grid: unknown simulate parameter\(s\) 'degre'"),
        ("seed = 1\n[base]\nn_agents = 4\n[grid]\ndegree = [4]\n", "base: unknown simulate"),
        ("seed = 1\n[grid]\ndegree = [4, 'x']\n", r"grid\.degree: Input should be a valid int"),
        ("seed = 1\n[grid]\ndegree = 4\n", r"grid\.degree: expected a list of values"),
        ("seed = 1\n[grid]\ndegree = []\n", r"grid\.degree: needs at least one value"),
        ("seed = 1\n[grid]\ndegree = [4, 4]\n", "values must be distinct"),
        ("seed = 1\n[grid]\nseed = [1, 2]\n", "grid.seed: cells are seeded from the root seed"),
        ("[base]\nseed = 3\n[grid]\ndegree = [4]\n", "base.seed: the seed of a sweep"),
        ("seed = 1\n", r"\[grid\] must map at least one parameter"),
        ("seed = 1\nfoo = 2\n[grid]\ndegree = [4]\n", "unknown top-level key"),
        ("seed = -1\n[grid]\ndegree = [4]\n", "seed must be an integer >= 0"),
        (
            "seed = 1\n[sweep]\nthreads = 2\n[grid]\ndegree = [4]\n",
            r"sweep: unknown setting\(s\) 'threads'",
        ),
        (
            "seed = 1\n[sweep]\nscheduler = 'localhost:8786'\n[grid]\ndegree = [4]\n",
            "scheduler must be an address like tcp://HOST:PORT",
        ),
        (
            "seed = 1\n[sweep]\nexecutor = 'threads'\n[grid]\ndegree = [4]\n",
            "sweep.executor must be one of serial, process, dask",
        ),
        # Every cell is validated before anything runs: cell 1 has more seeds than agents.
        (
            "seed = 1\n[base]\nn_seeds = 50\n[grid]\nn_nodes = [100, 20]\n",
            r"cell 1 \(n_nodes=20\): n_seeds must be <= n_nodes \(20\); got 50",
        ),
        (
            "seed = 1\n[grid]\nbeta = [0.1, 0.2]\n",
            r"cell 0 \(beta=0.1\): alpha and beta apply only to policy 'constant'|"
            r"beta apply only to policy 'constant'",
        ),
    ],
)
def test_bad_sweep_files_raise_one_clear_error(sweep_file: Any, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_sweep_config(sweep_file(text))


def test_relative_paths_resolve_against_the_sweep_file(sweep_file: Any, tmp_path: Path) -> None:
    path = sweep_file('seed = 1\n[base]\nevents = "data/events.csv"\n[grid]\ndegree = [4]\n')
    spec = read_sweep_config(path)
    assert spec.base["events"] == str(tmp_path / "data" / "events.csv")
    assert spec.cell_config(0, seed=1).events == str(tmp_path / "data" / "events.csv")


def test_settings_pick_the_executor() -> None:
    assert SweepSettings().executor_kind == "process"
    assert SweepSettings(scheduler="tcp://127.0.0.1:8786").executor_kind == "dask"
    assert SweepSettings(executor="serial").executor_kind == "serial"
    with pytest.raises(ConfigError, match="executor is dask"):
        SweepSettings(executor="process", scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ConfigError, match="workers must be an integer >= 1"):
        SweepSettings(workers=0)


def test_spec_can_be_built_in_python() -> None:
    spec = SweepSpec(base={"n_nodes": 100}, grid=(("degree", (4, 6)),), seed=3)
    assert spec.n_cells == 2
    assert spec.cell_config(1, seed=3).degree == 6


def test_cli_bad_grid_key_is_one_line_and_exit_2(
    sweep_file: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sweep_file("seed = 1\n[grid]\ndegre = [4, 8]\n")
    assert _run(["sweep", str(path), "--out", str(path.parent / "out")]) == 2
    # One message (rich may fold it at the console width when stderr is not a terminal).
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: ") and err.count("error:") == 1
    assert "unknown simulate parameter(s) 'degre'; did you mean 'degree'?" in err
    assert not (path.parent / "out").exists()


def test_cli_unknown_model_and_flag_conflicts_exit_2(
    sweep_file: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sweep_file()
    out = str(path.parent / "out")
    assert _run(["sweep", str(path), "--out", out, "--model", "sir"]) == 2
    assert "unknown model(s) 'sir'" in capsys.readouterr().err
    assert (
        _run(["sweep", str(path), "--out", out, "--executor", "process", "--scheduler", "x"]) == 2
    )
    assert _run(["sweep", str(path), "--out", out, "--executor", "dask"]) == 2
    assert not Path(out).exists()


def test_cli_dry_run_lists_cells(sweep_file: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = sweep_file()
    assert _run(["sweep", str(path), "--dry-run", "--out", str(path.parent / "out")]) == 0
    text = capsys.readouterr().out
    assert "4 cells x 2 replicates" in text and "root seed 11" in text
    assert not (path.parent / "out").exists()
