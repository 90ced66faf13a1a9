"""``spillover fit/report --fit-rounds R``: forecasts of the held-out rounds on the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

RUN = [
    "--n-nodes",
    "600",
    "--degree",
    "6",
    "--rounds",
    "16",
    "--replicates",
    "3",
    "--seeds",
    "3",
    "--policy",
    "constant",
    "--alpha",
    "0.005",
    "--beta",
    "0.06",
    "--seed",
    "2",
    "--quiet",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from spillover.cli import main

    out = tmp_path_factory.mktemp("forecast") / "run"
    try:
        main(["simulate", *RUN, "--out", str(out)])
    except SystemExit as exc:
        assert not exc.code
    return out


def test_fit_json_carries_the_forecast_of_every_model(
    cli: Callable[[list[str]], int], run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["fit", str(run_dir), "-m", "si2", "-m", "si-persona", "-m", "pair", "--folds", "0"]
    assert cli([*argv, "--fit-rounds", "7", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    forecast = doc["forecast"]
    assert forecast["fit_rounds"] == 7 and forecast["last_round"] == 16
    assert forecast["rounds"] == list(range(8, 17)) and len(forecast["observed"]) == 9
    # si-persona is forecast too: the persona shares come from the run's manifest.
    assert [m["name"] for m in forecast["models"]] == ["si2", "si-persona", "pair"]
    for entry in forecast["models"]:
        assert len(entry["predicted"]) == len(entry["low"]) == len(entry["high"]) == 9
        assert {"rmse", "max_abs_error", "coverage", "parameter_draws", "data"} <= set(entry)
    # The fits saw rounds 0..7 only: fewer agent-rounds at risk than the whole run has.
    assert cli([*argv, "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert "forecast" not in whole
    n_obs = {m["name"]: m["n_obs"] for m in doc["models"]}
    assert n_obs["si2"] < next(m["n_obs"] for m in whole["models"] if m["name"] == "si2")


def test_fit_prints_a_forecast_table(
    cli: Callable[[list[str]], int], run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["fit", str(run_dir), "-m", "pair", "--fit-rounds", "7"]) == 0
    out = capsys.readouterr().out
    assert "Forecast of rounds 8-16 from fits on rounds 0-7" in out
    assert "in 95% band" in out


@pytest.mark.parametrize("value", ["0", "-2", "16", "40"])
def test_fit_rounds_outside_the_run_is_one_error_line_and_exit_2(
    cli: Callable[[list[str]], int],
    run_dir: Path,
    capsys: pytest.CaptureFixture[str],
    value: str,
) -> None:
    assert cli(["fit", str(run_dir), "-m", "pair", "--fit-rounds", value]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    # The library names its parameter; the command adds its flag.
    assert lines[0].startswith("error: fit_rounds must be an integer from 1 to 15")
    assert lines[0].endswith(f"got {value} (--fit-rounds)") and "Traceback" not in captured.err


def test_fit_rounds_of_an_exposure_table_says_it_needs_curves(
    cli: Callable[[list[str]], int], run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = run_dir / "exposures.parquet"
    assert cli(["fit", str(table), "-m", "si2", "--fit-rounds", "5"]) == 2
    err = capsys.readouterr().err
    assert "fit_rounds forecasts the informed curves" in err
    assert err.strip().endswith("curves.parquet (--fit-rounds)")


def test_report_draws_the_forecast(
    cli: Callable[[list[str]], int],
    run_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    page = tmp_path / "report.html"
    assert cli(["report", str(run_dir), "--fit-rounds", "7", "--folds", "0", "-o", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "Forecast of rounds 8-16" in html and "held-out points in the 95% band" in html
    assert "fitted rounds" in html
    assert (run_dir / "figures" / "forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_refuses_fit_rounds_outside_the_run_before_any_work(
    cli: Callable[[list[str]], int], run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["report", str(run_dir), "--fit-rounds", "16"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: fit_rounds must be")
    assert lines[0].endswith("(--fit-rounds)")
