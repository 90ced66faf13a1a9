"""Resume: finished cells are skipped (by their manifests), failed ones retried, a killed sweep
picks up where it stopped, and dataset partitions are never written twice."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from spillover.cli import main
from spillover.exceptions import ConfigError, RunDirError
from spillover.sweeps import (
    SerialExecutor,
    fit_sweep,
    load_sweep,
    query_sweep,
    read_sweep_config,
    run_sweep,
)
from spillover.sweeps._store import sweep_lock

from .conftest import write_sweep

# n_nodes is odd, so every cell with an odd degree cannot build its regular graph and fails.
FAILING = """\
seed = 5
[base]
n_nodes = 241
n_rounds = 6
n_reps = 2
n_seeds = 2
policy = "constant"
alpha = 0.01
beta = 0.2
[grid]
degree = [4, 5, 6]
"""


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _partitions(sweep: Path) -> list[str]:
    return sorted(str(p.relative_to(sweep)) for p in (sweep / "dataset").rglob("*") if p.is_file())


def test_a_failing_cell_is_recorded_and_the_others_go_on(
    sweep_file: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sweep_file(FAILING)
    out = tmp_path / "out"
    assert _run(["sweep", str(path), "--out", str(out), "--executor", "serial", "-q"]) == 1
    text = " ".join(capsys.readouterr().out.split())
    assert "3 cells, 2 complete" in text and "1 failed" in text
    assert "cell 1 (degree=5): random_regular: n_nodes * degree must be even" in text
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["status"] == "incomplete"
    assert [c["status"] for c in doc["cells"]] == ["complete", "failed", "complete"]
    assert "n_nodes * degree must be even" in doc["cells"][1]["error"]
    assert not (out / "cells/cell-00001").exists()
    assert query_sweep(out, "SELECT DISTINCT cell FROM curves ORDER BY cell").to_pylist() == [
        {"cell": 0},
        {"cell": 2},
    ]
    failed = query_sweep(out, "SELECT cell, degree, error FROM cells WHERE status = 'failed'")
    assert failed.column("degree").to_pylist() == [5]

    # Rerun: only the failed cell runs again (and fails again); nothing else is rewritten.
    before = {p: (out / p).stat().st_mtime_ns for p in _partitions(out)}
    summary = run_sweep(read_sweep_config(path), out, executor=SerialExecutor())
    assert (summary.skipped, summary.ran, summary.failed) == (2, 1, 1)
    assert {p: (out / p).stat().st_mtime_ns for p in _partitions(out)} == before
    assert json.loads((out / "sweep.json").read_text())["cells"][1]["attempts"] == 2


def test_finished_means_a_complete_manifest_not_a_folder(sweep_file: Any, tmp_path: Path) -> None:
    spec = read_sweep_config(sweep_file())
    out = tmp_path / "out"
    run_sweep(spec, out, executor=SerialExecutor())
    # A folder without a manifest, and one whose manifest is not complete: both rerun.
    manifest = out / "cells/cell-00001/manifest.json"
    doc = json.loads(manifest.read_text())
    doc["status"] = "running"
    manifest.write_text(json.dumps(doc))
    (out / "cells/cell-00003/manifest.json").unlink()
    # Leftovers of a killed writer are cleaned up.
    (out / "cells/.cell-00002.partial-999").mkdir()
    (out / "dataset/curves/cell=00000/.part.parquet.tmp-999").write_bytes(b"junk")
    summary = run_sweep(spec, out, executor=SerialExecutor())
    assert (summary.skipped, summary.ran, summary.complete) == (2, 2, 4)
    assert json.loads(manifest.read_text())["status"] == "complete"
    assert not (out / "cells/.cell-00002.partial-999").exists()
    assert _partitions(out) == sorted(
        f"dataset/{t}/cell={c:05d}/part.parquet"
        for t in ("curves", "exposures", "fits")
        for c in range(4)
    )


def test_a_different_sweep_in_the_same_folder_is_refused(sweep_file: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_sweep(read_sweep_config(sweep_file()), out, executor=SerialExecutor())
    other = read_sweep_config(sweep_file(FAILING, "other.toml"))
    with pytest.raises(ConfigError, match=r"different \[base\], \[grid\] or share_graphs"):
        run_sweep(other, out, executor=SerialExecutor())
    summary = run_sweep(other, out, executor=SerialExecutor(), force=True)
    assert (summary.n_cells, summary.skipped) == (3, 0)
    assert load_sweep(out).keys == ("degree",)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain/notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="is not a sweep folder"):
        run_sweep(other, tmp_path / "plain", executor=SerialExecutor())


def test_two_drivers_never_share_a_folder(sweep_file: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with sweep_lock(out), pytest.raises(RunDirError, match="another `spillover sweep`"):
        run_sweep(read_sweep_config(sweep_file()), out, executor=SerialExecutor())


def test_changing_the_models_refreshes_the_fits(sweep_file: Any, tmp_path: Path) -> None:
    spec = read_sweep_config(sweep_file())
    out = tmp_path / "out"
    run_sweep(spec, out, executor=SerialExecutor(), models=["si2"])
    assert query_sweep(out, "SELECT DISTINCT model FROM fits").to_pylist() == [{"model": "si2"}]
    summary = run_sweep(spec, out, executor=SerialExecutor(), models=["si", "si2"])
    assert summary.ran == 0
    models = query_sweep(out, "SELECT DISTINCT model FROM fits ORDER BY model").to_pylist()
    assert models == [{"model": "si"}, {"model": "si2"}]
    fitted = fit_sweep(out, ("si", "si2")).to_pylist()
    stored = query_sweep(out, "SELECT * FROM fits ORDER BY cell, model, param").to_pylist()

    def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # NaN (no standard error) never equals itself: compare it as None
        return [{k: (None if v != v else v) for k, v in r.items()} for r in rows]

    expected = sorted(fitted, key=lambda r: (r["cell"], r["model"], r["param"]))
    assert comparable(expected) == comparable(stored)


KILLABLE = """\
seed = 3
[base]
n_nodes = 20000
n_rounds = 30
n_reps = 3
n_seeds = 5
policy = "constant"
alpha = 0.002
[grid]
degree = [4, 6, 8, 10]
beta = [0.05, 0.1, 0.15]
"""


def _complete_cells(out: Path) -> int:
    n = 0
    for manifest in (out / "cells").glob("cell-*/manifest.json"):
        with contextlib.suppress(OSError, json.JSONDecodeError):  # being written
            n += json.loads(manifest.read_text()).get("status") == "complete"
    return n


@pytest.mark.slow
def test_a_killed_sweep_resumes_to_the_same_result(
    sweep_file: Any, tmp_path: Path, take_snapshot: Any
) -> None:
    path = sweep_file(KILLABLE)
    spec = read_sweep_config(path)
    out = tmp_path / "killed"
    code = "import sys; from spillover.cli import main; sys.argv[0] = 'spillover'; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "sweep", str(path), "--out", str(out), "--executor", "serial"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while _complete_cells(out) < 3:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    done = _complete_cells(out)
    assert 3 <= done < spec.n_cells, "the kill must land midway"
    assert json.loads((out / "sweep.json").read_text())["status"] == "running"

    summary = run_sweep(spec, out, executor=SerialExecutor())
    assert summary.ok and summary.skipped == done and summary.ran == spec.n_cells - done
    reference = tmp_path / "reference"
    run_sweep(spec, reference, executor=SerialExecutor())
    assert take_snapshot(out) == take_snapshot(reference)
    # Exactly one partition per table and cell; no temporary files.
    assert _partitions(out) == _partitions(reference)
    counts = query_sweep(out, "SELECT cell, count(*) AS n FROM curves GROUP BY cell").to_pylist()
    assert {r["n"] for r in counts} == {3 * 31}


def test_sweep_json_is_not_rewritten_after_every_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spillover.sweeps._driver as driver

    saves: list[int] = []
    write = driver.write_json_atomic

    def counted(document: Any, path: Path) -> None:
        saves.append(document["counts"].get("complete", 0) if "counts" in document else -1)
        write(document, path)

    monkeypatch.setattr(driver, "write_json_atomic", counted)
    counts = {}
    for interval in (0.0, 3600.0):
        monkeypatch.setattr(driver, "SAVE_INTERVAL_S", interval)
        saves.clear()
        folder = tmp_path / f"every-{interval:g}"
        spec = read_sweep_config(write_sweep(folder))
        assert run_sweep(spec, folder / "out", executor=SerialExecutor()).ok
        counts[interval] = len(saves)
        assert json.loads((folder / "out" / "sweep.json").read_text())["counts"]["complete"] == 4
    assert counts[0.0] - counts[3600.0] == 4  # one write per cell, or none until the end
    # A failed cell is written at once, whatever the interval.
    saves.clear()
    folder = tmp_path / "failing"
    summary = run_sweep(
        read_sweep_config(write_sweep(folder, FAILING)), folder / "out", executor=SerialExecutor()
    )
    assert summary.failed > 0
    assert len(saves) == counts[3600.0] + summary.failed
