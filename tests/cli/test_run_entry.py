"""``spillover.run``: the function behind ``spillover simulate``, from Python, same numbers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import spillover as so
from spillover.exceptions import ConfigError
from spillover.io import example_events, write_run_dir
from spillover.personas import assign_balanced

CONFIG = """\
[simulate]
n_nodes = 600
degree = 6
n_rounds = 15
n_reps = 3
n_seeds = 4
"""
TABLES = ("curves.parquet", "exposures.parquet", "adoptions.parquet", "agents.parquet")


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(CONFIG)
    return path


def test_run_equals_simulate_with_the_same_config_and_seed(
    tmp_path: Path, config_file: Path, cli: Callable[[list[str]], int]
) -> None:
    out = tmp_path / "cli"
    argv = ["simulate", "--config", str(config_file), "--seed", "7", "-q", "--out", str(out)]
    assert cli(argv) == 0
    curves = pq.read_table(out / "curves.parquet").to_pydict()

    run = so.run(config_file, rng=7)
    informed = run.result.curves.informed
    assert informed.shape == (3, 16)
    n_reps, n_cols = informed.shape
    np.testing.assert_array_equal(curves["replicate"], np.repeat(np.arange(n_reps), n_cols))
    np.testing.assert_array_equal(curves["round"], np.tile(np.arange(n_cols), n_reps))
    np.testing.assert_array_equal(curves["informed"], informed.ravel())
    assert run.seed == so.SeedRecord(7) and run.config.seed == 7

    # The same config as a value, and the written tables: byte for byte the CLI's.
    value = so.SimulationConfig(n_nodes=600, degree=6, n_rounds=15, n_reps=3, n_seeds=4)
    again = write_run_dir(so.run(value, rng=7), tmp_path / "py")
    for name in TABLES:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    # Another seed is another run.
    other = so.run(config_file, rng=8).result.curves.informed
    assert not np.array_equal(other, informed)


def test_lower_level_calls_reproduce_the_streams(config_file: Path) -> None:
    run = so.run(config_file, rng=7)
    record = so.SeedRecord(7)
    graph = so.random_regular(600, 6, rng=record.generator("graph"))
    np.testing.assert_array_equal(graph.indices, run.graph.indices)
    placed = assign_balanced(600, rng=record.generator("personas"))
    np.testing.assert_array_equal(placed, run.persona_of_node)
    result = so.simulate(
        graph,
        so.default_persona_policy(),
        event=example_events()[0],
        n_rounds=15,
        n_reps=3,
        n_seeds=4,
        rng=record,
    )
    np.testing.assert_array_equal(result.curves.informed, run.result.curves.informed)
    np.testing.assert_array_equal(result.seeds, run.result.seeds)
    # The root sequence is not the graph stream: seeding the generator with the bare int
    # draws another graph (the old quick start's mismatch).
    assert not np.array_equal(so.random_regular(600, 6, rng=7).indices, graph.indices)


def test_seed_record_names_its_streams_and_reads_a_manifest_entry() -> None:
    cell = so.SeedRecord(11, (3,))
    assert cell.streams == {
        "graph": (3, 0),
        "personas": (3, 1),
        "seeds": (3, 2),
        "dynamics": (3, 3),
        "events": (3, 4),
        "llm_noise": (3, 5),
        "forecast": (3, 6),
    }
    assert cell.stream("seeds", 5).spawn_key == (3, 2, 5)
    assert so.SeedRecord.from_dict(cell.to_dict()) == cell
    assert set(so.STREAMS) == set(cell.streams)
    with pytest.raises(ConfigError, match=r"seed\.entropy"):
        so.SeedRecord.from_dict({"entropy": "11"})
    with pytest.raises(ConfigError, match=r"seed\.spawn_key"):
        so.SeedRecord.from_dict({"entropy": 11, "spawn_key": [-1]})


def test_rng_takes_precedence_and_a_cell_record_keeps_the_config_seed() -> None:
    value = so.SimulationConfig(n_nodes=300, degree=4, n_rounds=6, n_reps=2, n_seeds=2, seed=3)
    from_config = so.run(value)
    assert from_config.seed == so.SeedRecord(3)
    assert so.run(value, rng=5).config.seed == 5
    cell = so.run(value, rng=so.SeedRecord(3, (1,)))
    assert cell.config.seed == 3 and cell.seed.spawn_key == (1,)
    assert not np.array_equal(cell.result.curves.informed, from_config.result.curves.informed)
    with pytest.raises(ConfigError, match="seed must be"):
        so.run(value, rng=-1)
