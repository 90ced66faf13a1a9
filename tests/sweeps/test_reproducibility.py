"""Per-cell seeding: results depend on the root seed and the (cell, replicate) indices only."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from spillover._rng import SeedRecord
from spillover.config import SimulationConfig
from spillover.pipeline import run_simulation
from spillover.sweeps import (
    ProcessExecutor,
    SerialExecutor,
    SlotLimiter,
    read_sweep_config,
    run_sweep,
    simulate_config,
)

T = TypeVar("T")
R = TypeVar("R")


class ShuffledExecutor(SerialExecutor):
    """Runs the tasks in a scrambled order: completion order must not matter."""

    kind = "shuffled"

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        on_error: Callable[[T, BaseException], R] | None = None,
    ) -> Iterator[R]:
        order = np.random.default_rng(self.seed).permutation(len(tasks))
        return super().map(fn, [tasks[i] for i in order], on_error=on_error)

    def limiter(self, slots: int, *, name: str) -> SlotLimiter:
        raise NotImplementedError


def test_explicit_seed_record_matches_the_pipeline() -> None:
    config = SimulationConfig(n_nodes=300, degree=4, n_rounds=8, n_reps=3, n_seeds=2, seed=5)
    a = run_simulation(config)
    b = simulate_config(config, SeedRecord(5))
    np.testing.assert_array_equal(
        a.result.curves.informed_by_persona, b.result.curves.informed_by_persona
    )
    for name, col in a.result.exposures.columns().items():
        np.testing.assert_array_equal(col, b.result.exposures.columns()[name])
    assert a.graph.summary() == b.graph.summary()


def test_cell_streams_are_keyed_by_cell_then_replicate() -> None:
    """Cell c runs on SeedRecord(root, (c,)); its replicate r on SeedSequence(root, (c, s, r))."""
    record = SeedRecord(11, (3,))
    assert record.stream("dynamics", 2).spawn_key == (3, 3, 2)
    assert record.stream("seeds", 2).spawn_key == (3, 2, 2)
    config = SimulationConfig(n_nodes=300, degree=4, n_rounds=8, n_reps=3, n_seeds=2, seed=11)
    three = simulate_config(config, record).result
    one = simulate_config(config.replace(n_reps=1), record).result
    # Replicate 0 of cell 3 is the same whatever the number of replicates.
    np.testing.assert_array_equal(
        three.curves.informed_by_persona[:1], one.curves.informed_by_persona
    )
    other_cell = simulate_config(config, SeedRecord(11, (4,))).result
    assert not np.array_equal(three.curves.informed, other_cell.curves.informed)


def test_cells_record_their_seed_and_sweep_in_the_manifest(sweep_file: Any, tmp_path: Path) -> None:
    spec = read_sweep_config(sweep_file())
    run_sweep(spec, tmp_path / "out", executor=SerialExecutor())
    manifest = json.loads((tmp_path / "out/cells/cell-00002/manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["seed"] == {"entropy": 11, "spawn_key": [2]}
    assert manifest["sweep"]["cell"] == 2
    assert manifest["sweep"]["params"] == {"degree": 6, "beta": 0.1}
    assert [m["name"] for m in manifest["fits"]["models"]] == ["si", "si2"]
    assert (manifest["config"]["degree"], manifest["config"]["beta"]) == (6, 0.1)


def test_a_cell_replays_from_its_manifest(sweep_file: Any, tmp_path: Path) -> None:
    """``spillover.run(manifest config, rng=SeedRecord.from_dict(manifest seed))`` is the cell."""
    import pyarrow.parquet as pq

    import spillover
    from spillover.io import write_run_dir

    spec = read_sweep_config(sweep_file())
    run_sweep(spec, tmp_path / "out", executor=SerialExecutor())
    cell = tmp_path / "out/cells/cell-00003"
    manifest = json.loads((cell / "manifest.json").read_text())
    record = SeedRecord.from_dict(manifest["seed"])
    assert record == SeedRecord(11, (3,))
    replay = spillover.run(SimulationConfig().replace(**manifest["config"]), rng=record)
    written = pq.read_table(cell / "curves.parquet").column("informed").to_numpy()
    np.testing.assert_array_equal(replay.result.curves.informed.ravel(), written)
    again = write_run_dir(replay, tmp_path / "replay")
    for name in ("curves.parquet", "exposures.parquet", "adoptions.parquet"):
        assert (cell / name).read_bytes() == (again / name).read_bytes(), name


@pytest.mark.parametrize("order_seed", [1, 2])
def test_any_completion_order_gives_the_same_sweep(
    sweep_file: Any,
    tmp_path: Path,
    take_snapshot: Any,
    tiny_reference: dict[str, Any],
    order_seed: int,
) -> None:
    spec = read_sweep_config(sweep_file())
    run_sweep(spec, tmp_path / "out", executor=ShuffledExecutor(order_seed))
    assert take_snapshot(tmp_path / "out") == tiny_reference


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_process_executor_gives_the_serial_results(
    sweep_file: Any,
    tmp_path: Path,
    take_snapshot: Any,
    tiny_reference: dict[str, Any],
    workers: int,
) -> None:
    spec = read_sweep_config(sweep_file())
    with ProcessExecutor(workers) as executor:
        summary = run_sweep(spec, tmp_path / "out", executor=executor)
    assert summary.ok and summary.executor["workers"] == workers
    assert take_snapshot(tmp_path / "out") == tiny_reference
