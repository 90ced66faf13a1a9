"""Replacing an output never deletes what spillover did not write (issue 8, item 2).

A folder is spillover's only if it carries spillover's marker, written with it and naming
the files spillover wrote; replacing removes exactly those, and refuses (one ``error:`` line,
exit 2) when anything else is there, naming the first foreign entry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spillover.cli import main
from spillover.exceptions import RunDirError
from spillover.io import check_output_dir
from spillover.io._owned import (
    MARKER,
    clear_stale,
    foreign_entries,
    read_marker,
    remove_owned,
    write_marker,
)

SMALL = ["--n-nodes", "200", "--degree", "4", "--rounds", "5", "--replicates", "2"]
SMALL += ["--seeds", "2", "--seed", "1", "--quiet"]

SWEEP = """\
seed = 5
[base]
n_nodes = 120
n_rounds = 4
n_reps = 2
n_seeds = 2
policy = "constant"
alpha = 0.01
[grid]
beta = [0.1, 0.2]
"""


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _one_error_line(err: str) -> str:
    # Progress lines may come first; the error is one line, the last one.
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert "Traceback" not in err
    return " ".join(errors[0].split())


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("own") / "run"
    with pytest.raises(SystemExit) as info:
        main(["simulate", *SMALL, "--out", str(out)])
    assert info.value.code == 0
    return out


def _copy(run_dir: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(run_dir, dest)
    return dest


def test_a_run_directory_names_every_file_it_holds(run_dir: Path) -> None:
    own = read_marker(run_dir)
    assert own is not None and own.kind == "run"
    on_disk = {p.name for p in run_dir.iterdir()} - {MARKER}
    assert set(own.files) == on_disk
    assert foreign_entries(run_dir) == []


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"notes.txt": "my notes"}, "notes.txt"),
        ({"analysis/nb.ipynb": "{}"}, "analysis/"),
        ({"a.txt": "1", "b.txt": "2"}, "a.txt"),
    ],
)
def test_simulate_force_refuses_when_user_files_are_inside(
    run_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: dict[str, str],
    named: str,
) -> None:
    out = _copy(run_dir, tmp_path / "run")
    for rel, text in extra.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    before = _tree(out)
    code, err = _run(["simulate", *SMALL, "--seed", "2", "--out", str(out), "--force"], capsys)
    line = _one_error_line(err)
    assert code == 2
    assert f"holds {named}, which spillover did not write" in line
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging folder left


def test_simulate_force_replaces_exactly_its_own_files(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _copy(run_dir, tmp_path / "run")
    old = json.loads((out / "manifest.json").read_text())["seed"]["entropy"]
    code, err = _run(["simulate", *SMALL, "--seed", "2", "--out", str(out), "--force"], capsys)
    assert code == 0, err
    assert json.loads((out / "manifest.json").read_text())["seed"]["entropy"] == 2 != old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert foreign_entries(out) == []


def test_a_manifest_alone_does_not_make_a_folder_spillovers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "manifest.json").write_text('{"status": "complete"}')
    (project / "src.py").write_text("print('mine')")
    before = _tree(project)
    for argv in (
        ["simulate", *SMALL, "--out", str(project), "--force"],
        ["demo", "--n-nodes", "200", "--replicates", "2", "--quiet", "--out", str(project)],
    ):
        code, err = _run(argv, capsys)
        assert code == 2
        assert "is not a spillover run directory" in _one_error_line(err)
    assert _tree(project) == before


def test_demo_refuses_a_previous_demo_with_user_files(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _copy(run_dir, tmp_path / "demo")
    (out / "notebook.ipynb").write_text("{}")
    code, err = _run(
        ["demo", "--n-nodes", "200", "--replicates", "2", "--quiet", "--out", str(out)], capsys
    )
    assert code == 2 and "holds notebook.ipynb" in _one_error_line(err)
    assert (out / "notebook.ipynb").read_text() == "{}"


def test_an_answer_cache_inside_the_output_is_refused_before_anything(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _copy(run_dir, tmp_path / "run")
    cache = out / "answers.sqlite"
    cache.write_bytes(b"paid answers")
    code, err = _run(
        ["simulate", *SMALL, "--out", str(out), "--force", "--cache", str(cache)], capsys
    )
    assert code == 2 and "answer cache" in _one_error_line(err)
    assert cache.read_bytes() == b"paid answers"
    # Also when the run directory does not exist yet: the cache would be created inside it.
    with pytest.raises(RunDirError, match="answer cache"):
        check_output_dir(tmp_path / "new", force=False, keep=[str(tmp_path / "new/a.sqlite")])


def test_report_never_overwrites_a_page_it_did_not_write(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _copy(run_dir, tmp_path / "run")
    page = tmp_path / "mine.html"
    page.write_text("<html>my own page</html>")
    code, err = _run(["report", str(out), "--folds", "0", "--out", str(page)], capsys)
    assert code == 2 and "was not written by spillover" in _one_error_line(err)
    assert page.read_text() == "<html>my own page</html>"
    # A page spillover wrote is replaced, inside the run directory or elsewhere.
    page.unlink()
    for _ in range(2):
        assert _run(["report", str(out), "--folds", "0", "--out", str(page)], capsys)[0] == 0
        assert _run(["report", str(out), "--folds", "0"], capsys)[0] == 0
    assert foreign_entries(out) == []
    # The report's own files are named by the run's marker: --force still replaces the run.
    code, err = _run(["simulate", *SMALL, "--out", str(out), "--force"], capsys)
    assert code == 0, err
    assert not (out / "report.html").exists() and not (out / "figures").exists()


def _sweep(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP)
    return path


def test_sweep_force_refuses_user_files_and_keeps_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _sweep(tmp_path)
    out = tmp_path / "out"
    base = ["sweep", str(spec), "--out", str(out), "--executor", "serial", "-q"]
    assert _run(base, capsys)[0] == 0
    (out / "dataset" / "README.md").write_text("what the tables mean")
    before = _tree(out)
    code, err = _run([*base, "--force"], capsys)
    assert code == 2 and "holds dataset/README.md" in _one_error_line(err)
    assert _tree(out) == before
    (out / "dataset" / "README.md").unlink()
    (out / "cells" / "cell-00001" / "plot.png").write_bytes(b"png")
    code, err = _run([*base, "--force"], capsys)
    assert code == 2 and "holds cells/cell-00001/plot.png" in _one_error_line(err)
    (out / "cells" / "cell-00001" / "plot.png").unlink()
    assert _run([*base, "--force"], capsys)[0] == 0
    assert foreign_entries(out) == []


def test_a_sweep_json_alone_does_not_make_a_sweep_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spillover.sweeps import is_sweep

    spec = _sweep(tmp_path)
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "sweep.json").write_text("{}")
    (folder / "data.csv").write_text("a,b\n")
    assert not is_sweep(folder)
    code, err = _run(
        ["sweep", str(spec), "--out", str(folder), "--executor", "serial", "-q", "--force"],
        capsys,
    )
    assert code == 2 and "is not a sweep folder" in _one_error_line(err)
    assert _one_error_line(err).endswith("choose another out (--out)")
    assert (folder / "data.csv").read_text() == "a,b\n" and (folder / "sweep.json").is_file()


def test_a_marker_cannot_name_paths_outside_its_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    folder = tmp_path / "run"
    folder.mkdir()
    write_marker(folder, "run", files=["a.txt"])
    with (folder / MARKER).open("a") as handle:
        handle.write("file ../outside.txt\nfile /etc/hostname\n")
    (folder / "a.txt").write_text("x")
    (folder / "link").symlink_to(tmp_path)
    with (folder / MARKER).open("a") as handle:
        handle.write("file link/outside.txt\n")
    assert remove_owned(folder) is False  # the link is not spillover's: it stays
    assert outside.read_text() == "keep me"
    assert not (folder / "a.txt").exists() and (folder / "link").is_symlink()


def test_stale_staging_of_dead_processes_is_cleared(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".run.partial-{dead_pid}"
    stale.mkdir()
    write_marker(stale, "staging", pid=dead_pid)
    (stale / "curves.parquet").write_bytes(b"partial")
    alive = tmp_path / f".run.partial-{os.getppid()}"
    alive.mkdir()
    write_marker(alive, "staging", pid=os.getppid())
    foreign = tmp_path / f".run.partial-{dead_pid + 100000}"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("not spillover's")
    clear_stale(tmp_path, "run")
    assert not stale.exists()
    assert alive.is_dir() and (foreign / "mine.txt").is_file()


STUDY = """\
seed = 7
[events]
ids = ["VEL0001"]
[design]
degrees = [4]
n_nodes = 200
n_reps = 2
n_rounds = 5
n_seeds = 2
[policy]
kind = "parametric"
alpha = 0.002
beta = 0.05
[analysis]
models = ["si2"]
folds = 0
[run]
executor = "serial"
"""


def test_a_refused_study_keeps_the_study_it_did_not_replace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "study.toml"
    spec.write_text(STUDY)
    out = tmp_path / "out"
    base = ["study", str(spec), "--out", str(out), "-q"]
    assert _run(base, capsys)[0] == 0
    (out / "notes.md").write_text("my reading of the results")
    before = _tree(out)
    code, err = _run([*base, "--force"], capsys)
    assert code == 2 and "holds notes.md" in _one_error_line(err)
    assert _tree(out) == before  # "nothing was replaced": the study files are there too
    # Another study in the folder, without --force: refused, and the study files stay.
    other = tmp_path / "other.toml"
    other.write_text(STUDY.replace("n_rounds = 5", "n_rounds = 6"))
    code, err = _run(["study", str(other), "--out", str(out), "-q"], capsys)
    assert code == 2 and _tree(out) == before
    (out / "notes.md").unlink()
    # A study file the user deleted is written again; --force replaces the rest.
    (out / "study.json").unlink()
    assert _run(base, capsys)[0] == 0 and (out / "study.json").is_file()
    assert _run([*base, "--force"], capsys)[0] == 0
    assert foreign_entries(out) == []
