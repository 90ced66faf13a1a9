"""Config files and run directories: parsing, precedence, atomic writes, reproducible bytes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spillover.config import SimulationConfig
from spillover.exceptions import ConfigError, RunDirError
from spillover.io import (
    read_config,
    read_folder_json,
    read_manifest,
    read_settings_file,
    run_dir_writer,
    write_run_dir,
)
from spillover.pipeline import run_simulation
from spillover.trajectories import ExposureTable

SMALL = SimulationConfig(n_nodes=400, degree=6, n_rounds=12, n_reps=3, n_seeds=2, seed=3)


def test_config_validation_messages() -> None:
    with pytest.raises(ConfigError, match="needs alpha"):
        SimulationConfig(policy="constant", beta=0.1)
    with pytest.raises(ConfigError, match="apply only to policy 'constant'"):
        SimulationConfig(alpha=0.1)
    with pytest.raises(ConfigError, match="n_nodes must be >= 1; got 0"):
        SimulationConfig(n_nodes=0)
    with pytest.raises(ConfigError, match="graph must be one of"):
        SimulationConfig(graph="lattice")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown configuration key"):
        SimulationConfig().replace(n_agents=3)


def test_read_toml_and_yaml(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(
        'n_nodes = 500\npolicy = "constant"\nalpha = 0.01\nbeta = 0.1\nevents = "my_events.csv"\n'
    )
    values = read_config(toml)
    assert values["n_nodes"] == 500 and values["alpha"] == 0.01
    assert values["events"] == str(tmp_path / "my_events.csv")
    yaml = tmp_path / "run.yaml"
    yaml.write_text("simulate:\n  n_reps: 4\n  by_persona: true\n")
    assert read_config(yaml) == {"n_reps": 4, "by_persona": True}


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("a.toml", "n_nodes = [", "not valid TOML"),
        ("a.toml", "n_agents = 5\n", "n_agents: unknown setting"),
        ("a.toml", 'api_key = "sk-do-not-echo"\n', "api_key: unknown setting"),
        ("a.toml", "n_nodes = 5\n[simulate]\ndegree = 4\n", "either at the top level"),
        ("a.toml", 'n_nodes = "many"\n', "n_nodes: Input should be a valid integer"),
        ("a.yaml", "- 1\n- 2\n", "expected a table"),
        ("a.json", "{}", "must end in .toml"),
    ],
)
def test_bad_config_files(tmp_path: Path, name: str, text: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        read_config(path)
    assert "sk-do-not-echo" not in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_config(tmp_path / "nope.toml")


def test_run_directory_contents(tmp_path: Path) -> None:
    run = run_simulation(SMALL.replace(by_persona=True))
    out = write_run_dir(run, tmp_path / "run")
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        ".spillover-owned",
        "adoptions.parquet",
        "agents.parquet",
        "curves.parquet",
        "exposures.parquet",
        "manifest.json",
    ]
    manifest = read_manifest(out)
    assert manifest["status"] == "complete"
    assert manifest["config"]["n_nodes"] == 400
    assert {"graph_s", "simulate_s"} <= set(manifest["timings"])
    assert manifest["graph"]["n_nodes"] == 400 and manifest["seed"]["entropy"] == 3
    assert manifest["event"]["event_id"] and manifest["policy"]["kind"] == "default-persona"
    curves = pq.read_table(out / "curves.parquet")
    assert curves.column_names == ["replicate", "round", "persona", "informed", "n_nodes"]
    assert curves.num_rows == 3 * 13 * 32
    exposures = pq.read_table(out / "exposures.parquet")
    assert exposures.column_names == [
        "replicate",
        "round",
        "persona",
        "n_exposed",
        "at_risk",
        "shared",
    ]
    adoptions = pq.read_table(out / "adoptions.parquet")
    assert adoptions.column_names == ["replicate", "agent", "persona", "round"]
    assert "key" not in json.dumps(manifest).lower() or "api" not in json.dumps(manifest).lower()


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = write_run_dir(run_simulation(SMALL), tmp_path / "a")
    b = write_run_dir(run_simulation(SMALL), tmp_path / "b")
    for name in ("curves.parquet", "exposures.parquet", "adoptions.parquet"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_existing_output_is_refused_unless_forced(tmp_path: Path) -> None:
    run = run_simulation(SMALL)
    out = write_run_dir(run, tmp_path / "run")
    with pytest.raises(RunDirError, match="already exists") as exc:
        write_run_dir(run, out)
    # Named as the library's parameters, not as the command line's flags.
    assert exc.value.params == ("out", "force") and "--" not in str(exc.value)
    write_run_dir(run, out, force=True)
    assert read_manifest(out)["status"] == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_failure_leaves_nothing_that_looks_complete(tmp_path: Path) -> None:
    target = tmp_path / "run"
    with pytest.raises(RuntimeError, match="disk on fire"), run_dir_writer(target) as staging:
        (staging / "curves.parquet").write_bytes(b"partial")
        raise RuntimeError("disk on fire")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RunDirError, match="not a run directory"):
        read_manifest(target)


def test_incomplete_manifest_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"status": "running"}')
    with pytest.raises(RunDirError, match="not a complete run"):
        read_manifest(tmp_path)


def test_force_never_replaces_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("important")
    with pytest.raises(RunDirError, match="not a spillover run directory"):
        write_run_dir(run_simulation(SMALL), precious, force=True)
    assert (precious / "notes.txt").read_text() == "important"


@pytest.mark.parametrize("degree", [0, 1, 3, 7])
def test_barabasi_albert_needs_an_even_degree(degree: int) -> None:
    with pytest.raises(ConfigError, match=rf"even number >= 2 .*barabasi-albert.*got {degree}$"):
        SimulationConfig(graph="barabasi-albert", degree=degree)
    assert SimulationConfig(graph="barabasi-albert", degree=4).degree == 4


def test_dependency_versions_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from spillover.io import _rundir

    first = _rundir.dependency_versions()
    assert first["python"] and first["numpy"] == metadata.version("numpy")

    def refuse(name: str) -> str:
        raise AssertionError(f"metadata read again for {name}")

    monkeypatch.setattr(_rundir.metadata, "version", refuse)
    again = _rundir.dependency_versions()
    assert again == first
    again["numpy"] = "changed"  # each caller gets its own copy
    assert _rundir.dependency_versions() == first


def test_exposures_parquet_has_the_declared_column_dtypes(tmp_path: Path) -> None:
    out = write_run_dir(run_simulation(SMALL), tmp_path / "run")
    schema = pq.read_schema(out / "exposures.parquet")
    declared = ExposureTable.column_dtypes()
    assert list(declared) == schema.names
    assert [pa.from_numpy_dtype(np.dtype(d)) for d in declared.values()] == schema.types


def test_agent_ids_are_delta_encoded_and_read_back_exactly(tmp_path: Path) -> None:
    run = run_simulation(SMALL)
    out = write_run_dir(run, tmp_path / "run")
    for name, table in (("adoptions", run.result.adoptions), ("agents", run.agents)):
        meta = pq.ParquetFile(out / f"{name}.parquet").metadata
        index = meta.schema.names.index("agent")
        for group in range(meta.num_row_groups):
            encodings = meta.row_group(group).column(index).encodings
            assert "DELTA_BINARY_PACKED" in encodings, (name, encodings)
        back = pq.read_table(out / f"{name}.parquet")
        for column, values in table.columns().items():
            np.testing.assert_array_equal(back.column(column).to_numpy(), values)


def test_folder_and_settings_readers_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match=r"is not a run directory: manifest.json is missing"):
        read_folder_json(tmp_path, "manifest.json", "a run directory")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(RunDirError, match=r"bad.json cannot be read"):
        read_folder_json(tmp_path, "bad.json", "a folder")
    (tmp_path / "latin.json").write_bytes(b"\xff{}")  # not UTF-8: no traceback either
    with pytest.raises(RunDirError, match=r"latin.json cannot be read"):
        read_folder_json(tmp_path, "latin.json", "a folder")
    with pytest.raises(ConfigError, match=r"^study file .*nope.toml does not exist$"):
        read_settings_file(tmp_path / "nope.toml", "study")
    (tmp_path / "ok.toml").write_text("seed = 1\n", encoding="utf-8")
    assert read_settings_file(tmp_path / "ok.toml", "sweep") == {"seed": 1}
