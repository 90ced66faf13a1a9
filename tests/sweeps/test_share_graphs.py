"""``sweep.share_graphs = true``: cells with the same graph settings run on one graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spillover._rng import SeedRecord
from spillover.exceptions import ConfigError
from spillover.graphs import GraphCache, random_regular
from spillover.io import read_fit_input, read_manifest
from spillover.pipeline import run
from spillover.sweeps import ProcessExecutor, SerialExecutor, read_sweep_config, run_sweep

from .conftest import TINY, write_sweep

SHARED = TINY.replace('models = ["si", "si2"]', 'models = ["si", "si2"]\nshare_graphs = true')


def _sweep(folder: Path, text: str, executor: Any = None) -> Path:
    out = folder / "out"
    spec = read_sweep_config(write_sweep(folder, text))
    assert run_sweep(spec, out, executor=executor or SerialExecutor()).ok
    return out


def test_each_cell_runs_on_the_graph_of_the_first_cell_with_its_settings(
    tmp_path: Path, tiny_reference: dict[str, Any], take_snapshot: Any
) -> None:
    spec = read_sweep_config(write_sweep(tmp_path / "spec", SHARED))
    # TINY: degree [4, 6] x beta [0.1, 0.3]; the degree fixes the graph.
    assert spec.graph_cells() == (0, 0, 2, 2)
    assert read_sweep_config(write_sweep(tmp_path / "own", TINY)).graph_cells() == (0, 1, 2, 3)
    out = _sweep(tmp_path, SHARED)
    root = read_manifest(out / "cells" / "cell-00000")["seed"]["entropy"]
    for cell, graph_cell in enumerate(spec.graph_cells()):
        folder = out / "cells" / f"cell-{cell:05d}"
        manifest = read_manifest(folder)
        assert manifest["sweep"]["graph_cell"] == graph_cell
        assert manifest["graph_seed"] == {"entropy": root, "spawn_key": [graph_cell]}
        # The cell is exactly its own run with the graph drawn on the graph cell's stream.
        again = run(
            spec.cell_config(cell, seed=root),
            rng=SeedRecord(root, (cell,)),
            graph_seed=SeedRecord(root, (graph_cell,)),
        )
        data = read_fit_input(folder)
        assert data.curves is not None
        np.testing.assert_array_equal(data.curves.informed, again.result.curves.informed)
    # The first cell of each graph is the cell of a sweep without sharing; the others differ.
    shared = take_snapshot(out)["files"]
    same = [k for k in shared if shared[k] == tiny_reference["files"].get(k)]
    assert any(k.startswith("cells/cell-00000/") for k in same)
    assert any(k.startswith("cells/cell-00002/") for k in same)
    assert not any(k.startswith("cells/cell-00001/") and k.endswith("curves.parquet") for k in same)


@pytest.mark.slow
def test_shared_graphs_give_the_same_sweep_on_any_executor(
    tmp_path: Path, take_snapshot: Any
) -> None:
    serial = take_snapshot(_sweep(tmp_path / "serial", SHARED))
    with ProcessExecutor(2) as executor:
        process = take_snapshot(_sweep(tmp_path / "process", SHARED, executor))
    assert process["tables"] == serial["tables"] and process["files"] == serial["files"]


def test_the_setting_is_part_of_the_sweep_it_resumes(tmp_path: Path) -> None:
    out = _sweep(tmp_path, SHARED)
    spec = read_sweep_config(write_sweep(tmp_path / "again", TINY))
    with pytest.raises(ConfigError, match=r"different \[base\], \[grid\] or share_graphs"):
        run_sweep(spec, out, executor=SerialExecutor())
    assert run_sweep(read_sweep_config(write_sweep(tmp_path / "same", SHARED)), out).ok


def test_bad_value_is_refused(tmp_path: Path) -> None:
    text = TINY.replace('models = ["si", "si2"]', "share_graphs = 1")
    with pytest.raises(ConfigError, match=r"sweep\.share_graphs must be true or false"):
        read_sweep_config(write_sweep(tmp_path, text))


def test_the_graph_cache_drops_the_least_recently_used_past_its_bound() -> None:
    graphs = {k: random_regular(1000, 4, rng=k) for k in range(3)}
    size = GraphCache.size_of(graphs[0])
    cache = GraphCache(max_bytes=2 * size)
    built: list[int] = []

    def get(k: int) -> object:
        return cache.get(k, lambda: built.append(k) or graphs[k])

    assert get(0) is graphs[0] and get(1) is graphs[1] and get(0) is graphs[0]
    assert built == [0, 1]
    get(2)  # over the bound: 1, the least recently used, goes
    assert 1 not in cache and 0 in cache and 2 in cache and len(cache) == 2
    tiny = GraphCache(max_bytes=1)
    tiny.get(0, lambda: graphs[0])
    assert len(tiny) == 1  # the latest graph is kept, however large
