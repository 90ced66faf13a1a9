"""Bounded before allocating: runs too large for the machine are refused up front.

The commands that used to die with a MemoryError traceback or hang run in a subprocess with a
deadline, so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spillover._resources import check_run_fits, estimate_run, estimate_run_bytes
from spillover.config import SimulationConfig
from spillover.exceptions import ConfigError

DEADLINE_S = 120


def spillover(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from spillover.cli import main; sys.argv[0] = 'spillover'; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        cwd=cwd,
        check=False,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("flags", "setting", "flag"),
    [
        (["--rounds", "1000000000"], "n_rounds = 1,000,000,000: ", "(--rounds)"),
        (["--n-nodes", "3000000000"], "n_nodes = 3,000,000,000: ", "(--n-nodes)"),
        (["--replicates", "1000000000000"], "n_reps = 1,000,000,000,000: ", "(--replicates)"),
        (["--n-nodes", "40000000", "--degree", "5000"], "n_nodes = ", "(--n-nodes)"),
    ],
)
def test_a_run_too_large_for_memory_is_refused_in_one_line(
    tmp_path: Path, flags: list[str], setting: str, flag: str
) -> None:
    line = one_error_line(spillover("simulate", *flags, "-q", "--out", "run", cwd=tmp_path))
    assert setting in line and "of memory, more than the" in line and "available" in line
    assert line.endswith(f"available {flag}")  # the library names the setting, the CLI its flag
    assert not (tmp_path / "run").exists()


def _no_more_than_8_gib() -> None:
    import resource

    # A safety net: a regression fails with a MemoryError instead of exhausting the machine.
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))


@pytest.mark.parametrize(
    ("flags", "setting"),
    [
        (["--n-nodes", "3000000000"], "n_nodes = 3,000,000,000: "),
        (["--rounds", "1000000000"], "n_rounds = 1,000,000,000: "),
        (["--replicates", "1000000000000"], "n_reps = 1,000,000,000,000: "),
        (["--max-cascades", "1000000000000"], "max_cascades = 1,000,000,000,000: "),
    ],
)
def test_a_loop_too_large_for_memory_is_refused_in_one_line(
    tmp_path: Path, flags: list[str], setting: str
) -> None:
    code = "import sys; from spillover.cli import main; sys.argv[0] = 'spillover'; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "loop", *flags, "--out", "run"],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        cwd=tmp_path,
        check=False,
        preexec_fn=_no_more_than_8_gib,
    )
    line = one_error_line(proc)
    assert line.startswith(f"error: {setting}the loop would need about ")
    assert "of memory, more than the" in line and line.endswith("available")
    assert not (tmp_path / "run").exists()


def test_a_loop_sweep_too_large_for_memory_is_refused_when_read(tmp_path: Path) -> None:
    (tmp_path / "sweep.toml").write_text(
        "seed = 1\n[loop]\nn_nodes = 3000000000\n[grid]\nbeta = [0.1, 0.2]\n"
    )
    line = one_error_line(spillover("sweep", "sweep.toml", "--dry-run", cwd=tmp_path))
    assert "n_nodes = 3,000,000,000: the loop would need about " in line
    # Planned for Dask workers elsewhere: the dry run prints the estimate, refuses nothing;
    # a run on Dask is still refused when the file is read.
    scheduler = ("--scheduler", "tcp://127.0.0.1:9")
    plan = spillover("sweep", "sweep.toml", "--dry-run", *scheduler, cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "largest cell: about " in " ".join(plan.stdout.split())
    run = one_error_line(spillover("sweep", "sweep.toml", *scheduler, cwd=tmp_path))
    assert "n_nodes = 3,000,000,000: the loop would need about " in run
    assert not (tmp_path / "runs").exists()


def test_the_loop_estimate_is_an_upper_bound_of_a_real_loop() -> None:
    import tracemalloc

    from spillover._resources import _BASE_BYTES, _MARGIN
    from spillover._rng import seed_record
    from spillover.loop import LOOP_KEYS, estimate_loop_bytes, run_loop_values

    values = {**LOOP_KEYS, "n_nodes": 4000, "n_rounds": 60, "n_reps": 3, "max_cascades": 6}
    values |= {"eta": 0.3, "threshold": 0.02, "seed": 3}
    result, _, _ = run_loop_values(values, seed_record(3))  # compiles the kernels first
    assert len(result.cascades) > 3  # events seeded further cascades
    # tracemalloc sees numpy's arrays, not the kernel's own work arrays, which the estimate
    # counts too: the bound checked here is looser than the estimate itself.
    tracemalloc.start()
    try:
        run_loop_values(values, seed_record(3))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= (estimate_loop_bytes(values) - _BASE_BYTES) / _MARGIN


def test_a_dry_run_with_a_billion_samples_is_refused(tmp_path: Path) -> None:
    proc = spillover(
        "simulate",
        "--llm-base-url",
        "http://127.0.0.1:9/v1",
        "--llm-model",
        "m",
        "--llm-samples",
        "1000000000",
        "--dry-run",
        cwd=tmp_path,
    )
    line = one_error_line(proc)
    assert "llm.samples" in line and "requests" in line and line.endswith("(--llm-samples)")


def test_a_study_dry_run_with_a_billion_samples_is_refused(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(
        'seed = 7\n[events]\nids = ["VEL0001"]\n[design]\ndegrees = [4]\nn_nodes = 200\n'
        '[policy]\nkind = "server"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
        "samples = 1000000000\n"
    )
    line = one_error_line(spillover("study", "study.toml", "--dry-run", cwd=tmp_path))
    assert line.startswith("error: policy.samples: requests of a cell at most (32 personas")
    assert "more than the 10,000,000 allowed" in line


def test_a_sweep_grid_of_millions_of_cells_is_refused_before_expanding(tmp_path: Path) -> None:
    values = ", ".join(str(i) for i in range(2, 182))
    (tmp_path / "sweep.toml").write_text(
        f"seed = 1\n[base]\nn_nodes = 100\n[grid]\nn_rounds = [{values}]\n"
        f"n_reps = [{values}]\nn_seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\ndegree = [2, 4, 6, 8, 10]"
        "\n"
    )
    line = one_error_line(spillover("sweep", "sweep.toml", "--dry-run", cwd=tmp_path))
    assert "1,620,000 cells" in line


@pytest.mark.parametrize(
    "doc",
    [
        "n_nodes: *i\n",
        "llm:\n  model: m\n  buckets: *i\n",
        "llm:\n  model: *i\n",
    ],
)
def test_yaml_billion_laughs_is_refused(tmp_path: Path, doc: str) -> None:
    laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for prev, name in zip("abcdefgh", "bcdefghi", strict=False):
        laughs += f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    # 9**9 strings once expanded; the aliases must be refused before anything is expanded.
    (tmp_path / "laughs.yaml").write_text(laughs + doc)
    line = one_error_line(spillover("simulate", "-c", "laughs.yaml", "--dry-run", cwd=tmp_path))
    assert "aliases" in line and "line 2" in line


def test_the_estimate_names_the_setting_that_drives_it() -> None:
    config = SimulationConfig(n_nodes=500, n_rounds=50_000)
    estimate = estimate_run_bytes(config)
    with pytest.raises(ConfigError, match=r"^n_rounds = 50,000: .* 1\.0 MiB") as exc:
        check_run_fits(config, available=1 << 20)
    assert exc.value.params == ("n_rounds",)
    assert check_run_fits(config, available=estimate) == estimate


def test_the_estimate_is_an_upper_bound_of_a_real_run() -> None:
    import tracemalloc

    from spillover.pipeline import run_simulation

    config = SimulationConfig(n_nodes=3000, degree=8, n_rounds=60, n_reps=6, seed=4)
    # Warm up on the same configuration: every kernel the run takes is compiled (or loaded
    # from numba's cache) before tracing, so the peak is the run's, not the compiler's.
    run_simulation(config)
    tracemalloc.start()
    try:
        run_simulation(config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The arrays alone (no margin, no allowance for the interpreter) bound the traced peak.
    assert peak <= estimate_run(config).arrays


@pytest.mark.parametrize("suffix", [".txt", ".parquet"])
def test_an_edge_list_too_large_to_read_is_refused_before_reading(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import spillover._resources as resources
    from spillover.io import read_edge_list

    u = np.arange(20_000, dtype=np.int64)
    path = tmp_path / f"edges{suffix}"
    if suffix == ".txt":
        path.write_text("".join(f"{i} {i + 1}\n" for i in u.tolist()))
    else:
        pq.write_table(pa.table({"source": u, "target": u + 1}), path)
    # Fits in the memory there is.
    assert read_edge_list(path).n_edges == 20_000
    # Refused, with the estimate, when the machine has 1 MiB to spare; nothing is read.
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 1 << 20)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was read")

    monkeypatch.setattr(np, "loadtxt", never)
    with pytest.raises(ConfigError, match=r"edges would need about .* more than the 1\.0 MiB"):
        read_edge_list(path)
