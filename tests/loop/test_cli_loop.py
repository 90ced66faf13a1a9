"""``spillover loop``, and ``spillover fit`` / ``report`` on a loop run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spillover.cli import main
from spillover.io._loop import LOOP_TABLES


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


SMALL = ["--n-nodes", "1500", "--degree", "6", "--rounds", "60", "--seeds", "6", "--seed", "3"]


def test_loop_run_fit_and_config_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _run(["loop", *SMALL, "--eta", "0.12", "--loop", "2", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "loop" and manifest["loop"]["generations"] == 2
    assert manifest["summary"]["n_events"] >= 1
    capsys.readouterr()
    assert _run(["fit", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "loop"
    eta = doc["rates"]["eta"]
    assert eta["low"] < eta["estimate"] < eta["high"] and abs(eta["estimate"] - 0.12) < 0.015

    assert _run(["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "Coupling rates" in html and "critical range of eta (loop-pair)" in html
    assert html.count("data:image/png;base64,") == 2
    assert "LOOP0-0000-000" in html

    # The same settings from a [loop] section give the same tables, byte for byte.
    cfg = tmp_path / "loop.toml"
    cfg.write_text(
        "[loop]\nn_nodes = 1500\ndegree = 6\nn_rounds = 60\nn_seeds = 6\nseed = 3\n"
        "eta = 0.12\ngenerations = 2\n"
    )
    out2 = tmp_path / "run2"
    assert _run(["loop", "--config", str(cfg), "--out", str(out2)]) == 0
    for name in (*LOOP_TABLES, "events.csv"):
        assert (out / name).read_bytes() == (out2 / name).read_bytes(), name


def test_loop_bad_input_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["loop", *SMALL, "--delta", "-0.1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'delta'" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[loop]\napi_key = "sk-secret-value"\n')
    assert _run(["loop", "--config", str(cfg), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "loop.api_key" in err and "sk-secret-value" not in err
    assert _run(["loop", "--emission", "poisson", "--out", str(tmp_path / "z")]) == 2
    assert "emission mode" in capsys.readouterr().err


def test_loop_help() -> None:
    assert _run(["loop", "--help"]) == 0
