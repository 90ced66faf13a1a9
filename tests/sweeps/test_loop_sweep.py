"""Loop sweeps: a sweep file with a [loop] section runs chained coupled cells, seeded, written,
resumed and validated as SI cells are; the dataset holds each cell's coupling fit and outbreak
size, and does not depend on the executor."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spillover._rng import SeedRecord
from spillover.cli import main
from spillover.exceptions import ConfigError
from spillover.io import read_loop_tables
from spillover.sweeps import (
    SerialExecutor,
    load_sweep,
    make_executor,
    query_sweep,
    read_sweep_config,
    run_sweep,
)

LOOP_SWEEP = """\
seed = 21
[sweep]
executor = "serial"
[loop]
n_nodes = 300
n_rounds = 25
n_reps = 2
n_seeds = 5
generations = 1
max_cascades = 4
[grid]
eta = [0.05, 0.15]
degree = [4, 6]
"""

SECRET = "sk-live-DO-NOT-PRINT-0123456789"


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _snapshot(sweep: Path) -> dict[str, Any]:
    """Dataset rows and the bytes of every table a cell wrote (manifests hold clocks)."""
    tables = {
        name: query_sweep(sweep, f"SELECT * FROM {name} ORDER BY ALL").to_pylist()
        for name in ("coupling", "outbreaks", "cascades")
    }
    files = {}
    for path in sorted((sweep / "cells").glob("cell-*/*")):
        if path.suffix in (".parquet", ".csv") or path.name == "fits.json":
            files[str(path.relative_to(sweep))] = hashlib.sha256(path.read_bytes()).hexdigest()
    for path in sorted((sweep / "dataset").glob("*/cell=*/*.parquet")):
        files[str(path.relative_to(sweep))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"tables": tables, "files": files}


@pytest.fixture(scope="module")
def loop_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("loop-sweep")
    path = folder / "sweep.toml"
    path.write_text(LOOP_SWEEP, encoding="utf-8")
    out = folder / "serial"
    summary = run_sweep(read_sweep_config(path), out, executor=SerialExecutor())
    assert summary.ok and summary.complete == 4
    return path, out


def test_a_loop_sweep_writes_loop_cells_and_its_dataset(loop_reference: tuple[Path, Path]) -> None:
    path, out = loop_reference
    spec = read_sweep_config(path)
    assert spec.is_loop and spec.keys == ("eta", "degree") and spec.n_cells == 4
    sweep = load_sweep(out)
    assert sweep.is_loop and sweep.loop["n_nodes"] == 300 and sweep.models == ()
    for cell, params in spec.iter_cells():
        run = out / f"cells/cell-{cell:05d}"
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["kind"] == "loop" and manifest["sweep"]["cell"] == cell
        assert manifest["seed"] == {"entropy": 21, "spawn_key": [cell]}
        assert manifest["rates"]["eta"] == params["eta"]
        assert manifest["graph"]["max_degree"] == params["degree"]
        assert (run / "events.csv").is_file()
    coupling = query_sweep(
        out, "SELECT cell, eta, degree, estimate, low, high FROM coupling WHERE rate = 'eta'"
    ).to_pylist()
    assert [r["cell"] for r in coupling] == [0, 1, 2, 3]
    for r in coupling:  # the fitted online-to-offline rate covers the swept one
        assert r["low"] <= r["eta"] <= r["high"]
    sizes = query_sweep(
        out, "SELECT cell, count(*) AS n, min(offline_size) AS lo FROM outbreaks GROUP BY cell"
    ).to_pylist()
    assert all(r["n"] == 2 and r["lo"] > 0 for r in sizes)


def test_a_loop_cell_is_spillover_loop_seeded_by_the_root_seed_and_cell(
    loop_reference: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from spillover.loop import offline_columns
    from spillover.loop._config import run_loop_values

    path, out = loop_reference
    spec = read_sweep_config(path)
    result, _, _ = run_loop_values(spec.cell_values(3, seed=21), SeedRecord(21, (3,)))
    tables = read_loop_tables(out / "cells/cell-00003")
    for name, column in offline_columns(result).items():
        np.testing.assert_array_equal(np.asarray(column), tables["offline"][name])
    # The cell's fits.json is what `spillover fit CELL --json` prints.
    assert _run(["fit", str(out / "cells/cell-00003"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((out / "cells/cell-00003/fits.json").read_text())
    assert printed["kind"] == "loop" and "eta" in printed["rates"]


def test_serial_and_two_processes_give_the_same_bytes(
    loop_reference: tuple[Path, Path], tmp_path: Path
) -> None:
    path, serial = loop_reference
    executor = make_executor("process", workers=2)
    try:
        summary = run_sweep(read_sweep_config(path), tmp_path / "procs", executor=executor)
    finally:
        executor.close()
    assert summary.ok and summary.ran == 4
    assert _snapshot(tmp_path / "procs") == _snapshot(serial)


def test_a_killed_cell_is_run_again_on_resume(
    loop_reference: tuple[Path, Path], tmp_path: Path
) -> None:
    import shutil

    path, serial = loop_reference
    out = tmp_path / "resumed"
    shutil.copytree(serial, out)
    # What a worker killed while writing cell 2 leaves: its staging folder, no manifest.
    (out / "cells/cell-00002/manifest.json").unlink()
    (out / "cells/.cell-00002.partial-999").mkdir()
    doc = json.loads((out / "sweep.json").read_text())
    doc["status"] = "running"
    (out / "sweep.json").write_text(json.dumps(doc))
    spec = read_sweep_config(path)
    summary = run_sweep(spec, out, executor=SerialExecutor())
    assert (summary.skipped, summary.ran, summary.complete) == (3, 1, 4)
    assert not (out / "cells/.cell-00002.partial-999").exists()
    assert _snapshot(out) == _snapshot(serial)
    # A complete loop sweep run again runs nothing.
    again = run_sweep(spec, out, executor=SerialExecutor())
    assert (again.skipped, again.ran) == (4, 0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("[loop]\n", f'[loop]\ncolour = "{SECRET}"\n'), "loop.colour: unknown setting"),
        (("eta = [0.05, 0.15]", f'eta = [0.05, "{SECRET}"]'), "grid.eta must be a number"),
        (("eta = [0.05, 0.15]", "colours = [1, 2]"), "grid.colours: unknown setting"),
        (("n_seeds = 5", f'n_seeds = "{SECRET}"'), "loop.n_seeds must be an integer"),
        (("eta = [0.05, 0.15]", "eta = [0.05, 1.5]"), "cell 2 (eta, degree): coupled rate 'eta'"),
        (("[loop]\n", "[loop]\nseed = 3\n"), "loop.seed: the seed of a sweep is its root seed"),
        (("[loop]\n", f'[loop]\nemission = "{SECRET}"\n'), "emission mode must be one of"),
        (("[loop]\n", f'[loop]\nevent_id = "{SECRET}"\n'), "cell 0 (eta, degree)"),
        (("[sweep]\n", '[sweep]\nmodels = ["si"]\n'), "sweep.models does not apply"),
        (("[sweep]\n", "[sweep]\nagent_tables = false\n"), "sweep.agent_tables does not apply"),
        (("[sweep]\n", "[sweep]\nshare_graphs = true\n"), "sweep.share_graphs does not apply"),
        (("[loop]\n", "[base]\nn_nodes = 10\n[loop]\n"), "[base] (simulate parameters) does"),
    ],
)
def test_bad_loop_settings_give_one_error_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: tuple[str, str],
    message: str,
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(LOOP_SWEEP.replace(*edit), encoding="utf-8")
    with pytest.raises(ConfigError):
        read_sweep_config(path)
    out = tmp_path / "out"
    assert _run(["sweep", str(path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    text = captured.out + captured.err
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), text
    assert message in " ".join(text.split())
    assert SECRET not in text
    assert not out.exists()  # nothing ran


def test_the_report_of_a_loop_sweep(loop_reference: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    _, serial = loop_reference
    out = tmp_path / "sweep"
    shutil.copytree(serial, out)
    assert _run(["report", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "loop sweep report" in page and "offline size (mean)" in page
    assert (out / "figures/outbreak_across.png").stat().st_size > 1000
    assert page.count("<tr>") >= 5  # header and one row per cell


def test_the_report_of_a_loop_sweep_over_events_only(tmp_path: Path) -> None:
    path = tmp_path / "events.toml"
    text = LOOP_SWEEP.split("[grid]")[0] + '[grid]\nevent_id = ["VEL0001", "VEL0004"]\n'
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert run_sweep(read_sweep_config(path), out, executor=SerialExecutor()).ok
    assert _run(["report", str(out)]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "against cell" in html and "VEL0004" in html


def test_the_example_loop_sweep_file_is_valid() -> None:
    path = Path(__file__).parents[2] / "examples" / "loop-sweep.toml"
    spec = read_sweep_config(path)
    assert spec.is_loop and spec.keys == ("eta", "degree") and spec.n_cells == 12


def test_spillover_fit_of_a_loop_sweep_lists_each_cells_coupling(
    loop_reference: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from spillover.sweeps import fit_sweep

    _, out = loop_reference
    capsys.readouterr()
    assert _run(["fit", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "loop" and doc["models"] == ["loop-mf", "loop-pair"]
    etas = [r for r in doc["coupling"] if r["rate"] == "eta"]
    assert [r["cell"] for r in etas] == [0, 1, 2, 3]
    cell1 = json.loads((out / "cells/cell-00001/fits.json").read_text())
    assert etas[1]["estimate"] == cell1["rates"]["eta"]["estimate"]
    assert _run(["fit", str(out)]) == 0
    assert "coupling rates per cell" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="is a loop sweep"):
        fit_sweep(out)


def test_spillover_fit_of_a_loop_sweep_honours_model(
    loop_reference: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = loop_reference
    capsys.readouterr()
    assert _run(["fit", str(out), "--json"]) == 0
    every = json.loads(capsys.readouterr().out)
    assert _run(["fit", str(out), "--model", "loop-pair", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # Only the named coupled model; both share the rates, so the rows are the same.
    assert doc["models"] == ["loop-pair"] and doc["coupling"] == every["coupling"]
    assert _run(["fit", str(out), "-m", "loop-mf"]) == 0
    printed = capsys.readouterr().out
    assert "coupled models (loop-mf)" in printed and "loop-pair" not in printed
    for model, message in (
        ("si2", "'si2' is a spread model of SI runs"),
        ("pair", "'pair' is a spread model of SI runs"),
        ("nope", "unknown model 'nope'"),
    ):
        assert _run(["fit", str(out), "--model", "loop-pair", "--model", model]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, err
        assert "loop sweep" in err and len(err.strip().splitlines()) == 1
    # A loop run (a cell) honours --model too.
    cell = out / "cells/cell-00002"
    assert _run(["fit", str(cell), "--model", "loop-mf", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["models"] == ["loop-mf"]
    assert _run(["fit", str(cell), "--model", "si"]) == 2
    err = capsys.readouterr().err
    assert "'si' is a spread model of SI runs" in err and "the loop run" in err


KILLABLE_LOOP = """\
seed = 8
[loop]
n_nodes = 20000
n_rounds = 100
n_reps = 4
n_seeds = 20
generations = 1
max_cascades = 3
[grid]
eta = [0.04, 0.06, 0.08, 0.1, 0.12, 0.14]
degree = [6, 8]
"""


@pytest.mark.slow
def test_a_killed_loop_sweep_resumes_to_the_same_result(tmp_path: Path) -> None:
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "killable.toml"
    path.write_text(KILLABLE_LOOP, encoding="utf-8")
    spec = read_sweep_config(path)
    out = tmp_path / "killed"

    def complete() -> int:
        n = 0
        for manifest in (out / "cells").glob("cell-*/manifest.json"):
            with contextlib.suppress(OSError, json.JSONDecodeError):  # being written
                n += json.loads(manifest.read_text()).get("status") == "complete"
        return n

    code = "import sys; from spillover.cli import main; sys.argv[0] = 'spillover'; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "sweep", str(path), "--out", str(out), "--executor", "serial"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while complete() < 2:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    done = complete()
    assert 2 <= done < spec.n_cells, "the kill must land midway"
    summary = run_sweep(spec, out, executor=SerialExecutor())
    assert summary.ok and summary.skipped == done and summary.ran == spec.n_cells - done
    reference = tmp_path / "reference"
    run_sweep(spec, reference, executor=SerialExecutor())
    assert _snapshot(out) == _snapshot(reference)
