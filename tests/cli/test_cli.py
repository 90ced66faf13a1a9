"""The command line: commands, flags and config precedence, errors as one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from spillover.cli import main


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


SMALL = [
    "--n-nodes",
    "300",
    "--degree",
    "4",
    "--rounds",
    "8",
    "--replicates",
    "2",
    "--seeds",
    "2",
    "--seed",
    "1",
    "--quiet",
]


def test_simulate_writes_a_run_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert (
        _run(
            [
                "simulate",
                *SMALL,
                "--policy",
                "constant",
                "--alpha",
                "0.02",
                "--beta",
                "0.2",
                "--by-persona",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["policy"] == {"kind": "constant", "alpha": 0.02, "beta": 0.2}
    assert manifest["config"]["by_persona"] is True
    assert "persona" in pq.read_table(out / "curves.parquet").column_names
    assert str(out) in capsys.readouterr().out


def test_flags_override_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text("n_nodes = 200\ndegree = 4\nn_rounds = 5\nn_reps = 3\nseed = 9\n")
    out = tmp_path / "run"
    assert (
        _run(["simulate", "--config", str(cfg), "--replicates", "2", "-q", "--out", str(out)]) == 0
    )
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert (config["n_nodes"], config["n_reps"], config["seed"]) == (200, 2, 9)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n-nodes", "5", "--degree", "3"], "n_nodes * degree must be even"),
        (["--policy", "constant", "--beta", "0.1"], "needs alpha"),
        (["--alpha", "0.1"], "apply only to policy 'constant'"),
        (["--policy", "constant", "--alpha", "2", "--beta", "0.1"], "alpha must be in [0, 1]"),
        (["--events", "/nonexistent/events.csv"], "/nonexistent/events.csv"),
        (["--event-id", "NOPE1"], "NOPE1"),
        (["--config", "/nonexistent/run.toml"], "does not exist"),
        (["--graph", "lattice"], "must be one of"),
        (["--rounds", "0"], "n_rounds must be >= 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = _run(["simulate", "-q", "--out", str(tmp_path / "run"), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_existing_output_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert _run(["simulate", *SMALL, "--out", str(out)]) == 0
    assert _run(["simulate", *SMALL, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    # The library names the parameters (out, force); the command line adds their flags.
    assert "already exists; choose another out or pass force (--out, --force)" in err
    assert _run(["simulate", *SMALL, "--out", str(out), "--force"]) == 0


def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    argv = ["demo", "--policy", "persona", "--out", str(out), "--n-nodes", "640"]
    assert _run([*argv, "--replicates", "3", "-q"]) == 0
    text = capsys.readouterr().out
    assert "si2" in text and "alpha" in text
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fits = json.loads((out / "fits.json").read_text())
    assert [m["name"] for m in fits["models"]] == [
        "si",
        "si2",
        "si-groups2",
        "si-persona",
        "si-dose2",
        "si-dose",
        "pair",
    ]
    assert fits["best"] in ("si2", "si-groups2", "si-persona")
    assert (out / "report.html").is_file() and "effects: hazard ratio" in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["fits"] == fits


def test_help_on_every_command() -> None:
    commands = [
        "simulate",
        "demo",
        "fit",
        "report",
        "sweep",
        "study",
        "query",
        "prompts",
        "prompts show",
        "serve",
    ]
    for argv in (["--help"], *([*c.split(), "--help"] for c in commands)):
        assert _run(argv) == 0, argv


def test_console_script_entry_point() -> None:
    exe = Path(sys.executable).parent / "spillover"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "simulate" in proc.stdout and "demo" in proc.stdout


def test_fit_json_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert _run(["simulate", *SMALL, "--replicates", "3", "--out", str(out)]) == 0
    capsys.readouterr()
    assert _run(["fit", str(out), "--model", "si", "--model", "si2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in doc["models"]] == ["si", "si2"]
    assert doc["best"] == "si2"
    si2 = doc["models"][1]
    assert set(si2["params"]) == {"alpha", "beta"} and si2["status"] in ("converged", "bound")
    assert {"stderr", "loglik", "n_params", "n_obs", "aic", "bic"} <= set(si2)
    assert _run(["fit", str(out)]) == 0
    text = capsys.readouterr().out
    assert "si-persona" in text and "effects: hazard ratio" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "sir"], "unknown model"),
        (["--model", "si2", "--model", "loop-pair"], "'loop-pair' is a coupled model of loop runs"),
        (["--folds", "0", "--model", "pair", "--degree", "0"], "degree must be an integer >= 1"),
    ],
)
def test_fit_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    out = tmp_path / "run"
    assert _run(["simulate", *SMALL, "--out", str(out)]) == 0
    capsys.readouterr()
    assert _run(["fit", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_fit_missing_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["fit", "/nonexistent/run"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_fit_and_report_accept_a_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        "seed = 3\n[base]\nn_nodes = 300\nn_rounds = 10\nn_reps = 2\nn_seeds = 2\n"
        'policy = "constant"\nalpha = 0.01\nbeta = 0.1\n[grid]\ndegree = [4, 6]\n'
    )
    out = tmp_path / "sweep"
    assert _run(["sweep", str(spec), "--out", str(out), "--executor", "serial", "-q"]) == 0
    capsys.readouterr()
    assert _run(["fit", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    si2_beta = [r for r in doc["fits"] if r["model"] == "si2" and r["param"] == "beta"]
    assert sorted(r["degree"] for r in si2_beta) == [4, 6]
    assert _run(["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "Fits per cell" in html and "data:image/png;base64," in html
    assert (out / "figures" / "rates_across.png").is_file()


def test_fit_of_a_sweep_over_events_reports_event_effects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        "seed = 5\n[base]\nn_nodes = 3200\nn_rounds = 40\nn_reps = 2\nn_seeds = 5\n"
        '[grid]\nevent_id = ["VEL0001", "ARV0004"]\n'
    )
    out = tmp_path / "sweep"
    assert _run(["sweep", str(spec), "--out", str(out), "--executor", "serial", "-q"]) == 0
    capsys.readouterr()
    assert _run(["fit", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["reference_event"] == "Battles"
    terms = {r["term"] for r in doc["effects"]}
    assert "event: Protests" in terms and "extraversion" in terms


def test_json_outputs_are_strict_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def strict(text: str) -> object:
        def refuse(token: str) -> None:
            raise ValueError(f"non-standard JSON token {token}")

        return json.loads(text, parse_constant=refuse)

    out = tmp_path / "run"
    assert _run(["simulate", *SMALL, "--replicates", "3", "--out", str(out)]) == 0
    capsys.readouterr()
    assert _run(["fit", str(out), "--json"]) == 0
    doc = strict(capsys.readouterr().out)
    si = next(m for m in doc["models"] if m["name"] == "si")  # type: ignore[index]
    assert si["status"] == "infeasible" and si["loglik"] is None
    strict((out / "manifest.json").read_text())


@pytest.mark.parametrize("seed", [4, 5, 6, 7])
def test_fit_of_tiny_runs_is_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: int
) -> None:
    # Sparse data push rates to 0 or 1; no numerical warning (errors here) may escape.
    out = tmp_path / "run"
    argv = [
        "--n-nodes",
        "200",
        "--degree",
        "4",
        "--rounds",
        "15",
        "--replicates",
        "3",
        "--seeds",
        "2",
        "--seed",
        str(seed),
        "-q",
    ]
    assert _run(["simulate", *argv, "--out", str(out)]) == 0
    capsys.readouterr()
    assert _run(["fit", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {m["status"] for m in doc["models"]} <= {
        "converged",
        "bound",
        "infeasible",
        "not-identified",
    }


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["simulate", "--n-nodes", "abc"], "Invalid value for '--n-nodes'"),
        (["simulate", "--rounds", "1.5"], "Invalid value for '--rounds'"),
        (["simulate", "--edges", "x"], "No such option: --edges"),
        (["fit"], "Missing argument 'INPUT'"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_usage_errors_are_one_error_line_and_exit_2(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and needle in lines[0]
    assert "--help" in lines[0] and "╭" not in captured.err and captured.out == ""


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("cache = 5", "llm.cache: Input should be a valid string (got 5)"),
        ('concurrency = "x"', "llm.concurrency: Input should be a valid integer (got 'x')"),
        ("buckets = 5", "llm.buckets: Input should be a valid string (got 5)"),
        ('temperature = "hot"', "llm.temperature: Input should be a valid number (got 'hot')"),
        ("mode = 3", "llm.mode: Input should be 'archetype' or 'feed' (got 3)"),
        ("structured = 1", "llm.structured: Input should be 'auto', 'json_schema' or 'off'"),
    ],
)
def test_config_llm_settings_are_type_checked_in_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, needle: str
) -> None:
    path = tmp_path / "run.toml"
    path.write_text(f'[llm]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n{setting}\n')
    assert _run(["simulate", "-c", str(path), "--dry-run", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: {needle}") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["simulate", "--dry-run", "--config"], "config file"),
        (["simulate", "--config"], "config file"),
        (["loop", "--config"], "config file"),
        (["sweep", "--dry-run"], "sweep file"),
        (["study", "--dry-run"], "study file"),
        (["simulate", "-q", "--n-nodes", "50", "--policy-table"], "policy table"),
    ],
)
def test_a_settings_file_that_is_a_directory_is_named_as_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], what: str
) -> None:
    folder = tmp_path / "settings.toml"
    folder.mkdir()
    assert _run([*argv, str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {what} {folder} is a directory, not a ")
    assert err.endswith("\n") and err.count("\n") == 1


def test_fit_says_when_there_are_fewer_replicates_than_folds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _run(["simulate", *SMALL, "--out", str(out)]) == 0  # 2 replicates
    capsys.readouterr()
    assert _run(["fit", str(out), "--folds", "5", "--model", "si2", "--json"]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any("5 folds asked for" in n and "2 replicates" in n for n in notes)
    assert _run(["fit", str(out), "--folds", "2", "--model", "si2", "--json"]) == 0
    assert "folds asked for" not in capsys.readouterr().out


def test_fit_llm_noise_is_bounded_and_noted_on_a_run_without_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _run(["simulate", *SMALL, "--out", str(out)]) == 0
    capsys.readouterr()
    assert _run(["fit", str(out), "--llm-noise", "1000000000"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: --llm-noise: bootstrap tables (each a re-simulated run) would be "
        "1,000,000,000, more than the 10,000 allowed\n"
    )  # before any work: no "fitting ..." line
    assert _run(["report", str(out), "--llm-noise", "1000000000"]) == 2
    assert capsys.readouterr().err == err
    assert _run(["fit", str(out), "--folds", "0", "--llm-noise", "5", "--json"]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any(n.startswith("--llm-noise 5: ") and "not an LLM run" in n for n in notes)
    assert _run(["fit", str(out), "--folds", "0", "--json"]) == 0  # not asked: no note
    assert "--llm-noise" not in capsys.readouterr().out


def test_help_still_prints_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["simulate", "--help"]) == 0
    out = capsys.readouterr().out
    # Defaults in square brackets are shown, not read as markup by the help renderer.
    assert "--n-nodes" in out and "[default: 3200]" in out and "[default: 60]" in out


def _one_persona_run(tmp_path: Path) -> Path:
    personas = tmp_path / "one.csv"
    personas.write_text("node,persona\n" + "".join(f"{i},3\n" for i in range(300)))
    out = tmp_path / "one-persona"
    argv = ["simulate", *SMALL, "--policy", "constant", "--alpha", "0.02", "--beta", "0.2"]
    assert _run([*argv, "--personas", str(personas), "--out", str(out)]) == 0
    return out


def test_fit_on_one_persona_fits_what_it_can_and_names_what_it_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _one_persona_run(tmp_path)
    capsys.readouterr()
    assert _run(["fit", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    fitted = {m["name"] for m in doc["models"] if m["status"] == "converged"}
    assert {"si2", "si-persona", "pair"} <= fitted
    assert any(n.startswith("trait effects skipped: ") for n in doc["notes"])
    # Asked for by name, the trait effects' failure is the answer.
    assert _run(["fit", str(out / "exposures.parquet"), "--model", "si2"]) == 0


def test_fit_pair_on_an_exposure_table_says_pair_needs_curves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _one_persona_run(tmp_path)
    capsys.readouterr()
    assert _run(["fit", str(out / "exposures.parquet"), "--model", "pair"]) == 2
    err = capsys.readouterr().err
    assert "pair are fitted to the informed curves" in err and "curves.parquet" in err


def test_an_event_type_outside_acleds_six_is_used_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spillover.io import example_events_path

    lines = example_events_path().read_text(encoding="utf-8").splitlines()
    header, first = lines[0], lines[1]
    events = tmp_path / "events.csv"
    events.write_text(header + "\n" + first.replace(",Battles,", ",Cyber incident,", 1) + "\n")
    out = tmp_path / "run"
    argv = ["simulate", *SMALL, "--events", str(events), "--out", str(out)]
    assert _run(argv) == 0
    err = capsys.readouterr().err
    assert "warning: event 'VEL0001' has event_type 'Cyber incident'" in err
    assert "not one of ACLED's six" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["event"]["event_type"] == "Cyber incident"


def _scale_free_run(tmp_path: Path) -> Path:
    out = tmp_path / "scale-free"
    assert _run(["simulate", *SMALL, "--graph", "barabasi-albert", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["graph"]["is_regular"] is False
    return out


def test_fit_of_a_run_whose_graph_is_not_regular_skips_pair_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _scale_free_run(tmp_path)
    capsys.readouterr()
    assert _run(["fit", str(out), "--degree", "4", "--folds", "0", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "pair" not in {m["name"] for m in doc["models"]}
    assert [g["data"] for g in doc["groups"]] == ["exposures"]
    (note,) = [n for n in doc["notes"] if n.startswith("pair skipped: ")]
    assert "needs a k-regular graph" in note and "is not regular (degrees " in note
    assert _run(["fit", str(out), "--folds", "0"]) == 0
    assert "pair skipped: " in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "argv",
    [
        ["--model", "pair"],
        ["--model", "pair", "--degree", "4"],
        ["-m", "si2", "-m", "pair", "--json"],
    ],
)
def test_fit_pair_on_a_run_whose_graph_is_not_regular_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    out = _scale_free_run(tmp_path)
    capsys.readouterr()
    assert _run(["fit", str(out), "--folds", "0", *argv]) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, captured.err
    assert "'pair' needs a k-regular graph" in errors[0]
    assert "is not regular (degrees " in errors[0] and "exposure-table models" in errors[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_large_runs_print_their_memory_estimate_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spillover import SimulationConfig
    from spillover._resources import estimate_run
    from spillover.cli import _simulate

    big = SimulationConfig(n_nodes=10_000_000, degree=8, n_reps=1)
    line = _simulate.memory_line(big)
    assert line is not None and line.startswith(estimate_run(big).describe())
    assert "available" in line
    assert _simulate.memory_line(SimulationConfig(n_nodes=1000)) is None

    # Any run at or above the threshold prints the line first, before the graph is built.
    monkeypatch.setattr(_simulate, "MEMORY_LINE_BYTES", 0)
    argv = ["simulate", "--n-nodes", "200", "--degree", "4", "--rounds", "5", "--replicates", "1"]
    assert _run([*argv, "--seed", "1", "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "memory estimate for 200 agents and 400 edges" in err
    assert err.index("memory estimate") < err.index("building a random-regular graph")
