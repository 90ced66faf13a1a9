"""Shared pieces of the sweep tests: tiny sweep files, a serial reference, dataset snapshots."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from spillover.sweeps import SerialExecutor, read_sweep_config, run_sweep

#: 4 cells (degree x beta), 2 replicates each, a few hundred agents: a sweep in about a second.
TINY = """\
seed = 11

[sweep]
models = ["si", "si2"]

[base]
n_nodes = 240
n_rounds = 6
n_reps = 2
n_seeds = 2
policy = "constant"
alpha = 0.01

[grid]
degree = [4, 6]
beta = [0.1, 0.3]
"""


def write_sweep(folder: Path, text: str = TINY, name: str = "sweep.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(sweep: Path) -> dict[str, Any]:
    """Everything that must not depend on the executor: dataset rows, result file bytes."""
    from spillover.sweeps import query_sweep

    tables = {
        name: query_sweep(sweep, f"SELECT * FROM {name} ORDER BY ALL").to_pylist()
        for name in ("curves", "exposures", "fits")
    }
    digests = {}
    for path in sorted((sweep / "cells").glob("cell-*/*")):
        if path.suffix == ".parquet" or path.name == "fits.json":
            digests[str(path.relative_to(sweep))] = hashlib.sha256(path.read_bytes()).hexdigest()
    for path in sorted((sweep / "dataset").glob("*/cell=*/*.parquet")):
        digests[str(path.relative_to(sweep))] = hashlib.sha256(path.read_bytes()).hexdigest()
    cells = query_sweep(sweep, "SELECT cell, status, error FROM cells ORDER BY cell").to_pylist()
    return {"tables": tables, "files": digests, "cells": cells}


@pytest.fixture(scope="session")
def tiny_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The TINY sweep run serially once: the reference every executor must reproduce."""
    folder = tmp_path_factory.mktemp("reference")
    spec = read_sweep_config(write_sweep(folder))
    summary = run_sweep(spec, folder / "out", executor=SerialExecutor())
    assert summary.ok
    return snapshot(folder / "out")


@pytest.fixture
def sweep_file(tmp_path: Path) -> Any:
    """``sweep_file(text=TINY, name="sweep.toml")``: write a sweep file into tmp_path."""

    def make(text: str = TINY, name: str = "sweep.toml") -> Path:
        return write_sweep(tmp_path, text, name)

    return make


@pytest.fixture
def take_snapshot() -> Any:
    """``take_snapshot(sweep_folder)``: see :func:`snapshot`."""
    return snapshot
